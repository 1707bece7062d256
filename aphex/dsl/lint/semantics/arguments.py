"""Workflow arguments and the global variables they and the object's metadata define.

:func:`merged_arguments` is Argo's ``MergeParameters`` of a Workflow and its WorkflowTemplate,
:func:`build_globals` the ``workflow.*`` keys every template may read (``newTemplateValidationCtx`` and
``Workflow`` in argo-workflows ``workflow/validate/validate.go``), :func:`check_supplied` Argo's
``ProcessArgs`` and :func:`check_argument_dependencies` its ``validateDAGTaskArgumentDependency``.
"""

from typing import Any

from aphex.dsl.lint.rules import Obj, as_list, as_map, has_location
from aphex.dsl.lint.semantics.context import ObjectContext
from aphex.dsl.lint.variables import is_parameter

__all__ = ["build_globals", "check_argument_dependencies", "check_supplied", "merged_arguments"]

_WORKFLOW_KEYS = {
    "workflow.name",
    "workflow.namespace",
    "workflow.mainEntrypoint",
    "workflow.serviceAccountName",
    "workflow.uid",
    "workflow.status",
    "workflow.annotations",
    "workflow.annotations.json",
    "workflow.labels",
    "workflow.labels.json",
}


def merged_arguments(ctx: ObjectContext) -> Obj:
    """``spec.arguments`` merged with the referenced template's (Argo's ``MergeParameters``)."""
    own = as_map(ctx.spec.get("arguments"))
    if ctx.referenced is None:
        return own
    theirs = as_map(as_map(ctx.referenced.get("spec")).get("arguments"))
    merged: dict[str, Any] = {}
    for key in ("parameters", "artifacts"):
        names = {as_map(p).get("name") for p in as_list(own.get(key))}
        merged[key] = as_list(own.get(key)) + [
            p for p in as_list(theirs.get(key)) if as_map(p).get("name") not in names
        ]
    return merged


def build_globals(ctx: ObjectContext, arguments: Obj) -> None:
    """Fill ``ctx.globals``: the workflow's fields, parameters, metadata keys and global outputs."""
    keys = set(_WORKFLOW_KEYS)
    parameters = as_list(arguments.get("parameters"))
    if parameters:
        keys |= {"workflow.parameters", "workflow.parameters.json"}
    keys |= {f"workflow.parameters.{as_map(p).get('name')}" for p in parameters if as_map(p).get("name")}
    meta = as_map(ctx.obj.get("metadata"))
    sources = [meta, as_map(ctx.spec.get("workflowMetadata"))]
    if ctx.kind == "CronWorkflow":
        sources.append(as_map(as_map(ctx.obj.get("spec")).get("workflowMetadata")))
    if ctx.referenced is not None:
        sources.append(as_map(as_map(ctx.referenced.get("spec")).get("workflowMetadata")))
    for source in sources:
        keys |= {f"workflow.annotations.{key}" for key in as_map(source.get("annotations"))}
        keys |= {f"workflow.labels.{key}" for key in as_map(source.get("labels"))}
        keys |= {f"workflow.labels.{key}" for key in as_map(source.get("labelsFrom"))}
    if ctx.spec.get("priority") is not None:
        keys.add("workflow.priority")
    if ctx.spec.get("onExit") or (
        ctx.referenced is not None and as_map(ctx.referenced.get("spec")).get("onExit")
    ):
        keys.add("workflow.failures")
    templates = list(ctx.templates.values())
    if ctx.referenced is not None:
        templates += [t for t in as_list(as_map(ctx.referenced.get("spec")).get("templates")) if as_map(t)]
    for template in templates:
        outputs = as_map(as_map(template).get("outputs"))
        for kind in ("parameters", "artifacts"):
            for output in as_list(outputs.get(kind)):
                global_name = str(as_map(output).get("globalName") or "")
                if not global_name:
                    continue
                if is_parameter(global_name):
                    if kind == "parameters":
                        ctx.globals.any_output_parameter = True
                    else:
                        ctx.globals.any_output_artifact = True
                else:
                    keys.add(f"workflow.outputs.{kind}.{global_name}")
    ctx.globals.keys = keys


def check_supplied(ctx: ObjectContext, target: Obj | None, arguments: Obj, path: str) -> None:
    """Argo's ``ProcessArgs``: inputs without a default, value or source are given by the caller."""
    if target is None:
        return
    inputs = as_map(target.get("inputs"))
    given = {str(as_map(p).get("name")) for p in as_list(arguments.get("parameters"))}
    for parameter in as_list(inputs.get("parameters")):
        parameter = as_map(parameter)
        if any(parameter.get(key) is not None for key in ("value", "default", "valueFrom")):
            continue
        if str(parameter.get("name")) not in given:
            ctx.emit(f"{path}.parameters", f"inputs.parameters.{parameter.get('name')} was not supplied")
    given_artifacts = {str(as_map(a).get("name")) for a in as_list(arguments.get("artifacts"))}
    for artifact in as_list(inputs.get("artifacts")):
        artifact = as_map(artifact)
        if artifact.get("optional") or has_location(artifact):
            continue
        if str(artifact.get("name")) not in given_artifacts:
            ctx.emit(f"{path}.artifacts", f"inputs.artifacts.{artifact.get('name')} was not supplied")


def check_argument_dependencies(ctx: ObjectContext, arguments: Obj, ancestry: set[str], path: str) -> None:
    """Argo's ``validateDAGTaskArgumentDependency``: ``{{tasks.X...`` arguments need X as an ancestor."""
    for key, source_field, what in (
        ("parameters", "value", "parameter"),
        ("artifacts", "from", "artifact"),
    ):
        for index, argument in enumerate(as_list(arguments.get(key))):
            source = as_map(argument).get(source_field)
            if isinstance(source, str) and source.startswith("{{tasks."):
                task = source.split(".")[1]
                if task not in ancestry:
                    ctx.emit(
                        f"{path}.{key}[{index}].{source_field}",
                        f"missing dependency '{task}' for {what} '{as_map(argument).get('name')}'",
                    )
