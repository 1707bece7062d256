"""The checks of an object's own fields: its ``metadata.name`` and a CronWorkflow's scheduling fields.

The name rules are the API server's (RFC 1123, 63 characters) and Argo's 52 for a CronWorkflow, whose
Workflows get a timestamp suffix; the CronWorkflow rules are those of ``CronWorkflow`` in argo-workflows
``workflow/validate/validate.go``.
"""

import re

from aphex.dsl.lint.cron import schedule_problem, timezone_problem
from aphex.dsl.lint.rules import as_list, as_map
from aphex.dsl.lint.semantics.context import ObjectContext

__all__ = ["check_cron", "check_metadata"]

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_metadata(ctx: ObjectContext) -> None:
    """The object's name: length and RFC 1123 characters."""
    name = as_map(ctx.obj.get("metadata")).get("name")
    if not isinstance(name, str):
        return
    limit = 52 if ctx.kind == "CronWorkflow" else 63
    if len(name) > limit:
        ctx.emit("metadata.name", f"must not be more than {limit} characters long (currently {len(name)})")
    if not _DNS_SUBDOMAIN.match(name):
        ctx.emit("metadata.name", "must be lowercase letters, digits, '-' and '.' (RFC 1123)")


def check_cron(ctx: ObjectContext) -> None:
    """A CronWorkflow's schedules, time zone, concurrency policy and starting deadline."""
    spec = as_map(ctx.obj.get("spec"))
    schedules = as_list(spec.get("schedules"))
    if not schedules:
        ctx.emit("spec.schedules", "cron workflow must have at least one schedule")
    for index, schedule in enumerate(schedules):
        problem = schedule_problem(str(schedule))
        if problem:
            ctx.emit(f"spec.schedules[{index}]", f"cron schedule {schedule} is malformed: {problem}")
    zone = spec.get("timezone")
    if zone and (problem := timezone_problem(str(zone))):
        ctx.emit("spec.timezone", f"invalid timezone {zone!r}: {problem}")
    policy = spec.get("concurrencyPolicy")
    if policy not in (None, "", "Allow", "Forbid", "Replace"):
        ctx.emit("spec.concurrencyPolicy", f"'{policy}' is not a valid concurrencyPolicy")
    deadline = spec.get("startingDeadlineSeconds")
    if isinstance(deadline, int) and deadline < 0:
        ctx.emit("spec.startingDeadlineSeconds", "startingDeadlineSeconds must be positive")
