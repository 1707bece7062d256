"""Pod-time helpers every stage shares: exits, processes, Kubernetes, GitHub, AWS, git, shell commands,
scratch space."""
