"""A leaf node (a container, script, resource or suspend template): its directory, variables and input
artifacts, its deadline, the handler that runs it, then its outputs."""

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aphex.dsl.run.context import RunContext
from aphex.dsl.run.handlers import STEP_DEADLINE_MESSAGE, LeafCall, PathMap, parse_duration, resolve_env
from aphex.dsl.run.inputs import Inputs, input_variables
from aphex.dsl.run.loader import Resolved
from aphex.dsl.run.nodes import Node, RunError, template_kind
from aphex.dsl.run.outputs import collect_leaf_outputs
from aphex.dsl.run.substitution import substitute_tree

__all__ = ["run_leaf"]


def run_leaf(
    context: RunContext, node: Node, resolved: Resolved, inputs: Inputs, retry_vars: Mapping[str, str]
) -> None:
    """Run ``resolved`` as ``node`` through the first handler that takes it; raises :class:`RunError`
    when none does."""
    template = resolved.template
    node_dir = context.workdir / "nodes" / node.id
    node_dir.mkdir(parents=True, exist_ok=True)
    paths = PathMap.for_template(template, node_dir)
    outputs = template.get("outputs") or {}
    variables = context.workflow_variables() | input_variables(template, inputs, paths)
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
    _place_artifacts(template, inputs, paths)
    deadline = _deadline(substituted, resolved.path)
    remaining = context.remaining(node)
    if remaining is not None:
        if remaining <= 0:
            # workflowpod.go creates no pod past the workflow deadline, and
            # failNodesWithoutCreatedPodsAfterDeadlineOrShutdown fails the node.
            node.phase, node.message = "Failed", STEP_DEADLINE_MESSAGE
            return
        deadline = remaining if deadline is None else min(deadline, remaining)
    fields = {
        "metadata.namespace": context.namespace,
        "metadata.name": node.pod_name,
        "spec.serviceAccountName": str(
            substituted.get("serviceAccountName")
            or context.selection.spec.get("serviceAccountName")
            or "default"
        ),
    }
    kind = template_kind(template)
    env = resolve_env(substituted, paths, context.secrets, fields, f"{resolved.path}.{kind}")
    handler = context.registry.find(template)
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
        workflow_name=context.name,
        workflow_namespace=context.namespace,
        workflow_uid=context.uid,
    )
    outcome = handler.run(call)
    node.phase, node.message, node.log_tail = outcome.phase, outcome.message, outcome.log_tail
    node.result, node.exit_code = outcome.result, outcome.exit_code
    collect_leaf_outputs(node, template, outcome, paths, variables, context.workdir / "artifacts")


def _deadline(template: Mapping[str, Any], where: str) -> float | None:
    """The template's own time limit in seconds: the smaller of ``timeout`` and ``activeDeadlineSeconds``."""
    limits = []
    if template.get("timeout") is not None:
        limits.append(parse_duration(template["timeout"], f"{where}.timeout"))
    if template.get("activeDeadlineSeconds") is not None:
        limits.append(parse_duration(template["activeDeadlineSeconds"], f"{where}.activeDeadlineSeconds"))
    return min(limits) if limits else None


def _place_artifacts(template: Mapping[str, Any], inputs: Inputs, paths: PathMap) -> None:
    """Copy each input artifact (or write its ``raw`` data) to its path in the node's directory."""
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
