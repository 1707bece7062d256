"""The JSON Schema of the per-cluster settings: one source for ``aphex compile --values`` and the chart.

The same schema validates the values given to ``aphex compile --values FILE``, the settings objects the
compiler is built from (:class:`aphex.dsl.settings.BundleSettings` checks itself against it), and, written
out as ``values.schema.json``, what ``helm install`` accepts (https://helm.sh/docs/topics/charts/#schema-files).
Descriptions double as the comments of the generated ``values.yaml``.
"""

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from aphex.dsl.deadlines import PREVIEW_LIFETIME_MAX_HOURS
from aphex.dsl.images import DIGEST_PATTERN, REGISTRY_PATTERN, REPOSITORY_PATTERN, TAG_PATTERN
from aphex.dsl.names import (
    API_GROUP_PATTERN,
    APP_PATTERN,
    BUNDLE_TEMPLATE_NAMES,
    DNS_LABEL_PATTERN,
    DNS_NAME_PATTERN,
    IAM_ROLE_ARN_PATTERN,
    LABEL_KEY_PATTERN,
    LABEL_VALUE_PATTERN,
)
from aphex.dsl.quantities import CPU_PATTERN, STORAGE_PATTERN, request_excess
from aphex.dsl.schema_problems import PathPart, PathProblem, format_path, problems_of, rule_message

__all__ = [
    "INSTANCE_MAX",
    "VALUES_SCHEMA",
    "VERBATIM_VALUES",
    "instance_problems",
    "value_leaves",
    "values_problems",
]

_URL: Final = r"^https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[A-Za-z0-9._~/-]*)?$"
_API_VERSION: Final = r"^v[0-9]+((alpha|beta)[0-9]+)?$"
_MODEL: Final = r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$"
_OWNER: Final = r"^[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9])*$"
_REPOSITORY: Final = r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$"
_BRANCH: Final = r"^[A-Za-z0-9_][A-Za-z0-9_-]*(?:[./][A-Za-z0-9_][A-Za-z0-9_-]*)*$"
_LABEL: Final = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
_SECRET_KEY: Final = r"^[-._A-Za-z0-9]+$"
_ENDPOINT: Final = r"^/(?:[A-Za-z0-9._~-]+(?:/[A-Za-z0-9._~-]+)*)?$"
_BASE_URL: Final = (
    r"^https://[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*(?::[0-9]{1,5})?$"
)
_MINUTE: Final = "[1-5]?[0-9]"
_HOUR: Final = "(?:1?[0-9]|2[0-3])"
_CRON_SCHEDULE: Final = (
    "^(?:@(?:hourly|daily|midnight|weekly|monthly|yearly|annually)"
    "|@every [1-9][0-9]{0,3}[mh]"
    f"|(?:\\*|{_MINUTE}(?:,{_MINUTE})*)(?:/[1-9][0-9]?)? (?:\\*|{_HOUR}(?:,{_HOUR})*)(?:/[1-9][0-9]?)? "
    "\\* \\* (?:\\*|[0-6]))$"
)
"""A subset of robfig/cron's standard syntax (argo-workflows validates ``schedules`` with ``ParseStandard``,
``workflow/validate/validate.go``, ValidateCronWorkflow) in which every match is a valid schedule."""
INSTANCE_MAX: Final = 30
"""Longest instance (release) name: derived object names stay within 63 characters."""
PIPELINE_NAME_MAX: Final = 19
"""Longest pipeline name: ``<instance>-<pipeline>`` (its stack and ServiceAccount prefix) stays within 50."""


def _string(description: str, pattern: str, *, max_length: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "description": description, "pattern": pattern}
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


def _seconds(description: str) -> dict[str, Any]:
    return {"type": "integer", "description": description, "minimum": 60, "maximum": 7 * 24 * 3600}


def _flag(description: str) -> dict[str, Any]:
    return {"type": "boolean", "description": description}


def _object(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "properties": properties,
    }


def _image(description: str) -> dict[str, Any]:
    return _object(
        description,
        {
            "registry": _string("Registry host", REGISTRY_PATTERN),
            "repository": _string("Repository path inside the registry", REPOSITORY_PATTERN),
            "tag": _string("Tag", TAG_PATTERN),
            "digest": {
                "type": "string",
                "description": "sha256 digest; when set it wins over the tag",
                "pattern": f"^$|{DIGEST_PATTERN}",
            },
        },
    )


def _quantity(description: str, resource: str) -> dict[str, Any]:
    if resource == "cpu":
        return _string(
            f"{description} CPU: millicores (250m) or cores with at most 3 decimals (1, 1.5)", CPU_PATTERN
        )
    what = "memory" if resource == "memory" else "ephemeral storage"
    return _string(
        f"{description} {what}: at most 6 digits and Ki, Mi, Gi or Ti (512Mi)",
        STORAGE_PATTERN,
    )


def _container_side(side: str, description: str) -> dict[str, Any]:
    return _object(
        description,
        {
            "cpu": _quantity(side, "cpu"),
            "memory": _quantity(side, "memory"),
            "ephemeralStorage": _quantity(side, "ephemeralStorage"),
        },
    )


def _step_class(description: str) -> dict[str, Any]:
    return _object(
        f"{description}; every request at most its limit",
        {
            "requests": _container_side("Request of", "What the scheduler reserves for one such step"),
            "limits": _container_side("Limit of", "The most one such step may use"),
        },
    )


def _quota_side(side: str, description: str) -> dict[str, Any]:
    return _object(
        description,
        {"cpu": _quantity(f"{side} all pods'", "cpu"), "memory": _quantity(f"{side} all pods'", "memory")},
    )


_TOLERATION: Final[dict[str, Any]] = {
    **_object(
        "A Kubernetes toleration (key, operator, value, effect, tolerationSeconds)",
        {
            "key": {
                "type": "string",
                "description": "Taint key; empty matches every key",
                "pattern": f"^$|{LABEL_KEY_PATTERN}",
            },
            "operator": {
                "type": "string",
                "description": "Equal (the default) or Exists",
                "enum": ["Equal", "Exists"],
            },
            "value": _string("Taint value (Equal only)", LABEL_VALUE_PATTERN),
            "effect": {
                "type": "string",
                "description": "Taint effect to match; empty matches every effect",
                "enum": ["", "NoSchedule", "PreferNoSchedule", "NoExecute"],
            },
            "tolerationSeconds": {
                "type": "integer",
                "description": "How long a NoExecute taint is tolerated before eviction",
                "minimum": 0,
                "maximum": 7 * 24 * 3600,
            },
        },
    ),
    # Kubernetes' rules (kubernetes pkg/apis/core/validation/validation.go, ValidateTolerations).
    "allOf": [
        {
            "if": {"properties": {"operator": {"const": "Exists"}}, "required": ["operator"]},
            "then": {"properties": {"value": {"const": ""}}},
        },
        {
            "if": {"not": {"required": ["key"]}},
            "then": {"properties": {"operator": {"const": "Exists"}}, "required": ["operator"]},
        },
        {
            "if": {"properties": {"key": {"const": ""}}, "required": ["key"]},
            "then": {"properties": {"operator": {"const": "Exists"}}, "required": ["operator"]},
        },
        {
            "if": {"required": ["tolerationSeconds"]},
            "then": {"properties": {"effect": {"const": "NoExecute"}}, "required": ["effect"]},
        },
    ],
}


def _role_arn(stage: str, source: str) -> dict[str, Any]:
    return _string(
        f"IAM role (IRSA) of the {stage} ServiceAccount: {source}", IAM_ROLE_ARN_PATTERN, max_length=2048
    )


def _app(role: str) -> dict[str, Any]:
    return _string(
        f"GitHub App of the {role} agent; the agent platform mounts Secret github-app-<lowercased name>",
        APP_PATTERN,
    )


VALUES_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "aphex values",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "namespace": {
            "type": "string",
            "description": (
                "Namespace of the WorkflowTemplates, their ServiceAccounts and the runs; empty: the "
                "release namespace (helm -n, aphex compile --namespace)"
            ),
            "pattern": f"^$|{DNS_LABEL_PATTERN}",
        },
        "components": _object(
            "Which parts of the bundle are installed",
            {
                "implementationDag": _flag("The implementation DAG, the CodeRun template and their RBAC"),
                "docsStage": _flag("The optional documentation stage (DocsRun) of the implementation DAG"),
                "events": _flag("Argo Events: the GitHub EventSource, the Sensors and their RBAC"),
                "pipeline": _flag("The Aphex pipelines listed in pipelines: their accounts and push Sensors"),
            },
        ),
        "deployerImage": _image(
            "Image of the implementation DAG's steps and the pipeline's self-update (git, Helm, kubectl, "
            "this package)"
        ),
        "builderImage": _image(
            "Image of the Aphex pipeline's build and deploy steps (git, Node.js, AWS CDK CLI)"
        ),
        "agentApiGroup": _string("API group of the agent platform's CodeRun/DocsRun", API_GROUP_PATTERN),
        "agentApiVersion": _string("API version of the agent platform's resources", _API_VERSION),
        "agents": _object(
            "GitHub App names of the agents",
            {
                "implementation": _app("implementation (Rex)"),
                "lint": _app("format/lint (Clippy role)"),
                "qa": _app("QA/test"),
                "docs": _app("documentation"),
            },
        ),
        "agentModel": _string("Model the agents use unless a run overrides it", _MODEL),
        "agentDeadlineSeconds": _seconds("How long one agent run may take"),
        "github": _object(
            "Where GitHub is and which Secret holds the reviewer's credentials",
            {
                "apiUrl": _string("GitHub REST API base URL", _URL),
                "webUrl": _string("GitHub web base URL (clone URLs)", _URL),
                "credentialsSecret": _string(
                    "Secret with key token, or app-id and private-key of the reviewing GitHub App",
                    DNS_LABEL_PATTERN,
                ),
            },
        ),
        "previewDomain": _string(
            "DNS domain of the previews (each is served at <its Helm release>.<domain>)",
            DNS_NAME_PATTERN,
            max_length=253,
        ),
        "ingressNamespace": _string(
            "Namespace of the ingress controller the previews admit traffic from", DNS_LABEL_PATTERN
        ),
        "previewPodSecurity": {
            "type": "string",
            "description": (
                "Pod Security Standard the preview namespaces enforce: restricted, or baseline for "
                "charts that cannot run restricted (never privileged)"
            ),
            "enum": ["restricted", "baseline"],
        },
        "previewJanitorSchedule": _string(
            "When the preview-janitor CronWorkflow removes expired previews, in UTC: five cron fields "
            "(minute: *, a number or a list, with an optional /step; hour: likewise; then * * and * or a "
            "weekday 0-6), a descriptor such as @hourly, or @every <N>m or <N>h",
            _CRON_SCHEDULE,
        ),
        "previewQuota": _object(
            "ResourceQuota of every preview namespace (the admission policy keeps it exactly so); every "
            "request at most its limit. A container that sets no resources gets 100m/128Mi requests and "
            "500m/512Mi limits (the preview's LimitRange)",
            {
                "pods": {
                    "type": "integer",
                    "description": "Most pods in one preview",
                    "minimum": 1,
                    "maximum": 1000,
                },
                "requests": _quota_side("Sum of", "Sum of the requests of the preview's pods"),
                "limits": _quota_side("Sum of", "Sum of the limits of the preview's pods"),
            },
        ),
        "previewLifetimeHours": {
            "type": "integer",
            "description": (
                "How long a preview is kept after its run succeeded; preview-janitor removes it afterwards"
            ),
            "minimum": 1,
            "maximum": PREVIEW_LIFETIME_MAX_HOURS,
        },
        "argoUiUrl": _string("Argo UI base URL, for links in comments and notifications", _URL),
        "workflowDeadlineSeconds": _seconds(
            "activeDeadlineSeconds of one implementation-DAG run; at least its stages' deadlines in a row "
            "(agents x (agentDeadlineSeconds + 300) + 4500, see docs/implementation-dag.md)"
        ),
        "archiveLogs": _flag(
            "Archive the logs of every pod of a run into Argo's artifact repository (spec.archiveLogs of "
            "the WorkflowTemplates runs start from); needs an artifact repository configured in Argo"
        ),
        "events": _object(
            "Argo Events: a GitHub EventSource and Sensors that start runs (needs Argo Events v1.9)",
            {
                "namespace": _string(
                    "Namespace of the EventSource, the Sensors and their ServiceAccount", DNS_LABEL_PATTERN
                ),
                "githubOwner": _string(
                    "GitHub owner (organisation or user) of the repositories", _OWNER, max_length=39
                ),
                "repositories": {
                    "type": "array",
                    "description": "Repositories whose webhooks start runs",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": _string("Repository name", _REPOSITORY, max_length=100),
                },
                "mainBranch": _string("Branch whose pushes run the Aphex pipeline", _BRANCH, max_length=200),
                "issueLabel": _string(
                    "Label that starts the implementation DAG for an issue", _LABEL, max_length=50
                ),
                "webhookSecretName": _string(
                    "Secret holding the webhook's shared secret (created by you, never by the chart)",
                    DNS_LABEL_PATTERN,
                ),
                "webhookSecretKey": _string("Key of the shared secret in that Secret", _SECRET_KEY),
                "webhookPort": {
                    "type": "integer",
                    "description": "Port the EventSource listens on",
                    "minimum": 1024,
                    "maximum": 65535,
                },
                "webhookEndpoint": _string("URL path the EventSource listens on", _ENDPOINT),
                "webhookUrl": _string("Public base URL GitHub posts to (https://host[:port])", _BASE_URL),
                "eventbusName": _string("Argo Events EventBus the objects use", DNS_LABEL_PATTERN),
            },
        ),
        "pipelines": {
            "type": "array",
            "description": (
                "Aphex pipelines on this cluster, one per application repository; the chart installs "
                "their stage ServiceAccounts, RBAC and push Sensors, `aphex compile --config` their "
                "WorkflowTemplate"
            ),
            "minItems": 0,
            "items": {
                **_object(
                    "One pipeline",
                    {
                        "name": {
                            **_string(
                                "The pipeline (pipeline.name in its aphex-config.yaml); its WorkflowTemplate "
                                "is named like the bundle's (<release>-<name>, bare in release aphex), so "
                                "the names of the bundle's own WorkflowTemplates are refused",
                                DNS_LABEL_PATTERN,
                                max_length=PIPELINE_NAME_MAX,
                            ),
                            "not": {"enum": sorted(BUNDLE_TEMPLATE_NAMES)},
                        },
                        "repository": _string(
                            "Repository of events.githubOwner whose pushes to events.mainBranch run it",
                            _REPOSITORY,
                            max_length=100,
                        ),
                        "artifactBucket": {
                            **_string(
                                "The pipeline stack's output ArtifactBucketName",
                                DNS_NAME_PATTERN,
                                max_length=63,
                            ),
                            "minLength": 3,
                        },
                        "roleArns": {
                            **_object(
                                "IAM roles of the stage ServiceAccounts (stack outputs, and the platform's "
                                "self-update role)",
                                {
                                    "build": _role_arn("build", "stack output BuildRoleArn"),
                                    "deploy": _role_arn("deploy", "stack output DeployRoleArn"),
                                    "monitor": _role_arn("monitor", "stack output MonitorRoleArn"),
                                    "selfUpdate": _role_arn(
                                        "self-update", "the platform's role that deploys the pipeline stack"
                                    ),
                                },
                            ),
                            "required": ["build", "deploy", "monitor", "selfUpdate"],
                        },
                        "cluster": _string(
                            "The pipeline stack's output Cluster (aphex pipeline stack --cluster); empty "
                            "when the account has one cluster",
                            r"^(?:[A-Za-z][A-Za-z0-9-]{0,39})?$",
                            max_length=40,
                        ),
                    },
                ),
                "required": ["name", "repository", "artifactBucket", "roleArns"],
            },
        },
        "workflowPods": _object(
            "Every pod of aphex's workflows (the steps, the agents' resource steps, the janitor)",
            {
                "resources": _object(
                    "Requests and limits of the steps' containers, by class of step",
                    {
                        "light": _step_class("Validation and API calls"),
                        "standard": _step_class("git checkouts, Helm and kubectl, HTTP probing"),
                        "heavy": _step_class(
                            "The Aphex pipeline's builds, CDK synthesis and deployment, and tests"
                        ),
                    },
                ),
                "nodeSelector": {
                    "type": "object",
                    "description": "Labels a node must have to run the pods (Kubernetes nodeSelector)",
                    "propertyNames": {"pattern": LABEL_KEY_PATTERN, "maxLength": 317},
                    "additionalProperties": _string("Label value", LABEL_VALUE_PATTERN),
                },
                "tolerations": {
                    "type": "array",
                    "description": "Taints the pods tolerate (Kubernetes tolerations)",
                    "minItems": 0,
                    "maxItems": 20,
                    "items": _TOLERATION,
                },
                "imagePullSecrets": {
                    "type": "array",
                    "description": (
                        "Secrets (type kubernetes.io/dockerconfigjson) the pods pull their images with"
                    ),
                    "minItems": 0,
                    "maxItems": 20,
                    "uniqueItems": True,
                    "items": {
                        **_object(
                            "A pull Secret",
                            {"name": _string("Name of the Secret", DNS_NAME_PATTERN, max_length=253)},
                        ),
                        "required": ["name"],
                    },
                },
            },
        ),
    },
}

VERBATIM_VALUES: Final = frozenset(
    {("workflowPods", "nodeSelector"), ("workflowPods", "tolerations"), ("workflowPods", "imagePullSecrets")}
)
"""Values emitted as given (a whole mapping or list, omitted when empty), not field by field."""

_VALIDATOR: Final = Draft7Validator(VALUES_SCHEMA)


def value_leaves(
    schema: Mapping[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Mapping[str, Any]]]:
    """(path, schema) of every value that is not a section, in schema order; ``[]`` in a path stands for
    each entry of a list of sections (``("pipelines", "[]", "name")``). A :data:`VERBATIM_VALUES` value is
    one leaf."""
    for key, child in schema.get("properties", {}).items():
        if (*path, key) in VERBATIM_VALUES:
            yield (*path, key), child
        elif child.get("type") == "object":
            yield from value_leaves(child, (*path, key))
        elif child.get("type") == "array" and child["items"].get("type") == "object":
            yield from value_leaves(child["items"], (*path, key, "[]"))
        else:
            yield (*path, key), child


def instance_problems(instance: str) -> list[str]:
    """Why ``instance`` (the release name, never a value) cannot name a release; the chart's
    ``aphex.instance`` helper refuses the same names with the same words."""
    if not re.fullmatch(DNS_LABEL_PATTERN, instance):
        return [f"release name {instance!r}: must be a DNS label (a-z, 0-9, inner '-')"]
    if len(instance) > INSTANCE_MAX:
        return [f"release name {instance!r}: at most {INSTANCE_MAX} characters (object names derive from it)"]
    return []


def _worded(error: ValidationError) -> str | None:
    """Rules worded here rather than by :func:`aphex.dsl.schema_problems.rule_message`:
    a ``not: {enum: [...]}`` (the value names one of the bundle's WorkflowTemplates), and a key of a map
    breaking its ``propertyNames`` rule (the problem is at the map; the message names the key)."""
    refused = error.validator_value if error.validator == "not" else None
    if isinstance(refused, Mapping) and "enum" in refused:
        return f"must not name one of the bundle's WorkflowTemplates ({', '.join(refused['enum'])})"
    if "propertyNames" in error.schema_path:
        rule = rule_message(str(error.validator), error.validator_value)
        return f"key {json.dumps(error.instance)} {rule}"
    return None


def _control_characters(node: Any, path: tuple[PathPart, ...]) -> Iterator[PathProblem]:
    # Python's "$" also matches before a final newline; Helm's Go regexps do not. Refuse both ways.
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _control_characters(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _control_characters(value, (*path, index))
    elif isinstance(node, str) and any(ord(char) < 32 or 127 <= ord(char) <= 159 for char in node):
        yield PathProblem(path=path, message="must not contain control characters")


def _duplicate_pipelines(values: Mapping[str, Any]) -> Iterator[PathProblem]:
    pipelines = values.get("pipelines")
    if not isinstance(pipelines, list):
        return
    seen: set[Any] = set()
    for index, pipeline in enumerate(pipelines):
        name = pipeline.get("name") if isinstance(pipeline, Mapping) else None
        if name in seen:
            yield PathProblem(path=("pipelines", index, "name"), message=f"{name!r} is listed twice")
        elif name is not None:
            seen.add(name)


def _request_problems(node: Any, path: tuple[PathPart, ...]) -> Iterator[PathProblem]:
    """A request above its limit, in every section holding ``requests`` and ``limits``."""
    if not isinstance(node, Mapping):
        return
    requests, limits = node.get("requests"), node.get("limits")
    if isinstance(requests, Mapping) and isinstance(limits, Mapping):
        for resource, request in requests.items():
            limit = limits.get(resource)
            if not isinstance(request, str) or not isinstance(limit, str):
                continue
            try:
                excess = request_excess(format_path((*path, "limits", resource)), resource, request, limit)
            except ValueError:
                continue  # not a quantity: the schema names it
            if excess:
                yield PathProblem(path=(*path, "requests", str(resource)), message=excess)
    for key, child in node.items():
        if key not in ("requests", "limits"):
            yield from _request_problems(child, (*path, str(key)))


def values_problems(values: Mapping[str, Any], *, requests: bool = True) -> list[str]:
    """Every violation in ``values``, one line each: the key's path, the rule it breaks and its limit
    (``pipelines[0].name: must be at most 19 characters long``), in document order.

    ``requests=False`` leaves out requests above their limits: a request is compared with the limit in
    effect, which may be a default, so Helm checks it on the merged values when it renders (after the
    schema) and :func:`aphex.dsl.settings.load_settings` on the settings built from them."""
    problems = {
        *problems_of(_VALIDATOR.iter_errors(dict(values)), message=_worded),
        *_control_characters(values, ()),
        *_duplicate_pipelines(values),
        *(_request_problems(values, ()) if requests else ()),
    }
    return [
        f"{format_path(problem.path, root='(values)')}: {problem.message}"
        for problem in sorted(problems, key=PathProblem.sort_key)
    ]
