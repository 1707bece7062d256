"""Semantic checks mirroring Argo's own validation (``workflow/validate/validate.go``) in lint mode.

Names and their limits; one template type per template; entrypoint, onExit, hook and template references
that resolve (``templateRef`` among the files given); arguments for inputs without defaults; enums;
``{{...}}`` references resolved in their scope; DAG rules (dependencies exist, no cycles, no mixing
``depends``/``dependencies``, no ``continueOn`` with ``depends``, valid ``depends``); output rules and
leaf-only fields. Workflow arguments may lack values, as with ``argo lint``.
"""

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dsl.lint.depends import DependsError, task_names

__all__ = ["Catalog", "check_object", "string_leaves"]

Emit = Callable[[str, str], None]
Obj = Mapping[str, Any]

TEMPLATE_TYPES = (
    "container",
    "script",
    "resource",
    "suspend",
    "steps",
    "dag",
    "data",
    "http",
    "containerSet",
    "plugin",
)
POD_TYPES = {"container", "script", "resource", "data", "containerSet"}
_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
_PARAM_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_RETRY_POLICIES = {"Always", "OnFailure", "OnError", "OnTransientError"}
_RESOURCE_ACTIONS = {"get", "create", "apply", "delete", "replace", "patch"}
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
_WORKFLOW_SCALARS = {
    "name",
    "namespace",
    "uid",
    "serviceAccountName",
    "mainEntrypoint",
    "duration",
    "priority",
    "scheduledTime",
    "creationTimestamp",
    "parameters",
    "labels",
    "annotations",
}
_TASK_FIELDS = {"id", "ip", "status", "exitCode", "startedAt", "finishedAt", "hostNodeName"}


@dataclass
class Catalog:
    """Every WorkflowTemplate and ClusterWorkflowTemplate of the files given, for ``templateRef``."""

    namespaced: dict[str, Obj] = field(default_factory=dict)
    cluster: dict[str, Obj] = field(default_factory=dict)

    def resolve(self, ref: Obj) -> tuple[Obj | None, Obj | None]:
        """(template object, template) for a ``templateRef``; None where not found."""
        pool = self.cluster if ref.get("clusterScope") else self.namespaced
        owner = pool.get(str(ref.get("name")))
        if owner is None:
            return None, None
        for template in owner.get("spec", {}).get("templates", []) or []:
            if template.get("name") == ref.get("template"):
                return owner, template
        return owner, None


def _template_type(template: Obj) -> list[str]:
    return [kind for kind in TEMPLATE_TYPES if template.get(kind) is not None]


def string_leaves(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside ``value`` with its field path (``spec.templates[0].name``)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from string_leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_leaves(item, f"{path}[{index}]")


@dataclass
class _Scope:
    """What ``{{...}}`` may refer to at one place."""

    inputs_parameters: set[str]
    inputs_artifacts: set[str]
    outputs_parameters: set[str]
    outputs_artifacts: set[str]
    workflow_parameters: set[str] | None  # None: unknown (a workflowTemplateRef that did not resolve)
    global_parameters: set[str]
    global_artifacts: set[str]
    exit_handler: bool = False
    pod: bool = False
    retries: bool = False
    item: bool = False
    whole_inputs: bool = False
    tasks: dict[str, Obj | None] = field(default_factory=dict)
    all_tasks: set[str] = field(default_factory=set)
    steps: dict[str, Obj | None] = field(default_factory=dict)
    all_steps: set[str] = field(default_factory=set)

    def problem(self, expression: str) -> str | None:
        if expression.startswith("="):
            return None  # expr-lang expressions are not checked
        parts = expression.split(".")
        head = parts[0]
        if head == "inputs":
            if len(parts) == 2 and parts[1] == "parameters" and self.whole_inputs:
                return None
            if len(parts) >= 3 and parts[1] == "parameters":
                return None if parts[2] in self.inputs_parameters else f"no input parameter {parts[2]!r}"
            if len(parts) >= 3 and parts[1] == "artifacts":
                return None if parts[2] in self.inputs_artifacts else f"no input artifact {parts[2]!r}"
            return "unknown inputs reference"
        if head == "outputs":
            if len(parts) >= 3 and parts[1] == "parameters":
                return None if parts[2] in self.outputs_parameters else f"no output parameter {parts[2]!r}"
            if len(parts) >= 3 and parts[1] == "artifacts":
                return None if parts[2] in self.outputs_artifacts else f"no output artifact {parts[2]!r}"
            return "unknown outputs reference"
        if head == "workflow":
            return self._workflow(parts[1:])
        if head == "item":
            return None if self.item else "item is only defined with withItems, withParam or withSequence"
        if head == "pod":
            return None if self.pod and parts[1:] == ["name"] else "pod.name is only defined in pod templates"
        if head in ("retries", "lastRetry"):
            return None if self.retries else f"{head} is only defined with a retryStrategy"
        if head == "tasks":
            return self._node(parts, self.tasks, self.all_tasks, "tasks", "a DAG ancestor")
        if head == "steps":
            return self._node(parts, self.steps, self.all_steps, "steps", "an earlier step group")
        return None

    def _workflow(self, rest: list[str]) -> str | None:
        if not rest:
            return "incomplete workflow reference"
        if rest[0] in ("status", "failures"):
            return None if self.exit_handler else f"workflow.{rest[0]} is only defined in an exit handler"
        if rest[0] == "parameters" and len(rest) >= 2 and rest[1] != "json":
            if self.workflow_parameters is None or rest[1] in self.workflow_parameters:
                return None
            return f"no workflow parameter {rest[1]!r} in spec.arguments"
        if rest[0] == "outputs" and len(rest) >= 3:
            names = self.global_parameters if rest[1] == "parameters" else self.global_artifacts
            return None if rest[2] in names else f"no output declares globalName {rest[2]!r}"
        if rest[0] in _WORKFLOW_SCALARS:
            return None
        return f"unknown workflow variable workflow.{'.'.join(rest)}"

    @staticmethod
    def _node(
        parts: list[str], visible: Mapping[str, Obj | None], known: set[str], kind: str, what: str
    ) -> str | None:
        if len(parts) < 2:
            return f"incomplete {kind} reference"
        name = parts[1]
        if name == "name" and len(parts) == 2:
            return None
        if name not in known:
            return f"no {kind[:-1]} {name!r}"
        if name not in visible:
            return f"{kind}.{name} is not {what} of this node"
        rest = parts[2:]
        if not rest or rest[0] in _TASK_FIELDS:
            return None
        if rest[0] != "outputs" or len(rest) < 2:
            return f"unknown {kind} reference"
        target = visible[name]
        if target is None or len(rest) < 3:
            return None
        outputs = target.get("outputs", {}) or {}
        if rest[1] == "parameters":
            declared = {p.get("name") for p in outputs.get("parameters", []) or []}
            return (
                None if rest[2] in declared else f"{kind[:-1]} {name!r} has no output parameter {rest[2]!r}"
            )
        if rest[1] == "artifacts":
            declared = {a.get("name") for a in outputs.get("artifacts", []) or []}
            return None if rest[2] in declared else f"{kind[:-1]} {name!r} has no output artifact {rest[2]!r}"
        return None


def _check_strings(value: Any, path: str, scope: _Scope, emit: Emit) -> None:
    for where, text in string_leaves(value, path):
        for expression in _PLACEHOLDER.findall(text):
            message = scope.problem(expression)
            if message:
                emit(where, f"{{{{{expression}}}}}: {message}")


def _names(params: Any) -> set[str]:
    return {str(p.get("name")) for p in params or [] if isinstance(p, Mapping)}


class _ObjectChecker:
    """Checks one Argo object; problems are emitted as (field path, message)."""

    def __init__(self, obj: Obj, catalog: Catalog, emit: Emit) -> None:
        self.obj = obj
        self.kind = str(obj.get("kind"))
        self.catalog = catalog
        self.emit = emit
        spec = obj.get("spec", {}) or {}
        self.prefix = "spec"
        if self.kind == "CronWorkflow":
            spec = spec.get("workflowSpec", {}) or {}
            self.prefix = "spec.workflowSpec"
        self.spec: Obj = spec
        self.templates: dict[str, Obj] = {}
        for template in spec.get("templates", []) or []:
            if isinstance(template, Mapping) and "name" in template:
                self.templates.setdefault(str(template["name"]), template)

    def run(self) -> None:
        self.check_metadata()
        if self.kind == "CronWorkflow":
            self.check_cron()
        self.check_spec()

    def check_metadata(self) -> None:
        meta = self.obj.get("metadata", {}) or {}
        name, generate = meta.get("name"), meta.get("generateName")
        limit = 52 if self.kind == "CronWorkflow" else 63
        if not name and not generate:
            self.emit("metadata.name", "either name or generateName is required")
        if isinstance(name, str):
            if len(name) > limit:
                self.emit("metadata.name", f"{len(name)} characters; at most {limit} for a {self.kind}")
            if not _DNS_SUBDOMAIN.match(name):
                self.emit("metadata.name", "must be lowercase letters, digits, '-' and '.' (RFC 1123)")

    def check_cron(self) -> None:
        spec = self.obj.get("spec", {}) or {}
        if not spec.get("schedule") and not spec.get("schedules"):
            self.emit("spec.schedules", "a CronWorkflow needs schedule or schedules")
        policy = spec.get("concurrencyPolicy")
        if policy is not None and policy not in ("Allow", "Forbid", "Replace"):
            self.emit("spec.concurrencyPolicy", "must be Allow, Forbid or Replace")

    def workflow_parameters(self) -> set[str] | None:
        names = _names((self.spec.get("arguments", {}) or {}).get("parameters"))
        ref = self.spec.get("workflowTemplateRef")
        if ref:
            pool = self.catalog.cluster if ref.get("clusterScope") else self.catalog.namespaced
            target = pool.get(str(ref.get("name")))
            if target is None:
                return None
            names |= _names((target.get("spec", {}).get("arguments", {}) or {}).get("parameters"))
        return names

    def global_outputs(self) -> tuple[set[str], set[str]]:
        parameters, artifacts = set(), set()
        for template in self.templates.values():
            outputs = template.get("outputs", {}) or {}
            parameters |= {
                p["globalName"] for p in outputs.get("parameters", []) or [] if p.get("globalName")
            }
            artifacts |= {a["globalName"] for a in outputs.get("artifacts", []) or [] if a.get("globalName")}
        return parameters, artifacts

    def exit_templates(self) -> set[str]:
        """Templates reachable from exit handlers and lifecycle hooks."""
        roots = [self.spec.get("onExit")]
        roots += [hook.get("template") for hook in (self.spec.get("hooks", {}) or {}).values()]
        for template in self.templates.values():
            for group in self._nodes(template):
                roots.append(group.get("onExit"))
                roots += [hook.get("template") for hook in (group.get("hooks", {}) or {}).values()]
        seen: set[str] = set()
        stack = [root for root in roots if isinstance(root, str)]
        while stack:
            name = stack.pop()
            if name in seen or name not in self.templates:
                continue
            seen.add(name)
            stack += [
                str(node["template"]) for node in self._nodes(self.templates[name]) if node.get("template")
            ]
        return seen

    @staticmethod
    def _nodes(template: Obj) -> list[Obj]:
        dag = template.get("dag") or {}
        nodes = list(dag.get("tasks", []) or [])
        for group in template.get("steps", []) or []:
            nodes += list(group or [])
        return [node for node in nodes if isinstance(node, Mapping)]

    def check_spec(self) -> None:
        spec, prefix = self.spec, self.prefix
        if spec.get("workflowTemplateRef"):
            ref = spec["workflowTemplateRef"]
            pool = self.catalog.cluster if ref.get("clusterScope") else self.catalog.namespaced
            if str(ref.get("name")) not in pool:
                self.emit(
                    f"{prefix}.workflowTemplateRef",
                    f"template {ref.get('name')!r} not found among the files given",
                )
        elif (
            self.kind != "WorkflowTemplate"
            and self.kind != "ClusterWorkflowTemplate"
            and not spec.get("entrypoint")
        ):
            self.emit(f"{prefix}.entrypoint", "a Workflow needs an entrypoint")
        for key in ("entrypoint", "onExit"):
            name = spec.get(key)
            if name and self.templates and name not in self.templates and not spec.get("workflowTemplateRef"):
                self.emit(f"{prefix}.{key}", f"template {name!r} not found")
        for hook_name, hook in (spec.get("hooks", {}) or {}).items():
            self.check_reference(hook, f"{prefix}.hooks.{hook_name}")
        for index, parameter in enumerate((spec.get("arguments", {}) or {}).get("parameters", []) or []):
            self.check_parameter_definition(parameter, f"{prefix}.arguments.parameters[{index}]")
        self.check_unique(spec.get("templates", []) or [], f"{prefix}.templates", "template")
        workflow_parameters = self.workflow_parameters()
        global_parameters, global_artifacts = self.global_outputs()
        exit_templates = self.exit_templates()
        hook_scope = _Scope(
            set(), set(), set(), set(), workflow_parameters, global_parameters, global_artifacts, True
        )
        _check_strings(spec.get("hooks"), f"{prefix}.hooks", hook_scope, self.emit)
        for index, template in enumerate(spec.get("templates", []) or []):
            if not isinstance(template, Mapping):
                continue
            path = f"{prefix}.templates[{index}]"
            base = self.base_scope(template, workflow_parameters, global_parameters, global_artifacts)
            base.exit_handler = template.get("name") in exit_templates
            self.check_template(template, path, base)

    def base_scope(self, template: Obj, wf: set[str] | None, gp: set[str], ga: set[str]) -> _Scope:
        inputs = template.get("inputs", {}) or {}
        outputs = template.get("outputs", {}) or {}
        kinds = _template_type(template)
        return _Scope(
            inputs_parameters=_names(inputs.get("parameters")),
            inputs_artifacts=_names(inputs.get("artifacts")),
            outputs_parameters=_names(outputs.get("parameters")),
            outputs_artifacts=_names(outputs.get("artifacts")),
            workflow_parameters=wf,
            global_parameters=gp,
            global_artifacts=ga,
            pod=bool(kinds) and kinds[0] in POD_TYPES,
            retries=bool(template.get("retryStrategy")),
            whole_inputs="script" in kinds,
        )

    def check_unique(self, items: list[Any], path: str, what: str) -> None:
        seen: set[str] = set()
        for index, item in enumerate(items):
            name = item.get("name") if isinstance(item, Mapping) else None
            if not isinstance(name, str):
                self.emit(f"{path}[{index}].name", f"every {what} needs a name")
                continue
            if name in seen:
                self.emit(f"{path}[{index}].name", f"duplicate {what} name {name!r}")
            seen.add(name)
            if len(name) > 128 or not _NAME.match(name):
                self.emit(
                    f"{path}[{index}].name",
                    f"{what} names are [a-zA-Z0-9][-a-zA-Z0-9]*, at most 128 characters",
                )

    def check_parameter_definition(self, parameter: Obj, path: str) -> None:
        name = parameter.get("name")
        if not isinstance(name, str) or not _PARAM_NAME.match(name):
            self.emit(f"{path}.name", "parameter names are letters, digits, '-' and '_'")
        global_name = parameter.get("globalName")
        if global_name is not None and not _PARAM_NAME.match(str(global_name)):
            self.emit(f"{path}.globalName", "globalName is letters, digits, '-' and '_'")
        enum = parameter.get("enum")
        if enum is not None:
            if not enum:
                self.emit(f"{path}.enum", "enum must not be empty")
            for key in ("value", "default"):
                if key in parameter and str(parameter[key]) not in [str(e) for e in enum]:
                    self.emit(f"{path}.{key}", f"{parameter[key]!r} is not one of the enum values")

    def check_template(self, template: Obj, path: str, scope: _Scope) -> None:
        kinds = _template_type(template)
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            self.emit(path, f"a template needs exactly one of {', '.join(TEMPLATE_TYPES)} (found {found})")
        kind = kinds[0] if kinds else ""
        leaf = kind not in ("steps", "dag")
        if not leaf:
            for key in ("activeDeadlineSeconds", "timeout"):
                if key in template:
                    self.emit(f"{path}.{key}", f"{key} is only allowed on leaf templates, not {kind}")
        elif "parallelism" in template:
            self.emit(f"{path}.parallelism", "parallelism is only allowed on steps and dag templates")
        inputs = template.get("inputs", {}) or {}
        for index, parameter in enumerate(inputs.get("parameters", []) or []):
            self.check_parameter_definition(parameter, f"{path}.inputs.parameters[{index}]")
        retry = template.get("retryStrategy") or {}
        if retry.get("retryPolicy") is not None and retry["retryPolicy"] not in _RETRY_POLICIES:
            self.emit(
                f"{path}.retryStrategy.retryPolicy", f"must be one of {', '.join(sorted(_RETRY_POLICIES))}"
            )
        self.check_outputs(template, path, kind)
        if kind == "resource":
            action = (template.get("resource") or {}).get("action")
            if action not in _RESOURCE_ACTIONS:
                self.emit(f"{path}.resource.action", f"must be one of {', '.join(sorted(_RESOURCE_ACTIONS))}")
        if kind == "dag":
            self.check_dag(template, path, scope)
        elif kind == "steps":
            self.check_steps(template, path, scope)
        else:
            _check_strings(template, path, scope, self.emit)

    def check_outputs(self, template: Obj, path: str, kind: str) -> None:
        outputs = template.get("outputs", {}) or {}
        for index, parameter in enumerate(outputs.get("parameters", []) or []):
            where = f"{path}.outputs.parameters[{index}]"
            self.check_parameter_definition(parameter, where)
            value_from = parameter.get("valueFrom") or {}
            if ("value" in parameter) == bool(value_from) and "default" not in value_from:
                if not value_from and "value" not in parameter:
                    self.emit(f"{where}.valueFrom", "an output parameter needs value or valueFrom")
                elif value_from and "value" in parameter:
                    self.emit(where, "an output parameter has exactly one of value and valueFrom")
            if not value_from:
                continue
            if kind in ("container", "script", "containerSet") and not (
                value_from.get("path")
                or value_from.get("default") is not None
                or value_from.get("supplied") is not None
            ):
                self.emit(f"{where}.valueFrom", f"{kind} output parameters need valueFrom.path")
            if kind == "resource" and not (value_from.get("jsonPath") or value_from.get("jqFilter")):
                self.emit(
                    f"{where}.valueFrom", "resource output parameters need valueFrom.jsonPath or jqFilter"
                )
            if kind in ("dag", "steps") and not (value_from.get("parameter") or value_from.get("expression")):
                self.emit(
                    f"{where}.valueFrom", f"{kind} output parameters need valueFrom.parameter or expression"
                )
        for index, artifact in enumerate(outputs.get("artifacts", []) or []):
            where = f"{path}.outputs.artifacts[{index}]"
            if kind in ("container", "script") and not artifact.get("path"):
                self.emit(f"{where}.path", f"{kind} output artifacts need a path")
            if kind in ("dag", "steps") and not (artifact.get("from") or artifact.get("fromExpression")):
                self.emit(f"{where}.from", f"{kind} output artifacts need from or fromExpression")

    def check_reference(self, node: Obj, path: str) -> Obj | None:
        """Check a node's template / templateRef / inline; return the template when it is known."""
        has = [key for key in ("template", "templateRef", "inline") if node.get(key)]
        if len(has) != 1:
            self.emit(path, "needs exactly one of template, templateRef and inline")
            return None
        if "template" in has:
            target = self.templates.get(str(node["template"]))
            if target is None:
                self.emit(f"{path}.template", f"template {node['template']!r} not found")
            return target
        if "templateRef" in has:
            ref = node["templateRef"]
            owner, target = self.catalog.resolve(ref)
            if owner is None:
                scope = "ClusterWorkflowTemplate" if ref.get("clusterScope") else "WorkflowTemplate"
                self.emit(
                    f"{path}.templateRef", f"{scope} {ref.get('name')!r} not found among the files given"
                )
            elif target is None:
                self.emit(
                    f"{path}.templateRef.template",
                    f"{ref.get('name')!r} has no template {ref.get('template')!r}",
                )
            return target
        inline = node["inline"]
        return inline if isinstance(inline, Mapping) else None

    def check_arguments(self, node: Obj, target: Obj | None, path: str) -> None:
        if target is None:
            return
        inputs = target.get("inputs", {}) or {}
        arguments = node.get("arguments", {}) or {}
        given_parameters = _names(arguments.get("parameters"))
        for parameter in inputs.get("parameters", []) or []:
            if "value" in parameter or "default" in parameter or (parameter.get("valueFrom") or {}):
                continue
            if parameter.get("name") not in given_parameters:
                self.emit(
                    f"{path}.arguments.parameters",
                    f"missing argument for input parameter {parameter.get('name')!r}",
                )
        given_artifacts = _names(arguments.get("artifacts"))
        for artifact in inputs.get("artifacts", []) or []:
            if (
                artifact.get("optional")
                or artifact.get("from")
                or any(artifact.get(s) for s in _ARTIFACT_SOURCES)
            ):
                continue
            if artifact.get("name") not in given_artifacts:
                self.emit(
                    f"{path}.arguments.artifacts",
                    f"missing argument for input artifact {artifact.get('name')!r}",
                )

    def check_node(self, node: Obj, path: str, scope: _Scope) -> Obj | None:
        target = self.check_reference(node, path)
        self.check_arguments(node, target, path)
        if node.get("onExit") and node["onExit"] not in self.templates:
            self.emit(f"{path}.onExit", f"template {node['onExit']!r} not found")
        for hook_name, hook in (node.get("hooks", {}) or {}).items():
            self.check_reference(hook, f"{path}.hooks.{hook_name}")
        loops = [key for key in ("withItems", "withParam", "withSequence") if node.get(key) is not None]
        if len(loops) > 1:
            self.emit(path, f"only one of withItems, withParam and withSequence ({', '.join(loops)})")
        scope.item = bool(loops)
        _check_strings(node, path, scope, self.emit)
        scope.item = False
        return target

    def check_dag(self, template: Obj, path: str, scope: _Scope) -> None:
        dag = template.get("dag") or {}
        tasks = [task for task in dag.get("tasks", []) or [] if isinstance(task, Mapping)]
        if not tasks:
            self.emit(f"{path}.dag.tasks", "a DAG needs at least one task")
            return
        self.check_unique(tasks, f"{path}.dag.tasks", "task")
        by_name = {str(task.get("name")): task for task in tasks}
        uses_depends = [t for t in tasks if "depends" in t]
        uses_dependencies = [t for t in tasks if "dependencies" in t]
        if uses_depends and uses_dependencies:
            self.emit(f"{path}.dag", "do not mix depends and dependencies in one DAG")
        parents: dict[str, list[str]] = {}
        for index, task in enumerate(tasks):
            name, where = str(task.get("name")), f"{path}.dag.tasks[{index}]"
            if (uses_depends or uses_dependencies) and name[:1].isdigit():
                self.emit(
                    f"{where}.name", "task names must not start with a digit when dependencies are used"
                )
            if "depends" in task:
                if "continueOn" in task:
                    self.emit(f"{where}.continueOn", "continueOn cannot be used with depends")
                try:
                    parents[name] = task_names(str(task["depends"]))
                except DependsError as error:
                    self.emit(f"{where}.depends", f"invalid depends expression: {error}")
                    parents[name] = []
            else:
                parents[name] = [str(dep) for dep in task.get("dependencies", []) or []]
            for parent in parents[name]:
                if parent not in by_name:
                    key = "depends" if "depends" in task else "dependencies"
                    self.emit(f"{where}.{key}", f"task {parent!r} does not exist")
        cycle = _find_cycle(parents)
        if cycle:
            self.emit(f"{path}.dag", f"dependency cycle: {' -> '.join(cycle)}")
            return
        targets: dict[str, Obj | None] = {}
        for index, task in enumerate(tasks):
            name = str(task.get("name"))
            scope.all_tasks = set(by_name)
            scope.tasks = {a: targets.get(a) for a in _ancestors(name, parents)}
            targets[name] = self.check_node(task, f"{path}.dag.tasks[{index}]", scope)
        scope.tasks = dict(targets)
        rest = {key: value for key, value in template.items() if key != "dag"}
        rest_dag = {key: value for key, value in dag.items() if key != "tasks"}
        _check_strings(rest, path, scope, self.emit)
        _check_strings(rest_dag, f"{path}.dag", scope, self.emit)

    def check_steps(self, template: Obj, path: str, scope: _Scope) -> None:
        groups = template.get("steps", []) or []
        flat = [step for group in groups for step in group or [] if isinstance(step, Mapping)]
        self.check_unique(flat, f"{path}.steps[*]", "step")
        scope.all_steps = {str(step.get("name")) for step in flat}
        done: dict[str, Obj | None] = {}
        for group_index, group in enumerate(groups):
            scope.steps = dict(done)
            current: dict[str, Obj | None] = {}
            for index, step in enumerate(group or []):
                if isinstance(step, Mapping):
                    where = f"{path}.steps[{group_index}][{index}]"
                    current[str(step.get("name"))] = self.check_node(step, where, scope)
            done |= current
        scope.steps = done
        rest = {key: value for key, value in template.items() if key != "steps"}
        _check_strings(rest, path, scope, self.emit)


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


def check_object(obj: Obj, catalog: Catalog, emit: Emit) -> None:
    """Run every semantic check on one Workflow, WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow."""
    _ObjectChecker(obj, catalog, emit).run()
