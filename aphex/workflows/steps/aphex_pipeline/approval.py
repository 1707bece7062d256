"""The ``check-approval-<env>`` step: the environment's deploy runs only on an explicit approval.

``approve-<env>`` is a suspend template whose output parameter ``decision`` is supplied by a person
(``argo node set --output-parameter decision=approve``, or the Argo UI's resume form) and defaults to
``reject``: Argo gives it the default when the suspend's ``duration`` elapses, and when someone resumes
without supplying it (argo-workflows ``workflow/util/util.go``, OverrideOutputParametersWithDefault,
called by ``executeSuspend`` in ``workflow/controller/operator.go`` and by ResumeWorkflow). This step
turns anything but ``approve`` into a failed stage, so the deploy and every later environment are
Omitted and the run ends Failed, naming the environment whose approval was missing.
"""

from typing import Final

from aphex.dsl.names import InvalidValue
from aphex.workflows.steps.common.exits import fail

__all__ = ["APPROVE", "DECISIONS", "REJECT", "check_approval"]

APPROVE: Final = "approve"
REJECT: Final = "reject"
DECISIONS: Final = (APPROVE, REJECT)


def check_approval(environment: str, decision: str) -> None:
    """Runner entrypoint: succeed on ``approve``; fail (never retried) on anything else."""
    if decision == APPROVE:
        print(f"{environment}: deployment approved")
        return
    if decision == REJECT:
        error = InvalidValue(
            "decision",
            decision,
            f"{environment}: deployment rejected (by a person, or by default: nobody approved before the "
            "approval's timeout, or the run was resumed without decision=approve)",
        )
    else:
        error = InvalidValue("decision", decision, f"{environment}: must be {APPROVE!r} or {REJECT!r}")
    raise fail(error)
