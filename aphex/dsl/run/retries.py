"""Retries: a template's ``retryStrategy`` parsed once, the attempts ``X(0)``, ``X(1)``... under a Retry
node, the verdict after each failed one (policy, limit, expression, backoff and its ``maxDuration``, the
workflow deadline) and the ``retries`` and ``lastRetry.*`` variables an attempt sees."""

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from aphex.dsl.run.context import RunContext
from aphex.dsl.run.exprlang import ExprError, evaluate_bool
from aphex.dsl.run.gowire import go_float
from aphex.dsl.run.handlers import HandlerError, parse_duration
from aphex.dsl.run.inputs import Inputs, input_variables
from aphex.dsl.run.loader import Resolved
from aphex.dsl.run.nodes import FAILED, NODE_TYPES, Node, RunError, template_kind, timestamp
from aphex.dsl.run.substitution import UnresolvedVariable, substitute

__all__ = ["FIRST_ATTEMPT", "Attempt", "RetryPlan", "run_retries"]

FIRST_ATTEMPT: Mapping[str, str] = MappingProxyType(
    {
        "retries": "0",
        "lastRetry.exitCode": "0",
        "lastRetry.status": "",
        "lastRetry.duration": "0",
        "lastRetry.message": "",
    }
)
"""The retry variables of a first (or only) attempt."""

_RETRY_POLICIES = {"Always": FAILED, "OnFailure": ("Failed",), "OnError": ("Error",)}

Attempt = Callable[[Node, Resolved, Inputs, str, Mapping[str, str]], None]
"""Run one attempt: ``(node, template, inputs, task name, retry variables)``; the node's phase says how
it went."""


def _last_retry(node: Node, *, default_exit_code: str) -> dict[str, str]:
    """``lastRetry.*`` of a finished attempt, strings as Argo builds them (operator.go,
    buildRetryStrategyLocalScope and executeTemplate): the exit code, or ``default_exit_code`` when
    the attempt has none; the duration in whole seconds (node times are stored to the second)."""
    started = int(node.started_at or 0)
    finished = int(node.finished_at or node.started_at or 0)
    return {
        "lastRetry.exitCode": str(node.exit_code) if node.exit_code is not None else default_exit_code,
        "lastRetry.status": node.phase,
        "lastRetry.duration": go_float(float(finished - started)),
        "lastRetry.message": node.message,
    }


def _retry_scope(attempts: Sequence[Node]) -> dict[str, str]:
    """The variables of ``retryStrategy.expression`` (buildRetryStrategyLocalScope): ``retries`` is the
    index of the last attempt, ``lastRetry.exitCode`` is ``-1`` when it has none."""
    return {"retries": str(len(attempts) - 1)} | _last_retry(attempts[-1], default_exit_code="-1")


@dataclass(frozen=True, kw_only=True)
class RetryPlan:
    """A template's ``retryStrategy``, parsed once per retry node."""

    limit: int | None
    retry_on: tuple[str, ...]
    expression: str
    backoff: bool
    duration: float
    factor: int
    cap: float | None
    max_duration: float | None

    @classmethod
    def parse(cls, retry: Mapping[str, Any], where: str, variables: Mapping[str, str]) -> "RetryPlan":
        """The plan of ``retry`` (found at ``where``); raises :class:`RunError` naming the field."""
        path = f"{where}.retryStrategy"
        limit_text = retry.get("limit")
        limit = (
            int(substitute(str(limit_text), variables, f"{path}.limit")) if limit_text is not None else None
        )
        expression = retry.get("expression")
        policy = str(retry.get("retryPolicy") or ("Always" if expression else "OnFailure"))
        if policy not in _RETRY_POLICIES:
            raise RunError(f"{path}.retryPolicy: {policy} is not a valid RetryPolicy")
        backoff = retry.get("backoff")
        duration, factor, cap, max_duration = 0.0, 0, None, None
        if backoff is not None:
            if not backoff.get("duration"):
                raise RunError(f"{path}.backoff: no base duration specified for retryStrategy")
            duration = parse_duration(backoff["duration"], f"{path}.backoff.duration")
            factor = int(str(backoff.get("factor", 0)))
            if backoff.get("cap"):
                cap = parse_duration(backoff["cap"], f"{path}.backoff.cap")
            if backoff.get("maxDuration"):
                max_duration = parse_duration(backoff["maxDuration"], f"{path}.backoff.maxDuration")
        return cls(
            limit=limit,
            retry_on=_RETRY_POLICIES[policy],
            expression=substitute(str(expression), variables, f"{path}.expression") if expression else "",
            backoff=backoff is not None,
            duration=duration,
            factor=factor,
            cap=cap,
            max_duration=max_duration,
        )

    def backoff_for(self, attempts: int) -> float:
        """``duration * factor^(attempts-1)``, capped (processNodeRetries)."""
        wait = self.duration * (self.factor ** (attempts - 1) if self.factor > 0 else 1)
        return min(wait, self.cap) if self.cap is not None else wait

    def verdict(
        self, attempts: Sequence[Node], times: Callable[[Node], tuple[float, float]], now: float
    ) -> tuple[str, str] | None:
        """The retry node's final (phase, message) after a failed attempt, or None to try again."""
        last = attempts[-1]
        if self.backoff and self.max_duration is not None:
            deadline = times(attempts[0])[0] + self.max_duration
            if now > deadline:
                return last.phase, "Max duration limit exceeded"
            if times(last)[1] + self.backoff_for(len(attempts)) > deadline:
                return last.phase, "Backoff would exceed max duration limit"
        if last.phase not in self.retry_on:
            return last.phase, last.message
        if self.limit is not None and len(attempts) > self.limit:
            return last.phase, "No more retries left"
        return None

    def wait_before(self, attempts: int) -> float:
        """How long to wait before the next attempt: Argo only waits when a limit is set."""
        if not self.backoff or self.limit is None:
            return 0.0
        return self.backoff_for(attempts)


def run_retries(
    context: RunContext,
    node: Node,
    resolved: Resolved,
    inputs: Inputs,
    task: str,
    retry: Mapping[str, Any],
    attempt: Attempt,
) -> None:
    """Attempts ``X(0)``, ``X(1)``... decided after each one as Argo's processNodeRetries does
    (argo-workflows workflow/controller/operator.go): success ends it; then backoff ``maxDuration``
    ("Max duration limit exceeded", "Backoff would exceed max duration limit"), the policy (the
    attempt's message), ``limit`` ("No more retries left"; no limit retries forever) and the
    ``expression`` ("retryStrategy.expression evaluated to false"); the retry node takes the last
    attempt's phase. The policy defaults to OnFailure, or Always when there is an expression
    (RetryStrategy.RetryPolicyActual)."""
    variables = context.workflow_variables() | input_variables(resolved.template, inputs, None)
    try:
        plan = RetryPlan.parse(retry, resolved.path, variables)
    except (ValueError, HandlerError, UnresolvedVariable) as error:
        context.finish(node, "Error", str(error))
        return
    fault = context.faults.get(task)
    if plan.limit is None and fault is not None and fault.attempts is None:
        context.finish(
            node,
            "Error",
            f"--fail {task} fails every attempt and {resolved.path}.retryStrategy has no limit (Argo "
            "would retry forever): give --fail NODE:attempts=N",
        )
        return

    def times(attempt_node: Node) -> tuple[float, float]:
        """When an attempt started and finished on the injectable clock (backoff arithmetic)."""
        return context.attempt_clock.get(attempt_node.id, (context.clock(), context.clock()))

    attempts: list[Node] = []
    retry_vars: Mapping[str, str] = FIRST_ATTEMPT
    while True:
        index = len(attempts)
        child = context.add_node(
            f"{node.name}({index})",
            f"{node.display_name}({index})",
            resolved.name,
            NODE_TYPES.get(_safe_kind(resolved.template), "Pod"),
            node,
        )
        attempts.append(child)
        context.start(child)
        attempt(child, resolved, inputs, task, retry_vars)
        context.finish(child)
        node.parameters, node.artifacts = child.parameters, child.artifacts
        node.result, node.exit_code = child.result, child.exit_code
        if child.phase == "Succeeded":
            node.phase, node.message = "Succeeded", ""
            return
        if child.phase == "Running":
            node.phase, node.message = "Running", child.message
            return
        if context.past_deadline(node):
            node.phase = child.phase
            node.message = f"retry exceeded workflow deadline {context.deadline_text}"
            return
        verdict = plan.verdict(attempts, times, context.clock())
        if verdict is not None:
            node.phase, node.message = verdict
            return
        if plan.expression:
            scope = _retry_scope(attempts)
            try:
                again = evaluate_bool(plan.expression, scope)
            except ExprError as error:
                node.phase = "Error"
                node.message = f"unable to evaluate expression '{plan.expression}': {error}"
                return
            if not again:
                node.phase, node.message = child.phase, "retryStrategy.expression evaluated to false"
                return
        wait_for = plan.wait_before(len(attempts))
        if wait_for:
            context.emit(f"{timestamp(time.time())} backoff   {node.name} {wait_for:g}s")
            context.sleep(wait_for)
        retry_vars = {"retries": str(len(attempts))} | _last_retry(child, default_exit_code="0")


def _safe_kind(template: Mapping[str, Any]) -> str:
    try:
        return template_kind(template)
    except RunError:
        return "container"
