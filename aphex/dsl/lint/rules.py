"""Argo's validation rules that need no scope: names, arguments, inputs, outputs, metrics, pods.

Each function mirrors one function of argo-workflows ``workflow/validate/validate.go`` (or the type
method it calls, named in its docstring) and emits ``(field path, message)`` for every problem; the
scoped rules (variables, steps, DAGs, references) are in :mod:`aphex.dsl.lint.semantics`.
"""

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml

from aphex.dsl.lint.variables import TAG, is_parameter

__all__ = [
    "ARTIFACT_PLUGIN_PREFIX",
    "FIELD_NAME",
    "LEAF_TYPES",
    "PARAM_NAME",
    "RESERVED_CONTAINERS",
    "Emit",
    "Obj",
    "as_list",
    "as_map",
    "check_argument_values",
    "check_artifact_location",
    "check_container_set",
    "check_executor_plugins",
    "check_field_names",
    "check_inputs",
    "check_metrics",
    "check_output_parameter",
    "check_outputs",
    "check_pod_gc",
    "check_pod_resources",
    "check_resource",
    "clean_path_problem",
    "find_cycle",
    "has_location",
    "metric_conflict",
    "metric_declarations",
]

Emit = Callable[[str, str], None]
Obj = Mapping[str, Any]

FIELD_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
PARAM_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")
RESERVED_CONTAINERS = ("wait", "supervisor")
ARTIFACT_PLUGIN_PREFIX = "artifact-plugin-"
# Argo's Template.IsLeaf: the template types that run something themselves.
LEAF_TYPES = {"container", "containerSet", "script", "resource", "data", "http", "plugin"}
_METRIC_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RESOURCE_ACTIONS = ("get", "create", "apply", "delete", "replace", "patch")
_POD_GC_STRATEGIES = {"", "OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion", "OnWorkflowSuccess"}
_SELECTOR_OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}
_EXPRESSION_TAG = re.compile(r"\{\{\s*=\s*(.+?)\s*\}\}", re.DOTALL)
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


def _check_artifact_path(emit: Emit, artifact: Obj, where: str, leaf: bool) -> None:
    """A leaf template's artifacts need a safe path (``Artifact.CleanPath``); other templates' have none."""
    if leaf:
        problem = clean_path_problem(artifact)
        if problem:
            emit(f"{where}.path", problem)
    elif artifact.get("path"):
        emit(f"{where}.path", "path only valid in container/script templates")


def as_map(value: Any) -> Obj:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def has_location(artifact: Obj) -> bool:
    """Argo's ``HasLocationOrKey``: some artifact source is set."""
    return any(artifact.get(source) for source in _ARTIFACT_SOURCES)


def clean_path_problem(artifact: Obj) -> str | None:
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


def find_cycle(parents: Mapping[str, list[str]]) -> list[str] | None:
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


def check_executor_plugins(emit: Emit, spec: Obj, prefix: str) -> None:
    """Argo's ``WorkflowSpec.AsExecutorPluginSpec`` and ``Sidecar.Validate``."""
    for index, plugin in enumerate(as_list(spec.get("executorPlugins"))):
        where = f"{prefix}.executorPlugins[{index}]"
        plugin = as_map(plugin)
        container = as_map(as_map(as_map(plugin.get("spec")).get("sidecar")).get("container"))
        resources = as_map(container.get("resources"))
        if not as_map(plugin.get("metadata")).get("name"):
            emit(f"{where}.metadata.name", "executor plugin metadata name is mandatory")
        elif not as_list(container.get("ports")):
            emit(f"{where}.spec.sidecar.container.ports", "at least one port is mandatory")
        elif resources.get("requests") is None:
            emit(f"{where}.spec.sidecar.container.resources", "resources requests are mandatory")
        elif resources.get("limits") is None:
            emit(f"{where}.spec.sidecar.container.resources", "resources limits are mandatory")
        elif container.get("securityContext") is None:
            emit(f"{where}.spec.sidecar.container", "security context is mandatory")


def check_pod_gc(emit: Emit, pod_gc: Obj, path: str) -> None:
    strategy = pod_gc.get("strategy") or ""
    if strategy not in _POD_GC_STRATEGIES:
        emit(f"{path}.strategy", f"podGC.strategy unknown strategy '{strategy}'")
    selector = as_map(pod_gc.get("labelSelector"))
    for index, requirement in enumerate(as_list(selector.get("matchExpressions"))):
        requirement = as_map(requirement)
        operator, values = requirement.get("operator"), as_list(requirement.get("values"))
        where = f"{path}.labelSelector.matchExpressions[{index}]"
        if operator not in _SELECTOR_OPERATORS:
            emit(f"{where}.operator", f'"{operator}" is not a valid label selector operator')
        elif operator in ("In", "NotIn") and not values:
            emit(f"{where}.values", "for 'in', 'notin' operators, values set can't be empty")
        elif operator in ("Exists", "DoesNotExist") and values:
            emit(f"{where}.values", "values set must be empty for exists and does not exist")


def check_pod_resources(emit: Emit, resources: Obj, path: str) -> None:
    """Argo's ``validatePodResources``: cpu, memory and hugepages-* only, no claims."""
    if as_list(resources.get("claims")):
        emit(f"{path}.claims", "claims is not supported for pod-level resources")
    for key in ("limits", "requests"):
        for name in as_map(resources.get(key)):
            if name not in ("cpu", "memory") and not str(name).startswith("hugepages-"):
                emit(
                    f"{path}.{key}.{name}",
                    f'"{name}" is not a valid pod-level resource, only cpu, memory and hugepages-* '
                    "are supported",
                )


def check_field_names(emit: Emit, items: Iterable[Any], path: str, *, parameter_like: bool) -> None:
    """Argo's ``validateWorkflowFieldNames``: every name present, well formed and unique."""
    seen: set[str] = set()
    for index, item in enumerate(items):
        name = as_map(item).get("name")
        where = f"{path}[{index}].name"
        if name is None or name == "":
            emit(where, "name is required")
            continue
        name = str(name)
        if parameter_like and not PARAM_NAME.match(name):
            emit(
                where,
                f"'{name}' is invalid: Parameter/Artifact name must consist of alpha-numeric characters, "
                "'_' or '-'",
            )
        elif not parameter_like and (len(name) > 128 or not FIELD_NAME.match(name)):
            emit(
                where,
                f"'{name}' is invalid: name must consist of alpha-numeric characters or '-', and must "
                "start with an alpha-numeric character (at most 128)",
            )
        if name in seen:
            emit(where, f"'{name}' is not unique")
        seen.add(name)


def check_argument_values(emit: Emit, arguments: Obj, path: str, allow_empty: bool) -> None:
    """Argo's ``validateArguments``: names, values (unless allowed empty), valueFrom, enums, artifacts."""
    parameters = as_list(arguments.get("parameters"))
    artifacts = as_list(arguments.get("artifacts"))
    check_field_names(emit, parameters, f"{path}.parameters", parameter_like=True)
    check_field_names(emit, artifacts, f"{path}.artifacts", parameter_like=True)
    for index, parameter in enumerate(parameters):
        parameter = as_map(parameter)
        where = f"{path}.parameters[{index}]"
        value_from = parameter.get("valueFrom")
        if value_from is None and parameter.get("value") is None and not allow_empty:
            emit(where, "value or valueFrom is required")
        if isinstance(value_from, Mapping):
            allowed = any(value_from.get(k) is not None for k in ("configMapKeyRef", "event", "supplied"))
            forbidden = any(value_from.get(k) for k in ("path", "jsonPath", "parameter", "expression"))
            if not allowed or forbidden:
                emit(f"{where}.valueFrom", "valueFrom only allows: default, configMapKeyRef and supplied")
        enum_values = parameter.get("enum")
        if enum_values is not None:
            if not enum_values:
                emit(f"{where}.enum", "enum should contain at least one value")
                continue
            if parameter.get("value") is None:
                if allow_empty:
                    return  # Argo returns here: later arguments are not checked
                emit(f"{where}.value", "value is required")
            elif str(parameter["value"]) not in [str(e) for e in enum_values]:
                emit(f"{where}.value", "value should be present in the enum list")
    for index, artifact in enumerate(artifacts):
        artifact = as_map(artifact)
        where = f"{path}.artifacts[{index}]"
        if not artifact.get("from") and not has_location(artifact):
            emit(where, "from, artifact location, or key is required")
        if artifact.get("from") and artifact.get("fromExpression"):
            emit(where, "shouldn't have both `from` and `fromExpression` in Artifact")


def check_inputs(emit: Emit, template: Obj, path: str, leaf: bool) -> None:
    """Argo's ``validateInputs``: names, artifact paths (leaf only), no ``from``, locations."""
    inputs = as_map(template.get("inputs"))
    check_field_names(
        emit, as_list(inputs.get("parameters")), f"{path}.inputs.parameters", parameter_like=True
    )
    artifacts = as_list(inputs.get("artifacts"))
    check_field_names(emit, artifacts, f"{path}.inputs.artifacts", parameter_like=True)
    for index, artifact in enumerate(artifacts):
        artifact = as_map(artifact)
        where = f"{path}.inputs.artifacts[{index}]"
        _check_artifact_path(emit, artifact, where, leaf)
        if artifact.get("from"):
            emit(f"{where}.from", "from not valid in inputs")
        check_artifact_location(emit, artifact, where)


def check_metrics(emit: Emit, template: Obj, path: str, *, label_keys: bool = True) -> None:
    """Argo's metric rules: names, label keys, help, and a value for each metric kind.

    For a template's ``metrics`` these are ``validateTemplate``'s. Argo's validator skips a workflow's
    ``spec.metrics``; its controller refuses one without a valid name or help, or without a value, when
    the run ends (``workflow/controller/operator.go``, computeMetrics; ``workflow/metrics``,
    UpsertCustomMetric), so they are checked there with ``label_keys=False`` (label keys are not checked
    at emission)."""
    for index, metric in enumerate(as_list(as_map(template.get("metrics")).get("prometheus"))):
        metric = as_map(metric)
        where = f"{path}.metrics.prometheus[{index}]"
        name = str(metric.get("name") or "")
        if not _METRIC_NAME.match(name):
            emit(
                f"{where}.name",
                f"metric name '{name}' is invalid. Metric names must contain alphanumeric characters or '_'",
            )
        for label_index, label in enumerate(as_list(metric.get("labels")) if label_keys else []):
            key = str(as_map(label).get("key") or "")
            if not _METRIC_NAME.match(key):
                emit(
                    f"{where}.labels[{label_index}].key",
                    f"metric label '{key}' is invalid: keys may only contain alphanumeric characters or '_'",
                )
        if not metric.get("help"):
            emit(f"{where}.help", f"metric '{name}' must contain a help string under 'help: ' field")
        gauge = metric.get("gauge")
        if isinstance(gauge, Mapping):
            if not gauge.get("value"):
                emit(f"{where}.gauge.value", "missing gauge.value")
            elif gauge.get("realtime") and "resourcesDuration." in str(gauge.get("value")):
                emit(f"{where}.gauge.value", "'resourcesDuration.*' metrics cannot be used in real-time")
        for kind in ("counter", "histogram"):
            value = metric.get(kind)
            if isinstance(value, Mapping) and not value.get("value"):
                emit(f"{where}.{kind}.value", f"missing {kind}.value")


_METRIC_KINDS = ("counter", "gauge", "histogram")


def metric_declarations(obj: Obj) -> Iterable[tuple[str, str, str, str]]:
    """``(field path, name, kind, help)`` of every metric of an Argo object whose name holds no
    variable: the workflow's and each template's (a CronWorkflow's in its ``workflowSpec``)."""
    spec, prefix = as_map(obj.get("spec")), "spec"
    if obj.get("kind") == "CronWorkflow":
        spec, prefix = as_map(spec.get("workflowSpec")), "spec.workflowSpec"
    owners = [(spec, prefix)] + [
        (as_map(template), f"{prefix}.templates[{index}]")
        for index, template in enumerate(as_list(spec.get("templates")))
    ]
    for owner, path in owners:
        for index, metric in enumerate(as_list(as_map(owner.get("metrics")).get("prometheus"))):
            metric = as_map(metric)
            name = str(metric.get("name") or "")
            kind = next((kind for kind in _METRIC_KINDS if isinstance(metric.get(kind), Mapping)), "")
            if name and kind and not TAG.search(name):
                yield f"{path}.metrics.prometheus[{index}]", name, kind, str(metric.get("help") or "")


def metric_conflict(first: tuple[str, str], name: str, kind: str, help_text: str) -> str | None:
    """Why the controller refuses a metric declared again with another help or kind; ``first`` is the
    ``(kind, help)`` of its first declaration (``workflow/metrics/metrics_custom.go``,
    matchExistingMetric)."""
    first_kind, first_help = first
    if help_text != first_help:
        return f"help for metric {name} is already set to {first_help}, it cannot be changed"
    if kind != first_kind:
        return f"found existing {first_kind} for custom metric {name} of type {kind}"
    return None


def check_container_set(emit: Emit, template: Obj, path: str) -> None:
    """Argo's ``ContainerSetTemplate.Validate`` and the containerSet rules of ``validateLeaf``."""
    container_set = as_map(template.get("containerSet"))
    containers = [as_map(c) for c in as_list(container_set.get("containers"))]
    where = f"{path}.containerSet"
    if not containers:
        emit(f"{where}.containers", "containers must have at least one container")
        return
    check_field_names(emit, containers, f"{where}.containers", parameter_like=False)
    mounts: dict[str, str] = {}
    for index, mount in enumerate(as_list(container_set.get("volumeMounts"))):
        mount_path = str(as_map(mount).get("mountPath"))
        if mount_path in mounts:
            emit(
                f"{where}.volumeMounts[{index}].mountPath",
                f"'{mount_path}' already mounted in {mounts[mount_path]}",
            )
        mounts[mount_path] = f"volumeMounts.{as_map(mount).get('name')}"
    names = {str(c.get("name")) for c in containers}
    graph: dict[str, list[str]] = {}
    for index, container in enumerate(containers):
        dependencies = [str(d) for d in as_list(container.get("dependencies"))]
        graph[str(container.get("name"))] = [d for d in dependencies if d in names]
        for dependency in dependencies:
            if dependency not in names:
                emit(
                    f"{where}.containers[{index}].dependencies",
                    f"containers.{container.get('name')} dependency '{dependency}' not defined",
                )
    cycle = find_cycle(graph)
    if cycle:
        emit(f"{where}.containers", f"dependency cycle detected: {'->'.join(cycle)}")
    outputs = as_map(template.get("outputs"))
    uses_io = (
        as_list(as_map(template.get("inputs")).get("artifacts"))
        or as_list(outputs.get("parameters"))
        or as_list(outputs.get("artifacts"))
    )
    if uses_io and "main" not in names:
        emit(f"{where}.containers", 'must have a container named "main" for input or output')
    for index, container in enumerate(containers):
        name = str(container.get("name") or "")
        if name in RESERVED_CONTAINERS or name.startswith(ARTIFACT_PLUGIN_PREFIX):
            emit(f"{where}.containers[{index}].name", f"{name!r} is a reserved Argo container name")


def check_resource(emit: Emit, template: Obj, path: str) -> None:
    resource = as_map(template.get("resource"))
    action = str(resource.get("action") or "")
    if "{{" not in action and action not in _RESOURCE_ACTIONS:
        emit(f"{path}.resource.action", f"must be one of: {', '.join(_RESOURCE_ACTIONS)}")
    if action in ("delete", "get"):
        return
    manifest = resource.get("manifest")
    manifest_from = resource.get("manifestFrom")
    if not manifest and manifest_from is None:
        emit(f"{path}.resource", "either manifest or manifestFrom must be specified")
    if manifest and manifest_from is not None:
        emit(f"{path}.resource", "shouldn't have both `manifest` and `manifestFrom` specified")
    artifact = as_map(as_map(manifest_from).get("artifact"))
    if artifact:
        inputs = {as_map(a).get("name") for a in as_list(as_map(template.get("inputs")).get("artifacts"))}
        if artifact.get("name") not in inputs:
            emit(
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
            emit(f"{path}.resource.manifest", "must be a valid yaml")


def check_output_parameter(emit: Emit, parameter: Obj, where: str, kind: str) -> None:
    value_from = parameter.get("valueFrom")
    if value_from is not None and parameter.get("value") is not None:
        emit(where, "has both valueFrom and value specified, choose one")
        return
    if parameter.get("value") is not None:
        return
    if value_from is None:
        emit(where, "does not have valueFrom or value specified")
        return
    value_from = as_map(value_from)
    sources = [k for k in ("path", "jqFilter", "jsonPath", "parameter", "expression") if value_from.get(k)]
    if value_from.get("supplied") is not None:
        sources.append("supplied")
    if not sources:
        emit(
            f"{where}.valueFrom",
            "valueFrom type unspecified. choose one of: path, jqFilter, jsonPath, parameter, raw, expression",
        )
    elif len(sources) > 1:
        emit(f"{where}.valueFrom", f"multiple valueFrom types specified ({', '.join(sources)})")
    if kind in ("container", "containerSet", "script") and not value_from.get("path"):
        emit(f"{where}.valueFrom", f"path must be specified for {kind} templates")
    if kind == "resource" and not (value_from.get("jqFilter") or value_from.get("jsonPath")):
        emit(f"{where}.valueFrom", "jqFilter or jsonPath must be specified for resource templates")
    if kind in ("dag", "steps") and not (value_from.get("parameter") or value_from.get("expression")):
        emit(f"{where}.valueFrom", f"parameter or expression must be specified for {kind} templates")


def check_outputs(emit: Emit, template: Obj, path: str, kind: str) -> None:
    """Argo's ``validateOutputs`` and ``validateOutputParameter``."""
    outputs = as_map(template.get("outputs"))
    parameters = as_list(outputs.get("parameters"))
    artifacts = as_list(outputs.get("artifacts"))
    check_field_names(emit, parameters, f"{path}.outputs.parameters", parameter_like=True)
    check_field_names(emit, artifacts, f"{path}.outputs.artifacts", parameter_like=True)
    leaf = kind in LEAF_TYPES
    for index, artifact in enumerate(artifacts):
        artifact = as_map(artifact)
        where = f"{path}.outputs.artifacts[{index}]"
        _check_artifact_path(emit, artifact, where, leaf)
        global_name = str(artifact.get("globalName") or "")
        if global_name and not is_parameter(global_name) and not PARAM_NAME.match(global_name):
            emit(
                f"{where}.globalName",
                "Parameter/Artifact name must consist of alpha-numeric characters, '_' or '-'",
            )
    for index, parameter in enumerate(parameters):
        parameter = as_map(parameter)
        where = f"{path}.outputs.parameters[{index}]"
        check_output_parameter(emit, parameter, where, kind)
        global_name = str(parameter.get("globalName") or "")
        if global_name and not is_parameter(global_name) and not PARAM_NAME.match(global_name):
            emit(
                f"{where}.globalName",
                "Parameter/Artifact name must consist of alpha-numeric characters, '_' or '-'",
            )


def check_artifact_location(emit: Emit, location: Obj, path: str) -> None:
    """Argo's ``validateArtifactLocation``: a git repository, and HDFS as ``hdfs.ValidateArtifact``."""
    git = location.get("git")
    if isinstance(git, Mapping) and not git.get("repo"):
        emit(f"{path}.git.repo", "git.repo is required")
    hdfs = location.get("hdfs")
    if not isinstance(hdfs, Mapping):
        return
    where = f"{path}.hdfs"
    if not as_list(hdfs.get("addresses")):
        emit(f"{where}.addresses", "addresses is required")
    elif not hdfs.get("path"):
        emit(f"{where}.path", "path is required")
    elif not str(hdfs["path"]).startswith("/"):
        emit(f"{where}.path", "path must be a absolute file path")
    elif not (hdfs.get("hdfsUser") or hdfs.get("krbCCacheSecret") or hdfs.get("krbKeytabSecret")):
        emit(where, "either hdfsUser, krbCCacheSecret or krbKeytabSecret is required")
    elif hdfs.get("krbKeytabSecret") and not (
        hdfs.get("krbServicePrincipalName")
        and hdfs.get("krbConfigConfigMap")
        and hdfs.get("krbUsername")
        and hdfs.get("krbRealm")
    ):
        emit(
            where,
            "krbServicePrincipalName, krbConfigConfigMap, krbUsername and krbRealm are required "
            "with krbKeytabSecret",
        )
    elif hdfs.get("krbCCacheSecret") and not (
        hdfs.get("krbServicePrincipalName") and hdfs.get("krbConfigConfigMap")
    ):
        emit(where, "krbServicePrincipalName and krbConfigConfigMap are required with krbCCacheSecret")
