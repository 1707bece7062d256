"""The deadlines of one implementation-DAG run, and the rule that makes them agree.

Argo fails a Workflow when its ``activeDeadlineSeconds`` passes, whatever its nodes are doing, and a node
when its template's ``timeout`` or ``activeDeadlineSeconds`` passes (argo-workflows
``workflow/controller/operator.go``). The main DAG is a chain, so a workflow deadline shorter than its
stages' deadlines in a row would end runs whose every stage is still within its own limit. The stage
timeouts live here so that the template, ``aphex compile``'s check and the chart's check share them.
"""

from typing import Final

from aphex.dsl.errors import InputError

__all__ = [
    "AGENTS_WITHOUT_DOCS",
    "AGENT_VALIDATE_SECONDS",
    "PREVIEW_LIFETIME_MAX_HOURS",
    "STAGE_TIMEOUT_SECONDS",
    "DeadlineError",
    "check_run_deadline",
    "run_budget_seconds",
]

PREVIEW_LIFETIME_MAX_HOURS: Final = 30 * 24
"""Longest lifetime of a kept preview (values ``previewLifetimeHours``): 30 days (keep-preview refuses
more)."""
STAGE_TIMEOUT_SECONDS: Final = {"set-params": 300, "resolve-head": 600, "deploy": 1800, "acceptance": 1800}
"""Timeouts of the main DAG's pod stages (one attempt each)."""
AGENT_VALIDATE_SECONDS: Final = 300
"""Timeout of an agent stage's input validation; the stage then waits up to ``agentDeadlineSeconds``."""
AGENTS_WITHOUT_DOCS: Final = 3


class DeadlineError(InputError):
    """The workflow deadline is shorter than the stages' deadlines in a row; the message names the value."""


def run_budget_seconds(*, agent_deadline_seconds: int, docs_stage: bool) -> int:
    """The longest a successful run's main DAG may take with every stage within its deadline, one attempt
    each: the pod stages' timeouts, and per agent stage its validation plus ``agentDeadlineSeconds``."""
    agents = AGENTS_WITHOUT_DOCS + (1 if docs_stage else 0)
    return sum(STAGE_TIMEOUT_SECONDS.values()) + agents * (AGENT_VALIDATE_SECONDS + agent_deadline_seconds)


def check_run_deadline(
    *, workflow_deadline_seconds: int, agent_deadline_seconds: int, docs_stage: bool
) -> None:
    """Raise :class:`DeadlineError` when the workflow deadline does not cover the stages' deadlines."""
    budget = run_budget_seconds(agent_deadline_seconds=agent_deadline_seconds, docs_stage=docs_stage)
    if workflow_deadline_seconds < budget:
        raise DeadlineError(
            f"workflowDeadlineSeconds: {workflow_deadline_seconds} is shorter than the stages of one run may "
            f"take ({budget} s with agentDeadlineSeconds {agent_deadline_seconds}); raise it or lower "
            "agentDeadlineSeconds"
        )
