"""cluster-verify: the checks the enabled components need, and the WorkflowTemplate that runs them."""
