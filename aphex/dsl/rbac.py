"""Kubernetes RBAC objects named and labelled like every object of an aphex instance.

Names derive from the instance (:class:`aphex.dsl.settings.ObjectNames`): namespaced objects are
``<instance>-<role>``, cluster-scoped ones ``<instance>-<namespace>-<role>`` so that two instances, even
two Helm releases of one name in different namespaces, never share an object. Rules use exact API groups
and no wildcards (https://kubernetes.io/docs/reference/access-authn-authz/rbac/).
"""

from typing import Any, Final

from aphex.dsl.labels import standard_labels
from aphex.dsl.settings import BundleSettings

__all__ = [
    "EXECUTOR_RULE",
    "RBAC_API",
    "Manifest",
    "account_objects",
    "binding",
    "cluster_role",
    "namespaced_role",
]

Manifest = dict[str, Any]

RBAC_API: Final = "rbac.authorization.k8s.io"
EXECUTOR_RULE: Final = {
    # Argo's executor reports a step's outputs through WorkflowTaskResults.
    "apiGroups": ["argoproj.io"],
    "resources": ["workflowtaskresults"],
    "verbs": ["create", "patch"],
}


def _meta(
    name: str, role: str, settings: BundleSettings, *, namespaced: bool = True, namespace: str | None = None
) -> Manifest:
    meta: Manifest = {
        "name": name,
        # str(): a role may be a StrEnum member, which YAML cannot write as a plain string.
        "labels": standard_labels(
            name=str(role), component="rbac", version=settings.version, instance=settings.instance
        ),
    }
    if namespaced:
        meta["namespace"] = settings.namespace if namespace is None else namespace
    return meta


def account_objects(role: str, rules: list[Manifest], settings: BundleSettings) -> list[Manifest]:
    """A ServiceAccount with a Role of ``rules`` bound to it, all named ``<instance>-<role>``."""
    name = settings.names.object(role)
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, role, settings)},
        {
            "apiVersion": f"{RBAC_API}/v1",
            "kind": "Role",
            "metadata": _meta(name, role, settings),
            "rules": rules,
        },
        binding("RoleBinding", name, role, "Role", name, name, settings),
    ]


def namespaced_role(
    name: str, role: str, rules: list[Manifest], settings: BundleSettings, namespace: str
) -> Manifest:
    """A Role of ``rules`` in ``namespace`` (another than the workflows namespace)."""
    return {
        "apiVersion": f"{RBAC_API}/v1",
        "kind": "Role",
        "metadata": _meta(name, role, settings, namespace=namespace),
        "rules": rules,
    }


def cluster_role(name: str, role: str, rules: list[Manifest], settings: BundleSettings) -> Manifest:
    return {
        "apiVersion": f"{RBAC_API}/v1",
        "kind": "ClusterRole",
        "metadata": _meta(name, role, settings, namespaced=False),
        "rules": rules,
    }


def binding(
    kind: str,
    name: str,
    role: str,
    role_kind: str,
    role_name: str,
    account: str,
    settings: BundleSettings,
    *,
    namespace: str | None = None,
) -> Manifest:
    """A binding of ``account`` (in the workflows namespace); a RoleBinding lives in ``namespace``,
    the workflows namespace unless given."""
    return {
        "apiVersion": f"{RBAC_API}/v1",
        "kind": kind,
        "metadata": _meta(name, role, settings, namespaced=kind == "RoleBinding", namespace=namespace),
        "roleRef": {"apiGroup": RBAC_API, "kind": role_kind, "name": role_name},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": settings.namespace}],
    }
