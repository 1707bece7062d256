"""Semantic checks following Argo's own validation (``workflow/validate/validate.go``) rule by rule.

One function of this module per function of Argo's validator: ``Workflow``/``WorkflowTemplate``/
``CronWorkflow`` (:meth:`_ObjectChecker.run`), ``validateTemplate`` and ``validateLeaf``
(:meth:`_ObjectChecker.check_template`, :meth:`_ObjectChecker.check_leaf`), ``validateSteps``,
``validateDAG``, ``validateOutputs``, ``validateArgumentsValues``, ``validateWorkflowFieldNames``,
``addItemsToScope``, ``addOutputsToScope`` and ``resolveAllVariables`` (:mod:`aphex.dsl.lint.variables`).
Argo stops at the first error; this reports every one it finds. :class:`Mode` chooses what Argo's
``Opts`` choose: ``argo lint`` (arguments may lack values), creation (a Workflow's arguments need values)
or submission (every argument needs a value). Docs: docs/lint.md lists what is mirrored and what is not.
"""

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aphex.dsl.argo_yaml import DependsError, task_names, tokens
from aphex.dsl.lint.cron import schedule_problem, timezone_problem
from aphex.dsl.lint.rules import (
    ARTIFACT_PLUGIN_PREFIX,
    FIELD_NAME,
    LEAF_TYPES,
    RESERVED_CONTAINERS,
    as_list,
    as_map,
    check_argument_values,
    check_artifact_location,
    check_container_set,
    check_executor_plugins,
    check_field_names,
    check_inputs,
    check_metrics,
    check_outputs,
    check_pod_gc,
    check_pod_resources,
    check_resource,
    find_cycle,
    has_location,
)
from aphex.dsl.lint.variables import TAG, Scope, is_parameter

__all__ = ["Catalog", "Mode", "check_object"]

Emit = Callable[[str, str], None]
Obj = Mapping[str, Any]

TEMPLATE_TYPES = (
    "container",
    "containerSet",
    "steps",
    "script",
    "resource",
    "dag",
    "suspend",
    "data",
    "http",
    "plugin",
)
POD_TYPES = {"container", "containerSet", "script", "resource", "data"}
ARGO_TYPE_NAMES = {
    "container": "Container",
    "containerSet": "ContainerSet",
    "steps": "Steps",
    "script": "Script",
    "resource": "Resource",
    "dag": "DAG",
    "suspend": "Suspend",
    "data": "Data",
    "http": "HTTP",
    "plugin": "Plugin",
}
"""Template.GetType() as Argo prints it in messages (pkg/apis/workflow/v1alpha1/workflow_types.go)."""
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_RETRY_POLICIES = {"Always", "OnFailure", "OnError", "OnTransientError"}
_ITEM_RESULTS = {"AnySucceeded", "AllFailed"}


class Mode(enum.Enum):
    """Which of Argo's validation contexts to mirror (its ``validate.Opts``)."""

    LINT = "lint"  # argo lint: Opts{Lint: true}
    CREATE = "create"  # creating an object: Opts{}
    SUBMIT = "submit"  # submitting a workflow from a template: Opts{Submit: true}


@dataclass
class Catalog:
    """Every WorkflowTemplate and ClusterWorkflowTemplate of the files given, for ``templateRef``."""

    namespaced: dict[str, Obj] = field(default_factory=dict)
    cluster: dict[str, Obj] = field(default_factory=dict)
    own_problems: dict[int, set[tuple[str, str]]] = field(default_factory=dict)

    def problems_alone(self, owner: Obj, mode: Mode) -> set[tuple[str, str]]:
        """What linting ``owner`` by itself reports (computed once per object)."""
        if id(owner) not in self.own_problems:
            found: set[tuple[str, str]] = set()
            self.own_problems[id(owner)] = found
            _ObjectChecker(owner, self, lambda f, m: found.add((f, m)), mode).run()
        return self.own_problems[id(owner)]

    def owner(self, ref: Obj) -> Obj | None:
        """The template object a ``templateRef`` or ``workflowTemplateRef`` names, when given."""
        pool = self.cluster if ref.get("clusterScope") else self.namespaced
        return pool.get(str(ref.get("name")))

    def resolve(self, ref: Obj) -> tuple[Obj | None, Obj | None]:
        """(template object, template) for a ``templateRef``; None where not found."""
        owner = self.owner(ref)
        if owner is None:
            return None, None
        for template in as_list(as_map(owner.get("spec")).get("templates")):
            if isinstance(template, Mapping) and template.get("name") == ref.get("template"):
                return owner, template
        return owner, None


def _template_types(template: Obj) -> list[str]:
    return [kind for kind in TEMPLATE_TYPES if template.get(kind) is not None]


def _kind(template: Obj | None) -> str:
    kinds = _template_types(template) if template is not None else []
    return kinds[0] if len(kinds) == 1 else ""


def _has_output(template: Obj) -> bool:
    """Argo's ``Template.HasOutput``: the node captures a result."""
    containers = as_list(as_map(template.get("containerSet")).get("containers"))
    return any(
        template.get(kind) is not None for kind in ("container", "script", "data", "http", "plugin")
    ) or any(as_map(c).get("name") == "main" for c in containers)


def _item_keys(items: list[Any]) -> set[str]:
    keys: set[str] = set()
    for item in items:
        if isinstance(item, list):
            keys |= {f"item.[{index}]" for index in range(len(item))}
        elif isinstance(item, Mapping):
            keys |= {f"item.{key}" for key in item}
        else:
            keys.add("item")
    return keys


class _ObjectChecker:
    """Checks one Argo object; problems are emitted as (field path, message)."""

    def __init__(self, obj: Obj, catalog: Catalog, emit: Emit, mode: Mode) -> None:
        self.obj = obj
        self.kind = str(obj.get("kind"))
        self.catalog = catalog
        self.emit = emit
        self.mode = mode
        spec = as_map(obj.get("spec"))
        self.prefix = "spec"
        if self.kind == "CronWorkflow":
            spec = as_map(spec.get("workflowSpec"))
            self.prefix = "spec.workflowSpec"
            self.mode = Mode.CREATE  # Argo's CronWorkflow validates its workflow with Opts{}
        self.spec: Obj = spec
        self.template_validation = self.kind in ("WorkflowTemplate", "ClusterWorkflowTemplate")
        self.templates: dict[str, Obj] = {}
        for template in as_list(spec.get("templates")):
            if isinstance(template, Mapping) and "name" in template:
                self.templates.setdefault(str(template["name"]), template)
        ref = as_map(spec.get("workflowTemplateRef"))
        self.referenced = catalog.owner(ref) if ref else None
        self.globals = Scope()
        self.checked_references: set[tuple[int, str]] = set()

    # ------------------------------------------------------------ objects

    def run(self) -> None:
        self.check_metadata()
        if self.kind == "CronWorkflow":
            self.check_cron()
        self.check_spec()

    def check_metadata(self) -> None:
        name = as_map(self.obj.get("metadata")).get("name")
        if not isinstance(name, str):
            return
        limit = 52 if self.kind == "CronWorkflow" else 63
        if len(name) > limit:
            self.emit(
                "metadata.name", f"must not be more than {limit} characters long (currently {len(name)})"
            )
        if not _DNS_SUBDOMAIN.match(name):
            self.emit("metadata.name", "must be lowercase letters, digits, '-' and '.' (RFC 1123)")

    def check_cron(self) -> None:
        spec = as_map(self.obj.get("spec"))
        schedules = as_list(spec.get("schedules"))
        if not schedules:
            self.emit("spec.schedules", "cron workflow must have at least one schedule")
        for index, schedule in enumerate(schedules):
            problem = schedule_problem(str(schedule))
            if problem:
                self.emit(f"spec.schedules[{index}]", f"cron schedule {schedule} is malformed: {problem}")
        zone = spec.get("timezone")
        if zone and (problem := timezone_problem(str(zone))):
            self.emit("spec.timezone", f"invalid timezone {zone!r}: {problem}")
        policy = spec.get("concurrencyPolicy")
        if policy not in (None, "", "Allow", "Forbid", "Replace"):
            self.emit("spec.concurrencyPolicy", f"'{policy}' is not a valid concurrencyPolicy")
        deadline = spec.get("startingDeadlineSeconds")
        if isinstance(deadline, int) and deadline < 0:
            self.emit("spec.startingDeadlineSeconds", "startingDeadlineSeconds must be positive")

    def arguments(self) -> Obj:
        """``spec.arguments`` merged with the referenced template's (Argo's ``MergeParameters``)."""
        own = as_map(self.spec.get("arguments"))
        if self.referenced is None:
            return own
        theirs = as_map(as_map(self.referenced.get("spec")).get("arguments"))
        merged: dict[str, Any] = {}
        for key in ("parameters", "artifacts"):
            names = {as_map(p).get("name") for p in as_list(own.get(key))}
            merged[key] = as_list(own.get(key)) + [
                p for p in as_list(theirs.get(key)) if as_map(p).get("name") not in names
            ]
        return merged

    def build_globals(self, arguments: Obj) -> None:
        keys = {
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
        parameters = as_list(arguments.get("parameters"))
        if parameters:
            keys |= {"workflow.parameters", "workflow.parameters.json"}
        keys |= {f"workflow.parameters.{as_map(p).get('name')}" for p in parameters if as_map(p).get("name")}
        meta = as_map(self.obj.get("metadata"))
        sources = [meta, as_map(self.spec.get("workflowMetadata"))]
        if self.kind == "CronWorkflow":
            sources.append(as_map(as_map(self.obj.get("spec")).get("workflowMetadata")))
        if self.referenced is not None:
            sources.append(as_map(as_map(self.referenced.get("spec")).get("workflowMetadata")))
        for source in sources:
            keys |= {f"workflow.annotations.{key}" for key in as_map(source.get("annotations"))}
            keys |= {f"workflow.labels.{key}" for key in as_map(source.get("labels"))}
            keys |= {f"workflow.labels.{key}" for key in as_map(source.get("labelsFrom"))}
        if self.spec.get("priority") is not None:
            keys.add("workflow.priority")
        if self.spec.get("onExit") or (
            self.referenced is not None and as_map(self.referenced.get("spec")).get("onExit")
        ):
            keys.add("workflow.failures")
        templates = list(self.templates.values())
        if self.referenced is not None:
            templates += [
                t for t in as_list(as_map(self.referenced.get("spec")).get("templates")) if as_map(t)
            ]
        for template in templates:
            outputs = as_map(as_map(template).get("outputs"))
            for key, kind in (("parameters", "parameters"), ("artifacts", "artifacts")):
                for output in as_list(outputs.get(key)):
                    global_name = str(as_map(output).get("globalName") or "")
                    if not global_name:
                        continue
                    if is_parameter(global_name):
                        if kind == "parameters":
                            self.globals.any_output_parameter = True
                        else:
                            self.globals.any_output_artifact = True
                    else:
                        keys.add(f"workflow.outputs.{kind}.{global_name}")
        self.globals.keys = keys

    def check_spec(self) -> None:
        spec, prefix = self.spec, self.prefix
        ref = as_map(spec.get("workflowTemplateRef"))
        if ref:
            if as_list(spec.get("templates")):
                self.emit(
                    f"{prefix}.templates",
                    "Templates is invalid field in spec if workflow referred WorkflowTemplate reference",
                )
            if self.referenced is None:
                self.emit(
                    f"{prefix}.workflowTemplateRef",
                    f"template {ref.get('name')!r} not found among the files given",
                )
        check_field_names(
            self.emit, as_list(spec.get("templates")), f"{prefix}.templates", parameter_like=False
        )
        check_executor_plugins(self.emit, self.spec, self.prefix)
        arguments = self.arguments()
        allow_empty = self.mode == Mode.LINT or (self.template_validation and self.mode != Mode.SUBMIT)
        check_argument_values(self.emit, as_map(spec.get("arguments")), f"{prefix}.arguments", allow_empty)
        self.build_globals(arguments)
        check_metrics(self.emit, spec, prefix, label_keys=False)
        check_pod_gc(self.emit, as_map(spec.get("podGC")), f"{prefix}.podGC")
        check_pod_resources(self.emit, as_map(spec.get("podResources")), f"{prefix}.podResources")
        entrypoint = spec.get("entrypoint")
        if not entrypoint and self.referenced is not None:
            entrypoint = as_map(self.referenced.get("spec")).get("entrypoint")
        if not entrypoint and not self.template_validation:
            self.emit(f"{prefix}.entrypoint", "spec.entrypoint is required")
        if self.referenced is not None:
            self.check_referenced_templates(arguments)
        self.check_templates(arguments)

    def check_referenced_templates(self, arguments: Obj) -> None:
        """Argo validates a referenced WorkflowTemplate's templates with this Workflow's arguments and
        metadata (``Workflow``, "templates of the referred WorkflowTemplate will be validated"). Only the
        problems this context adds are reported: the template's own are reported on the template."""
        owner = as_map(self.referenced)
        theirs = as_map(owner.get("spec"))
        ours = {key: value for key, value in self.spec.items() if key != "workflowTemplateRef"}
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
        context = {"kind": "Workflow", "metadata": self.obj.get("metadata"), "spec": spec}
        checker = _ObjectChecker(context, self.catalog, lambda f, m: in_context.append((f, m)), self.mode)
        checker.build_globals(arguments)
        checker.check_templates(arguments)
        own = _ObjectChecker(owner, self.catalog, lambda f, m: alone.append((f, m)), self.mode)
        own.build_globals(own.arguments())
        own.check_templates(own.arguments())
        name = as_map(owner.get("metadata")).get("name")
        for field_path, message in in_context:
            if (field_path, message) not in alone:
                self.emit(f"{self.prefix}.workflowTemplateRef", f"{name}: {field_path}: {message}")

    def check_templates(self, arguments: Obj) -> None:
        """Entrypoint, exit handler and every template (for a Workflow, not through a reference)."""
        spec, prefix = self.spec, self.prefix
        ref = as_map(spec.get("workflowTemplateRef"))
        entrypoint = spec.get("entrypoint")
        if entrypoint and not ref:
            target = self.templates.get(str(entrypoint))
            if target is None:
                self.emit(f"{prefix}.entrypoint", f"template name '{entrypoint}' undefined")
            elif not self.template_validation:
                self.check_supplied(target, arguments, f"{prefix}.arguments")
        on_exit = spec.get("onExit")
        if on_exit and not ref:
            target = self.templates.get(str(on_exit))
            if target is None:
                self.emit(f"{prefix}.onExit", f"template name '{on_exit}' undefined")
            else:
                self.check_supplied(target, as_map(spec.get("arguments")), f"{prefix}.arguments")
        self.check_hooks(as_map(spec.get("hooks")), f"{prefix}.hooks")
        for index, template in enumerate(as_list(spec.get("templates"))):
            if isinstance(template, Mapping):
                self.check_template(template, f"{prefix}.templates[{index}]")

    def check_hooks(self, hooks: Obj, path: str) -> None:
        """Argo's ``validateHooks``: every hook but ``exit`` needs an expression."""
        for name, hook in hooks.items():
            if name != "exit" and not as_map(hook).get("expression"):
                self.emit(f"{path}.{name}", "Expression required")
            if isinstance(hook, Mapping):
                self.check_reference(hook, f"{path}.{name}")

    # ------------------------------------------------------------ names and arguments

    def check_supplied(self, target: Obj | None, arguments: Obj, path: str) -> None:
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
                self.emit(f"{path}.parameters", f"inputs.parameters.{parameter.get('name')} was not supplied")
        given_artifacts = {str(as_map(a).get("name")) for a in as_list(arguments.get("artifacts"))}
        for artifact in as_list(inputs.get("artifacts")):
            artifact = as_map(artifact)
            if artifact.get("optional") or has_location(artifact):
                continue
            if str(artifact.get("name")) not in given_artifacts:
                self.emit(f"{path}.artifacts", f"inputs.artifacts.{artifact.get('name')} was not supplied")

    # ------------------------------------------------------------ templates

    def check_reference(self, node: Obj, path: str) -> Obj | None:
        """A node's template, templateRef or inline (Argo's ``validateTemplateHolder``); the template."""
        has = [key for key in ("template", "templateRef", "inline") if node.get(key)]
        if len(has) != 1:
            self.emit(path, "needs exactly one of template, templateRef and inline")
            return None
        if "template" in has:
            target = self.templates.get(str(node["template"]))
            if target is None and not self.spec.get("workflowTemplateRef"):
                self.emit(f"{path}.template", f"template name '{node['template']}' undefined")
            return target
        if "templateRef" in has:
            ref = as_map(node["templateRef"])
            if not ref.get("name"):
                self.emit(f"{path}.templateRef.name", "resource name is required")
                return None
            if not ref.get("template"):
                self.emit(f"{path}.templateRef.template", "template name is required")
                return None
            if "{{" in str(ref.get("name")) + str(ref.get("template")):
                return None  # resolved at run time: Argo skips it too
            owner, target = self.catalog.resolve(ref)
            if owner is None:
                scope = "ClusterWorkflowTemplate" if ref.get("clusterScope") else "WorkflowTemplate"
                self.emit(
                    f"{path}.templateRef", f"{scope} {ref.get('name')!r} not found among the files given"
                )
            elif target is None:
                self.emit(
                    f"{path}.templateRef.template",
                    f"template reference {ref.get('name')}.{ref.get('template')} not found",
                )
            else:
                self.check_in_context(owner, target, f"{path}.templateRef")
            return target
        inline = node["inline"]
        if isinstance(inline, Mapping):
            self.check_template(inline, f"{path}.inline")
            return inline
        return None

    def check_in_context(self, owner: Obj, target: Obj, path: str) -> None:
        """Argo validates a ``templateRef``'d template with the caller's globals (``validateTemplateHolder``):
        report what that context adds to what the template's own object reports."""
        key = (id(owner), str(target.get("name")))
        if key in self.checked_references:
            return
        self.checked_references.add(key)
        found: list[tuple[str, str]] = []
        checker = _ObjectChecker(owner, self.catalog, lambda f, m: found.append((f, m)), self.mode)
        checker.globals = self.globals
        checker.template_validation = self.template_validation
        checker.checked_references = self.checked_references
        index = next(
            i for i, t in enumerate(as_list(as_map(owner.get("spec")).get("templates"))) if t is target
        )
        checker.check_template(target, f"spec.templates[{index}]")
        alone = self.catalog.problems_alone(owner, self.mode)
        name = as_map(owner.get("metadata")).get("name")
        for field_path, message in found:
            if (field_path, message) not in alone:
                self.emit(path, f"{name}: {field_path}: {message}")

    def base_scope(self, template: Obj, kind: str) -> Scope:
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

    def check_template(self, template: Obj, path: str) -> None:
        """Argo's ``validateTemplate`` (and ``validateTemplateHolder``'s retry policy check)."""
        kinds = _template_types(template)
        if len(kinds) == 0:
            self.emit(path, "template type unspecified. choose one of: " + ", ".join(TEMPLATE_TYPES))
            return
        if len(kinds) > 1:
            self.emit(path, f"multiple template types specified ({', '.join(kinds)})")
            return
        kind = kinds[0]
        leaf = kind in LEAF_TYPES
        if template.get("podResources") is not None:
            if kind in ("http", "plugin"):
                self.emit(f"{path}.podResources", f"podResources is not supported for {kind} templates")
            check_pod_resources(self.emit, as_map(template.get("podResources")), f"{path}.podResources")
        check_inputs(self.emit, template, path, leaf)
        for index, container in enumerate(as_list(template.get("initContainers"))):
            if not as_map(container).get("name"):
                self.emit(
                    f"{path}.initContainers[{index}].name", "initContainers must all have container name"
                )
        if as_list(template.get("resourceClaims")) and kind not in POD_TYPES:
            self.emit(
                f"{path}.resourceClaims",
                f"resourceClaims is not supported for {ARGO_TYPE_NAMES.get(kind, kind)} templates, "
                "which do not create a pod",
            )
        timeout = template.get("timeout")
        if timeout not in (None, ""):
            if not leaf:
                self.emit(
                    f"{path}.timeout",
                    f"{ARGO_TYPE_NAMES.get(kind, kind)} template doesn't support timeout field",
                )
            elif re.fullmatch(r"[+-]?[0-9]+", str(timeout)):
                self.emit(f"{path}.timeout", "invalid duration format in timeout")
        if template.get("pendingTimeout") not in (None, "") and not leaf:
            self.emit(f"{path}.pendingTimeout", f"{kind} template doesn't support pendingTimeout field")
        retry = as_map(template.get("retryStrategy"))
        if retry.get("retryPolicy") not in (None, "", *_RETRY_POLICIES):
            self.emit(
                f"{path}.retryStrategy.retryPolicy", f"{retry['retryPolicy']} is not a valid RetryPolicy"
            )
        scope = self.base_scope(template, kind)
        if kind == "steps":
            self.check_steps(template, path, scope)
        elif kind == "dag":
            self.check_dag(template, path, scope)
        else:
            self.check_leaf(template, path, kind, scope)
        check_outputs(self.emit, template, path, kind)
        if kind not in LEAF_TYPES:  # a leaf's outputs were resolved with the whole template
            self.check_variables(as_map(template.get("outputs")), f"{path}.outputs", scope)
        archive = as_map(template.get("archiveLocation"))
        check_artifact_location(self.emit, archive, f"{path}.archiveLocation")
        check_metrics(self.emit, template, path)

    def check_variables(self, value: Any, path: str, scope: Scope) -> None:
        for where, message in scope.check(value, path, self.globals, self.template_validation):
            self.emit(where, message)

    def check_leaf(self, template: Obj, path: str, kind: str, scope: Scope) -> None:
        """Argo's ``validateLeaf``."""
        self.check_variables(template, path, scope)
        inputs = as_list(as_map(template.get("inputs")).get("artifacts"))
        if kind == "container":
            container = as_map(template.get("container"))
            mounts: dict[str, str] = {}
            for index, mount in enumerate(as_list(container.get("volumeMounts"))):
                mount_path = str(as_map(mount).get("mountPath"))
                if mount_path in mounts:
                    self.emit(
                        f"{path}.container.volumeMounts[{index}].mountPath",
                        f"'{mount_path}' already mounted in {mounts[mount_path]}",
                    )
                mounts[mount_path] = f"container.volumeMounts.{as_map(mount).get('name')}"
            for index, artifact in enumerate(inputs):
                artifact_path = str(as_map(artifact).get("path"))
                if artifact_path in mounts:
                    self.emit(
                        f"{path}.inputs.artifacts[{index}].path",
                        f"'{artifact_path}' already mounted in {mounts[artifact_path]}",
                    )
                mounts[artifact_path] = f"inputs.artifacts.{as_map(artifact).get('name')}"
            self.check_image(container, path, "container")
        if kind == "script":
            self.check_image(as_map(template.get("script")), path, "script")
        if kind == "containerSet":
            check_container_set(self.emit, template, path)
        for index, sidecar in enumerate(as_list(template.get("sidecars"))):
            name = str(as_map(sidecar).get("name") or "")
            if name in RESERVED_CONTAINERS or name.startswith(ARTIFACT_PLUGIN_PREFIX):
                self.emit(f"{path}.sidecars[{index}].name", f"{name!r} is a reserved Argo container name")
        if kind == "resource":
            check_resource(self.emit, template, path)
        deadline = template.get("activeDeadlineSeconds")
        if deadline is not None:
            text = str(deadline)
            integer = re.fullmatch(r"[+-]?[0-9]+", text)
            variable = text.startswith("{{") and text.endswith("}}")
            if (not integer and not variable) or (integer and int(text) < 0):
                self.emit(
                    f"{path}.activeDeadlineSeconds", "must be a positive integer > 0 or an argo variable"
                )
        if template.get("parallelism") is not None:
            self.emit(f"{path}.parallelism", "parallelism is only valid for steps and dag templates")

    def check_image(self, container: Obj, path: str, kind: str) -> None:
        """An empty image is an error unless the object's ``templateDefaults`` give one (not for a
        ClusterWorkflowTemplate: ``validateLeaf`` only reads Workflow and WorkflowTemplate defaults)."""
        if container.get("image"):
            return
        defaults = as_map(as_map(self.spec.get("templateDefaults")).get(kind))
        if defaults.get("image") and self.kind != "ClusterWorkflowTemplate":
            return
        self.emit(f"{path}.{kind}.image", "may not be empty")

    # ------------------------------------------------------------ outputs

    # ------------------------------------------------------------ steps and DAGs

    def add_outputs(
        self, scope: Scope, prefix: str, name: str, target: Obj | None, aggregate: bool, ancestor: bool
    ) -> None:
        """Argo's ``addOutputsToScope``: what ``steps.X.*``/``tasks.X.*`` may read of a node."""
        node = f"{prefix}.{name}"
        scope.keys |= {f"{node}.id", f"{node}.startedAt", f"{node}.finishedAt", f"{node}.hostNodeName"}
        if ancestor:
            scope.keys.add(f"{node}.status")
        if target is None:
            return
        if target.get("daemon"):
            scope.keys.add(f"{node}.ip")
        if _has_output(target):
            scope.keys |= {f"{node}.outputs.result", f"{node}.exitCode"}
        outputs = as_map(target.get("outputs"))
        for parameter in as_list(outputs.get("parameters")):
            scope.keys.add(f"{node}.outputs.parameters.{as_map(parameter).get('name')}")
            if is_parameter(str(as_map(parameter).get("globalName") or "")):
                scope.any_output_parameter = True
        for artifact in as_list(outputs.get("artifacts")):
            scope.keys.add(f"{node}.outputs.artifacts.{as_map(artifact).get('name')}")
            if is_parameter(str(as_map(artifact).get("globalName") or "")):
                scope.any_output_artifact = True
        if aggregate:
            scope.keys.add(f"{node}.outputs.parameters")
            if _kind(target) in ("script", "containerSet"):
                scope.keys |= {f"{node}.outputs.result", f"{node}.exitCode"}

    def add_items(self, node: Obj, path: str, scope: Scope) -> None:
        """Argo's ``addItemsToScope``: one loop kind, a sequence with count or end, and ``item`` keys."""
        items = as_list(node.get("withItems"))
        loops = [key for key in ("withItems", "withParam", "withSequence") if node.get(key)]
        if node.get("withSequence") is not None and "withSequence" not in loops:
            loops.append("withSequence")
        if len(loops) > 1:
            self.emit(path, "only one of withItems, withParam, withSequence can be specified")
            return
        if items:
            scope.keys |= _item_keys(items)
        elif node.get("withParam"):
            scope.keys.add("item")
            scope.any_item = True
        elif node.get("withSequence") is not None:
            sequence = as_map(node.get("withSequence"))
            if sequence.get("count") is not None and sequence.get("end") is not None:
                self.emit(f"{path}.withSequence", "only one of count or end can be defined in withSequence")
            scope.keys.add("item")

    def check_steps(self, template: Obj, path: str, scope: Scope) -> None:
        """Argo's ``validateSteps``: each step sees the steps before it, in its group too."""
        if template.get("activeDeadlineSeconds") is not None:
            self.emit(
                f"{path}.activeDeadlineSeconds", "activeDeadlineSeconds is only valid for leaf templates"
            )
        seen: set[str] = set()
        for group_index, group in enumerate(as_list(template.get("steps"))):
            for index, step in enumerate(as_list(group)):
                if not isinstance(step, Mapping):
                    continue
                where = f"{path}.steps[{group_index}][{index}]"
                name = str(step.get("name") or "")
                if not name:
                    self.emit(f"{where}.name", "name is required")
                    continue
                if name in seen:
                    self.emit(f"{where}.name", f"'{name}' is not unique")
                seen.add(name)
                sanitized = TAG.sub("x", name)  # Argo's isValidStepName: parameters become placeholders
                if len(sanitized) > 128 or not FIELD_NAME.match(sanitized):
                    self.emit(
                        f"{where}.name",
                        f"'{name}' is invalid: name must consist of alpha-numeric characters or '-', and "
                        "must start with an alpha-numeric character",
                    )
                name = scope.substitute_inputs(name)
                scope.keys.add(f"steps.{name}.status")
                self.add_items(step, where, scope)
                arguments = as_map(step.get("arguments"))
                check_argument_values(self.emit, arguments, f"{where}.arguments", allow_empty=False)
                target = self.check_reference(step, where)
                if as_map(step.get("hooks")).get("exit") is not None or step.get("onExit"):
                    self.add_outputs(scope, "steps", name, target, aggregate=False, ancestor=False)
                self.check_hooks(as_map(step.get("hooks")), f"{where}.hooks")
                if step.get("onExit") and str(step["onExit"]) not in self.templates:
                    self.emit(f"{where}.onExit", f"template name '{step['onExit']}' undefined")
                step_scope = scope.copy()
                inline = as_map(step.get("inline"))
                step_scope.keys |= {
                    f"inputs.parameters.{as_map(p).get('name')}"
                    for p in as_list(as_map(inline.get("inputs")).get("parameters"))
                }
                self.check_variables(step, where, step_scope)
                aggregate = bool(step.get("withItems")) or bool(step.get("withParam"))
                self.add_outputs(scope, "steps", name, target, aggregate, ancestor=False)
                self.check_supplied(target, arguments, f"{where}.arguments")

    def check_dag(self, template: Obj, path: str, scope: Scope) -> None:
        """Argo's ``validateDAG``."""
        if template.get("activeDeadlineSeconds") is not None:
            self.emit(
                f"{path}.activeDeadlineSeconds", "activeDeadlineSeconds is only valid for leaf templates"
            )
        dag = as_map(template.get("dag"))
        tasks = [as_map(task) for task in as_list(dag.get("tasks"))]
        if not tasks:
            self.emit(f"{path}.dag.tasks", "must have at least one task")
            return
        check_field_names(self.emit, tasks, f"{path}.dag.tasks", parameter_like=False)
        by_name = {str(task.get("name")): task for task in tasks}
        using_depends = any(task.get("depends") for task in tasks)
        parents: dict[str, list[str]] = {}
        results: dict[str, set[tuple[str, str]]] = {}
        for index, task in enumerate(tasks):
            name, where = str(task.get("name")), f"{path}.dag.tasks[{index}]"
            if task.get("depends"):
                try:
                    parents[name] = task_names(str(task["depends"]))
                    results[name] = {
                        (token.partition(".")[0], token.partition(".")[2])
                        for token in tokens(str(task["depends"]))
                        if "." in token
                    }
                except DependsError as error:
                    self.emit(f"{where}.depends", f"invalid depends expression: {error}")
                    parents[name] = []
            else:
                parents[name] = [str(dep) for dep in as_list(task.get("dependencies"))]
        targets: dict[str, Obj | None] = {}
        for index, task in enumerate(tasks):
            name, where = str(task.get("name")), f"{path}.dag.tasks[{index}]"
            if (using_depends or as_list(task.get("dependencies"))) and name[:1].isdigit():
                self.emit(
                    f"{where}.name",
                    "name cannot begin with a digit when using either 'depends' or 'dependencies'",
                )
            if using_depends and as_list(task.get("dependencies")):
                self.emit(where, "cannot use both 'depends' and 'dependencies' in the same DAG template")
            if using_depends and task.get("continueOn") is not None:
                self.emit(
                    f"{where}.continueOn",
                    "cannot use 'continueOn' when using 'depends'. "
                    "Instead use 'dep-task.Failed'/'dep-task.Errored'",
                )
            targets[name] = self.check_reference(task, where)
            aggregate = bool(task.get("withItems")) or bool(task.get("withParam"))
            self.add_outputs(scope, "tasks", name, targets[name], aggregate, ancestor=False)
            key = "depends" if task.get("depends") else "dependencies"
            for parent in parents[name]:
                if parent not in by_name:
                    self.emit(f"{where}.{key}", f"dependency '{parent}' not defined")
            for parent, result in results.get(name, set()):
                loops = by_name.get(parent, {})
                if (
                    result in _ITEM_RESULTS
                    and parent in by_name
                    and not (
                        loops.get("withItems")
                        or loops.get("withParam")
                        or loops.get("withSequence") is not None
                    )
                ):
                    self.emit(
                        f"{where}.depends",
                        f"dependency '{parent}' uses an items-based condition such as .AnySucceeded or "
                        ".AllFailed but does not contain any items",
                    )
        cycle = find_cycle({name: [p for p in ps if p in by_name] for name, ps in parents.items()})
        if cycle:
            self.emit(f"{path}.dag", f"dependency cycle detected: {'->'.join(cycle)}")
            return
        target_text = str(dag.get("target") or "")
        self.check_variables(target_text, f"{path}.dag.target", scope)
        for target_name in target_text.split(" ") if target_text else []:
            if not is_parameter(target_name) and target_name not in by_name:
                self.emit(f"{path}.dag.target", f"target '{target_name}' is not defined")
        for index, task in enumerate(tasks):
            name, where = str(task.get("name")), f"{path}.dag.tasks[{index}]"
            if task.get("hooks") is not None:
                scope.keys.add(f"tasks.{name}.status")
            self.add_outputs(scope, "tasks", name, targets[name], aggregate=False, ancestor=False)
            task_scope = scope.copy()
            ancestry = _ancestors(name, parents)
            for ancestor in ancestry:
                loops = by_name.get(ancestor, {})
                aggregate = bool(loops.get("withItems")) or bool(loops.get("withParam"))
                self.add_outputs(
                    task_scope, "tasks", ancestor, targets.get(ancestor), aggregate, ancestor=True
                )
            inline = as_map(task.get("inline"))
            task_scope.keys |= {
                f"inputs.parameters.{as_map(p).get('name')}"
                for p in as_list(as_map(inline.get("inputs")).get("parameters"))
            }
            self.add_items(task, where, task_scope)
            self.check_variables(task, where, task_scope)
            arguments = as_map(task.get("arguments"))
            check_argument_values(self.emit, arguments, f"{where}.arguments", allow_empty=False)
            self.check_argument_dependencies(arguments, ancestry, f"{where}.arguments")
            self.check_supplied(targets[name], arguments, f"{where}.arguments")

    def check_argument_dependencies(self, arguments: Obj, ancestry: set[str], path: str) -> None:
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
                        self.emit(
                            f"{path}.{key}[{index}].{source_field}",
                            f"missing dependency '{task}' for {what} '{as_map(argument).get('name')}'",
                        )


def _ancestors(name: str, parents: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(parents.get(name, []))
    while stack:
        parent = stack.pop()
        if parent not in seen:
            seen.add(parent)
            stack += parents.get(parent, [])
    return seen


def check_object(obj: Obj, catalog: Catalog, emit: Emit, mode: Mode = Mode.LINT) -> None:
    """Run every semantic check on one Workflow, WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow."""
    _ObjectChecker(obj, catalog, emit, mode).run()
