"""Python functions that run inside pods through Hera's runner.

Every module here is importable without a Workflow context, so each function is unit-tested locally and
runs unchanged on the cluster (``python -m hera.workflows.runner -e aphex.workflows.steps.<module>:<fn>``).
"""
