"""An offline evaluator of Kubernetes RBAC, enough to test the bundle's rules.

Implements the authorizer's rule matching (https://kubernetes.io/docs/reference/access-authn-authz/rbac/):
a request is allowed when some rule of a role bound to the subject matches its API group, resource,
verb and, when the rule names them, the resource name. RoleBindings apply in their own namespace;
ClusterRoleBindings everywhere. Wildcards are honoured so that a test can also prove their absence.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Request:
    """One API request by a ServiceAccount."""

    account: str
    account_namespace: str
    verb: str
    group: str
    resource: str
    namespace: str | None = None
    name: str | None = None


def _matches(values: Iterable[str], wanted: str) -> bool:
    return any(value in ("*", wanted) for value in values)


def _rule_allows(rule: Mapping[str, Any], request: Request) -> bool:
    names = rule.get("resourceNames")
    return (
        _matches(rule.get("apiGroups", []), request.group)
        and _matches(rule.get("resources", []), request.resource)
        and _matches(rule.get("verbs", []), request.verb)
        and (not names or request.name in names)
    )


def _bound(binding: Mapping[str, Any], request: Request) -> bool:
    return any(
        subject.get("kind") == "ServiceAccount"
        and subject.get("name") == request.account
        and subject.get("namespace") == request.account_namespace
        for subject in binding.get("subjects", [])
    )


def allowed(objects: Iterable[Mapping[str, Any]], request: Request) -> bool:
    """Whether the RBAC objects allow ``request``."""
    objects = list(objects)
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects}
    for binding in objects:
        kind = binding["kind"]
        if kind not in ("RoleBinding", "ClusterRoleBinding") or not _bound(binding, request):
            continue
        if kind == "RoleBinding" and binding["metadata"]["namespace"] != request.namespace:
            continue
        ref = binding["roleRef"]
        role_namespace = binding["metadata"]["namespace"] if ref["kind"] == "Role" else None
        role = roles.get((ref["kind"], role_namespace, ref["name"]))
        if role and any(_rule_allows(rule, request) for rule in role.get("rules", [])):
            return True
    return False
