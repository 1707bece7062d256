"""The concrete pipelines of the aphex bundle, written with :mod:`dsl`."""
