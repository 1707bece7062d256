"""aphex: Argo-native delivery workflows written in Python with Hera.

- :mod:`aphex.dsl`: the reusable layer (settings, lint, run, chart, build-time and pod-time helpers);
- :mod:`aphex.workflows`: the pipelines built with it, and the pod-time code of their stages;
- :mod:`aphex.cli`: the ``aphex`` command, the composition root above both.
"""
