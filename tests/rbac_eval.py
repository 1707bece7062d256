"""An offline evaluator of Kubernetes RBAC, enough to test the bundle's rules.

Implements the authorizer's rule matching (https://kubernetes.io/docs/reference/access-authn-authz/rbac/):
a request is allowed when some rule of a role bound to the subject matches its API group, resource,
verb and, when the rule names them, the resource name. RoleBindings apply in their own namespace;
ClusterRoleBindings everywhere. Wildcards are honoured so that a test can also prove their absence.
:func:`self_binding_closure` adds what an account can grant itself with ``create rolebindings`` and
``bind``/``escalate`` (or roles whose rules it already holds), optionally under an admission policy.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
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


Admit = Callable[[Mapping[str, Any]], bool]
"""Whether admission lets the account create this RoleBinding (``lambda _: True``: no policy)."""
_RBAC_API = "rbac.authorization.k8s.io"


def _may_bind(
    objects: list[Mapping[str, Any]], account: Request, role: Mapping[str, Any], namespace: str
) -> bool:
    """RBAC's escalation check for a binding (the RBAC docs, "Restrictions on role binding creation or
    update"): ``bind`` on the role, or ``escalate``, or the account already holds every rule of it."""
    kind = "clusterroles" if role["kind"] == "ClusterRole" else "roles"
    name = role["metadata"]["name"]
    for verb in ("bind", "escalate"):
        for scope in (None, namespace):  # a ClusterRole granting it, or a Role in the namespace
            if allowed(
                objects,
                replace(account, verb=verb, group=_RBAC_API, resource=kind, namespace=scope, name=name),
            ):
                return True
    for rule in role.get("rules", []):
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                for verb in rule.get("verbs", []):
                    held = replace(account, verb=verb, group=group, resource=resource, namespace=namespace)
                    if "*" in (group, resource, verb) or not allowed(objects, held):
                        return False
    return True


def self_binding_closure(
    objects: Iterable[Mapping[str, Any]],
    *,
    account: str,
    account_namespace: str,
    namespaces: Iterable[str],
    admit: Admit,
) -> list[Mapping[str, Any]]:
    """The RBAC objects once ``account`` has granted itself everything it can: while it may create a
    RoleBinding in one of ``namespaces`` (RBAC allows ``create rolebindings`` there and ``admit``
    admits it) to a role it may bind, that binding is added. Each round can only add rights, so the
    loop ends."""
    current = list(objects)
    subject = {"kind": "ServiceAccount", "name": account, "namespace": account_namespace}
    who = Request(account=account, account_namespace=account_namespace, verb="", group="", resource="")
    changed = True
    while changed:
        changed = False
        roles = [o for o in current if o["kind"] in ("ClusterRole", "Role")]
        for namespace in namespaces:
            create = replace(
                who, verb="create", group=_RBAC_API, resource="rolebindings", namespace=namespace
            )
            if not allowed(current, create):
                continue
            for role in roles:
                if role["kind"] == "Role" and role["metadata"].get("namespace") != namespace:
                    continue
                binding = {
                    "apiVersion": f"{_RBAC_API}/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": account, "namespace": namespace},
                    "roleRef": {
                        "apiGroup": _RBAC_API,
                        "kind": role["kind"],
                        "name": role["metadata"]["name"],
                    },
                    "subjects": [subject],
                }
                if binding in current or not _may_bind(current, who, role, namespace) or not admit(binding):
                    continue
                current.append(binding)
                changed = True
    return current
