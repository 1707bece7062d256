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

from aphex.dsl.rbac import EXECUTOR_RULE, account_objects, binding, cluster_role, namespaced_role
from aphex.dsl.settings import BundleSettings
from aphex.dsl.steps import runner_step
from aphex.dsl.workflow_templates import template_basics
from aphex.workflows.steps.cluster_verify.checks import STAGE, Check, CheckKind, checks_to_json
from aphex.workflows.steps.common.accounts import Account

__all__ = [
    "NAME",
    "cluster_verify_template",
    "verifier_rbac_objects",
]

NAME: Final = "cluster-verify"
DEADLINE_SECONDS: Final = 600

Manifest = dict[str, Any]


def cluster_verify_template(settings: BundleSettings, checks: Sequence[Check]) -> WorkflowTemplate:
    """Build the ``cluster-verify`` WorkflowTemplate running ``checks``."""
    with WorkflowTemplate(
        **template_basics(
            settings,
            name=settings.names.template(NAME),
            app_name=NAME,
            component="verify",
            description=(
                "Checks that the cluster has what the enabled components of aphex need (CRDs, APIs, "
                "namespaces, Secrets, the EventBus); fails with the list of what is missing."
            ),
            service_account=settings.names.object(Account.VERIFIER),
        ),
        entrypoint="main",
        active_deadline_seconds=DEADLINE_SECONDS,
        ttl_strategy=TTLStrategy(seconds_after_success=24 * 3600, seconds_after_failure=3 * 24 * 3600),
        pod_gc=PodGC(strategy="OnPodSuccess"),
        archive_logs=settings.archive_logs,
    ) as template:
        verify = runner_step(STAGE, settings)
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
    account = settings.names.object(Account.VERIFIER)
    reader = settings.names.cluster(Account.VERIFIER)
    role = Account.VERIFIER
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
