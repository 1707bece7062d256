"""Semantic checks following Argo's own validation (``workflow/validate/validate.go``) rule by rule.

One function of this module per function of Argo's validator: ``Workflow``/``WorkflowTemplate``/
``CronWorkflow`` (:meth:`_ObjectChecker.run`), ``validateTemplate`` and ``validateLeaf``
(:meth:`_ObjectChecker.check_template`, :meth:`_ObjectChecker.check_leaf`), ``validateSteps``,
``validateDAG``, ``validateOutputs``, ``validateArgumentsValues``, ``validateWorkflowFieldNames``,
``addItemsToScope``, ``addOutputsToScope`` and ``resolveAllVariables`` (:mod:`dsl.lint.variables`).
Argo stops at the first error; this reports every one it finds. :class:`Mode` chooses what Argo's
``Opts`` choose: ``argo lint`` (arguments may lack values), creation (a Workflow's arguments need values)
or submission (every argument needs a value). Docs: docs/lint.md lists what is mirrored and what is not.
"""

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from dsl.lint.cron import schedule_problem, timezone_problem
from dsl.lint.depends import DependsError, task_names, tokens
from dsl.lint.variables import TAG, Scope, is_parameter, string_leaves

__all__ = ["Catalog", "Mode", "check_object", "string_leaves"]

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
LEAF_TYPES = POD_TYPES | {"http", "plugin"}
_FIELD_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
_PARAM_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RETRY_POLICIES = {"Always", "OnFailure", "OnError", "OnTransientError"}
_RESOURCE_ACTIONS = ("get", "create", "apply", "delete", "replace", "patch")
_POD_GC_STRATEGIES = {"", "OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion", "OnWorkflowSuccess"}
_SELECTOR_OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}
_RESERVED_CONTAINERS = ("wait", "supervisor")
_ARTIFACT_PLUGIN_PREFIX = "artifact-plugin-"
_ITEM_RESULTS = {"AnySucceeded", "AllFailed"}
_ARTIFACT_SOURCES = (
    "s3",
    "git",
    "http",
    "raw",
    "gcs",
    "oss",
    "azure",
    "hdfs",
    "artifactory",
    "huggingFace",
    "plugin",
)
_EXPRESSION_TAG = re.compile(r"\{\{\s*=\s*(.+?)\s*\}\}", re.DOTALL)


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
        for template in _list(_map(owner.get("spec")).get("templates")):
            if isinstance(template, Mapping) and template.get("name") == ref.get("template"):
                return owner, template
        return owner, None


def _map(value: Any) -> Obj:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _template_types(template: Obj) -> list[str]:
    return [kind for kind in TEMPLATE_TYPES if template.get(kind) is not None]


def _kind(template: Obj | None) -> str:
    kinds = _template_types(template) if template is not None else []
    return kinds[0] if len(kinds) == 1 else ""


def _has_location(artifact: Obj) -> bool:
    """Argo's ``HasLocationOrKey``: some artifact source is set."""
    return any(artifact.get(source) for source in _ARTIFACT_SOURCES)


def _has_output(template: Obj) -> bool:
    """Argo's ``Template.HasOutput``: the node captures a result."""
    containers = _list(_map(template.get("containerSet")).get("containers"))
    return any(
        template.get(kind) is not None for kind in ("container", "script", "data", "http", "plugin")
    ) or any(_map(c).get("name") == "main" for c in containers)


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


def _clean_path_problem(artifact: Obj) -> str | None:
    """Argo's ``Artifact.CleanPath``: a path, and no ``..`` escaping its directory."""
    path = str(artifact.get("path") or "")
    if not path:
        return f"Artifact '{artifact.get('name')}' did not specify a path"
    safe = ""
    if "/../" in path:
        safe = path.split("/../", 1)[0]
    elif path.endswith("/.."):
        safe = path[:-3]
    if safe:
        parts: list[str] = []
        for part in path.split("/"):
            if part == "..":
                if parts:
                    parts.pop()
            elif part not in ("", "."):
                parts.append(part)
        cleaned = "/" + "/".join(parts) if path.startswith("/") else "/".join(parts)
        prefix = safe + "/"
        if not cleaned.startswith(prefix) or len(cleaned) <= len(prefix):
            return (
                f"Artifact '{artifact.get('name')}' attempted to use a path containing '..'. "
                "Directory traversal is not permitted"
            )
    return None


class _ObjectChecker:
    """Checks one Argo object; problems are emitted as (field path, message)."""

    def __init__(self, obj: Obj, catalog: Catalog, emit: Emit, mode: Mode) -> None:
        self.obj = obj
        self.kind = str(obj.get("kind"))
        self.catalog = catalog
        self.emit = emit
        self.mode = mode
        spec = _map(obj.get("spec"))
        self.prefix = "spec"
        if self.kind == "CronWorkflow":
            spec = _map(spec.get("workflowSpec"))
            self.prefix = "spec.workflowSpec"
            self.mode = Mode.CREATE  # Argo's CronWorkflow validates its workflow with Opts{}
        self.spec: Obj = spec
        self.template_validation = self.kind in ("WorkflowTemplate", "ClusterWorkflowTemplate")
        self.templates: dict[str, Obj] = {}
        for template in _list(spec.get("templates")):
            if isinstance(template, Mapping) and "name" in template:
                self.templates.setdefault(str(template["name"]), template)
        ref = _map(spec.get("workflowTemplateRef"))
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
        name = _map(self.obj.get("metadata")).get("name")
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
        spec = _map(self.obj.get("spec"))
        schedules = _list(spec.get("schedules"))
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
        own = _map(self.spec.get("arguments"))
        if self.referenced is None:
            return own
        theirs = _map(_map(self.referenced.get("spec")).get("arguments"))
        merged: dict[str, Any] = {}
        for key in ("parameters", "artifacts"):
            names = {_map(p).get("name") for p in _list(own.get(key))}
            merged[key] = _list(own.get(key)) + [
                p for p in _list(theirs.get(key)) if _map(p).get("name") not in names
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
        parameters = _list(arguments.get("parameters"))
        if parameters:
            keys |= {"workflow.parameters", "workflow.parameters.json"}
        keys |= {f"workflow.parameters.{_map(p).get('name')}" for p in parameters if _map(p).get("name")}
        meta = _map(self.obj.get("metadata"))
        sources = [meta, _map(self.spec.get("workflowMetadata"))]
        if self.kind == "CronWorkflow":
            sources.append(_map(_map(self.obj.get("spec")).get("workflowMetadata")))
        if self.referenced is not None:
            sources.append(_map(_map(self.referenced.get("spec")).get("workflowMetadata")))
        for source in sources:
            keys |= {f"workflow.annotations.{key}" for key in _map(source.get("annotations"))}
            keys |= {f"workflow.labels.{key}" for key in _map(source.get("labels"))}
            keys |= {f"workflow.labels.{key}" for key in _map(source.get("labelsFrom"))}
        if self.spec.get("priority") is not None:
            keys.add("workflow.priority")
        if self.spec.get("onExit") or (
            self.referenced is not None and _map(self.referenced.get("spec")).get("onExit")
        ):
            keys.add("workflow.failures")
        templates = list(self.templates.values())
        if self.referenced is not None:
            templates += [t for t in _list(_map(self.referenced.get("spec")).get("templates")) if _map(t)]
        for template in templates:
            outputs = _map(_map(template).get("outputs"))
            for key, kind in (("parameters", "parameters"), ("artifacts", "artifacts")):
                for output in _list(outputs.get(key)):
                    global_name = str(_map(output).get("globalName") or "")
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
        ref = _map(spec.get("workflowTemplateRef"))
        if ref:
            if _list(spec.get("templates")):
                self.emit(
                    f"{prefix}.templates",
                    "Templates is invalid field in spec if workflow referred WorkflowTemplate reference",
                )
            if self.referenced is None:
                self.emit(
                    f"{prefix}.workflowTemplateRef",
                    f"template {ref.get('name')!r} not found among the files given",
                )
        self.check_field_names(_list(spec.get("templates")), f"{prefix}.templates", parameter_like=False)
        self.check_executor_plugins()
        arguments = self.arguments()
        allow_empty = self.mode == Mode.LINT or (self.template_validation and self.mode != Mode.SUBMIT)
        self.check_argument_values(_map(spec.get("arguments")), f"{prefix}.arguments", allow_empty)
        self.build_globals(arguments)
        self.check_pod_gc(_map(spec.get("podGC")), f"{prefix}.podGC")
        self.check_pod_resources(_map(spec.get("podResources")), f"{prefix}.podResources")
        entrypoint = spec.get("entrypoint")
        if not entrypoint and self.referenced is not None:
            entrypoint = _map(self.referenced.get("spec")).get("entrypoint")
        if not entrypoint and not self.template_validation:
            self.emit(f"{prefix}.entrypoint", "spec.entrypoint is required")
        if self.referenced is not None:
            self.check_referenced_templates(arguments)
        self.check_templates(arguments)

    def check_referenced_templates(self, arguments: Obj) -> None:
        """Argo validates a referenced WorkflowTemplate's templates with this Workflow's arguments and
        metadata (``Workflow``, "templates of the referred WorkflowTemplate will be validated"). Only the
        problems this context adds are reported: the template's own are reported on the template."""
        owner = _map(self.referenced)
        theirs = _map(owner.get("spec"))
        ours = {key: value for key, value in self.spec.items() if key != "workflowTemplateRef"}
        metadata: dict[str, dict[str, Any]] = {}
        for key in ("labels", "annotations", "labelsFrom"):
            metadata[key] = {
                **_map(_map(theirs.get("workflowMetadata")).get(key)),
                **_map(_map(ours.get("workflowMetadata")).get(key)),
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
        name = _map(owner.get("metadata")).get("name")
        for field_path, message in in_context:
            if (field_path, message) not in alone:
                self.emit(f"{self.prefix}.workflowTemplateRef", f"{name}: {field_path}: {message}")

    def check_templates(self, arguments: Obj) -> None:
        """Entrypoint, exit handler and every template (for a Workflow, not through a reference)."""
        spec, prefix = self.spec, self.prefix
        ref = _map(spec.get("workflowTemplateRef"))
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
                self.check_supplied(target, _map(spec.get("arguments")), f"{prefix}.arguments")
        self.check_hooks(_map(spec.get("hooks")), f"{prefix}.hooks")
        for index, template in enumerate(_list(spec.get("templates"))):
            if isinstance(template, Mapping):
                self.check_template(template, f"{prefix}.templates[{index}]")

    def check_executor_plugins(self) -> None:
        for index, plugin in enumerate(_list(self.spec.get("executorPlugins"))):
            where = f"{self.prefix}.executorPlugins[{index}]"
            plugin = _map(plugin)
            container = _map(_map(_map(plugin.get("spec")).get("sidecar")).get("container"))
            resources = _map(container.get("resources"))
            if not _map(plugin.get("metadata")).get("name"):
                self.emit(f"{where}.metadata.name", "executor plugin metadata name is mandatory")
            elif not _list(container.get("ports")):
                self.emit(f"{where}.spec.sidecar.container.ports", "at least one port is mandatory")
            elif resources.get("requests") is None:
                self.emit(f"{where}.spec.sidecar.container.resources", "resources requests are mandatory")
            elif resources.get("limits") is None:
                self.emit(f"{where}.spec.sidecar.container.resources", "resources limits are mandatory")
            elif container.get("securityContext") is None:
                self.emit(f"{where}.spec.sidecar.container", "security context is mandatory")

    def check_pod_gc(self, pod_gc: Obj, path: str) -> None:
        strategy = pod_gc.get("strategy") or ""
        if strategy not in _POD_GC_STRATEGIES:
            self.emit(f"{path}.strategy", f"podGC.strategy unknown strategy '{strategy}'")
        selector = _map(pod_gc.get("labelSelector"))
        for index, requirement in enumerate(_list(selector.get("matchExpressions"))):
            requirement = _map(requirement)
            operator, values = requirement.get("operator"), _list(requirement.get("values"))
            where = f"{path}.labelSelector.matchExpressions[{index}]"
            if operator not in _SELECTOR_OPERATORS:
                self.emit(f"{where}.operator", f'"{operator}" is not a valid label selector operator')
            elif operator in ("In", "NotIn") and not values:
                self.emit(f"{where}.values", "for 'in', 'notin' operators, values set can't be empty")
            elif operator in ("Exists", "DoesNotExist") and values:
                self.emit(f"{where}.values", "values set must be empty for exists and does not exist")

    def check_pod_resources(self, resources: Obj, path: str) -> None:
        """Argo's ``validatePodResources``: cpu, memory and hugepages-* only, no claims."""
        if _list(resources.get("claims")):
            self.emit(f"{path}.claims", "claims is not supported for pod-level resources")
        for key in ("limits", "requests"):
            for name in _map(resources.get(key)):
                if name not in ("cpu", "memory") and not str(name).startswith("hugepages-"):
                    self.emit(
                        f"{path}.{key}.{name}",
                        f'"{name}" is not a valid pod-level resource, only cpu, memory and hugepages-* '
                        "are supported",
                    )

    def check_hooks(self, hooks: Obj, path: str) -> None:
        """Argo's ``validateHooks``: every hook but ``exit`` needs an expression."""
        for name, hook in hooks.items():
            if name != "exit" and not _map(hook).get("expression"):
                self.emit(f"{path}.{name}", "Expression required")
            if isinstance(hook, Mapping):
                self.check_reference(hook, f"{path}.{name}")

    # ------------------------------------------------------------ names and arguments

    def check_field_names(self, items: Iterable[Any], path: str, *, parameter_like: bool) -> None:
        """Argo's ``validateWorkflowFieldNames``: every name present, well formed and unique."""
        seen: set[str] = set()
        for index, item in enumerate(items):
            name = _map(item).get("name")
            where = f"{path}[{index}].name"
            if name is None or name == "":
                self.emit(where, "name is required")
                continue
            name = str(name)
            if parameter_like and not _PARAM_NAME.match(name):
                self.emit(
                    where,
                    f"'{name}' is invalid: Parameter/Artifact name must consist of alpha-numeric characters, "
                    "'_' or '-'",
                )
            elif not parameter_like and (len(name) > 128 or not _FIELD_NAME.match(name)):
                self.emit(
                    where,
                    f"'{name}' is invalid: name must consist of alpha-numeric characters or '-', and must "
                    "start with an alpha-numeric character (at most 128)",
                )
            if name in seen:
                self.emit(where, f"'{name}' is not unique")
            seen.add(name)

    def check_argument_values(self, arguments: Obj, path: str, allow_empty: bool) -> None:
        """Argo's ``validateArguments``: names, values (unless allowed empty), valueFrom, enums, artifacts."""
        parameters = _list(arguments.get("parameters"))
        artifacts = _list(arguments.get("artifacts"))
        self.check_field_names(parameters, f"{path}.parameters", parameter_like=True)
        self.check_field_names(artifacts, f"{path}.artifacts", parameter_like=True)
        for index, parameter in enumerate(parameters):
            parameter = _map(parameter)
            where = f"{path}.parameters[{index}]"
            value_from = parameter.get("valueFrom")
            if value_from is None and parameter.get("value") is None and not allow_empty:
                self.emit(where, "value or valueFrom is required")
            if isinstance(value_from, Mapping):
                allowed = any(value_from.get(k) is not None for k in ("configMapKeyRef", "event", "supplied"))
                forbidden = any(value_from.get(k) for k in ("path", "jsonPath", "parameter", "expression"))
                if not allowed or forbidden:
                    self.emit(
                        f"{where}.valueFrom", "valueFrom only allows: default, configMapKeyRef and supplied"
                    )
            enum_values = parameter.get("enum")
            if enum_values is not None:
                if not enum_values:
                    self.emit(f"{where}.enum", "enum should contain at least one value")
                    continue
                if parameter.get("value") is None:
                    if allow_empty:
                        return  # Argo returns here: later arguments are not checked
                    self.emit(f"{where}.value", "value is required")
                elif str(parameter["value"]) not in [str(e) for e in enum_values]:
                    self.emit(f"{where}.value", "value should be present in the enum list")
        for index, artifact in enumerate(artifacts):
            artifact = _map(artifact)
            where = f"{path}.artifacts[{index}]"
            if not artifact.get("from") and not _has_location(artifact):
                self.emit(where, "from, artifact location, or key is required")
            if artifact.get("from") and artifact.get("fromExpression"):
                self.emit(where, "shouldn't have both `from` and `fromExpression` in Artifact")

    def check_supplied(self, target: Obj | None, arguments: Obj, path: str) -> None:
        """Argo's ``ProcessArgs``: inputs without a default, value or source are given by the caller."""
        if target is None:
            return
        inputs = _map(target.get("inputs"))
        given = {str(_map(p).get("name")) for p in _list(arguments.get("parameters"))}
        for parameter in _list(inputs.get("parameters")):
            parameter = _map(parameter)
            if any(parameter.get(key) is not None for key in ("value", "default", "valueFrom")):
                continue
            if str(parameter.get("name")) not in given:
                self.emit(f"{path}.parameters", f"inputs.parameters.{parameter.get('name')} was not supplied")
        given_artifacts = {str(_map(a).get("name")) for a in _list(arguments.get("artifacts"))}
        for artifact in _list(inputs.get("artifacts")):
            artifact = _map(artifact)
            if artifact.get("optional") or _has_location(artifact):
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
            ref = _map(node["templateRef"])
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
        index = next(i for i, t in enumerate(_list(_map(owner.get("spec")).get("templates"))) if t is target)
        checker.check_template(target, f"spec.templates[{index}]")
        alone = self.catalog.problems_alone(owner, self.mode)
        name = _map(owner.get("metadata")).get("name")
        for field_path, message in found:
            if (field_path, message) not in alone:
                self.emit(path, f"{name}: {field_path}: {message}")

    def base_scope(self, template: Obj, kind: str) -> Scope:
        """Argo's ``validateInputs`` scope plus ``pod.name``: what a template's own fields may use."""
        inputs = _map(template.get("inputs"))
        keys: set[str] = set()
        parameters = _list(inputs.get("parameters"))
        keys |= {f"inputs.parameters.{_map(p).get('name')}" for p in parameters}
        if parameters:
            keys.add("inputs.parameters")
        for artifact in _list(inputs.get("artifacts")):
            keys.add(f"inputs.artifacts.{_map(artifact).get('name')}")
            if kind in LEAF_TYPES:
                keys.add(f"inputs.artifacts.{_map(artifact).get('name')}.path")
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
            self.check_pod_resources(_map(template.get("podResources")), f"{path}.podResources")
        self.check_inputs(template, path, leaf)
        for index, container in enumerate(_list(template.get("initContainers"))):
            if not _map(container).get("name"):
                self.emit(
                    f"{path}.initContainers[{index}].name", "initContainers must all have container name"
                )
        if _list(template.get("resourceClaims")) and kind not in POD_TYPES:
            self.emit(
                f"{path}.resourceClaims",
                f"resourceClaims is not supported for {kind} templates, which do not create a pod",
            )
        timeout = template.get("timeout")
        if timeout not in (None, ""):
            if not leaf:
                self.emit(f"{path}.timeout", f"{kind} template doesn't support timeout field")
            elif re.fullmatch(r"[+-]?[0-9]+", str(timeout)):
                self.emit(f"{path}.timeout", "invalid duration format in timeout")
        if template.get("pendingTimeout") not in (None, "") and not leaf:
            self.emit(f"{path}.pendingTimeout", f"{kind} template doesn't support pendingTimeout field")
        retry = _map(template.get("retryStrategy"))
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
        self.check_outputs(template, path, kind, scope)
        archive = _map(template.get("archiveLocation"))
        if archive.get("git") is not None and not _map(archive.get("git")).get("repo"):
            self.emit(f"{path}.archiveLocation.git.repo", "git.repo is required")
        self.check_metrics(template, path)

    def check_inputs(self, template: Obj, path: str, leaf: bool) -> None:
        """Argo's ``validateInputs``: names, artifact paths (leaf only), no ``from``, git repository."""
        inputs = _map(template.get("inputs"))
        self.check_field_names(
            _list(inputs.get("parameters")), f"{path}.inputs.parameters", parameter_like=True
        )
        artifacts = _list(inputs.get("artifacts"))
        self.check_field_names(artifacts, f"{path}.inputs.artifacts", parameter_like=True)
        for index, artifact in enumerate(artifacts):
            artifact = _map(artifact)
            where = f"{path}.inputs.artifacts[{index}]"
            if leaf:
                problem = _clean_path_problem(artifact)
                if problem:
                    self.emit(f"{where}.path", problem)
            elif artifact.get("path"):
                self.emit(f"{where}.path", "path only valid in container/script templates")
            if artifact.get("from"):
                self.emit(f"{where}.from", "from not valid in inputs")
            if artifact.get("git") is not None and not _map(artifact.get("git")).get("repo"):
                self.emit(f"{where}.git.repo", "git.repo is required")

    def check_metrics(self, template: Obj, path: str) -> None:
        """Argo's metric rules: names, label keys, help, and a value for each metric kind."""
        for index, metric in enumerate(_list(_map(template.get("metrics")).get("prometheus"))):
            metric = _map(metric)
            where = f"{path}.metrics.prometheus[{index}]"
            name = str(metric.get("name") or "")
            if not _METRIC_NAME.match(name):
                self.emit(
                    f"{where}.name",
                    f"metric name '{name}' is invalid. "
                    "Metric names must contain alphanumeric characters or '_'",
                )
            for label_index, label in enumerate(_list(metric.get("labels"))):
                key = str(_map(label).get("key") or "")
                if not _METRIC_NAME.match(key):
                    self.emit(
                        f"{where}.labels[{label_index}].key",
                        f"metric label '{key}' is invalid: "
                        "keys may only contain alphanumeric characters or '_'",
                    )
            if not metric.get("help"):
                self.emit(f"{where}.help", f"metric '{name}' must contain a help string under 'help: ' field")
            gauge = metric.get("gauge")
            if isinstance(gauge, Mapping):
                if not gauge.get("value"):
                    self.emit(f"{where}.gauge.value", "missing gauge.value")
                elif gauge.get("realtime") and "resourcesDuration." in str(gauge.get("value")):
                    self.emit(
                        f"{where}.gauge.value", "'resourcesDuration.*' metrics cannot be used in real-time"
                    )
            for kind in ("counter", "histogram"):
                value = metric.get(kind)
                if isinstance(value, Mapping) and not value.get("value"):
                    self.emit(f"{where}.{kind}.value", f"missing {kind}.value")

    def check_variables(self, value: Any, path: str, scope: Scope) -> None:
        for where, message in scope.check(value, path, self.globals, self.template_validation):
            self.emit(where, message)

    def check_leaf(self, template: Obj, path: str, kind: str, scope: Scope) -> None:
        """Argo's ``validateLeaf``."""
        self.check_variables(template, path, scope)
        inputs = _list(_map(template.get("inputs")).get("artifacts"))
        if kind == "container":
            container = _map(template.get("container"))
            mounts: dict[str, str] = {}
            for index, mount in enumerate(_list(container.get("volumeMounts"))):
                mount_path = str(_map(mount).get("mountPath"))
                if mount_path in mounts:
                    self.emit(
                        f"{path}.container.volumeMounts[{index}].mountPath",
                        f"'{mount_path}' already mounted in {mounts[mount_path]}",
                    )
                mounts[mount_path] = f"container.volumeMounts.{_map(mount).get('name')}"
            for index, artifact in enumerate(inputs):
                artifact_path = str(_map(artifact).get("path"))
                if artifact_path in mounts:
                    self.emit(
                        f"{path}.inputs.artifacts[{index}].path",
                        f"'{artifact_path}' already mounted in {mounts[artifact_path]}",
                    )
                mounts[artifact_path] = f"inputs.artifacts.{_map(artifact).get('name')}"
            self.check_image(container, path, "container")
        if kind == "script":
            self.check_image(_map(template.get("script")), path, "script")
        if kind == "containerSet":
            self.check_container_set(template, path)
        for index, sidecar in enumerate(_list(template.get("sidecars"))):
            name = str(_map(sidecar).get("name") or "")
            if name in _RESERVED_CONTAINERS or name.startswith(_ARTIFACT_PLUGIN_PREFIX):
                self.emit(f"{path}.sidecars[{index}].name", f"{name!r} is a reserved Argo container name")
        if kind == "resource":
            self.check_resource(template, path)
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
        defaults = _map(_map(self.spec.get("templateDefaults")).get(kind))
        if defaults.get("image") and self.kind != "ClusterWorkflowTemplate":
            return
        self.emit(f"{path}.{kind}.image", "may not be empty")

    def check_container_set(self, template: Obj, path: str) -> None:
        """Argo's ``ContainerSetTemplate.Validate`` and the containerSet rules of ``validateLeaf``."""
        container_set = _map(template.get("containerSet"))
        containers = [_map(c) for c in _list(container_set.get("containers"))]
        where = f"{path}.containerSet"
        if not containers:
            self.emit(f"{where}.containers", "containers must have at least one container")
            return
        self.check_field_names(containers, f"{where}.containers", parameter_like=False)
        mounts: dict[str, str] = {}
        for index, mount in enumerate(_list(container_set.get("volumeMounts"))):
            mount_path = str(_map(mount).get("mountPath"))
            if mount_path in mounts:
                self.emit(
                    f"{where}.volumeMounts[{index}].mountPath",
                    f"'{mount_path}' already mounted in {mounts[mount_path]}",
                )
            mounts[mount_path] = f"volumeMounts.{_map(mount).get('name')}"
        names = {str(c.get("name")) for c in containers}
        graph: dict[str, list[str]] = {}
        for index, container in enumerate(containers):
            dependencies = [str(d) for d in _list(container.get("dependencies"))]
            graph[str(container.get("name"))] = [d for d in dependencies if d in names]
            for dependency in dependencies:
                if dependency not in names:
                    self.emit(
                        f"{where}.containers[{index}].dependencies",
                        f"containers.{container.get('name')} dependency '{dependency}' not defined",
                    )
        cycle = _find_cycle(graph)
        if cycle:
            self.emit(f"{where}.containers", f"dependency cycle detected: {'->'.join(cycle)}")
        outputs = _map(template.get("outputs"))
        uses_io = (
            _list(_map(template.get("inputs")).get("artifacts"))
            or _list(outputs.get("parameters"))
            or _list(outputs.get("artifacts"))
        )
        if uses_io and "main" not in names:
            self.emit(f"{where}.containers", 'must have a container named "main" for input or output')
        for index, container in enumerate(containers):
            name = str(container.get("name") or "")
            if name in _RESERVED_CONTAINERS or name.startswith(_ARTIFACT_PLUGIN_PREFIX):
                self.emit(f"{where}.containers[{index}].name", f"{name!r} is a reserved Argo container name")

    def check_resource(self, template: Obj, path: str) -> None:
        resource = _map(template.get("resource"))
        action = str(resource.get("action") or "")
        if "{{" not in action and action not in _RESOURCE_ACTIONS:
            self.emit(f"{path}.resource.action", f"must be one of: {', '.join(_RESOURCE_ACTIONS)}")
        if action in ("delete", "get"):
            return
        manifest = resource.get("manifest")
        manifest_from = resource.get("manifestFrom")
        if not manifest and manifest_from is None:
            self.emit(f"{path}.resource", "either manifest or manifestFrom must be specified")
        if manifest and manifest_from is not None:
            self.emit(f"{path}.resource", "shouldn't have both `manifest` and `manifestFrom` specified")
        artifact = _map(_map(manifest_from).get("artifact"))
        if artifact:
            inputs = {_map(a).get("name") for a in _list(_map(template.get("inputs")).get("artifacts"))}
            if artifact.get("name") not in inputs:
                self.emit(
                    f"{path}.resource.manifestFrom.artifact",
                    f"artifact {artifact.get('name')} in `manifestFrom` refer to a non-exist artifact",
                )
        if isinstance(manifest, str) and manifest and not re.fullmatch(r"\s*\{\{[^{}]*\}\}\s*", manifest):
            # Argo substitutes parameters and expressions with placeholders before parsing the manifest.
            text = _EXPRESSION_TAG.sub("placeholder", manifest)
            text = TAG.sub("placeholder", text)
            try:
                list(yaml.safe_load_all(text))
            except yaml.YAMLError:
                self.emit(f"{path}.resource.manifest", "must be a valid yaml")

    # ------------------------------------------------------------ outputs

    def check_outputs(self, template: Obj, path: str, kind: str, scope: Scope) -> None:
        """Argo's ``validateOutputs`` and ``validateOutputParameter``."""
        outputs = _map(template.get("outputs"))
        parameters = _list(outputs.get("parameters"))
        artifacts = _list(outputs.get("artifacts"))
        self.check_field_names(parameters, f"{path}.outputs.parameters", parameter_like=True)
        self.check_field_names(artifacts, f"{path}.outputs.artifacts", parameter_like=True)
        leaf = kind in LEAF_TYPES
        if not leaf:
            self.check_variables(outputs, f"{path}.outputs", scope)
        for index, artifact in enumerate(artifacts):
            artifact = _map(artifact)
            where = f"{path}.outputs.artifacts[{index}]"
            if leaf:
                problem = _clean_path_problem(artifact)
                if problem:
                    self.emit(f"{where}.path", problem)
            elif artifact.get("path"):
                self.emit(f"{where}.path", "path only valid in container/script templates")
            global_name = str(artifact.get("globalName") or "")
            if global_name and not is_parameter(global_name) and not _PARAM_NAME.match(global_name):
                self.emit(
                    f"{where}.globalName",
                    "Parameter/Artifact name must consist of alpha-numeric characters, '_' or '-'",
                )
        for index, parameter in enumerate(parameters):
            parameter = _map(parameter)
            where = f"{path}.outputs.parameters[{index}]"
            self.check_output_parameter(parameter, where, kind)
            global_name = str(parameter.get("globalName") or "")
            if global_name and not is_parameter(global_name) and not _PARAM_NAME.match(global_name):
                self.emit(
                    f"{where}.globalName",
                    "Parameter/Artifact name must consist of alpha-numeric characters, '_' or '-'",
                )

    def check_output_parameter(self, parameter: Obj, where: str, kind: str) -> None:
        value_from = parameter.get("valueFrom")
        if value_from is not None and parameter.get("value") is not None:
            self.emit(where, "has both valueFrom and value specified, choose one")
            return
        if parameter.get("value") is not None:
            return
        if value_from is None:
            self.emit(where, "does not have valueFrom or value specified")
            return
        value_from = _map(value_from)
        sources = [
            k for k in ("path", "jqFilter", "jsonPath", "parameter", "expression") if value_from.get(k)
        ]
        if value_from.get("supplied") is not None:
            sources.append("supplied")
        if not sources:
            self.emit(
                f"{where}.valueFrom",
                "valueFrom type unspecified. choose one of: path, jqFilter, "
                "jsonPath, parameter, raw, expression",
            )
        elif len(sources) > 1:
            self.emit(f"{where}.valueFrom", f"multiple valueFrom types specified ({', '.join(sources)})")
        if kind in ("container", "containerSet", "script") and not value_from.get("path"):
            self.emit(f"{where}.valueFrom", f"path must be specified for {kind} templates")
        if kind == "resource" and not (value_from.get("jqFilter") or value_from.get("jsonPath")):
            self.emit(f"{where}.valueFrom", "jqFilter or jsonPath must be specified for resource templates")
        if kind in ("dag", "steps") and not (value_from.get("parameter") or value_from.get("expression")):
            self.emit(f"{where}.valueFrom", f"parameter or expression must be specified for {kind} templates")

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
        outputs = _map(target.get("outputs"))
        for parameter in _list(outputs.get("parameters")):
            scope.keys.add(f"{node}.outputs.parameters.{_map(parameter).get('name')}")
            if is_parameter(str(_map(parameter).get("globalName") or "")):
                scope.any_output_parameter = True
        for artifact in _list(outputs.get("artifacts")):
            scope.keys.add(f"{node}.outputs.artifacts.{_map(artifact).get('name')}")
            if is_parameter(str(_map(artifact).get("globalName") or "")):
                scope.any_output_artifact = True
        if aggregate:
            scope.keys.add(f"{node}.outputs.parameters")
            if _kind(target) in ("script", "containerSet"):
                scope.keys |= {f"{node}.outputs.result", f"{node}.exitCode"}

    def add_items(self, node: Obj, path: str, scope: Scope) -> None:
        """Argo's ``addItemsToScope``: one loop kind, a sequence with count or end, and ``item`` keys."""
        items = _list(node.get("withItems"))
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
            sequence = _map(node.get("withSequence"))
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
        for group_index, group in enumerate(_list(template.get("steps"))):
            for index, step in enumerate(_list(group)):
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
                if len(sanitized) > 128 or not _FIELD_NAME.match(sanitized):
                    self.emit(
                        f"{where}.name",
                        f"'{name}' is invalid: name must consist of alpha-numeric characters or '-', and "
                        "must start with an alpha-numeric character",
                    )
                name = scope.substitute_inputs(name)
                scope.keys.add(f"steps.{name}.status")
                self.add_items(step, where, scope)
                arguments = _map(step.get("arguments"))
                self.check_argument_values(arguments, f"{where}.arguments", allow_empty=False)
                target = self.check_reference(step, where)
                if _map(step.get("hooks")).get("exit") is not None or step.get("onExit"):
                    self.add_outputs(scope, "steps", name, target, aggregate=False, ancestor=False)
                self.check_hooks(_map(step.get("hooks")), f"{where}.hooks")
                if step.get("onExit") and str(step["onExit"]) not in self.templates:
                    self.emit(f"{where}.onExit", f"template name '{step['onExit']}' undefined")
                step_scope = scope.copy()
                inline = _map(step.get("inline"))
                step_scope.keys |= {
                    f"inputs.parameters.{_map(p).get('name')}"
                    for p in _list(_map(inline.get("inputs")).get("parameters"))
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
        dag = _map(template.get("dag"))
        tasks = [_map(task) for task in _list(dag.get("tasks"))]
        if not tasks:
            self.emit(f"{path}.dag.tasks", "must have at least one task")
            return
        self.check_field_names(tasks, f"{path}.dag.tasks", parameter_like=False)
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
                parents[name] = [str(dep) for dep in _list(task.get("dependencies"))]
        targets: dict[str, Obj | None] = {}
        for index, task in enumerate(tasks):
            name, where = str(task.get("name")), f"{path}.dag.tasks[{index}]"
            if (using_depends or _list(task.get("dependencies"))) and name[:1].isdigit():
                self.emit(
                    f"{where}.name",
                    "name cannot begin with a digit when using either 'depends' or 'dependencies'",
                )
            if using_depends and _list(task.get("dependencies")):
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
        cycle = _find_cycle({name: [p for p in ps if p in by_name] for name, ps in parents.items()})
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
            inline = _map(task.get("inline"))
            task_scope.keys |= {
                f"inputs.parameters.{_map(p).get('name')}"
                for p in _list(_map(inline.get("inputs")).get("parameters"))
            }
            self.add_items(task, where, task_scope)
            self.check_variables(task, where, task_scope)
            arguments = _map(task.get("arguments"))
            self.check_argument_values(arguments, f"{where}.arguments", allow_empty=False)
            self.check_argument_dependencies(arguments, ancestry, f"{where}.arguments")
            self.check_supplied(targets[name], arguments, f"{where}.arguments")

    def check_argument_dependencies(self, arguments: Obj, ancestry: set[str], path: str) -> None:
        """Argo's ``validateDAGTaskArgumentDependency``: ``{{tasks.X...`` arguments need X as an ancestor."""
        for index, parameter in enumerate(_list(arguments.get("parameters"))):
            value = _map(parameter).get("value")
            if isinstance(value, str) and value.startswith("{{tasks."):
                task = value.split(".")[1]
                if task not in ancestry:
                    self.emit(
                        f"{path}.parameters[{index}].value",
                        f"missing dependency '{task}' for parameter '{_map(parameter).get('name')}'",
                    )
        for index, artifact in enumerate(_list(arguments.get("artifacts"))):
            source = _map(artifact).get("from")
            if isinstance(source, str) and source.startswith("{{tasks."):
                task = source.split(".")[1]
                if task not in ancestry:
                    self.emit(
                        f"{path}.artifacts[{index}].from",
                        f"missing dependency '{task}' for artifact '{_map(artifact).get('name')}'",
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


def _find_cycle(parents: Mapping[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for parent in parents.get(node, []):
            if parent not in parents:
                continue
            if state.get(parent) == 1:
                return [*path[path.index(parent) :], parent]
            if state.get(parent) is None and (found := visit(parent)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(parents):
        if state.get(node) is None and (found := visit(node)):
            return found
    return None


def check_object(obj: Obj, catalog: Catalog, emit: Emit, mode: Mode = Mode.LINT) -> None:
    """Run every semantic check on one Workflow, WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow."""
    _ObjectChecker(obj, catalog, emit, mode).run()
