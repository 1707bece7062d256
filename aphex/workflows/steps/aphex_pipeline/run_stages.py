"""Every stage of a pipeline run, read from the run's own Workflow while its exit handler runs.

The exit handler starts once the entrypoint's node is fulfilled (argo-workflows
workflow/controller/operator.go, operate: ``if !node.Fulfilled() { return }`` before the ``onExit`` node is
executed), so the Workflow's ``status.nodes`` then holds every node of the main DAG in its final phase,
next to the still running ``<workflow>.onExit`` node and its tasks. A DAG task's node is named
``<dag node name>.<task>`` (dag.go, taskNodeName), the main DAG's node being the workflow itself; a task
whose ``when`` is false is a ``Skipped`` node, one whose ``depends`` is not met an ``Omitted`` node, both
with ``startedAt`` = ``finishedAt`` (dag.go, executeDAGTask; operator.go, initializeNode). A retried task
is a ``Retry`` node whose children are its attempts; when no retry is left its message is "No more
retries left" (operator.go, processNodeRetries), so the last attempt's message is added.

The controller may store the nodes gzip-compressed in ``status.compressedNodes`` when the Workflow is
larger than its size limit (workflow/packer/packer.go, compressWorkflow), or offload them to its database
(``status.offloadNodeStatusVersion``; workflow/hydrator/hydrator.go, Dehydrate), where only the Argo
Server reads them: compressed nodes are decoded here, offloaded ones are reported as unreadable.

The stages are the main DAG's task names in order, compiled into the pipeline; a stage with no node (the
run was stopped before reaching it) has no phase.
"""

import base64
import binascii
import gzip
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from aphex.dsl.names import InvalidValue
from aphex.workflows.steps.common.kubernetes_api import RAW, Cluster
from aphex.workflows.steps.common.process import StepError

__all__ = [
    "GROUP",
    "VERSION",
    "Phase",
    "StageOutcome",
    "read_workflow",
    "stage_names",
    "stages_from_failures",
    "stages_from_nodes",
    "status_nodes",
]

GROUP: Final = "argoproj.io"
VERSION: Final = "v1alpha1"
_GZIP_MAGIC: Final = b"\x1f\x8b"
_TASK = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]{0,62}$")


class Phase(StrEnum):
    """Argo's node and workflow phases."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    SKIPPED = "Skipped"
    FAILED = "Failed"
    ERROR = "Error"
    OMITTED = "Omitted"


@dataclass(frozen=True, kw_only=True)
class StageOutcome:
    """One task of the main DAG: its phase (None: no node), times (RFC 3339) and duration in seconds."""

    name: str
    phase: str | None
    started_at: str | None = None
    finished_at: str | None = None
    duration_seconds: float | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stage_names(value: str) -> list[str]:
    """The ``stages`` parameter: a JSON list of task names."""
    try:
        names = json.loads(value or "[]")
    except json.JSONDecodeError:
        raise InvalidValue("stages", value, "must be a JSON list of task names") from None
    if not isinstance(names, list) or not all(isinstance(name, str) and _TASK.match(name) for name in names):
        raise InvalidValue("stages", value, "must be a JSON list of task names")
    return names


def read_workflow(cluster: Cluster, *, namespace: str, name: str) -> dict[str, Any]:
    """``GET`` the Workflow (the one verb the monitor account has on ``workflows``)."""
    return cluster.call(
        f"get workflows.{GROUP}",
        lambda: cluster.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "workflows", name, **RAW
        ),
    )


def status_nodes(workflow: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``status.nodes``, decompressed from ``status.compressedNodes`` when the controller packed them;
    raises :class:`StepError` when they are offloaded or cannot be decoded."""
    status = workflow.get("status") or {}
    nodes = status.get("nodes")
    if not nodes and status.get("compressedNodes"):
        try:
            packed = base64.b64decode(str(status["compressedNodes"]), validate=True)
        except (binascii.Error, ValueError):
            raise StepError("status.compressedNodes: not base64") from None
        if not packed.startswith(_GZIP_MAGIC):
            raise StepError(
                "status.compressedNodes: not gzip (the controller's compression algorithm is set to "
                "another one); the nodes cannot be read"
            )
        try:
            nodes = json.loads(gzip.decompress(packed))
        except (OSError, EOFError, ValueError) as error:
            raise StepError(f"status.compressedNodes: {error}") from None
    if not nodes and status.get("offloadNodeStatusVersion"):
        version = status["offloadNodeStatusVersion"]
        raise StepError(
            "status.nodes are offloaded to the workflow controller's database "
            f"(offloadNodeStatusVersion {version}); only the Argo Server reads them"
        )
    if not isinstance(nodes, dict) or not nodes:
        raise StepError("status.nodes: the Workflow has no nodes")
    return {str(key): node for key, node in nodes.items() if isinstance(node, dict)}


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _phase(value: Any) -> str | None:
    return str(value) if value in Phase.__members__.values() else None


def _message(node: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]]) -> str:
    message = str(node.get("message") or "")
    if node.get("type") == "Retry" and node.get("children"):
        last = nodes.get(str(node["children"][-1])) or {}
        cause = str(last.get("message") or "")
        if cause and cause != message:
            return f"{message}: {cause}" if message else cause
    return message


def stages_from_nodes(
    workflow_name: str, names: Sequence[str], nodes: Mapping[str, Mapping[str, Any]]
) -> list[StageOutcome]:
    """The stages ``names`` (tasks of the main DAG) with the phase and times of their nodes."""
    by_name = {str(node.get("name")): node for node in nodes.values()}
    stages = []
    for name in names:
        node = by_name.get(f"{workflow_name}.{name}")
        if node is None:
            stages.append(
                StageOutcome(name=name, phase=None, message="no node: the run ended before this stage")
            )
            continue
        started, finished = _moment(node.get("startedAt")), _moment(node.get("finishedAt"))
        duration = round(max(0.0, (finished - started).total_seconds()), 3) if started and finished else None
        stages.append(
            StageOutcome(
                name=name,
                phase=_phase(node.get("phase")),
                started_at=node.get("startedAt") or None,
                finished_at=node.get("finishedAt") or None,
                duration_seconds=duration,
                message=_message(node, nodes),
            )
        )
    return stages


def stages_from_failures(names: Sequence[str], failures: Sequence[Mapping[str, Any]]) -> list[StageOutcome]:
    """Without the Workflow: the stages ``names``, those in ``{{workflow.failures}}`` with their phase,
    message and ``finishedAt``, the others with no phase."""
    failed: dict[str, Mapping[str, Any]] = {}
    for failure in failures:
        name = str(failure.get("displayName") or "")
        if name in names:
            failed[name] = failure  # display names are unique within the main DAG (its boundary)
    stages = []
    for name in names:
        if name not in failed:
            stages.append(StageOutcome(name=name, phase=None))
            continue
        failure = failed[name]
        stages.append(
            StageOutcome(
                name=name,
                phase=_phase(failure.get("phase")) or Phase.FAILED.value,
                finished_at=failure.get("finishedAt") or None,
                message=str(failure.get("message") or ""),
            )
        )
    return stages
