"""ServiceAccounts, Roles and bindings of the implementation DAG and the agent templates.

One ServiceAccount per kind of stage, each with exactly the rules its steps use (exact API groups, no
wildcards; see https://kubernetes.io/docs/reference/access-authn-authz/rbac/):

- ``aphex-steps``: pods that only compute or call GitHub; needs only what Argo's executor needs to
  report outputs (``workflowtaskresults``).
- ``aphex-agents``: creates the agent platform's ``coderuns``/``docsruns`` and watches them.
- ``aphex-preview-deployer``: manages ``impl-pr-*`` namespaces and, inside each one, binds itself to
  ``aphex-preview-workloads`` with a RoleBinding; that is the only way it reaches workloads and Secrets
  (Helm's release storage), so it cannot read Secrets of namespaces it did not create.
"""

from typing import Any, Final

from dsl.labels import standard_labels
from dsl.settings import BundleSettings
from workflows.agents import AGENTS_SERVICE_ACCOUNT, STEPS_SERVICE_ACCOUNT
from workflows.implementation_dag import DEPLOYER_SERVICE_ACCOUNT
from workflows.steps.preview import PREVIEW_WORKLOADS_CLUSTER_ROLE

__all__ = ["rbac_objects"]

Manifest = dict[str, Any]

_RBAC_API: Final = "rbac.authorization.k8s.io"
_EXECUTOR_RULE: Final = {
    # Argo's executor reports a step's outputs through WorkflowTaskResults.
    "apiGroups": ["argoproj.io"],
    "resources": ["workflowtaskresults"],
    "verbs": ["create", "patch"],
}
_WORKLOAD_VERBS: Final = ["get", "list", "watch", "create", "update", "patch", "delete"]
_PREVIEW_WORKLOAD_RULES: Final = [
    {
        "apiGroups": [""],
        "resources": [
            "configmaps",
            "persistentvolumeclaims",
            "secrets",
            "serviceaccounts",
            "services",
        ],
        "verbs": _WORKLOAD_VERBS,
    },
    {
        "apiGroups": [""],
        "resources": ["pods", "pods/log", "events", "endpoints"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": [""], "resources": ["resourcequotas"], "verbs": _WORKLOAD_VERBS},
    {
        "apiGroups": ["apps"],
        "resources": ["deployments", "statefulsets", "replicasets", "daemonsets"],
        "verbs": _WORKLOAD_VERBS,
    },
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": _WORKLOAD_VERBS},
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["ingresses", "networkpolicies"],
        "verbs": _WORKLOAD_VERBS,
    },
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": _WORKLOAD_VERBS},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _WORKLOAD_VERBS},
]


def _meta(name: str, settings: BundleSettings, *, namespaced: bool = True) -> Manifest:
    meta: Manifest = {
        "name": name,
        "labels": standard_labels(name=name, component="rbac", version=settings.version),
    }
    if namespaced:
        meta["namespace"] = settings.namespace
    return meta


def _service_account(name: str, settings: BundleSettings) -> Manifest:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, settings)}


def _role(name: str, rules: list[Manifest], settings: BundleSettings) -> Manifest:
    return {
        "apiVersion": f"{_RBAC_API}/v1",
        "kind": "Role",
        "metadata": _meta(name, settings),
        "rules": rules,
    }


def _cluster_role(name: str, rules: list[Manifest], settings: BundleSettings) -> Manifest:
    return {
        "apiVersion": f"{_RBAC_API}/v1",
        "kind": "ClusterRole",
        "metadata": _meta(name, settings, namespaced=False),
        "rules": rules,
    }


def _binding(
    kind: str, name: str, role_kind: str, role: str, account: str, settings: BundleSettings
) -> Manifest:
    return {
        "apiVersion": f"{_RBAC_API}/v1",
        "kind": kind,
        "metadata": _meta(name, settings, namespaced=kind == "RoleBinding"),
        "roleRef": {"apiGroup": _RBAC_API, "kind": role_kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": settings.namespace}],
    }


def rbac_objects(settings: BundleSettings) -> list[Manifest]:
    """Every RBAC object of the implementation DAG and the agent templates."""
    agent_resources = ["coderuns", "docsruns"]
    namespaces_role = "aphex-preview-namespaces"
    return [
        _service_account(STEPS_SERVICE_ACCOUNT, settings),
        _role(STEPS_SERVICE_ACCOUNT, [_EXECUTOR_RULE], settings),
        _binding(
            "RoleBinding",
            STEPS_SERVICE_ACCOUNT,
            "Role",
            STEPS_SERVICE_ACCOUNT,
            STEPS_SERVICE_ACCOUNT,
            settings,
        ),
        _service_account(AGENTS_SERVICE_ACCOUNT, settings),
        _role(
            AGENTS_SERVICE_ACCOUNT,
            [
                _EXECUTOR_RULE,
                {
                    "apiGroups": [settings.agent_api_group],
                    "resources": agent_resources,
                    "verbs": ["create", "get", "list", "watch"],
                },
            ],
            settings,
        ),
        _binding(
            "RoleBinding",
            AGENTS_SERVICE_ACCOUNT,
            "Role",
            AGENTS_SERVICE_ACCOUNT,
            AGENTS_SERVICE_ACCOUNT,
            settings,
        ),
        _service_account(DEPLOYER_SERVICE_ACCOUNT, settings),
        _role(DEPLOYER_SERVICE_ACCOUNT, [_EXECUTOR_RULE], settings),
        _binding(
            "RoleBinding",
            DEPLOYER_SERVICE_ACCOUNT,
            "Role",
            DEPLOYER_SERVICE_ACCOUNT,
            DEPLOYER_SERVICE_ACCOUNT,
            settings,
        ),
        _cluster_role(
            namespaces_role,
            [
                {
                    "apiGroups": [""],
                    "resources": ["namespaces"],
                    "verbs": ["get", "list", "create", "patch", "delete"],
                },
                {
                    "apiGroups": [_RBAC_API],
                    "resources": ["rolebindings"],
                    "verbs": ["get", "create", "patch"],
                },
                {
                    "apiGroups": [_RBAC_API],
                    "resources": ["clusterroles"],
                    "verbs": ["bind"],
                    "resourceNames": [PREVIEW_WORKLOADS_CLUSTER_ROLE],
                },
            ],
            settings,
        ),
        _binding(
            "ClusterRoleBinding",
            f"{namespaces_role}-{settings.namespace}",
            "ClusterRole",
            namespaces_role,
            DEPLOYER_SERVICE_ACCOUNT,
            settings,
        ),
        _cluster_role(PREVIEW_WORKLOADS_CLUSTER_ROLE, _PREVIEW_WORKLOAD_RULES, settings),
    ]
