"""The ``check-approval-<env>`` step: the environment's deploy runs only on an explicit approval.

``approve-<env>`` is a suspend template whose output parameter ``decision`` is supplied by a person
(``argo node set --output-parameter decision=approve``, or the Argo UI's resume form) and defaults to
``reject``: Argo gives it the default when the suspend's ``duration`` elapses, and when someone resumes
without supplying it (argo-workflows ``workflow/util/util.go``, OverrideOutputParametersWithDefault,
called by ``executeSuspend`` in ``workflow/controller/operator.go`` and by ResumeWorkflow). This step
turns anything but ``approve`` into a failed stage, so the deploy and every later environment are
Omitted and the run ends Failed, naming the environment whose approval was missing.
"""

from enum import StrEnum
from typing import Final

from aphex.dsl.config.cloudformation import PipelineRole
from aphex.dsl.names import InvalidValue
from aphex.dsl.stage import ResourceClass, Stage
from aphex.workflows.steps.common.exits import fail

__all__ = ["STAGE", "Decision", "check_approval"]


class Decision(StrEnum):
    """What a person decides at an approval (the suspend's output parameter ``decision``)."""

    APPROVE = "approve"
    REJECT = "reject"


def check_approval(environment: str, decision: str) -> None:
    """Runner entrypoint: succeed on ``approve``; fail (never retried) on anything else."""
    if decision == Decision.APPROVE:
        print(f"{environment}: deployment approved")
        return
    if decision == Decision.REJECT:
        error = InvalidValue(
            "decision",
            decision,
            f"{environment}: deployment rejected (by a person, or by default: nobody approved before the "
            "approval's timeout, or the run was resumed without decision=approve)",
        )
    else:
        error = InvalidValue(
            "decision",
            decision,
            f"{environment}: must be {Decision.APPROVE.value!r} or {Decision.REJECT.value!r}",
        )
    raise fail(error)


STAGE: Final = Stage(
    entrypoint=check_approval,
    name="check-approval",
    resources=ResourceClass.LIGHT,
    timeout="5m",
    account=PipelineRole.MONITOR.value,
)
