"""Argo Events objects that start aphex runs from GitHub webhooks.

One GitHub `EventSource <https://argoproj.github.io/argo-events/eventsources/setup/github/>`_ receives
``push``, ``pull_request`` and ``issues`` deliveries (the signature is checked against a Secret the
platform team creates). `Sensors <https://argoproj.github.io/argo-events/concepts/sensor/>`_ each
hold one dependency on it, narrowed by `data and expr filters
<https://argoproj.github.io/argo-events/sensors/filters/intro/>`_, and one trigger that creates a
Workflow from a WorkflowTemplate (names are ``<instance>-<namespace>-<role>``):

- ``push-<pipeline>``, one per entry of the ``pipelines`` setting: a push of that pipeline's repository
  to the main branch (not a deletion) runs its Aphex pipeline;
- ``pull-request``: a pull request opened, synchronized or reopened from a branch of the same
  repository (never a fork) runs the implementation DAG for that pull request, unless one of the
  agents' own GitHub Apps sent the event (their pushes to the branch are part of the running run);
- ``pr-closed``: a pull request closed or merged, with the same repository and fork filters, runs
  ``preview-cleanup`` (:mod:`aphex.workflows.implementation_dag.previews`), which removes that pull request's
  preview;
- ``issue-labelled``: an issue given the configured label runs the implementation DAG for it.

The objects are plain mappings: Hera's ``hera.events`` models carry the trigger resource base64-encoded
and cannot express an inline ``source.resource``.

The triggers are `Kubernetes object triggers
<https://argoproj.github.io/argo-events/sensors/triggers/k8s-object-trigger/>`_ with ``operation:
create``: the Sensor creates the Workflow itself, so its ServiceAccount needs nothing but ``create`` on
``workflows``. (The ``argoWorkflow`` trigger runs ``argo submit`` inside the Sensor pod, which also reads
WorkflowTemplates to validate and lists Workflows afterwards; a failed list makes the retry strategy
submit the same run again.) String values of data filters are Go regular expressions matched anywhere
in the value, so every value emitted here is anchored and its literal part quoted.
"""

from collections.abc import Sequence
from typing import Any, Final

from aphex.dsl.go_regexp import exact_match, quote_meta
from aphex.dsl.labels import LABEL_PREFIX, standard_labels
from aphex.dsl.names import EVENTS_NAME_MAX, github_app_bot_login
from aphex.dsl.security import container_security_context, pod_security_context
from aphex.dsl.settings import BundleSettings, ClusterPipeline, SettingsError
from aphex.workflows.implementation_dag.dag import NAME as IMPLEMENTATION_DAG
from aphex.workflows.implementation_dag.previews import CLEANUP_NAME as PREVIEW_CLEANUP

__all__ = [
    "EVENT_HEADER_PATH",
    "SERVICE_ACCOUNT_SENSOR",
    "event_source_objects",
    "events_objects",
    "implementation_trigger_objects",
    "push_trigger_objects",
    "sensor_rbac_objects",
]

Manifest = dict[str, Any]

EVENTS_API: Final = "argoproj.io/v1alpha1"
EVENT_NAME: Final = "github"
"""Name of the GitHub event inside the EventSource (the key under ``spec.github``)."""
DEPENDENCY: Final = "github"
"""Name of each Sensor's only dependency; trigger parameters read their values from it."""
GITHUB_EVENTS: Final = ("push", "pull_request", "issues")
EVENT_HEADER_PATH: Final = "headers.X-Github-Event.0"
"""The event name header as a Sensor sees it: Go canonicalizes ``X-GitHub-Event`` to ``X-Github-Event``
and the EventSource forwards headers as lists of values (``http.Header``), hence the ``.0``."""
PULL_REQUEST_ACTIONS: Final = ("opened", "synchronize", "reopened")
RETRY_STRATEGY: Final = {"steps": 3, "duration": "10s", "factor": 2}
SERVICE_ACCOUNT_SENSOR: Final = "sensor"
"""Role of the Sensors' ServiceAccount (``<instance>-sensor`` in the events namespace)."""
_RBAC_API: Final = "rbac.authorization.k8s.io"


def _argo_events_meta(settings: BundleSettings, role: str) -> Manifest:
    """Metadata of an EventSource or Sensor, whose name must stay within :data:`EVENTS_NAME_MAX`."""
    name = _name(settings, role)
    if len(name) > EVENTS_NAME_MAX:
        raise SettingsError(
            f"events: {name!r} is longer than {EVENTS_NAME_MAX} characters (Argo Events puts it in a "
            "label and names the Workflows after it); shorten the instance, namespace or pipeline name"
        )
    return _meta(settings, role, "events", in_events_namespace=True)


def _meta(settings: BundleSettings, role: str, component: str, *, in_events_namespace: bool) -> Manifest:
    return {
        "name": _name(settings, role) if in_events_namespace else settings.names.object(role),
        "namespace": settings.events.namespace if in_events_namespace else settings.namespace,
        "labels": standard_labels(
            name=role, component=component, version=settings.version, instance=settings.instance
        ),
    }


def _pod_template(service_account: str | None = None) -> Manifest:
    """The hardened pod of an EventSource or Sensor (same contexts as every step of the bundle)."""
    template: Manifest = {
        "securityContext": pod_security_context().model_dump(by_alias=True, exclude_none=True),
        "container": {
            "securityContext": container_security_context().model_dump(by_alias=True, exclude_none=True),
            "resources": {
                "requests": {"cpu": "50m", "memory": "64Mi"},
                "limits": {"cpu": "500m", "memory": "256Mi"},
            },
        },
    }
    if service_account is not None:
        template = {"serviceAccountName": service_account, **template}
    return template


def _name(settings: BundleSettings, role: str) -> str:
    """Objects in the events namespace, which every release shares, carry the workflows namespace too."""
    return settings.names.cluster(role)


def _sensor_account(settings: BundleSettings) -> str:
    return _name(settings, SERVICE_ACCOUNT_SENSOR)


def _event_source(settings: BundleSettings) -> Manifest:
    return {
        "apiVersion": EVENTS_API,
        "kind": "EventSource",
        "metadata": _argo_events_meta(settings, "github"),
        "spec": {
            "eventBusName": settings.events.eventbus_name,
            "template": _pod_template(),
            "service": {
                "ports": [{"port": settings.events.webhook_port, "targetPort": settings.events.webhook_port}]
            },
            "github": {
                EVENT_NAME: {
                    "repositories": [
                        {"owner": settings.events.github_owner, "names": list(settings.events.repositories)}
                    ],
                    "webhook": {
                        "endpoint": settings.events.webhook_endpoint,
                        "port": str(settings.events.webhook_port),
                        "method": "POST",
                        "url": settings.events.webhook_url,
                    },
                    "events": list(GITHUB_EVENTS),
                    "webhookSecret": {
                        "name": settings.events.webhook_secret_name,
                        "key": settings.events.webhook_secret_key,
                    },
                    "insecure": False,
                    "active": True,
                    "contentType": "json",
                }
            },
        },
    }


def _string_filter(path: str, *values: str) -> Manifest:
    return {"path": path, "type": "string", "value": [exact_match(value) for value in values]}


def _repository_filter(settings: BundleSettings, repositories: Sequence[str]) -> Manifest:
    # GitHub names are case-insensitive; (?i) is understood by Go's regexp.
    return {
        "path": "body.repository.full_name",
        "type": "string",
        "value": [f"(?i){exact_match(f'{settings.events.github_owner}/{repo}')}" for repo in repositories],
    }


def _not_sent_by_agents(settings: BundleSettings) -> Manifest:
    """A data filter that drops events whose ``sender.login`` is one of the agents' App bots.

    A string filter with ``comparator: "!="`` passes when *some* value does not match
    (argo-events ``pkg/sensors/dependencies/filter.go``, filterData), so the logins are one alternation.
    """
    apps = settings.agents
    # In the settings' order and not deduplicated: the chart computes the same list from its values.
    logins = [github_app_bot_login(app) for app in (apps.implementation, apps.lint, apps.qa, apps.docs)]
    # GitHub logins are case-insensitive; (?i) is understood by Go's regexp.
    pattern = "(?i)^(?:" + "|".join(quote_meta(login) for login in logins) + ")$"
    return {"path": "body.sender.login", "type": "string", "comparator": "!=", "value": [pattern]}


def _sensor(
    settings: BundleSettings,
    *,
    suffix: str,
    trigger_name: str,
    template: str,
    filters: Manifest,
    arguments: list[tuple[str, str]],
) -> Manifest:
    """One Sensor: a dependency on the GitHub event narrowed by ``filters``, one Workflow-creating trigger.

    ``arguments`` pairs each Workflow parameter with the event data key that fills it.
    """
    name = settings.names.cluster(suffix)
    workflow = {
        "apiVersion": EVENTS_API,
        "kind": "Workflow",
        "metadata": {
            "generateName": f"{name}-",
            "namespace": settings.namespace,
            "labels": {f"{LABEL_PREFIX}trigger": suffix},
        },
        "spec": {
            "workflowTemplateRef": {"name": template},
            "arguments": {"parameters": [{"name": parameter} for parameter, _ in arguments]},
        },
    }
    parameters = [
        {
            "src": {"dependencyName": DEPENDENCY, "dataKey": data_key},
            "dest": f"spec.arguments.parameters.{index}.value",
        }
        for index, (_, data_key) in enumerate(arguments)
    ]
    return {
        "apiVersion": EVENTS_API,
        "kind": "Sensor",
        "metadata": _argo_events_meta(settings, suffix),
        "spec": {
            "eventBusName": settings.events.eventbus_name,
            "template": _pod_template(_sensor_account(settings)),
            "dependencies": [
                {
                    "name": DEPENDENCY,
                    "eventSourceName": _name(settings, "github"),
                    "eventName": EVENT_NAME,
                    "filtersLogicalOperator": "and",
                    "filters": filters,
                }
            ],
            "triggers": [
                {
                    "template": {
                        "name": trigger_name,
                        "k8s": {
                            "operation": "create",
                            "source": {"resource": workflow},
                            "parameters": parameters,
                        },
                    },
                    "retryStrategy": dict(RETRY_STRATEGY),
                }
            ],
        },
    }


def _push_sensor(settings: BundleSettings, pipeline: ClusterPipeline) -> Manifest:
    return _sensor(
        settings,
        suffix=f"push-{pipeline.name}",
        trigger_name="run-pipeline",
        template=settings.names.template(pipeline.name),
        filters={
            "data": [
                _string_filter(EVENT_HEADER_PATH, "push"),
                _repository_filter(settings, [pipeline.repository]),
                _string_filter("body.ref", f"refs/heads/{settings.events.main_branch}"),
                {"path": "body.deleted", "type": "bool", "value": ["false"]},
            ]
        },
        arguments=[
            ("commit-sha", "body.after"),
            ("branch", "body.ref"),
            ("repo-url", "body.repository.clone_url"),
            ("repo-name", "body.repository.full_name"),
            ("pusher", "body.pusher.name"),
        ],
    )


def _pull_request_filters(settings: BundleSettings, actions: Sequence[str], *more: Manifest) -> Manifest:
    """A ``pull_request`` delivery of a configured repository with one of ``actions``, from a branch of
    that repository (never a fork), and ``more`` data filters."""
    return {
        "data": [
            _string_filter(EVENT_HEADER_PATH, "pull_request"),
            _repository_filter(settings, settings.events.repositories),
            _string_filter("body.action", *actions),
            *more,
        ],
        # A fork's head repository differs from the base; a deleted fork has no head repository at
        # all, so the path is missing and the filter fails as well.
        "exprs": [
            {
                "expr": "head == base",
                "fields": [
                    {"name": "head", "path": "body.pull_request.head.repo.full_name"},
                    {"name": "base", "path": "body.pull_request.base.repo.full_name"},
                ],
            }
        ],
    }


def _pull_request_sensor(settings: BundleSettings) -> Manifest:
    return _sensor(
        settings,
        suffix="pull-request",
        trigger_name="implement-pull-request",
        template=settings.names.template(IMPLEMENTATION_DAG),
        filters=_pull_request_filters(settings, PULL_REQUEST_ACTIONS, _not_sent_by_agents(settings)),
        arguments=[
            ("owner", "body.repository.owner.login"),
            ("repo", "body.repository.name"),
            ("pr", "body.number"),
            ("commit", "body.pull_request.head.sha"),
        ],
    )


def _pull_request_closed_sensor(settings: BundleSettings) -> Manifest:
    """A pull request closed or merged (GitHub sends ``closed`` for both) removes its preview, with the
    filters of :func:`_pull_request_sensor` on repository and forks. Who closed it does not matter."""
    return _sensor(
        settings,
        suffix="pr-closed",
        trigger_name="remove-preview",
        template=settings.names.template(PREVIEW_CLEANUP),
        filters=_pull_request_filters(settings, ("closed",)),
        arguments=[
            ("owner", "body.repository.owner.login"),
            ("repo", "body.repository.name"),
            ("pr", "body.number"),
        ],
    )


def _issue_sensor(settings: BundleSettings) -> Manifest:
    return _sensor(
        settings,
        suffix="issue-labelled",
        trigger_name="implement-issue",
        template=settings.names.template(IMPLEMENTATION_DAG),
        filters={
            "data": [
                _string_filter(EVENT_HEADER_PATH, "issues"),
                _repository_filter(settings, settings.events.repositories),
                _string_filter("body.action", "labeled"),
                _string_filter("body.label.name", settings.events.issue_label),
            ]
        },
        arguments=[
            ("owner", "body.repository.owner.login"),
            ("repo", "body.repository.name"),
            ("issue", "body.issue.number"),
        ],
    )


def event_source_objects(settings: BundleSettings) -> list[Manifest]:
    """The GitHub EventSource every Sensor of the release listens to."""
    return [_event_source(settings)]


def push_trigger_objects(settings: BundleSettings, pipeline: ClusterPipeline) -> list[Manifest]:
    """The Sensor that runs ``pipeline`` on pushes of its repository to the main branch."""
    return [_push_sensor(settings, pipeline)]


def implementation_trigger_objects(settings: BundleSettings) -> list[Manifest]:
    """The Sensors that run the implementation DAG and remove a closed pull request's preview (installed
    only with the implementation DAG)."""
    return [_pull_request_sensor(settings), _pull_request_closed_sensor(settings), _issue_sensor(settings)]


def events_objects(settings: BundleSettings) -> list[Manifest]:
    """The GitHub EventSource, a push Sensor per pipeline and the implementation DAG's Sensors."""
    return [
        *event_source_objects(settings),
        *[sensor for pipeline in settings.pipelines for sensor in push_trigger_objects(settings, pipeline)],
        *implementation_trigger_objects(settings),
    ]


def sensor_rbac_objects(settings: BundleSettings) -> list[Manifest]:
    """The Sensors' ServiceAccount and the right to create Workflows, and nothing else, where they run."""
    account = _sensor_account(settings)
    role = settings.names.object(SERVICE_ACCOUNT_SENSOR)
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(settings, SERVICE_ACCOUNT_SENSOR, "rbac", in_events_namespace=True),
        },
        {
            "apiVersion": f"{_RBAC_API}/v1",
            "kind": "Role",
            "metadata": _meta(settings, SERVICE_ACCOUNT_SENSOR, "rbac", in_events_namespace=False),
            "rules": [{"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create"]}],
        },
        {
            "apiVersion": f"{_RBAC_API}/v1",
            "kind": "RoleBinding",
            "metadata": _meta(settings, SERVICE_ACCOUNT_SENSOR, "rbac", in_events_namespace=False),
            "roleRef": {"apiGroup": _RBAC_API, "kind": "Role", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": settings.events.namespace}],
        },
    ]
