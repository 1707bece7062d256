"""A local run's nodes as Argo records them: the live node, the finished record, the run's result, and the
ids, pod names, timestamps and node types Argo gives them.

A template invocation becomes a node (https://argo-workflows.readthedocs.io/en/latest/fields/#nodestatus)
named as Argo names it (``wf.task``, ``wf[0].step``, ``wf.task(1)`` for retries, ``wf.task(0:item)`` for
loop items, ``wf.onExit``).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aphex.dsl.errors import ExecutionError

__all__ = [
    "COMPLETED",
    "FAILED",
    "NODE_TYPES",
    "Node",
    "NodeRecord",
    "RunError",
    "RunResult",
    "boundary_of",
    "fnv32a",
    "pod_name",
    "template_kind",
    "timestamp",
]

FAILED = ("Failed", "Error")
COMPLETED = ("Succeeded", "Failed", "Error")
_POD_PREFIX_LENGTH = 253 - 10

NODE_TYPES = {
    "dag": "DAG",
    "steps": "Steps",
    "container": "Pod",
    "script": "Pod",
    "resource": "Pod",
    "suspend": "Suspend",
}
"""The node type each kind of template makes."""


class RunError(ExecutionError):
    """A node cannot proceed (it ends in phase Error); the message names the field."""


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
class Node:
    """A node while the run moves it: its phase, times, outputs and children."""

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
    items: list["Node"] = field(default_factory=list)
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
        """The node as it stands, frozen."""
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


def template_kind(template: Mapping[str, Any]) -> str:
    """Which kind of template this is (a key of :data:`NODE_TYPES`)."""
    for kind in NODE_TYPES:
        if template.get(kind) is not None:
            return kind
    raise RunError("the template has no supported type")


def boundary_of(parent: Node | None) -> str:
    """A node's ``boundaryID``: the DAG or Steps node whose template it belongs to; nodes under a Retry,
    TaskGroup or StepGroup share that node's boundary (argo-workflows workflow/controller/operator.go,
    initializeNode and executeTemplate; dag.go, executeDAGTask)."""
    if parent is None:
        return ""
    return parent.id if parent.type in ("DAG", "Steps") else parent.boundary_id
