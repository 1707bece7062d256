"""Mermaid diagrams of compiled DAGs (``aphex graph NAME``), so docs show what is really shipped.

Reads the compiled object (not the Python that built it): a node per DAG task, an edge per dependency
named in ``depends`` or ``dependencies``, task conditions as edge-free notes, and the exit handler as a
second subgraph. See https://mermaid.js.org/syntax/flowchart.html.
"""

from collections.abc import Mapping
from typing import Any

from aphex.dsl.argo_yaml import DependsError, task_names
from aphex.dsl.errors import InputError

__all__ = ["GraphError", "mermaid"]


class GraphError(InputError):
    """The object has no DAG to draw."""


def _depends_on(task: Mapping[str, Any]) -> list[str]:
    if "dependencies" in task:
        return list(task["dependencies"])
    expression = str(task.get("depends", "")).strip()
    if not expression:
        return []
    try:
        names = task_names(expression)
    except DependsError as error:
        raise GraphError(f"task {task.get('name')}: depends: {error}") from None
    return list(dict.fromkeys(names))


def _node_id(prefix: str, name: str) -> str:
    return f"{prefix}_{name.replace('-', '_')}"


def _label(task: Mapping[str, Any]) -> str:
    target = task.get("template") or "{name}/{template}".format(**task.get("templateRef", {}))
    text = f"{task['name']}<br/><small>{target}</small>"
    if "when" in task:
        text += f"<br/><small>when {task['when']}</small>"
    return text.replace('"', "#quot;")


def _subgraph(prefix: str, title: str, dag: Mapping[str, Any]) -> list[str]:
    lines = [f'  subgraph {prefix}["{title}"]']
    for task in dag["tasks"]:
        lines.append(f'    {_node_id(prefix, task["name"])}["{_label(task)}"]')
    for task in dag["tasks"]:
        for upstream in _depends_on(task):
            lines.append(f"    {_node_id(prefix, upstream)} --> {_node_id(prefix, task['name'])}")
    lines.append("  end")
    return lines


def mermaid(obj: Mapping[str, Any]) -> str:
    """A Mermaid flowchart of the entrypoint DAG and the exit handler DAG of a compiled workflow."""
    spec = obj.get("spec", {})
    templates = {template["name"]: template for template in spec.get("templates", [])}
    entry = templates.get(spec.get("entrypoint", ""))
    if entry is None or "dag" not in entry:
        raise GraphError(f"{obj.get('metadata', {}).get('name')}: the entrypoint is not a DAG")
    lines = ["flowchart TD", *_subgraph("main", f"{obj['metadata']['name']}: {entry['name']}", entry["dag"])]
    exit_handler = templates.get(spec.get("onExit", ""))
    if exit_handler is not None and "dag" in exit_handler:
        lines += _subgraph("exit", f"onExit: {exit_handler['name']}", exit_handler["dag"])
        lines.append("  main -. on exit .-> exit")
    return "\n".join(lines) + "\n"
