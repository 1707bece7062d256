"""The scheduler of a local run: Argo controller semantics over the compiled YAML.

A template invocation becomes a node (https://argo-workflows.readthedocs.io/en/latest/fields/#nodestatus)
named as Argo names it (``wf.task``, ``wf[0].step``, ``wf.task(1)`` for retries, ``wf.task(0:item)`` for
loop items, ``wf.onExit``). DAG tasks start in a thread pool as soon as every task their ``depends``
names has finished; an unsatisfied ``depends`` gives ``Omitted``, a false ``when`` gives ``Skipped``;
the DAG's phase follows Argo's ``assessDAGPhase``: each target task (``dag.target`` or the leaves) takes
the phase of the last completed node on its branch, and a failed or errored branch fails the DAG unless
the task continues on it. Step groups run in order, the steps of a group in parallel. Retries follow
``retryStrategy`` (limit, policy, backoff with an injectable sleep). The engine knows nothing about a
particular workflow.
"""

import json
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aphex.dsl.errors import ExecutionError
from aphex.dsl.run.expressions import (
    ExpressionError,
    TaskOutcome,
    dependencies_expression,
    depends_references,
    evaluate_depends,
    evaluate_when,
)
from aphex.dsl.run.exprlang import ExprError, evaluate_bool
from aphex.dsl.run.gowire import go_float, go_json, go_quote
from aphex.dsl.run.handlers import (
    STEP_DEADLINE_MESSAGE,
    HandlerError,
    HandlerRegistry,
    LeafCall,
    LeafOutcome,
    PathMap,
    SecretSource,
    parse_duration,
    resolve_env,
)
from aphex.dsl.run.loader import Library, Resolved, Selection
from aphex.dsl.run.mutex import FileMutex
from aphex.dsl.run.substitution import UnresolvedVariable, substitute, substitute_tree

__all__ = ["Engine", "Fault", "NodeRecord", "RunError", "RunResult", "fnv32a", "pod_name", "timestamp"]

FAILED = ("Failed", "Error")
COMPLETED = ("Succeeded", "Failed", "Error")
_POD_PREFIX_LENGTH = 253 - 10
# Argo's operate: the workflow phase the root node's phase maps to, for workflow.status.
_WORKFLOW_STATUS = {
    "Succeeded": "Succeeded",
    "Skipped": "Succeeded",
    "Omitted": "Succeeded",
    "Failed": "Failed",
    "Error": "Error",
    "Running": "Running",
}


class RunError(ExecutionError):
    """A node cannot proceed (it ends in phase Error); the message names the field."""


@dataclass(frozen=True, kw_only=True)
class Fault:
    """``--fail NODE[:attempts=N]``: force a node (by task or step name) to fail."""

    node: str
    attempts: int | None = None
    phase: str = "Failed"
    exit_code: int | None = None


@dataclass(frozen=True, kw_only=True)
class NodeRecord:
    """One finished node, as ``argo get`` and the report show it."""

    id: str
    name: str
    display_name: str
    type: str
    template_name: str
    phase: str
    started_at: float | None
    finished_at: float | None
    message: str
    parameters: Mapping[str, str]
    artifacts: Mapping[str, str]
    result: str | None
    exit_code: int | None
    children: tuple[str, ...]
    pod_name: str
    log_tail: str = ""


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """The outcome of a local run."""

    name: str
    namespace: str
    uid: str
    phase: str
    message: str
    started_at: float
    finished_at: float
    nodes: tuple[NodeRecord, ...]
    parameters: Mapping[str, str]
    artifacts: Mapping[str, str]
    workdir: Path

    def by_display_name(self, display_name: str) -> NodeRecord:
        """The node shown as ``display_name`` (the first, when several share it)."""
        for node in self.nodes:
            if node.display_name == display_name:
                return node
        raise KeyError(display_name)


@dataclass(kw_only=True)
class _Node:
    id: str
    name: str
    display_name: str
    type: str
    template_name: str
    pod_name: str
    phase: str = "Pending"
    started_at: float | None = None
    finished_at: float | None = None
    message: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    result: str | None = None
    exit_code: int | None = None
    children: list[str] = field(default_factory=list)
    child_phases: tuple[str, ...] = ()
    log_tail: str = ""
    items: list["_Node"] = field(default_factory=list)
    on_exit: bool = False
    boundary_id: str = ""

    def status(self) -> dict[str, Any]:
        """The node as the controller keeps it in the Workflow's ``status.nodes`` (argo-workflows
        pkg/apis/workflow/v1alpha1/workflow_types.go, NodeStatus: ``omitempty`` strings left out, a zero
        ``finishedAt`` as ``null``)."""
        status: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "displayName": self.display_name,
            "type": self.type,
            "templateName": self.template_name,
            "phase": self.phase,
            "startedAt": timestamp(self.started_at),
            "finishedAt": timestamp(self.finished_at),
        }
        if self.boundary_id:
            status["boundaryID"] = self.boundary_id
        if self.message:
            status["message"] = self.message
        if self.children:
            status["children"] = list(self.children)
        return status

    def record(self) -> NodeRecord:
        return NodeRecord(
            id=self.id,
            name=self.name,
            display_name=self.display_name,
            type=self.type,
            template_name=self.template_name,
            phase=self.phase,
            started_at=self.started_at,
            finished_at=self.finished_at,
            message=self.message,
            parameters=dict(self.parameters),
            artifacts=dict(self.artifacts),
            result=self.result,
            exit_code=self.exit_code,
            children=tuple(self.children),
            pod_name=self.pod_name,
            log_tail=self.log_tail,
        )


@dataclass(frozen=True, kw_only=True)
class _Inputs:
    parameters: tuple[tuple[str, str], ...]
    artifacts: Mapping[str, str]


def fnv32a(text: str) -> int:
    """The FNV-1a 32-bit hash Argo uses in node ids and pod names."""
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def pod_name(workflow: str, node: str, template: str) -> str:
    """Argo's v2 pod name (argo-workflows workflow/util/pod_name.go, GeneratePodName): the workflow
    name for the root node, else ``<workflow>-<template>`` cut to 242 characters, ``-``, FNV-1a of the
    node name."""
    if workflow == node:
        return workflow
    prefix = f"{workflow}-{template}" if template else workflow
    return f"{prefix[: _POD_PREFIX_LENGTH - 1]}-{fnv32a(node)}"


def timestamp(moment: float | None) -> str | None:
    """RFC 3339 in UTC, seconds precision, as Argo writes times."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _kind(template: Mapping[str, Any]) -> str:
    for kind in ("dag", "steps", "container", "script", "resource", "suspend"):
        if template.get(kind) is not None:
            return kind
    raise RunError("the template has no supported type")


_NODE_TYPES = {
    "dag": "DAG",
    "steps": "Steps",
    "container": "Pod",
    "script": "Pod",
    "resource": "Pod",
    "suspend": "Suspend",
}


def _item_label(item: Any) -> str:
    if isinstance(item, Mapping):
        return ",".join(f"{key}:{value}" for key, value in item.items())
    return item if isinstance(item, str) else json.dumps(item)


def _item_vars(item: Any) -> dict[str, str]:
    if isinstance(item, str):
        return {"item": item}
    variables = {"item": json.dumps(item) if not isinstance(item, int | float) else str(item)}
    if isinstance(item, Mapping):
        for key, value in item.items():
            variables[f"item.{key}"] = value if isinstance(value, str) else json.dumps(value)
    return variables


_LAST_RETRY_DEFAULTS = {
    "lastRetry.exitCode": "0",
    "lastRetry.status": "",
    "lastRetry.duration": "0",
    "lastRetry.message": "",
}
_RETRY_POLICIES = {"Always": FAILED, "OnFailure": ("Failed",), "OnError": ("Error",)}


def _last_retry(node: _Node, *, default_exit_code: str) -> dict[str, str]:
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


def _retry_scope(attempts: Sequence[_Node]) -> dict[str, str]:
    """The variables of ``retryStrategy.expression`` (buildRetryStrategyLocalScope): ``retries`` is the
    index of the last attempt, ``lastRetry.exitCode`` is ``-1`` when it has none."""
    return {"retries": str(len(attempts) - 1)} | _last_retry(attempts[-1], default_exit_code="-1")


@dataclass(frozen=True, kw_only=True)
class _RetryPlan:
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
    def parse(cls, retry: Mapping[str, Any], where: str, variables: Mapping[str, str]) -> "_RetryPlan":
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
        self, attempts: Sequence[_Node], times: Callable[[_Node], tuple[float, float]], now: float
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


class Engine:
    """Runs one selected object; create one per run."""

    def __init__(
        self,
        *,
        library: Library,
        selection: Selection,
        registry: HandlerRegistry,
        parameters: Mapping[str, str],
        entry_arguments: Mapping[str, str],
        workdir: Path,
        namespace: str,
        name: str,
        faults: Sequence[Fault],
        secrets: SecretSource,
        lock_dir: Path,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        progress: Callable[[str], None] | None,
        store_cleanup: Callable[[str], list[dict[str, Any]]],
        on_update: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.library = library
        self.selection = selection
        self.registry = registry
        self.parameters = dict(parameters)
        self.entry_arguments = dict(entry_arguments)
        self.workdir = workdir
        self.namespace = namespace
        self.name = name
        self.uid = str(uuid.uuid4())
        self.faults = {fault.node: fault for fault in faults}
        self.secrets = secrets
        self.lock_dir = lock_dir
        self.sleep = sleep
        self.clock = clock
        self.progress = progress
        self.store_cleanup = store_cleanup
        self.on_update = on_update
        self.update_lock = threading.Lock()
        self.created = time.time()
        self.lock = threading.Lock()
        self.nodes: dict[str, _Node] = {}
        self.global_parameters: dict[str, str] = {}
        self.global_artifacts: dict[str, str] = {}
        self.exit_variables: dict[str, str] = {}
        self.attempt_clock: dict[str, tuple[float, float]] = {}
        self.deadline_at: float | None = None
        self.deadline_text = ""
        self.faults_applied: set[str] = set()

    # --- bookkeeping ----------------------------------------------------------------------------

    def _emit(self, line: str) -> None:
        if self.progress is not None:
            with self.lock:
                self.progress(line)

    def _node(self, name: str, display: str, template_name: str, kind: str, parent: _Node | None) -> _Node:
        node_id = self.name if name == self.name else f"{self.name}-{fnv32a(name)}"
        node = _Node(
            id=node_id,
            name=name,
            display_name=display,
            type=kind,
            template_name=template_name,
            pod_name=pod_name(self.name, name, template_name),
            on_exit=name.endswith(".onExit") or (parent is not None and parent.on_exit),
            boundary_id=_boundary_of(parent),
        )
        with self.lock:
            self.nodes[node_id] = node
            if parent is not None:
                parent.children.append(node_id)
        return node

    def _start(self, node: _Node) -> None:
        node.phase = "Running"
        node.started_at = time.time()
        if node.type not in ("StepGroup", "Retry", "TaskGroup"):
            self._emit(f"{timestamp(node.started_at)} started   {node.name} ({node.template_name})")
        self._persist()

    def workflow_object(self) -> dict[str, Any]:
        """The Workflow as the API server holds it during the run: metadata, ``status.phase`` (Running
        until the exit handler has ended), ``status.startedAt`` and ``status.nodes`` keyed by node id."""
        with self.lock:
            nodes = {node_id: node.status() for node_id, node in self.nodes.items()}
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": self.uid,
                "creationTimestamp": timestamp(self.created),
            },
            "status": {"phase": "Running", "startedAt": timestamp(self.created), "nodes": nodes},
        }

    def _persist(self) -> None:
        """Hand the Workflow to ``on_update`` after a node changed, as the controller writes it at the end
        of each reconciliation (argo-workflows workflow/controller/operator.go, persistUpdates)."""
        if self.on_update is not None:
            with self.update_lock:  # snapshots reach on_update in the order they were taken
                self.on_update(self.workflow_object())

    def _finish(self, node: _Node, phase: str | None = None, message: str | None = None) -> _Node:
        if phase is not None:
            node.phase = phase
        if message is not None:
            node.message = message
        if node.started_at is None:
            node.started_at = time.time()
        if node.phase == "Running":
            node.finished_at = None
        else:
            # A node that never ran is fulfilled when created: finishedAt = startedAt (operator.go,
            # initializeNode).
            node.finished_at = node.started_at if node.type == "Skipped" else time.time()
        if node.type not in ("StepGroup", "TaskGroup"):
            duration = (node.finished_at or time.time()) - node.started_at
            detail = f": {node.message}" if node.message and node.phase != "Succeeded" else ""
            if node.log_tail and node.phase != "Succeeded":
                detail += f" (stderr: {node.log_tail})"
            self._emit(f"{timestamp(node.finished_at)} {node.phase:<9} {node.name} {duration:.2f}s{detail}")
        self._persist()
        return node

    def _mark(self, name: str, display: str, template: str, parent: _Node, phase: str, message: str) -> _Node:
        node = self._node(name, display, template, "Skipped", parent)
        node.started_at = time.time()
        return self._finish(node, phase, message)

    # --- variables ------------------------------------------------------------------------------

    def workflow_variables(self) -> dict[str, str]:
        meta = self.selection.obj.get("metadata", {}) or {}
        variables = {
            "workflow.name": self.name,
            "workflow.namespace": self.namespace,
            "workflow.uid": self.uid,
            "workflow.creationTimestamp": str(timestamp(self.created)),
            "workflow.mainEntrypoint": self.selection.entrypoint,
            "workflow.serviceAccountName": str(self.selection.spec.get("serviceAccountName", "default")),
            "workflow.duration": f"{time.time() - self.created:.6f}",
            "workflow.parameters.json": json.dumps(
                [{"name": key, "value": value} for key, value in self.parameters.items()]
            ),
        }
        variables |= {f"workflow.parameters.{key}": value for key, value in self.parameters.items()}
        variables |= {f"workflow.labels.{k}": str(v) for k, v in (meta.get("labels") or {}).items()}
        variables |= {f"workflow.annotations.{k}": str(v) for k, v in (meta.get("annotations") or {}).items()}
        with self.lock:
            variables |= {f"workflow.outputs.parameters.{k}": v for k, v in self.global_parameters.items()}
            variables |= {f"workflow.outputs.artifacts.{k}": v for k, v in self.global_artifacts.items()}
        return variables | {"workflow.status": "Running"} | self.exit_variables

    @staticmethod
    def _input_variables(
        template: Mapping[str, Any], inputs: _Inputs, paths: PathMap | None
    ) -> dict[str, str]:
        variables = {f"inputs.parameters.{name}": value for name, value in inputs.parameters}
        variables["inputs.parameters"] = json.dumps([{"name": n, "value": v} for n, v in inputs.parameters])
        for artifact in (template.get("inputs") or {}).get("artifacts", []) or []:
            if artifact.get("path") and paths is not None:
                variables[f"inputs.artifacts.{artifact['name']}.path"] = str(
                    paths.host(str(artifact["path"]))
                )
        return variables

    # --- invocation -----------------------------------------------------------------------------

    def _inputs(
        self, resolved: Resolved, parameters: Mapping[str, str], artifacts: Mapping[str, str]
    ) -> _Inputs:
        declared = resolved.template.get("inputs") or {}
        values: list[tuple[str, str]] = []
        base = self.workflow_variables()
        for parameter in declared.get("parameters", []) or []:
            name = str(parameter.get("name"))
            if name in parameters:
                value = parameters[name]
            elif "value" in parameter:
                value = substitute(str(parameter["value"]), base, f"inputs.parameters.{name}")
            elif "default" in parameter:
                value = substitute(str(parameter["default"]), base, f"inputs.parameters.{name}")
            else:
                raise RunError(f"{resolved.path}.inputs.parameters.{name}: no value given")
            enum = parameter.get("enum")
            if enum is not None and value not in [str(option) for option in enum]:
                raise RunError(f"{resolved.path}.inputs.parameters.{name}: {value!r} is not one of {enum}")
            values.append((name, value))
        placed: dict[str, str] = {}
        for artifact in declared.get("artifacts", []) or []:
            name = str(artifact.get("name"))
            if name in artifacts:
                placed[name] = artifacts[name]
            elif not artifact.get("raw") and not artifact.get("optional"):
                raise RunError(f"{resolved.path}.inputs.artifacts.{name}: no artifact given")
        return _Inputs(parameters=tuple(values), artifacts=placed)

    def invoke(
        self,
        resolved: Resolved,
        *,
        parameters: Mapping[str, str],
        artifacts: Mapping[str, str],
        name: str,
        display: str,
        parent: _Node | None,
        task: str,
    ) -> _Node:
        """Run ``resolved`` with arguments as one node (a Retry node when it has a retryStrategy)."""
        template = resolved.template
        # Argo's woc.retryStrategy: the template's, else the workflow's spec.retryStrategy.
        retry = template.get("retryStrategy") or self.selection.spec.get("retryStrategy")
        try:
            kind = "Retry" if retry else _NODE_TYPES[_kind(template)]
        except RunError:
            kind = "Pod"
        node = self._node(name, display, resolved.name, kind, parent)
        self._start(node)
        try:
            inputs = self._inputs(resolved, parameters, artifacts)
        except (RunError, UnresolvedVariable) as error:
            return self._finish(node, "Error", str(error))
        if not retry:
            self._attempt(node, resolved, inputs, task, {"retries": "0"} | _LAST_RETRY_DEFAULTS)
            return self._finish(node)
        self._retry(node, resolved, inputs, task, retry)
        return self._finish(node)

    def _retry(
        self, node: _Node, resolved: Resolved, inputs: _Inputs, task: str, retry: Mapping[str, Any]
    ) -> None:
        """Attempts ``X(0)``, ``X(1)``... decided after each one as Argo's processNodeRetries does
        (argo-workflows workflow/controller/operator.go): success ends it; then backoff ``maxDuration``
        ("Max duration limit exceeded", "Backoff would exceed max duration limit"), the policy (the
        attempt's message), ``limit`` ("No more retries left"; no limit retries forever) and the
        ``expression`` ("retryStrategy.expression evaluated to false"); the retry node takes the last
        attempt's phase. The policy defaults to OnFailure, or Always when there is an expression
        (RetryStrategy.RetryPolicyActual)."""
        try:
            plan = _RetryPlan.parse(retry, resolved.path, self._retry_substitutions(resolved, inputs))
        except (ValueError, HandlerError, UnresolvedVariable) as error:
            self._finish(node, "Error", str(error))
            return
        fault = self.faults.get(task)
        if plan.limit is None and fault is not None and fault.attempts is None:
            self._finish(
                node,
                "Error",
                f"--fail {task} fails every attempt and {resolved.path}.retryStrategy has no limit (Argo "
                "would retry forever): give --fail NODE:attempts=N",
            )
            return
        attempts: list[_Node] = []
        retry_vars = {"retries": "0"} | _LAST_RETRY_DEFAULTS
        while True:
            attempt = len(attempts)
            child = self._node(
                f"{node.name}({attempt})",
                f"{node.display_name}({attempt})",
                resolved.name,
                _NODE_TYPES.get(_safe_kind(resolved.template), "Pod"),
                node,
            )
            attempts.append(child)
            self._start(child)
            self._attempt(child, resolved, inputs, task, retry_vars)
            self._finish(child)
            node.parameters, node.artifacts = child.parameters, child.artifacts
            node.result, node.exit_code = child.result, child.exit_code
            if child.phase == "Succeeded":
                node.phase, node.message = "Succeeded", ""
                return
            if child.phase == "Running":
                node.phase, node.message = "Running", child.message
                return
            if self._past_deadline(node):
                node.phase = child.phase
                node.message = f"retry exceeded workflow deadline {self.deadline_text}"
                return
            verdict = plan.verdict(attempts, self._clock_of, self.clock())
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
                self._emit(f"{timestamp(time.time())} backoff   {node.name} {wait_for:g}s")
                self.sleep(wait_for)
            retry_vars = {"retries": str(len(attempts))} | _last_retry(child, default_exit_code="0")

    def _remaining(self, node: _Node) -> float | None:
        """Seconds left before ``spec.activeDeadlineSeconds`` for a node outside exit handlers (Argo lets
        exit handlers run past the workflow deadline), or None without one."""
        if self.deadline_at is None or node.on_exit:
            return None
        return self.deadline_at - self.clock()

    def _past_deadline(self, node: _Node) -> bool:
        remaining = self._remaining(node)
        return remaining is not None and remaining <= 0

    def _clock_of(self, node: _Node) -> tuple[float, float]:
        """When an attempt started and finished on the injectable clock (backoff arithmetic)."""
        return self.attempt_clock.get(node.id, (self.clock(), self.clock()))

    def _retry_substitutions(self, resolved: Resolved, inputs: _Inputs) -> dict[str, str]:
        return self.workflow_variables() | self._input_variables(resolved.template, inputs, None)

    def _attempt(
        self, node: _Node, resolved: Resolved, inputs: _Inputs, task: str, retry_vars: Mapping[str, str]
    ) -> None:
        started = self.clock()
        try:
            self._attempt_body(node, resolved, inputs, task, retry_vars)
        finally:
            self.attempt_clock[node.id] = (started, self.clock())

    def _attempt_body(
        self, node: _Node, resolved: Resolved, inputs: _Inputs, task: str, retry_vars: Mapping[str, str]
    ) -> None:
        retries = int(retry_vars.get("retries", "0"))
        fault = self.faults.get(task)
        if fault is not None and (fault.attempts is None or retries < fault.attempts):
            self.faults_applied.add(task)
            node.phase = fault.phase
            if fault.exit_code is not None:
                node.exit_code = fault.exit_code
                node.message = f"main: Error (exit code {fault.exit_code}): failed by --fail {task}"
            else:
                node.message = f"failed by --fail {task}"
            return
        template = resolved.template
        try:
            with self._mutexes(template, inputs, node):
                kind = _kind(template)
                if kind == "dag":
                    self._dag(node, resolved, inputs)
                elif kind == "steps":
                    self._steps(node, resolved, inputs)
                else:
                    self._leaf(node, resolved, inputs, retry_vars)
        except (RunError, HandlerError, UnresolvedVariable, ExpressionError) as error:
            node.phase, node.message = "Error", str(error)
        # operator.go, podReconciliation and executeDAG/executeSteps: addOutputsToGlobalScope runs for a
        # completed node whatever its phase, so a step that wrote a globalName output and then failed
        # still publishes it.
        if node.phase != "Running":
            self._publish(template, node)

    @contextmanager
    def _mutexes(self, template: Mapping[str, Any], inputs: _Inputs, node: _Node) -> Iterator[None]:
        mutexes = (template.get("synchronization") or {}).get("mutexes") or []
        if not mutexes:
            yield
            return
        variables = self.workflow_variables() | self._input_variables(template, inputs, None)
        with ExitStack() as stack:
            for index, mutex in enumerate(mutexes):
                name = substitute(str(mutex.get("name")), variables, f"synchronization.mutexes[{index}].name")
                stack.enter_context(self.mutex(name, node.name))
            yield

    def mutex(self, name: str, holder: str) -> FileMutex:
        """The file lock of a mutex in this namespace (shared by every local run on this machine)."""
        return FileMutex(
            self.lock_dir,
            f"{self.namespace}/Mutex/{name}",
            on_wait=lambda: self._emit(f"{timestamp(time.time())} waiting   {holder} for mutex {name}"),
        )

    def _publish(self, template: Mapping[str, Any], node: _Node) -> None:
        outputs = template.get("outputs") or {}
        with self.lock:
            for parameter in outputs.get("parameters", []) or []:
                if parameter.get("globalName") and parameter.get("name") in node.parameters:
                    self.global_parameters[str(parameter["globalName"])] = node.parameters[parameter["name"]]
            for artifact in outputs.get("artifacts", []) or []:
                if artifact.get("globalName") and artifact.get("name") in node.artifacts:
                    self.global_artifacts[str(artifact["globalName"])] = node.artifacts[artifact["name"]]

    # --- leaves ---------------------------------------------------------------------------------

    def _leaf(self, node: _Node, resolved: Resolved, inputs: _Inputs, retry_vars: Mapping[str, str]) -> None:
        template = resolved.template
        node_dir = self.workdir / "nodes" / node.id
        node_dir.mkdir(parents=True, exist_ok=True)
        paths = PathMap.for_template(template, node_dir)
        outputs = template.get("outputs") or {}
        variables = self.workflow_variables() | self._input_variables(template, inputs, paths)
        variables |= {"pod.name": node.pod_name, "node.name": node.name, **retry_vars}
        for parameter in outputs.get("parameters", []) or []:
            path = (parameter.get("valueFrom") or {}).get("path")
            if path:
                host = paths.host(str(path))
                host.parent.mkdir(parents=True, exist_ok=True)
                variables[f"outputs.parameters.{parameter['name']}.path"] = str(host)
        for artifact in outputs.get("artifacts", []) or []:
            if artifact.get("path"):
                host = paths.host(str(artifact["path"]))
                host.parent.mkdir(parents=True, exist_ok=True)
                variables[f"outputs.artifacts.{artifact['name']}.path"] = str(host)
        # Metrics are the controller's, substituted once the node has completed (operator.go,
        # computeMetrics, with {{status}} and the node's outputs): a local run does not emit them.
        body = {key: value for key, value in template.items() if key not in ("inputs", "outputs", "metrics")}
        substituted = dict(substitute_tree(body, variables, resolved.path))
        substituted["outputs"] = outputs
        substituted["inputs"] = template.get("inputs") or {}
        self._place_artifacts(template, inputs, paths)
        deadline = self._deadline(substituted, resolved.path)
        remaining = self._remaining(node)
        if remaining is not None:
            if remaining <= 0:
                # workflowpod.go creates no pod past the workflow deadline, and
                # failNodesWithoutCreatedPodsAfterDeadlineOrShutdown fails the node.
                node.phase, node.message = "Failed", STEP_DEADLINE_MESSAGE
                return
            deadline = remaining if deadline is None else min(deadline, remaining)
        fields = {
            "metadata.namespace": self.namespace,
            "metadata.name": node.pod_name,
            "spec.serviceAccountName": str(
                substituted.get("serviceAccountName")
                or self.selection.spec.get("serviceAccountName")
                or "default"
            ),
        }
        kind = _kind(template)
        env = resolve_env(substituted, paths, self.secrets, fields, f"{resolved.path}.{kind}")
        handler = self.registry.find(template)
        if handler is None:
            raise RunError(f"{resolved.path}: no handler runs this {kind} template")
        call = LeafCall(
            template=substituted,
            template_name=resolved.name,
            node_name=node.name,
            node_id=node.id,
            display_name=node.display_name,
            pod_name=node.pod_name,
            node_dir=node_dir,
            paths=paths,
            inputs=[{"name": n, "value": v} for n, v in inputs.parameters],
            env=env,
            deadline=deadline,
            workflow_name=self.name,
            workflow_namespace=self.namespace,
            workflow_uid=self.uid,
        )
        outcome = handler.run(call)
        node.phase, node.message, node.log_tail = outcome.phase, outcome.message, outcome.log_tail
        node.result, node.exit_code = outcome.result, outcome.exit_code
        self._collect(node, resolved, outcome, paths, variables)

    @staticmethod
    def _deadline(template: Mapping[str, Any], where: str) -> float | None:
        limits = []
        if template.get("timeout") is not None:
            limits.append(parse_duration(template["timeout"], f"{where}.timeout"))
        if template.get("activeDeadlineSeconds") is not None:
            limits.append(parse_duration(template["activeDeadlineSeconds"], f"{where}.activeDeadlineSeconds"))
        return min(limits) if limits else None

    @staticmethod
    def _place_artifacts(template: Mapping[str, Any], inputs: _Inputs, paths: PathMap) -> None:
        for artifact in (template.get("inputs") or {}).get("artifacts", []) or []:
            name, path = str(artifact.get("name")), artifact.get("path")
            if not path:
                continue
            target = paths.host(str(path))
            target.parent.mkdir(parents=True, exist_ok=True)
            if name in inputs.artifacts:
                source = Path(inputs.artifacts[name])
                if source.is_dir():
                    shutil.copytree(source, target, dirs_exist_ok=True)
                else:
                    shutil.copyfile(source, target)
            elif artifact.get("raw"):
                target.write_text(str(artifact["raw"].get("data", "")), encoding="utf-8")

    def _collect(
        self,
        node: _Node,
        resolved: Resolved,
        outcome: LeafOutcome,
        paths: PathMap,
        variables: Mapping[str, str],
    ) -> None:
        succeeded = node.phase == "Succeeded"
        outputs = resolved.template.get("outputs") or {}
        problems: list[str] = []
        for parameter in outputs.get("parameters", []) or []:
            name = str(parameter.get("name"))
            value_from = parameter.get("valueFrom") or {}
            value: str | None = None
            if value_from.get("supplied") is not None:
                # A suspend node's supplied output: what the operator (or the default) gave, else unset.
                if name in outcome.parameters:
                    node.parameters[name] = outcome.parameters[name]
                continue
            if name in outcome.parameters:
                value = outcome.parameters[name]
            elif "value" in parameter:
                value = substitute(str(parameter["value"]), variables, f"outputs.parameters.{name}")
            elif value_from.get("path"):
                file = paths.host(str(value_from["path"]))
                if file.is_file():
                    text = file.read_text(encoding="utf-8")
                    value = text[:-1] if text.endswith("\n") else text
            if value is None and "default" in value_from:
                value = str(value_from["default"])
            if value is None:
                if succeeded:
                    problems.append(f"outputs.parameters.{name}: no value (not written by the step)")
                continue
            node.parameters[name] = value
        for artifact in outputs.get("artifacts", []) or []:
            name = str(artifact.get("name"))
            source = outcome.artifacts.get(name)
            if source is None and artifact.get("path"):
                source = paths.host(str(artifact["path"]))
            if source is None or not source.exists():
                if succeeded and not artifact.get("optional"):
                    problems.append(f"outputs.artifacts.{name}: {artifact.get('path')} was not written")
                continue
            target = self.workdir / "artifacts" / node.id / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
            else:
                shutil.copyfile(source, target)
            node.artifacts[name] = str(target)
        if problems:
            node.phase, node.message = "Error", "; ".join(problems)

    # --- DAG ------------------------------------------------------------------------------------

    def _dag(self, node: _Node, resolved: Resolved, inputs: _Inputs) -> None:
        template = resolved.template
        dag = template["dag"]
        tasks = {str(task["name"]): task for task in dag.get("tasks", []) or []}
        expressions: dict[str, str] = {}
        references: dict[str, list[str]] = {}
        for name, task in tasks.items():
            expression = str(task.get("depends") or dependencies_expression(task.get("dependencies") or []))
            expressions[name] = expression
            references[name] = depends_references(expression) if expression.strip() else []
        base = self.workflow_variables() | self._input_variables(template, inputs, None)
        task_vars: dict[str, str] = {}
        outcomes: dict[str, TaskOutcome] = {}
        phases: dict[str, str] = {}
        pending = list(tasks)
        workers = int(template.get("parallelism") or 0) or max(1, min(len(tasks), 32))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dag") as pool:
            running: dict[Future[_Node], str] = {}
            while pending or running:
                ready = self._ready(pending, references, outcomes)
                while ready:
                    name = ready.pop(0)
                    pending.remove(name)
                    task = tasks[name]
                    full = f"{node.name}.{name}"
                    try:
                        satisfied = not expressions[name].strip() or evaluate_depends(
                            expressions[name], outcomes
                        )
                    except ExpressionError as error:
                        child = self._mark(
                            full, name, _task_template(task), node, "Error", f"depends: {error}"
                        )
                        self._record(name, task, child, outcomes, phases, task_vars, "tasks")
                        ready = ready or self._ready(pending, references, outcomes)
                        continue
                    if not satisfied:
                        child = self._mark(
                            full,
                            name,
                            _task_template(task),
                            node,
                            "Omitted",
                            "omitted: depends condition not met",
                        )
                        self._record(name, task, child, outcomes, phases, task_vars, "tasks")
                        ready = ready or self._ready(pending, references, outcomes)
                        continue
                    variables = base | self.workflow_variables() | task_vars
                    running[pool.submit(self._task, node, resolved, task, full, variables)] = name
                    ready = ready or self._ready(pending, references, outcomes)
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    self._record(name, tasks[name], future.result(), outcomes, phases, task_vars, "tasks")
        node.phase = (
            "Running" if "Running" in phases.values() else _assess_dag(dag, tasks, references, phases)
        )
        # Argo's executeDAG marks the DAG's phase without a message.
        if node.phase != "Running":
            self._template_outputs(node, template, base | self.workflow_variables() | task_vars)

    @staticmethod
    def _ready(
        pending: list[str], references: Mapping[str, list[str]], done: Mapping[str, TaskOutcome]
    ) -> list[str]:
        """Tasks whose every dependency has completed (a Running one, e.g. a suspend, holds them)."""
        return [
            name
            for name in pending
            if all(ref in done and done[ref].phase != "Running" for ref in references[name])
        ]

    def _record(
        self,
        name: str,
        task: Mapping[str, Any],
        child: _Node,
        outcomes: dict[str, TaskOutcome],
        phases: dict[str, str],
        variables: dict[str, str],
        prefix: str,
    ) -> None:
        continue_on = task.get("continueOn") or {}
        outcomes[name] = TaskOutcome(
            phase=child.phase,
            continue_on_failed=bool(continue_on.get("failed")),
            continue_on_error=bool(continue_on.get("error")),
            child_phases=child.child_phases,
        )
        phases[name] = child.phase
        key = f"{prefix}.{name}"
        variables |= {
            f"{key}.status": child.phase,
            f"{key}.id": child.id,
            f"{key}.startedAt": str(timestamp(child.started_at)),
            f"{key}.finishedAt": str(timestamp(child.finished_at)),
        }
        if child.exit_code is not None:
            variables[f"{key}.exitCode"] = str(child.exit_code)
        if child.result is not None:
            variables[f"{key}.outputs.result"] = child.result
        variables |= {f"{key}.outputs.parameters.{k}": v for k, v in child.parameters.items()}
        variables |= {f"{key}.outputs.artifacts.{k}": v for k, v in child.artifacts.items()}

    def _task(
        self, parent: _Node, owner: Resolved, task: Mapping[str, Any], full: str, variables: Mapping[str, str]
    ) -> _Node:
        """One DAG task or step: loops, ``when``, arguments, then the template; exit handler afterwards."""
        name = str(task["name"])
        target = self.library.node_template(owner.owner, task)
        if target is None:
            return self._mark(full, name, _task_template(task), parent, "Error", "template not found")
        try:
            items = self._items(task, variables)
        except (RunError, UnresolvedVariable) as error:
            return self._mark(full, name, target.name, parent, "Error", str(error))
        if items is None:
            result = self._run_one(parent, target, task, full, name, variables)
        else:
            result = self._run_group(parent, target, task, full, name, variables, items)
        on_exit = task.get("onExit")
        if on_exit and result.phase != "Running":
            handler = self.library.local(owner.owner, str(on_exit))
            if handler is not None:
                self.invoke(
                    handler,
                    parameters={},
                    artifacts={},
                    name=f"{full}.onExit",
                    display=f"{name}.onExit",
                    parent=parent,
                    task=f"{name}.onExit",
                )
        return result

    def _run_one(
        self,
        parent: _Node,
        target: Resolved,
        task: Mapping[str, Any],
        full: str,
        display: str,
        variables: Mapping[str, str],
    ) -> _Node:
        name = str(task["name"])
        try:
            when = task.get("when")
            if when is not None:
                condition = substitute(str(when), variables, "when")
                if not evaluate_when(condition):
                    return self._mark(
                        full, display, target.name, parent, "Skipped", f"when '{condition}' evaluated false"
                    )
            arguments = task.get("arguments") or {}
            parameters = {
                str(p["name"]): substitute(
                    str(p.get("value", "")), variables, f"arguments.parameters.{p['name']}"
                )
                for p in arguments.get("parameters", []) or []
            }
            artifacts = {
                str(a["name"]): substitute(str(a["from"]), variables, f"arguments.artifacts.{a['name']}.from")
                for a in arguments.get("artifacts", []) or []
                if a.get("from")
            }
        except (UnresolvedVariable, ExpressionError) as error:
            return self._mark(full, display, target.name, parent, "Error", str(error))
        return self.invoke(
            target,
            parameters=parameters,
            artifacts=artifacts,
            name=full,
            display=display,
            parent=parent,
            task=name,
        )

    def _run_group(
        self,
        parent: _Node,
        target: Resolved,
        task: Mapping[str, Any],
        full: str,
        display: str,
        variables: Mapping[str, str],
        items: list[Any],
    ) -> _Node:
        if not items:
            # Argo's executeDAGTask and expandStepGroup: one Skipped node for the task or step.
            return self._mark(full, display, target.name, parent, "Skipped", "Skipped, empty params")
        # A DAG task's items are children of a TaskGroup node; a step's items are children of the step
        # group itself (Argo's expandStepGroup), so the group below is then only bookkeeping.
        in_steps = parent.type == "StepGroup"
        if in_steps:
            group = _Node(
                id=full,
                name=full,
                display_name=display,
                type="TaskGroup",
                template_name=target.name,
                pod_name="",
            )
        else:
            group = self._node(full, display, target.name, "TaskGroup", parent)
        self._start(group)
        children: list[_Node] = []
        with ThreadPoolExecutor(max_workers=min(len(items), 32), thread_name_prefix="loop") as pool:
            futures = [
                pool.submit(
                    self._run_one,
                    parent if in_steps else group,
                    target,
                    task,
                    f"{full}({index}:{_item_label(item)})",
                    f"{display}({index}:{_item_label(item)})",
                    {**variables, **_item_vars(item)},
                )
                for index, item in enumerate(items)
            ]
            children = [future.result() for future in futures]
        group.items = children
        group.child_phases = tuple(child.phase for child in children)
        failed = [child for child in children if child.phase in FAILED]
        for output in sorted({key for child in children for key in child.parameters}):
            group.parameters[output] = json.dumps([child.parameters.get(output) for child in children])
        if any(child.result is not None for child in children):
            group.result = json.dumps([child.result for child in children])
        if any(child.phase == "Running" for child in children):
            return self._finish(group, "Running")
        # Argo's executeDAGTask: the group takes the phase of its last failed child, else Succeeded, and
        # no message.
        return self._finish(group, failed[-1].phase if failed else "Succeeded")

    def _items(self, task: Mapping[str, Any], variables: Mapping[str, str]) -> list[Any] | None:
        if task.get("withItems") is not None:
            return list(substitute_tree(task["withItems"], variables, "withItems"))
        if task.get("withParam") is not None:
            text = substitute(str(task["withParam"]), variables, "withParam")
            try:
                items = json.loads(text)
            except json.JSONDecodeError:
                raise RunError(f"withParam: {text!r} is not a JSON list") from None
            if not isinstance(items, list):
                raise RunError(f"withParam: {text!r} is not a JSON list")
            return items
        sequence = task.get("withSequence")
        if sequence is None:
            return None
        sequence = substitute_tree(sequence, variables, "withSequence")
        try:
            start = int(sequence.get("start", 0))
            if sequence.get("count") is not None:
                end = start + int(sequence["count"]) - 1
            else:
                end = int(sequence.get("end", 0))
        except (TypeError, ValueError):
            raise RunError(f"withSequence: {sequence!r}: count, start and end must be integers") from None
        step = 1 if end >= start else -1
        numbers = range(start, end + step, step)
        form = sequence.get("format")
        return [str(form) % number if form else str(number) for number in numbers]

    def _template_outputs(
        self, node: _Node, template: Mapping[str, Any], variables: Mapping[str, str]
    ) -> None:
        outputs = template.get("outputs") or {}
        try:
            for parameter in outputs.get("parameters", []) or []:
                name = str(parameter.get("name"))
                value_from = parameter.get("valueFrom") or {}
                source = value_from.get("parameter", parameter.get("value"))
                if source is None:
                    continue
                try:
                    node.parameters[name] = substitute(str(source), variables, f"outputs.parameters.{name}")
                except UnresolvedVariable:
                    if "default" in value_from:
                        node.parameters[name] = str(value_from["default"])
                    elif node.phase == "Succeeded":
                        raise
            for artifact in outputs.get("artifacts", []) or []:
                if artifact.get("from"):
                    node.artifacts[str(artifact["name"])] = substitute(
                        str(artifact["from"]), variables, f"outputs.artifacts.{artifact['name']}.from"
                    )
        except UnresolvedVariable as error:
            node.phase, node.message = "Error", str(error)

    # --- steps ----------------------------------------------------------------------------------

    def _steps(self, node: _Node, resolved: Resolved, inputs: _Inputs) -> None:
        template = resolved.template
        base = self.workflow_variables() | self._input_variables(template, inputs, None)
        step_vars: dict[str, str] = {}
        outcomes: dict[str, TaskOutcome] = {}
        phases: dict[str, str] = {}
        node.phase = "Succeeded"
        for index, group in enumerate(template.get("steps", []) or []):
            group_node = self._node(f"{node.name}[{index}]", f"[{index}]", resolved.name, "StepGroup", node)
            self._start(group_node)
            variables = base | self.workflow_variables() | step_vars
            steps = [step for step in group or []]
            with ThreadPoolExecutor(
                max_workers=max(1, min(len(steps), 32)), thread_name_prefix="steps"
            ) as pool:
                futures = [
                    pool.submit(
                        self._task, group_node, resolved, step, f"{group_node.name}.{step['name']}", variables
                    )
                    for step in steps
                ]
                children = [future.result() for future in futures]
            failed = None
            for step, child in zip(steps, children, strict=True):
                self._record(str(step["name"]), step, child, outcomes, phases, step_vars, "steps")
                outcome = outcomes[str(step["name"])]
                for member in child.items or [child]:
                    tolerated = (member.phase == "Failed" and outcome.continue_on_failed) or (
                        member.phase == "Error" and outcome.continue_on_error
                    )
                    if member.phase in FAILED and not tolerated and failed is None:
                        failed = member
            if any(child.phase == "Running" for child in children):
                # A step group completes when all its steps have (Argo's executeStepGroup).
                self._finish(group_node, "Running")
                node.phase = "Running"
                return
            if failed is not None:
                # Argo's executeStepGroup and executeSteps: both Failed, whatever the child's phase.
                message = f"child '{failed.id}' failed"
                self._finish(group_node, "Failed", message)
                node.phase, node.message = "Failed", message
                break
            self._finish(group_node, "Succeeded")
        self._template_outputs(node, template, base | self.workflow_variables() | step_vars)

    # --- the workflow ---------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Run the entrypoint, then the exit handler; garbage-collect owned objects."""
        started = time.time()
        spec = self.selection.spec
        owner = self.selection.obj
        if spec.get("activeDeadlineSeconds") is not None:
            seconds = parse_duration(spec["activeDeadlineSeconds"], "spec.activeDeadlineSeconds")
            self.deadline_at = self.clock() + seconds
            # Argo's getWorkflowDeadline: status.startedAt (whole seconds) + activeDeadlineSeconds, shown as
            # Go's time.Time String() in UTC.
            moment = datetime.fromtimestamp(int(started) + seconds, UTC)
            self.deadline_text = (
                moment.strftime("%Y-%m-%d %H:%M:%S")
                + (f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else "")
                + " +0000 UTC"
            )
        entry = self.library.local(owner, self.selection.entrypoint)
        assert entry is not None
        mutexes = (spec.get("synchronization") or {}).get("mutexes") or []
        variables = self.workflow_variables()
        with ExitStack() as stack:
            for index, mutex in enumerate(mutexes):
                name = substitute(
                    str(mutex.get("name")), variables, f"spec.synchronization.mutexes[{index}].name"
                )
                stack.enter_context(self.mutex(name, self.name))
            root = self.invoke(
                entry,
                parameters=self.entry_arguments,
                artifacts={},
                name=self.name,
                display=self.name,
                parent=None,
                task=self.selection.entrypoint,
            )
            phase = _WORKFLOW_STATUS.get(root.phase, "Error")
            message = root.message
            on_exit = spec.get("onExit")
            if phase == "Running":
                # Argo's operate returns while the root node is not fulfilled: no exit handler yet.
                message = self._waiting_message()
            elif on_exit:
                handler = self.library.local(owner, str(on_exit))
                if handler is not None:
                    self.exit_variables = {
                        "workflow.status": phase,
                        "workflow.failures": self.failures_value(),
                    }
                    exit_node = self.invoke(
                        handler,
                        parameters={},
                        artifacts={},
                        name=f"{self.name}.onExit",
                        display=f"{self.name}.onExit",
                        parent=None,
                        task="onExit",
                    )
                    # Argo's operate: a failed exit handler turns a Succeeded workflow into Failed (exit
                    # node Failed) or Error (exit node Error), with the exit node's message.
                    if phase == "Succeeded" and exit_node.phase in FAILED:
                        phase, message = exit_node.phase, exit_node.message
        self.store_cleanup(self.uid)
        with self.lock:
            nodes = tuple(node.record() for node in self.nodes.values())
        return RunResult(
            name=self.name,
            namespace=self.namespace,
            uid=self.uid,
            phase=phase,
            message=message,
            started_at=started,
            finished_at=time.time(),
            nodes=nodes,
            parameters=dict(self.global_parameters),
            artifacts=dict(self.global_artifacts),
            workdir=self.workdir,
        )

    def _waiting_message(self) -> str:
        """Why the run ended Running: the messages of the suspend nodes still waiting."""
        with self.lock:
            nodes = list(self.nodes.values())
        return "; ".join(
            f"{n.display_name}: {n.message}" for n in nodes if n.type == "Suspend" and n.phase == "Running"
        )

    def failures_value(self) -> str:
        """``{{workflow.failures}}`` byte for byte as Argo's operate sets it (argo-workflows
        workflow/controller/operator.go): ``strconv.Quote(json.Marshal(failures))``, where failures lists
        every Failed or Errored node of any type with the fields of ``failedNodeStatus`` in their Go order,
        and is ``nil`` (so the value is the 6 characters ``"null"``) when nothing failed. Argo walks its
        node map in Go's random order; a local run lists the nodes in the order they were created."""
        with self.lock:
            nodes = list(self.nodes.values())
        failures = [
            {
                "displayName": node.display_name,
                "message": node.message,
                "templateName": node.template_name,
                "phase": node.phase,
                "podName": node.pod_name,
                "finishedAt": timestamp(node.finished_at),
            }
            for node in nodes
            if node.phase in FAILED
        ]
        return go_quote(go_json(failures or None))


def _boundary_of(parent: _Node | None) -> str:
    """A node's ``boundaryID``: the DAG or Steps node whose template it belongs to; nodes under a Retry,
    TaskGroup or StepGroup share that node's boundary (argo-workflows workflow/controller/operator.go,
    initializeNode and executeTemplate; dag.go, executeDAGTask)."""
    if parent is None:
        return ""
    return parent.id if parent.type in ("DAG", "Steps") else parent.boundary_id


def _safe_kind(template: Mapping[str, Any]) -> str:
    try:
        return _kind(template)
    except RunError:
        return "container"


def _task_template(task: Mapping[str, Any]) -> str:
    if task.get("template"):
        return str(task["template"])
    ref = task.get("templateRef") or {}
    return str(ref.get("template", "inline"))


def _assess_dag(
    dag: Mapping[str, Any],
    tasks: Mapping[str, Any],
    references: Mapping[str, list[str]],
    phases: Mapping[str, str],
) -> str:
    """Argo's ``assessDAGPhase``: the worst branch phase of the target tasks decides."""
    dependents: dict[str, list[str]] = {name: [] for name in tasks}
    for name, parents in references.items():
        for parent in parents:
            dependents.setdefault(parent, []).append(name)
    target_text = str(dag.get("target") or "")
    targets = (
        [t for t in target_text.replace(",", " ").split() if t]
        if target_text
        else [name for name in tasks if not dependents.get(name)]
    )
    roots = [name for name in tasks if not references.get(name)]
    branch: dict[str, str] = {}
    queue = [(name, "Succeeded") for name in roots]
    seen: set[tuple[str, str]] = set()
    while queue:
        name, inherited = queue.pop(0)
        if (name, inherited) in seen:
            continue
        seen.add((name, inherited))
        phase = phases.get(name, "")
        if phase not in ("Succeeded", "Failed", "Error", "Skipped", "Omitted"):
            return "Running" if phase else "Error"
        current = phase if phase in COMPLETED else inherited
        if name in targets:
            if branch.get(name) not in FAILED:
                branch[name] = current
            continue
        queue += [(child, current) for child in dependents.get(name, [])]
    for name in targets:
        phase = branch.get(name, "Succeeded")
        if phase in FAILED:
            continue_on = tasks[name].get("continueOn") or {} if name in tasks else {}
            if (phase == "Failed" and continue_on.get("failed")) or (
                phase == "Error" and continue_on.get("error")
            ):
                continue
            return phase
    return "Succeeded"
