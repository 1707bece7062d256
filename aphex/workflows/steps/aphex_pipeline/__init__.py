"""Pod-time code of the Aphex pipeline's stages (run through Hera's runner)."""
