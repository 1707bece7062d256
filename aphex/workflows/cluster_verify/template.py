"""The ``cluster-verify`` WorkflowTemplate and the least-privileged RBAC it runs under.

One runner step (:func:`aphex.workflows.steps.cluster_verify.checks.verify_cluster`) runs the checks the
enabled components need (:mod:`aphex.workflows.cluster_verify.prerequisites`), given to it as JSON, and fails
with the complete list of what is missing. Submit it after installing the bundle (``argo submit -n argo --from
workflowtemplate/cluster-verify --wait``); ``aphex verify`` runs the same checks from a laptop. Its
ServiceAccount may get exactly the objects the checks name: the CRDs and namespaces (a ClusterRole
with ``resourceNames``), and the Secrets and EventBus of each namespace (a Role there, with
``resourceNames``); the API discovery documents are readable by every authenticated user
(https://kubernetes.io/docs/reference/access-authn-authz/rbac/#discovery-roles).
"""

from collections.abc import Sequence
from typing import Any, Final

from hera.workflows import DAG, WorkflowTemplate
from hera.workflows.models import PodGC, TTLStrategy

from aphex.dsl.labels import standard_labels
from aphex.dsl.rbac import EXECUTOR_RULE, account_objects, binding, cluster_role, namespaced_role
from aphex.dsl.security import pod_security_context
from aphex.dsl.settings import BundleSettings
from aphex.dsl.steps import RetryPolicy, runner_step, workflow_pod_placement
from aphex.workflows.steps.cluster_verify.checks import Check, CheckKind, checks_to_json, verify_cluster

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


def cluster_verify_template(settings: BundleSettings, checks: Sequence[Check]) -> WorkflowTemplate:
    """Build the ``cluster-verify`` WorkflowTemplate running ``checks``."""
    account = settings.names.object(SERVICE_ACCOUNT_VERIFIER)
    with WorkflowTemplate(
        name=settings.names.template(NAME),
        namespace=settings.namespace,
        labels=standard_labels(
            name=NAME, component="verify", version=settings.version, instance=settings.instance
        ),
        annotations={
            "workflows.argoproj.io/description": (
                "Checks that the cluster has what the enabled components of aphex need (CRDs, APIs, "
                "namespaces, Secrets, the EventBus); fails with the list of what is missing."
            ),
        },
        entrypoint="main",
        service_account_name=account,
        security_context=pod_security_context(),
        **workflow_pod_placement(settings),
        active_deadline_seconds=DEADLINE_SECONDS,
        ttl_strategy=TTLStrategy(seconds_after_success=24 * 3600, seconds_after_failure=3 * 24 * 3600),
        pod_gc=PodGC(strategy="OnPodSuccess"),
        archive_logs=settings.archive_logs,
    ) as template:
        verify = runner_step(
            verify_cluster,
            name="verify-cluster",
            image=settings.deployer_image,
            resources=settings.step_resources.light,
            # A lost pod is retried; a cluster that is not ready is a verdict, not a transient error.
            retry=RetryPolicy(limit=2, policy="OnError"),
            timeout="5m",
            service_account=account,
        )
        with DAG(name="main"):
            verify(
                name="verify",
                arguments={"checks": checks_to_json(checks)},
            )
    return template


def _get(group: str, resource: str, names: Sequence[str]) -> Manifest:
    return {"apiGroups": [group], "resources": [resource], "verbs": ["get"], "resourceNames": list(names)}


def _namespaced_rules(checks: Sequence[Check], namespace: str) -> list[Manifest]:
    """``get`` on the Secrets and EventBus objects the checks name in ``namespace``."""
    rules = []
    for kind, group, resource in (
        (CheckKind.SECRET, "", "secrets"),
        (CheckKind.EVENTBUS, "argoproj.io", "eventbus"),
    ):
        names = list(dict.fromkeys(c.name for c in checks if c.kind == kind and c.namespace == namespace))
        if names:
            rules.append(_get(group, resource, names))
    return rules


def verifier_rbac_objects(settings: BundleSettings, checks: Sequence[Check]) -> list[Manifest]:
    """The verifier's ServiceAccount and Role (the executor's rule and what ``checks`` read in its own
    namespace), a ClusterRole for the CRDs and namespaces they name, and a Role for each other
    namespace whose Secrets or EventBus they read.

    Namespaced objects are ``<instance>-verifier``; the cluster-scoped ones and the Roles in other
    namespaces ``<instance>-<namespace>-verifier`` (see :class:`aphex.dsl.settings.ObjectNames`).
    """
    account = settings.names.object(SERVICE_ACCOUNT_VERIFIER)
    reader = settings.names.cluster(SERVICE_ACCOUNT_VERIFIER)
    role = SERVICE_ACCOUNT_VERIFIER
    cluster_rules = [
        _get(group, resource, list(dict.fromkeys(c.name for c in checks if c.kind == kind)))
        for kind, group, resource in (
            (CheckKind.CRD, "apiextensions.k8s.io", "customresourcedefinitions"),
            (CheckKind.NAMESPACE, "", "namespaces"),
        )
        if any(c.kind == kind for c in checks)
    ]
    objects = [
        *account_objects(role, [EXECUTOR_RULE, *_namespaced_rules(checks, settings.namespace)], settings),
        cluster_role(reader, role, cluster_rules, settings),
        binding("ClusterRoleBinding", reader, role, "ClusterRole", reader, account, settings),
    ]
    others = dict.fromkeys(
        c.namespace for c in checks if c.kind in ("secret", "eventbus") and c.namespace != settings.namespace
    )
    for namespace in others:
        objects += [
            namespaced_role(reader, role, _namespaced_rules(checks, namespace), settings, namespace),
            binding("RoleBinding", reader, role, "Role", reader, account, settings, namespace=namespace),
        ]
    return objects
