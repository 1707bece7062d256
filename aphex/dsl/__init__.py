"""aphex DSL: the reusable layer over Hera.

Secure step builders, parameters, names, labels, the bundle writer and the offline linter that every
pipeline of this project is written with.
"""
