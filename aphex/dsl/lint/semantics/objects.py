"""The semantic check of one Argo object, from its metadata down to every template: :func:`check_object`.

Mirrors ``Workflow``, ``WorkflowTemplate``, ``ClusterWorkflowTemplate`` and ``CronWorkflow`` of
argo-workflows ``workflow/validate/validate.go``: the object's own fields, its spec (template reference,
executor plugins, arguments, metrics, pod GC and resources, entrypoint), the templates a
``workflowTemplateRef`` brings, then the entrypoint, exit handler, hooks and every template.
"""

from collections.abc import Mapping
from typing import Any

from aphex.dsl.lint.rules import (
    Emit,
    Obj,
    as_list,
    as_map,
    check_argument_values,
    check_executor_plugins,
    check_field_names,
    check_metrics,
    check_pod_gc,
    check_pod_resources,
)
from aphex.dsl.lint.semantics.arguments import build_globals, check_supplied, merged_arguments
from aphex.dsl.lint.semantics.catalog import Catalog, Mode
from aphex.dsl.lint.semantics.context import ObjectContext
from aphex.dsl.lint.semantics.object_fields import check_cron, check_metadata
from aphex.dsl.lint.semantics.templates import TemplateChecker

__all__ = ["check_object"]


def check_object(obj: Obj, catalog: Catalog, emit: Emit, mode: Mode = Mode.LINT) -> None:
    """Run every semantic check on one Workflow, WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow."""
    ctx = ObjectContext.of(obj, catalog, emit, mode, check_object)
    check_metadata(ctx)
    if ctx.kind == "CronWorkflow":
        check_cron(ctx)
    _check_spec(ctx)


def _check_spec(ctx: ObjectContext) -> None:
    spec, prefix = ctx.spec, ctx.prefix
    ref = as_map(spec.get("workflowTemplateRef"))
    if ref:
        if as_list(spec.get("templates")):
            ctx.emit(
                f"{prefix}.templates",
                "Templates is invalid field in spec if workflow referred WorkflowTemplate reference",
            )
        if ctx.referenced is None:
            ctx.emit(
                f"{prefix}.workflowTemplateRef",
                f"template {ref.get('name')!r} not found among the files given",
            )
    check_field_names(ctx.emit, as_list(spec.get("templates")), f"{prefix}.templates", parameter_like=False)
    check_executor_plugins(ctx.emit, spec, prefix)
    arguments = merged_arguments(ctx)
    allow_empty = ctx.mode == Mode.LINT or (ctx.template_validation and ctx.mode != Mode.SUBMIT)
    check_argument_values(ctx.emit, as_map(spec.get("arguments")), f"{prefix}.arguments", allow_empty)
    build_globals(ctx, arguments)
    check_metrics(ctx.emit, spec, prefix, label_keys=False)
    check_pod_gc(ctx.emit, as_map(spec.get("podGC")), f"{prefix}.podGC")
    check_pod_resources(ctx.emit, as_map(spec.get("podResources")), f"{prefix}.podResources")
    entrypoint = spec.get("entrypoint")
    if not entrypoint and ctx.referenced is not None:
        entrypoint = as_map(ctx.referenced.get("spec")).get("entrypoint")
    if not entrypoint and not ctx.template_validation:
        ctx.emit(f"{prefix}.entrypoint", "spec.entrypoint is required")
    if ctx.referenced is not None:
        _check_referenced_templates(ctx, ctx.referenced, arguments)
    _check_templates(ctx, arguments)


def _check_referenced_templates(ctx: ObjectContext, owner: Obj, arguments: Obj) -> None:
    """Argo validates a referenced WorkflowTemplate's templates with this Workflow's arguments and
    metadata (``Workflow``, "templates of the referred WorkflowTemplate will be validated"). Only the
    problems this context adds are reported: the template's own are reported on the template."""
    theirs = as_map(owner.get("spec"))
    ours = {key: value for key, value in ctx.spec.items() if key != "workflowTemplateRef"}
    metadata: dict[str, dict[str, Any]] = {}
    for key in ("labels", "annotations", "labelsFrom"):
        metadata[key] = {
            **as_map(as_map(theirs.get("workflowMetadata")).get(key)),
            **as_map(as_map(ours.get("workflowMetadata")).get(key)),
        }
    spec = {**theirs, **ours, "arguments": arguments, "workflowMetadata": metadata}
    spec["templates"] = theirs.get("templates")
    in_context: list[tuple[str, str]] = []
    alone: list[tuple[str, str]] = []
    workflow = {"kind": "Workflow", "metadata": ctx.obj.get("metadata"), "spec": spec}
    combined = ctx.for_object(workflow, lambda f, m: in_context.append((f, m)))
    build_globals(combined, arguments)
    _check_templates(combined, arguments)
    own = ctx.for_object(owner, lambda f, m: alone.append((f, m)))
    build_globals(own, merged_arguments(own))
    _check_templates(own, merged_arguments(own))
    name = as_map(owner.get("metadata")).get("name")
    for field_path, message in in_context:
        if (field_path, message) not in alone:
            ctx.emit(f"{ctx.prefix}.workflowTemplateRef", f"{name}: {field_path}: {message}")


def _check_templates(ctx: ObjectContext, arguments: Obj) -> None:
    """Entrypoint, exit handler and every template (for a Workflow, not through a reference)."""
    spec, prefix = ctx.spec, ctx.prefix
    templates = TemplateChecker(ctx)
    ref = as_map(spec.get("workflowTemplateRef"))
    entrypoint = spec.get("entrypoint")
    if entrypoint and not ref:
        target = ctx.templates.get(str(entrypoint))
        if target is None:
            ctx.emit(f"{prefix}.entrypoint", f"template name '{entrypoint}' undefined")
        elif not ctx.template_validation:
            check_supplied(ctx, target, arguments, f"{prefix}.arguments")
    on_exit = spec.get("onExit")
    if on_exit and not ref:
        target = ctx.templates.get(str(on_exit))
        if target is None:
            ctx.emit(f"{prefix}.onExit", f"template name '{on_exit}' undefined")
        else:
            check_supplied(ctx, target, as_map(spec.get("arguments")), f"{prefix}.arguments")
    templates.check_hooks(as_map(spec.get("hooks")), f"{prefix}.hooks")
    for index, template in enumerate(as_list(spec.get("templates"))):
        if isinstance(template, Mapping):
            templates.check_template(template, f"{prefix}.templates[{index}]")
