"""What the parts of one local run share: the run's identity and inputs, the injected clock, sleep and
progress line, the node table (creating nodes, moving their phases, the Workflow snapshots handed to
``on_update``), the mutexes, the workflow deadline, the global outputs and the ``workflow.*`` variables.
"""

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aphex.dsl.run.handlers import HandlerRegistry, SecretSource
from aphex.dsl.run.loader import Library, Selection
from aphex.dsl.run.mutex import Mutexes
from aphex.dsl.run.nodes import Node, boundary_of, fnv32a, pod_name, timestamp

__all__ = ["Fault", "RunContext"]


@dataclass(frozen=True, kw_only=True)
class Fault:
    """``--fail NODE[:attempts=N]``: force a node (by task or step name) to fail."""

    node: str
    attempts: int | None = None
    phase: str = "Failed"
    exit_code: int | None = None


@dataclass(kw_only=True)
class RunContext:
    """One run's shared state; nodes and global outputs change under ``lock``."""

    library: Library
    selection: Selection
    registry: HandlerRegistry
    parameters: Mapping[str, str]
    workdir: Path
    namespace: str
    name: str
    faults: Mapping[str, Fault]
    secrets: SecretSource
    lock_dir: Path
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    progress: Callable[[str], None] | None
    on_update: Callable[[dict[str, Any]], None] | None
    uid: str
    created: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    update_lock: threading.Lock = field(default_factory=threading.Lock)
    nodes: dict[str, Node] = field(default_factory=dict)
    global_parameters: dict[str, str] = field(default_factory=dict)
    global_artifacts: dict[str, str] = field(default_factory=dict)
    exit_variables: dict[str, str] = field(default_factory=dict)
    attempt_clock: dict[str, tuple[float, float]] = field(default_factory=dict)
    """When each attempt started and finished on the injectable clock, by node id (backoff arithmetic)."""
    deadline_at: float | None = None
    """``spec.activeDeadlineSeconds`` on the injectable clock."""
    deadline_text: str = ""
    mutexes: Mutexes = field(init=False)

    def __post_init__(self) -> None:
        self.mutexes = Mutexes(directory=self.lock_dir, namespace=self.namespace, emit=self.emit)

    def emit(self, line: str) -> None:
        """Hand one progress line to ``progress``, one at a time."""
        if self.progress is not None:
            with self.lock:
                self.progress(line)

    # --- the node table -------------------------------------------------------------------------

    def add_node(self, name: str, display: str, template_name: str, kind: str, parent: Node | None) -> Node:
        """A new Pending node named as Argo names it, listed under ``parent``."""
        node_id = self.name if name == self.name else f"{self.name}-{fnv32a(name)}"
        node = Node(
            id=node_id,
            name=name,
            display_name=display,
            type=kind,
            template_name=template_name,
            pod_name=pod_name(self.name, name, template_name),
            on_exit=name.endswith(".onExit") or (parent is not None and parent.on_exit),
            boundary_id=boundary_of(parent),
        )
        with self.lock:
            self.nodes[node_id] = node
            if parent is not None:
                parent.children.append(node_id)
        return node

    def start(self, node: Node) -> None:
        """Mark ``node`` Running from now."""
        node.phase = "Running"
        node.started_at = time.time()
        if node.type not in ("StepGroup", "Retry", "TaskGroup"):
            self.emit(f"{timestamp(node.started_at)} started   {node.name} ({node.template_name})")
        self.persist()

    def finish(self, node: Node, phase: str | None = None, message: str | None = None) -> Node:
        """Set the phase and message of ``node`` (when given) and its finish time (none while Running)."""
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
            self.emit(f"{timestamp(node.finished_at)} {node.phase:<9} {node.name} {duration:.2f}s{detail}")
        self.persist()
        return node

    def mark(self, name: str, display: str, template: str, parent: Node, phase: str, message: str) -> Node:
        """A node that does not run (Skipped, Omitted, or Error before it could start)."""
        node = self.add_node(name, display, template, "Skipped", parent)
        node.started_at = time.time()
        return self.finish(node, phase, message)

    def node_list(self) -> list[Node]:
        """The nodes so far, in the order they were created."""
        with self.lock:
            return list(self.nodes.values())

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

    def persist(self) -> None:
        """Hand the Workflow to ``on_update`` after a node changed, as the controller writes it at the end
        of each reconciliation (argo-workflows workflow/controller/operator.go, persistUpdates)."""
        if self.on_update is not None:
            with self.update_lock:  # snapshots reach on_update in the order they were taken
                self.on_update(self.workflow_object())

    # --- the workflow deadline ------------------------------------------------------------------

    def remaining(self, node: Node) -> float | None:
        """Seconds left before ``spec.activeDeadlineSeconds`` for a node outside exit handlers (Argo lets
        exit handlers run past the workflow deadline), or None without one."""
        if self.deadline_at is None or node.on_exit:
            return None
        return self.deadline_at - self.clock()

    def past_deadline(self, node: Node) -> bool:
        """Whether ``node`` is outside exit handlers and the workflow deadline has passed."""
        remaining = self.remaining(node)
        return remaining is not None and remaining <= 0

    # --- variables ------------------------------------------------------------------------------

    def workflow_variables(self) -> dict[str, str]:
        """The ``workflow.*`` variables as they stand now."""
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
