"""A node's outputs: a leaf's parameters and artifacts collected from what it wrote, a DAG or steps
template's outputs from its children's variables, and ``globalName`` outputs published to the workflow."""

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aphex.dsl.run.context import RunContext
from aphex.dsl.run.handlers import LeafOutcome, PathMap
from aphex.dsl.run.nodes import Node
from aphex.dsl.run.substitution import UnresolvedVariable, substitute

__all__ = ["collect_leaf_outputs", "publish_global_outputs", "template_outputs"]


def collect_leaf_outputs(
    node: Node,
    template: Mapping[str, Any],
    outcome: LeafOutcome,
    paths: PathMap,
    variables: Mapping[str, str],
    artifacts_dir: Path,
) -> None:
    """The outputs of a finished leaf: what its handler returned, else the declared ``value``, the file at
    ``valueFrom.path`` or the ``default``; artifacts are copied under ``artifacts_dir``. A Succeeded node
    missing a required output ends in Error."""
    succeeded = node.phase == "Succeeded"
    outputs = template.get("outputs") or {}
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
        target = artifacts_dir / node.id / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
        node.artifacts[name] = str(target)
    if problems:
        node.phase, node.message = "Error", "; ".join(problems)


def template_outputs(node: Node, template: Mapping[str, Any], variables: Mapping[str, str]) -> None:
    """The outputs of a DAG or steps node, substituted from its children's variables; one that cannot be
    resolved ends a Succeeded node in Error."""
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


def publish_global_outputs(context: RunContext, template: Mapping[str, Any], node: Node) -> None:
    """Copy the node's outputs that have a ``globalName`` to the workflow's outputs."""
    outputs = template.get("outputs") or {}
    with context.lock:
        for parameter in outputs.get("parameters", []) or []:
            if parameter.get("globalName") and parameter.get("name") in node.parameters:
                context.global_parameters[str(parameter["globalName"])] = node.parameters[parameter["name"]]
        for artifact in outputs.get("artifacts", []) or []:
            if artifact.get("globalName") and artifact.get("name") in node.artifacts:
                context.global_artifacts[str(artifact["globalName"])] = node.artifacts[artifact["name"]]
