"""The end of a local run: the node tree as ``argo get`` prints it, and the JSON report.

The report (``--report FILE``) holds the workflow (name, namespace, uid, phase, message, times, global
outputs) and every node (id, name, displayName, type, templateName, phase, startedAt, finishedAt,
outputs, message, logTail: the last line a failed container wrote to stderr, children), in the order the
nodes were created.
"""

from typing import Any

from aphex.dsl.run.nodes import NodeRecord, RunResult, timestamp

__all__ = ["report", "tree"]

_ICONS = {"Succeeded": "✔", "Failed": "✖", "Error": "⚠", "Skipped": "○", "Omitted": "○", "Running": "●"}


def _node(node: NodeRecord) -> dict[str, Any]:
    outputs: dict[str, Any] = {"parameters": dict(node.parameters), "artifacts": dict(node.artifacts)}
    if node.result is not None:
        outputs["result"] = node.result
    if node.exit_code is not None:
        outputs["exitCode"] = node.exit_code
    return {
        "id": node.id,
        "name": node.name,
        "displayName": node.display_name,
        "type": node.type,
        "templateName": node.template_name,
        "phase": node.phase,
        "startedAt": timestamp(node.started_at),
        "finishedAt": timestamp(node.finished_at),
        "outputs": outputs,
        "message": node.message,
        "logTail": node.log_tail,
        "children": list(node.children),
    }


def report(result: RunResult) -> dict[str, Any]:
    """The JSON-ready report of a run."""
    return {
        "workflow": {
            "name": result.name,
            "namespace": result.namespace,
            "uid": result.uid,
            "phase": result.phase,
            "message": result.message,
            "startedAt": timestamp(result.started_at),
            "finishedAt": timestamp(result.finished_at),
            "outputs": {"parameters": dict(result.parameters), "artifacts": dict(result.artifacts)},
            "workdir": str(result.workdir),
        },
        "nodes": [_node(node) for node in result.nodes],
    }


def _duration(node: NodeRecord) -> str:
    if node.started_at is None or node.finished_at is None:
        return ""
    seconds = node.finished_at - node.started_at
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60)}s"


def tree(result: RunResult) -> str:
    """The node tree with phases and durations, like ``argo get``."""
    by_id = {node.id: node for node in result.nodes}
    children = {child for node in result.nodes for child in node.children}
    roots = [node for node in result.nodes if node.id not in children]
    rows: list[tuple[str, str, str, str, str]] = []

    def walk(node: NodeRecord, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─" if last else "├─")
        icon = _ICONS.get(node.phase, "?")
        pod = node.pod_name if node.type == "Pod" else ""
        rows.append(
            (
                f"{prefix}{branch}{icon} {node.display_name}",
                node.template_name,
                pod,
                _duration(node),
                node.message,
            )
        )
        below = [by_id[child] for child in node.children if child in by_id]
        extension = "" if top else ("  " if last else "│ ")
        for index, child in enumerate(below):
            walk(child, prefix + extension, index == len(below) - 1, False)

    for root in roots:
        walk(root, " ", True, True)
    header = ("STEP", "TEMPLATE", "PODNAME", "DURATION", "MESSAGE")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    lines = [
        f"Name:       {result.name}",
        f"Namespace:  {result.namespace}",
        f"Status:     {result.phase}",
    ]
    if result.message:
        lines.append(f"Message:    {result.message}")
    if result.parameters:
        lines.append("Outputs:")
        lines += [f"  {key}: {value}" for key, value in sorted(result.parameters.items())]
    lines.append("")
    for row in [header, *rows]:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    return "\n".join(line.rstrip() for line in lines) + "\n"
