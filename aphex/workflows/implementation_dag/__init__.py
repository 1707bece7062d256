"""The implementation DAG: its WorkflowTemplate, the agent templates, the preview lifecycle, the admission
policy and RBAC."""
