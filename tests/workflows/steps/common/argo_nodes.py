"""The Workflow of an Aphex pipeline run as the API server holds it while the exit handler runs.

Built as Argo's controller builds it (argo-workflows v4.1.2):

- the main DAG's node is the workflow itself (id and name = the workflow's name); a task's node is named
  ``<workflow>.<task>`` (workflow/controller/dag.go, taskNodeName), its id ``<workflow>-<fnv32a(name)>``
  (pkg/apis/workflow/v1alpha1/workflow_types.go, NodeID), its ``boundaryID`` the DAG's node and its
  ``displayName`` the task (operator.go, initializeNode);
- a task with a ``retryStrategy`` is a ``Retry`` node whose child ``<task>(0)`` is the attempt (operator.go,
  executeTemplate); with ``retryPolicy: OnError`` a Failed attempt is not retried and the Retry node
  takes its phase and message (operator.go, processNodeRetries);
- a task whose ``when`` is false is a ``Skipped`` node, one whose ``depends`` is not met an ``Omitted``
  node, ``finishedAt`` = ``startedAt`` (dag.go, executeDAGTask; operator.go, initializeNode);
- the ``<workflow>.onExit`` node and its ``record`` task are Running: the exit handler starts once the
  main DAG is fulfilled (operator.go, operate).
"""

from collections.abc import Mapping
from typing import Any, Final

from aphex.dsl.run.nodes import fnv32a

__all__ = ["RETRIED", "STAGES", "run_nodes", "workflow_object"]

STAGES: Final = [
    "validate",
    "build",
    "self-update",
    "deploy-staging",
    "tests-staging",
    "approve-production",
    "check-approval-production",
    "deploy-production",
]
"""The main DAG of a pipeline with staging (tests) and production (approval)."""
RETRIED: Final = frozenset(
    {"validate", "build", "self-update", "deploy-staging", "tests-staging", "deploy-production"}
)
_DAY: Final = "2026-05-01T10:"


def _at(seconds: int) -> str:
    return f"{_DAY}{seconds // 60:02d}:{seconds % 60:02d}Z"


def _id(workflow: str, name: str) -> str:
    return f"{workflow}-{fnv32a(name)}"


def _template(task: str) -> str:
    """The template a task of the pipeline's main DAG runs (``approve-<env>`` is its own suspend)."""
    for prefix, template in (
        ("check-approval-", "check-approval"),
        ("deploy-", "deploy"),
        ("tests-", "run-tests"),
    ):
        if task.startswith(prefix):
            return template
    return task


def run_nodes(workflow: str, tasks: Mapping[str, tuple[str, int, int, str]]) -> dict[str, dict[str, Any]]:
    """``status.nodes`` of a run: ``tasks`` maps a task to (phase, start and end in seconds after 10:00:00,
    message); tasks not in it have no node (the run was stopped before them)."""
    nodes: dict[str, dict[str, Any]] = {}
    failed = any(phase in ("Failed", "Error") for phase, *_ in tasks.values())
    last = max((end for _, _, end, _ in tasks.values()), default=0)
    nodes[workflow] = {
        "id": workflow, "name": workflow, "displayName": workflow, "type": "DAG", "templateName": "main",
        "phase": "Failed" if failed else "Succeeded", "startedAt": _at(0), "finishedAt": _at(last),
        "children": [_id(workflow, f"{workflow}.{STAGES[0]}")],
    }  # fmt: skip
    for task, (phase, start, end, message) in tasks.items():
        name = f"{workflow}.{task}"
        ran = phase not in ("Skipped", "Omitted")
        kind = "Skipped" if not ran else "Suspend" if task.startswith("approve-") else "Pod"
        node: dict[str, Any] = {
            "id": _id(workflow, name), "name": name, "displayName": task, "type": kind,
            "templateName": _template(task), "phase": phase, "boundaryID": workflow,
            "startedAt": _at(start), "finishedAt": _at(end),
        }  # fmt: skip
        if message:
            node["message"] = message
        if ran and task in RETRIED:
            attempt = {
                **node,
                "id": _id(workflow, f"{name}(0)"),
                "name": f"{name}(0)",
                "displayName": f"{task}(0)",
            }
            nodes[attempt["id"]] = attempt
            node = {**node, "type": "Retry", "children": [attempt["id"]]}
        nodes[node["id"]] = node
    on_exit = f"{workflow}.onExit"
    record = f"{on_exit}.record"
    nodes[_id(workflow, on_exit)] = {
        "id": _id(workflow, on_exit), "name": on_exit, "displayName": on_exit, "type": "DAG",
        "templateName": "exit-handler", "phase": "Running", "startedAt": _at(last + 1),
        "finishedAt": None, "children": [_id(workflow, record)],
    }  # fmt: skip
    nodes[_id(workflow, record)] = {
        "id": _id(workflow, record), "name": record, "displayName": "record", "type": "Retry",
        "templateName": "record-workflow", "phase": "Running", "boundaryID": _id(workflow, on_exit),
        "startedAt": _at(last + 1), "finishedAt": None,
    }  # fmt: skip
    return nodes


def workflow_object(workflow: str, nodes: Mapping[str, Any], **status: Any) -> dict[str, Any]:
    """The Workflow ``workflow`` in namespace ``argo`` with ``nodes`` (or ``status`` instead)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": workflow, "namespace": "argo", "uid": "6f1c2d3e-0000-4000-8000-000000000001"},
        "status": status or {"phase": "Running", "startedAt": _at(0), "nodes": dict(nodes)},
    }
