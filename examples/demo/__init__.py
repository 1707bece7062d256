"""The aphex demo: the compiled implementation DAG run on a laptop with ``aphex run`` (see docs/demo.md)."""
