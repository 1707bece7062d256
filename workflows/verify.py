"""The ``cluster-verify`` WorkflowTemplate and the least-privileged RBAC it runs under.

One runner step (:func:`workflows.steps.verify.verify_cluster`) checks that the CRDs of Argo Workflows,
Argo Events and the agent platform are installed and serve the versions aphex writes, and that the
EventBus the Sensors publish through exists; it fails with the complete list of what is missing. Submit
it after installing the bundle (``argo submit -n argo --from workflowtemplate/cluster-verify --wait``);
``aphex verify`` runs the same check from a laptop. Its ServiceAccount may only read CRDs and get
EventBus objects (https://kubernetes.io/docs/reference/access-authn-authz/rbac/).
"""

from typing import Any, Final

from hera.workflows import DAG, Parameter, WorkflowTemplate
from hera.workflows.models import PodGC, TTLStrategy

from dsl.labels import standard_labels
from dsl.params import workflow_parameter, workflow_parameter_ref
from dsl.security import pod_security_context
from dsl.settings import BundleSettings
from dsl.steps import LIGHT, RetryPolicy, runner_step
from workflows.rbac import EXECUTOR_RULE, account_objects, binding, cluster_role
from workflows.steps.verify import verify_cluster

__all__ = [
    "NAME",
    "SERVICE_ACCOUNT_VERIFIER",
    "cluster_verify_template",
    "verifier_rbac_objects",
]

NAME: Final = "cluster-verify"
SERVICE_ACCOUNT_VERIFIER: Final = "verifier"
"""Role of the verifier's ServiceAccount: ``<instance>-verifier``, ``aphex-verifier`` by default."""
DEADLINE_SECONDS: Final = 600

Manifest = dict[str, Any]

_VERIFY_RULES: Final = [
    {
        "apiGroups": ["apiextensions.k8s.io"],
        "resources": ["customresourcedefinitions"],
        "verbs": ["get", "list"],
    },
    {"apiGroups": ["argoproj.io"], "resources": ["eventbus"], "verbs": ["get"]},
]


def _arguments(settings: BundleSettings) -> list[Parameter]:
    return [
        workflow_parameter(
            "events-namespace",
            default=settings.events.namespace,
            description="Namespace of Argo Events, where the EventBus must exist",
        ),
        workflow_parameter(
            "eventbus-name",
            default=settings.events.eventbus_name,
            description="Name of the EventBus the Sensors and EventSources use",
        ),
        workflow_parameter(
            "agent-api-group",
            default=settings.agent_api_group,
            description="API group of the agent platform's CodeRun and DocsRun CRDs",
        ),
        workflow_parameter(
            "agent-api-version",
            default=settings.agent_api_version,
            description="Version of the agent CRDs that must be served",
        ),
    ]


def cluster_verify_template(settings: BundleSettings) -> WorkflowTemplate:
    """Build the ``cluster-verify`` WorkflowTemplate."""
    account = settings.names.object(SERVICE_ACCOUNT_VERIFIER)
    with WorkflowTemplate(
        name=settings.names.template(NAME),
        namespace=settings.namespace,
        labels=standard_labels(
            name=NAME, component="verify", version=settings.version, instance=settings.instance
        ),
        annotations={
            "workflows.argoproj.io/description": (
                "Checks that the cluster has what aphex needs: the CRDs of Argo Workflows, Argo Events "
                "and the agent platform, and the EventBus; fails with the list of what is missing."
            ),
        },
        entrypoint="main",
        arguments=_arguments(settings),
        service_account_name=account,
        security_context=pod_security_context(),
        active_deadline_seconds=DEADLINE_SECONDS,
        ttl_strategy=TTLStrategy(seconds_after_success=24 * 3600, seconds_after_failure=3 * 24 * 3600),
        pod_gc=PodGC(strategy="OnPodSuccess"),
        archive_logs=settings.archive_logs,
    ) as template:
        verify = runner_step(
            verify_cluster,
            name="verify-cluster",
            image=settings.deployer_image,
            resources=LIGHT,
            # A lost pod is retried; a cluster that is not ready is a verdict, not a transient error.
            retry=RetryPolicy(limit=2, policy="OnError"),
            timeout="5m",
            service_account=account,
        )
        with DAG(name="main"):
            verify(
                name="verify",
                arguments={
                    "events_namespace": workflow_parameter_ref("events-namespace"),
                    "eventbus_name": workflow_parameter_ref("eventbus-name"),
                    "agent_api_group": workflow_parameter_ref("agent-api-group"),
                    "agent_api_version": workflow_parameter_ref("agent-api-version"),
                },
            )
    return template


def verifier_rbac_objects(settings: BundleSettings) -> list[Manifest]:
    """The verifier's ServiceAccount, its executor Role and binding, and its read-only ClusterRole.

    Namespaced objects are ``<instance>-verifier``; the cluster-scoped ones
    ``<instance>-<namespace>-verifier`` (see :class:`dsl.settings.ObjectNames`).
    """
    account = settings.names.object(SERVICE_ACCOUNT_VERIFIER)
    reader = settings.names.cluster(SERVICE_ACCOUNT_VERIFIER)
    role = SERVICE_ACCOUNT_VERIFIER
    return [
        *account_objects(role, [EXECUTOR_RULE], settings),
        cluster_role(reader, role, [dict(rule) for rule in _VERIFY_RULES], settings),
        binding("ClusterRoleBinding", reader, role, "ClusterRole", reader, account, settings),
    ]
