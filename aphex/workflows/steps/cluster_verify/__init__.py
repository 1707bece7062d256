"""Pod-time code of cluster-verify (run through Hera's runner; also used by `aphex verify`)."""
