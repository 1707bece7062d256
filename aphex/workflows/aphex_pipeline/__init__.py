"""The Aphex pipeline: its WorkflowTemplate from an application's aphex-config.yaml, and `aphex pipeline` (its
stacks and values entry)."""
