"""The roles of the ServiceAccounts the implementation DAG's and cluster-verify's pods run as.

A stage names its role (:attr:`aphex.dsl.stage.Stage.account`); the ServiceAccount is
``<instance>-<role>`` (``aphex-preview-deployer`` by default, :class:`aphex.dsl.settings.ObjectNames`), and
the pipeline definitions bind each role its RBAC. The Aphex pipelines' roles are their IAM roles
(:class:`aphex.dsl.config.cloudformation.PipelineRole` and the self-update account).
"""

import enum

__all__ = ["Account"]


class Account(enum.StrEnum):
    """A ServiceAccount role; the value is the suffix of its name."""

    STEPS = "steps"
    """Pods that only compute or call GitHub: the implementation DAG's and the agent templates' default."""
    AGENTS = "agents"
    """Creates, watches and stops the agent platform's resources."""
    PREVIEW_DEPLOYER = "preview-deployer"
    """Deploys, keeps and removes previews (confined by the admission policy)."""
    VERIFIER = "verifier"
    """Reads what cluster-verify checks."""
