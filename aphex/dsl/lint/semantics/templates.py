"""Templates and the references to them: :class:`TemplateChecker`.

Mirrors argo-workflows ``workflow/validate/validate.go``: ``validateTemplate`` (type, inputs, timeouts,
outputs, metrics), ``validateLeaf`` (variables, mounts, images), ``validateTemplateHolder`` (a node's
``template``, ``templateRef`` or ``inline``, the referenced template checked with the caller's globals)
and ``validateHooks``. Steps and DAG templates go on to :mod:`aphex.dsl.lint.semantics.steps_dag`.
"""

import re
from collections.abc import Mapping
from dataclasses import replace

from aphex.dsl.lint.rules import (
    ARTIFACT_PLUGIN_PREFIX,
    LEAF_TYPES,
    RESERVED_CONTAINERS,
    Obj,
    as_list,
    as_map,
    check_artifact_location,
    check_container_set,
    check_inputs,
    check_metrics,
    check_outputs,
    check_pod_resources,
    check_resource,
)
from aphex.dsl.lint.semantics.context import ObjectContext
from aphex.dsl.lint.semantics.steps_dag import check_dag, check_steps
from aphex.dsl.lint.semantics.template_types import ARGO_TYPE_NAMES, POD_TYPES, TEMPLATE_TYPES, template_types
from aphex.dsl.lint.variables import Scope

__all__ = ["TemplateChecker"]

_RETRY_POLICIES = {"Always", "OnFailure", "OnError", "OnTransientError"}


class TemplateChecker:
    """Checks the templates of one object (:class:`ObjectContext`) and the templates they call."""

    def __init__(self, ctx: ObjectContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------ references

    def check_hooks(self, hooks: Obj, path: str) -> None:
        """Argo's ``validateHooks``: every hook but ``exit`` needs an expression."""
        for name, hook in hooks.items():
            if name != "exit" and not as_map(hook).get("expression"):
                self.ctx.emit(f"{path}.{name}", "Expression required")
            if isinstance(hook, Mapping):
                self.check_reference(hook, f"{path}.{name}")

    def check_reference(self, node: Obj, path: str) -> Obj | None:
        """A node's template, templateRef or inline (Argo's ``validateTemplateHolder``); the template."""
        ctx = self.ctx
        has = [key for key in ("template", "templateRef", "inline") if node.get(key)]
        if len(has) != 1:
            ctx.emit(path, "needs exactly one of template, templateRef and inline")
            return None
        if "template" in has:
            target = ctx.templates.get(str(node["template"]))
            if target is None and not ctx.spec.get("workflowTemplateRef"):
                ctx.emit(f"{path}.template", f"template name '{node['template']}' undefined")
            return target
        if "templateRef" in has:
            return self._check_template_ref(as_map(node["templateRef"]), f"{path}.templateRef")
        inline = node["inline"]
        if isinstance(inline, Mapping):
            self.check_template(inline, f"{path}.inline")
            return inline
        return None

    def _check_template_ref(self, ref: Obj, path: str) -> Obj | None:
        """A ``templateRef`` (at ``path``) resolved among the files given; the template."""
        ctx = self.ctx
        if not ref.get("name"):
            ctx.emit(f"{path}.name", "resource name is required")
            return None
        if not ref.get("template"):
            ctx.emit(f"{path}.template", "template name is required")
            return None
        if "{{" in str(ref.get("name")) + str(ref.get("template")):
            return None  # resolved at run time: Argo skips it too
        owner, target = ctx.catalog.resolve(ref)
        if owner is None:
            scope = "ClusterWorkflowTemplate" if ref.get("clusterScope") else "WorkflowTemplate"
            ctx.emit(path, f"{scope} {ref.get('name')!r} not found among the files given")
        elif target is None:
            ctx.emit(
                f"{path}.template", f"template reference {ref.get('name')}.{ref.get('template')} not found"
            )
        else:
            self._check_in_context(owner, target, path)
        return target

    def _check_in_context(self, owner: Obj, target: Obj, path: str) -> None:
        """Argo validates a ``templateRef``'d template with the caller's globals (``validateTemplateHolder``):
        report what that context adds to what the template's own object reports."""
        ctx = self.ctx
        key = (id(owner), str(target.get("name")))
        if key in ctx.checked_references:
            return
        ctx.checked_references.add(key)
        found: list[tuple[str, str]] = []
        theirs = replace(
            ctx.for_object(owner, lambda f, m: found.append((f, m))),
            globals=ctx.globals,
            template_validation=ctx.template_validation,
            checked_references=ctx.checked_references,
        )
        index = next(
            i for i, t in enumerate(as_list(as_map(owner.get("spec")).get("templates"))) if t is target
        )
        TemplateChecker(theirs).check_template(target, f"spec.templates[{index}]")
        alone = ctx.catalog.problems_alone(owner, ctx.mode, ctx.check_object)
        name = as_map(owner.get("metadata")).get("name")
        for field_path, message in found:
            if (field_path, message) not in alone:
                ctx.emit(path, f"{name}: {field_path}: {message}")

    # ------------------------------------------------------------ templates

    def check_template(self, template: Obj, path: str) -> None:
        """Argo's ``validateTemplate`` (and ``validateTemplateHolder``'s retry policy check)."""
        ctx = self.ctx
        kinds = template_types(template)
        if len(kinds) == 0:
            ctx.emit(path, "template type unspecified. choose one of: " + ", ".join(TEMPLATE_TYPES))
            return
        if len(kinds) > 1:
            ctx.emit(path, f"multiple template types specified ({', '.join(kinds)})")
            return
        kind = kinds[0]
        leaf = kind in LEAF_TYPES
        if template.get("podResources") is not None:
            if kind in ("http", "plugin"):
                ctx.emit(f"{path}.podResources", f"podResources is not supported for {kind} templates")
            check_pod_resources(ctx.emit, as_map(template.get("podResources")), f"{path}.podResources")
        check_inputs(ctx.emit, template, path, leaf)
        for index, container in enumerate(as_list(template.get("initContainers"))):
            if not as_map(container).get("name"):
                ctx.emit(
                    f"{path}.initContainers[{index}].name", "initContainers must all have container name"
                )
        if as_list(template.get("resourceClaims")) and kind not in POD_TYPES:
            ctx.emit(
                f"{path}.resourceClaims",
                f"resourceClaims is not supported for {ARGO_TYPE_NAMES.get(kind, kind)} templates, "
                "which do not create a pod",
            )
        self._check_timeouts(template, path, kind)
        retry = as_map(template.get("retryStrategy"))
        if retry.get("retryPolicy") not in (None, "", *_RETRY_POLICIES):
            ctx.emit(
                f"{path}.retryStrategy.retryPolicy", f"{retry['retryPolicy']} is not a valid RetryPolicy"
            )
        scope = _base_scope(template, kind)
        if kind == "steps":
            check_steps(ctx, self, template, path, scope)
        elif kind == "dag":
            check_dag(ctx, self, template, path, scope)
        else:
            self._check_leaf(template, path, kind, scope)
        check_outputs(ctx.emit, template, path, kind)
        if kind not in LEAF_TYPES:  # a leaf's outputs were resolved with the whole template
            ctx.check_variables(as_map(template.get("outputs")), f"{path}.outputs", scope)
        archive = as_map(template.get("archiveLocation"))
        check_artifact_location(ctx.emit, archive, f"{path}.archiveLocation")
        check_metrics(ctx.emit, template, path)

    def _check_timeouts(self, template: Obj, path: str, kind: str) -> None:
        """``timeout`` and ``pendingTimeout`` only on leaf templates, ``timeout`` a duration."""
        timeout = template.get("timeout")
        if timeout not in (None, ""):
            if kind not in LEAF_TYPES:
                self.ctx.emit(
                    f"{path}.timeout",
                    f"{ARGO_TYPE_NAMES.get(kind, kind)} template doesn't support timeout field",
                )
            elif re.fullmatch(r"[+-]?[0-9]+", str(timeout)):
                self.ctx.emit(f"{path}.timeout", "invalid duration format in timeout")
        if template.get("pendingTimeout") not in (None, "") and kind not in LEAF_TYPES:
            self.ctx.emit(f"{path}.pendingTimeout", f"{kind} template doesn't support pendingTimeout field")

    def _check_leaf(self, template: Obj, path: str, kind: str, scope: Scope) -> None:
        """Argo's ``validateLeaf``."""
        ctx = self.ctx
        ctx.check_variables(template, path, scope)
        if kind == "container":
            container = as_map(template.get("container"))
            self._check_mounts(template, container, path)
            self._check_image(container, path, "container")
        if kind == "script":
            self._check_image(as_map(template.get("script")), path, "script")
        if kind == "containerSet":
            check_container_set(ctx.emit, template, path)
        for index, sidecar in enumerate(as_list(template.get("sidecars"))):
            name = str(as_map(sidecar).get("name") or "")
            if name in RESERVED_CONTAINERS or name.startswith(ARTIFACT_PLUGIN_PREFIX):
                ctx.emit(f"{path}.sidecars[{index}].name", f"{name!r} is a reserved Argo container name")
        if kind == "resource":
            check_resource(ctx.emit, template, path)
        deadline = template.get("activeDeadlineSeconds")
        if deadline is not None:
            text = str(deadline)
            integer = re.fullmatch(r"[+-]?[0-9]+", text)
            variable = text.startswith("{{") and text.endswith("}}")
            if (not integer and not variable) or (integer and int(text) < 0):
                ctx.emit(
                    f"{path}.activeDeadlineSeconds", "must be a positive integer > 0 or an argo variable"
                )
        if template.get("parallelism") is not None:
            ctx.emit(f"{path}.parallelism", "parallelism is only valid for steps and dag templates")

    def _check_mounts(self, template: Obj, container: Obj, path: str) -> None:
        """A container's volume mounts and input artifacts do not share a path."""
        claims: list[tuple[str, str, str]] = []  # (field, path mounted, what mounts it)
        for index, mount in enumerate(map(as_map, as_list(container.get("volumeMounts")))):
            where = f"container.volumeMounts[{index}].mountPath"
            claims.append((where, str(mount.get("mountPath")), f"container.volumeMounts.{mount.get('name')}"))
        for index, artifact in enumerate(
            map(as_map, as_list(as_map(template.get("inputs")).get("artifacts")))
        ):
            where = f"inputs.artifacts[{index}].path"
            claims.append((where, str(artifact.get("path")), f"inputs.artifacts.{artifact.get('name')}"))
        mounted: dict[str, str] = {}
        for where, mount_path, owner in claims:
            if mount_path in mounted:
                self.ctx.emit(f"{path}.{where}", f"'{mount_path}' already mounted in {mounted[mount_path]}")
            mounted[mount_path] = owner

    def _check_image(self, container: Obj, path: str, kind: str) -> None:
        """An empty image is an error unless the object's ``templateDefaults`` give one (not for a
        ClusterWorkflowTemplate: ``validateLeaf`` only reads Workflow and WorkflowTemplate defaults)."""
        if container.get("image"):
            return
        defaults = as_map(as_map(self.ctx.spec.get("templateDefaults")).get(kind))
        if defaults.get("image") and self.ctx.kind != "ClusterWorkflowTemplate":
            return
        self.ctx.emit(f"{path}.{kind}.image", "may not be empty")


def _base_scope(template: Obj, kind: str) -> Scope:
    """Argo's ``validateInputs`` scope plus ``pod.name``: what a template's own fields may use."""
    inputs = as_map(template.get("inputs"))
    keys: set[str] = set()
    parameters = as_list(inputs.get("parameters"))
    keys |= {f"inputs.parameters.{as_map(p).get('name')}" for p in parameters}
    if parameters:
        keys.add("inputs.parameters")
    for artifact in as_list(inputs.get("artifacts")):
        keys.add(f"inputs.artifacts.{as_map(artifact).get('name')}")
        if kind in LEAF_TYPES:
            keys.add(f"inputs.artifacts.{as_map(artifact).get('name')}.path")
    if kind in POD_TYPES:
        keys.add("pod.name")
    return Scope(keys)
