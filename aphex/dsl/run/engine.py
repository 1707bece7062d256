"""The workflow of a local run: Argo controller semantics over the compiled YAML, from the entrypoint to
the exit handler.

:class:`Engine` sets up what the parts share (:mod:`aphex.dsl.run.context`), takes the workflow deadline
and mutexes, runs the entrypoint as the root node (:mod:`aphex.dsl.run.invocation`: retries in
:mod:`~aphex.dsl.run.retries`, DAGs in :mod:`~aphex.dsl.run.dag`, step groups in
:mod:`~aphex.dsl.run.step_groups`, loops in :mod:`~aphex.dsl.run.loops`, leaves in
:mod:`~aphex.dsl.run.leaves`), then the exit handler with ``workflow.status`` and ``workflow.failures``,
and gives the phase the workflow ends in. The engine knows nothing about a particular workflow.
"""

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aphex.dsl.run.context import Fault, RunContext
from aphex.dsl.run.gowire import go_json, go_quote
from aphex.dsl.run.handlers import HandlerRegistry, SecretSource, parse_duration
from aphex.dsl.run.inputs import Invocation
from aphex.dsl.run.invocation import Invoker
from aphex.dsl.run.loader import Library, Selection
from aphex.dsl.run.nodes import FAILED, Node, RunResult, timestamp

__all__ = ["Engine"]

# Argo's operate: the workflow phase the root node's phase maps to, for workflow.status.
_WORKFLOW_STATUS = {
    "Succeeded": "Succeeded",
    "Skipped": "Succeeded",
    "Omitted": "Succeeded",
    "Failed": "Failed",
    "Error": "Error",
    "Running": "Running",
}


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
        self.context = RunContext(
            library=library,
            selection=selection,
            registry=registry,
            parameters=dict(parameters),
            workdir=workdir,
            namespace=namespace,
            name=name,
            faults={fault.node: fault for fault in faults},
            secrets=secrets,
            lock_dir=lock_dir,
            sleep=sleep,
            clock=clock,
            progress=progress,
            on_update=on_update,
            uid=str(uuid.uuid4()),
            created=time.time(),
        )
        self.entry_arguments = dict(entry_arguments)
        self.store_cleanup = store_cleanup
        self.invoker = Invoker(self.context)

    def run(self) -> RunResult:
        """Run the entrypoint, then the exit handler; garbage-collect owned objects."""
        context = self.context
        started = time.time()
        self._set_deadline(started)
        mutexes = (context.selection.spec.get("synchronization") or {}).get("mutexes") or []
        with context.mutexes.hold(
            mutexes, context.workflow_variables(), context.name, "spec.synchronization"
        ):
            root = self._run_entrypoint()
            phase = _WORKFLOW_STATUS.get(root.phase, "Error")
            if phase == "Running":
                # Argo's operate returns while the root node is not fulfilled: no exit handler yet.
                message = self._waiting_message()
            else:
                phase, message = self._run_exit_handler(phase, root.message)
        self.store_cleanup(context.uid)
        with context.lock:
            nodes = tuple(node.record() for node in context.nodes.values())
        return RunResult(
            name=context.name,
            namespace=context.namespace,
            uid=context.uid,
            phase=phase,
            message=message,
            started_at=started,
            finished_at=time.time(),
            nodes=nodes,
            parameters=dict(context.global_parameters),
            artifacts=dict(context.global_artifacts),
            workdir=context.workdir,
        )

    def _set_deadline(self, started: float) -> None:
        """The workflow deadline of ``spec.activeDeadlineSeconds``, on the clock and as Argo prints it."""
        spec = self.context.selection.spec
        if spec.get("activeDeadlineSeconds") is not None:
            seconds = parse_duration(spec["activeDeadlineSeconds"], "spec.activeDeadlineSeconds")
            self.context.deadline_at = self.context.clock() + seconds
            self.context.deadline_text = _deadline_text(int(started) + seconds)

    def _run_entrypoint(self) -> Node:
        """The root node: the entrypoint with the entry arguments."""
        context = self.context
        entry = context.library.local(context.selection.obj, context.selection.entrypoint)
        assert entry is not None
        call = Invocation(
            name=context.name,
            display=context.name,
            parent=None,
            task=context.selection.entrypoint,
            parameters=self.entry_arguments,
        )
        return self.invoker.invoke(entry, call)

    def _run_exit_handler(self, phase: str, message: str) -> tuple[str, str]:
        """Run ``spec.onExit`` (when the workflow has one) with ``workflow.status`` and ``workflow.failures``
        set; the workflow's (phase, message) afterwards."""
        context = self.context
        on_exit = context.selection.spec.get("onExit")
        handler = context.library.local(context.selection.obj, str(on_exit)) if on_exit else None
        if handler is None:
            return phase, message
        context.exit_variables = {"workflow.status": phase, "workflow.failures": _failures_value(context)}
        exit_name = f"{context.name}.onExit"
        exit_node = self.invoker.invoke(
            handler, Invocation(name=exit_name, display=exit_name, parent=None, task="onExit")
        )
        # Argo's operate: a failed exit handler turns a Succeeded workflow into Failed (exit node Failed) or
        # Error (exit node Error), with the exit node's message.
        if phase == "Succeeded" and exit_node.phase in FAILED:
            return exit_node.phase, exit_node.message
        return phase, message

    def _waiting_message(self) -> str:
        """Why the run ended Running: the messages of the suspend nodes still waiting."""
        return "; ".join(
            f"{n.display_name}: {n.message}"
            for n in self.context.node_list()
            if n.type == "Suspend" and n.phase == "Running"
        )


def _deadline_text(seconds: float) -> str:
    """Argo's getWorkflowDeadline: status.startedAt (whole seconds) + activeDeadlineSeconds, shown as Go's
    time.Time String() in UTC."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return (
        moment.strftime("%Y-%m-%d %H:%M:%S")
        + (f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else "")
        + " +0000 UTC"
    )


def _failures_value(context: RunContext) -> str:
    """``{{workflow.failures}}`` byte for byte as Argo's operate sets it (argo-workflows
    workflow/controller/operator.go): ``strconv.Quote(json.Marshal(failures))``, where failures lists
    every Failed or Errored node of any type with the fields of ``failedNodeStatus`` in their Go order,
    and is ``nil`` (so the value is the 6 characters ``"null"``) when nothing failed. Argo walks its
    node map in Go's random order; a local run lists the nodes in the order they were created."""
    failures = [
        {
            "displayName": node.display_name,
            "message": node.message,
            "templateName": node.template_name,
            "phase": node.phase,
            "podName": node.pod_name,
            "finishedAt": timestamp(node.finished_at),
        }
        for node in context.node_list()
        if node.phase in FAILED
    ]
    return go_quote(go_json(failures or None))
