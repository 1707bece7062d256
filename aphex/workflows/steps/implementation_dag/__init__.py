"""Pod-time code of the implementation DAG's stages (run through Hera's runner)."""
