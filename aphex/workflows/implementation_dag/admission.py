"""The admission policy that confines the preview deployer, the one aphex account with cluster-wide write.

RBAC cannot restrict a verb to namespaces that do not exist yet, or to namespaces by label: the deployer
must create namespaces and RoleBindings anywhere, and with ``bind`` on its workloads ClusterRole it could
bind that role to itself in any namespace. A ValidatingAdmissionPolicy (``admissionregistration.k8s.io/v1``,
GA since Kubernetes 1.30; https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/)
closes that: for requests of the deployer's user (``system:serviceaccount:<namespace>:<name>``) only,

- a namespace may be created, changed or deleted only when it is one of this deployer's previews (the
  name pattern of :func:`aphex.dsl.names.preview_namespace`, aphex's labels, Pod Security ``enforce`` at
  restricted or the configured level, ``warn`` and ``audit`` at restricted, and the deployer annotation
  naming this very user); a change keeps the ownership labels and can never turn a foreign namespace
  into a preview;
- a RoleBinding, ResourceQuota, LimitRange or NetworkPolicy may be written only inside such a namespace,
  and only as aphex writes it: the RoleBinding binds this user, alone, to its preview-workloads
  ClusterRole; the others carry exactly the specs of
  :func:`aphex.workflows.steps.implementation_dag.preview.guarded_specs`. None of them may be deleted (the
  namespace's deletion removes them).

Helm installs the pull request's chart under the same account, so the chart can do none of this either.
Variables the API server binds and this policy uses: ``request`` (``operation``, ``resource``,
``userInfo.username``), ``object`` (null on DELETE), ``oldObject`` (null on CREATE), ``namespaceObject``
(the namespace of a namespaced object) and ``variables``. ``failurePolicy: Fail``: an expression that
cannot be evaluated denies.
"""

import json
from typing import Any, Final

from aphex.dsl.labels import MANAGED_BY, standard_labels
from aphex.dsl.names import PREVIEW_NAMESPACE_PATTERN
from aphex.dsl.settings import BundleSettings
from aphex.workflows.implementation_dag.dag import (
    PREVIEW_WORKLOADS_ROLE,
    preview_quota_entries,
)
from aphex.workflows.steps.common.accounts import Account
from aphex.workflows.steps.implementation_dag.preview import (
    DEPLOYER_ANNOTATION,
    OWNERSHIP_LABELS,
    PREVIEW_LABEL,
    guarded_specs,
    pod_security_labels,
    preview_quota,
    service_account_user,
)

__all__ = ["ADMISSION_API", "POLICY_ROLE", "admission_objects", "deployer_policy"]

ADMISSION_API: Final = "admissionregistration.k8s.io/v1"
POLICY_ROLE: Final = "preview-deployer-confinement"
"""Role of the policy and its binding: ``<instance>-<namespace>-preview-deployer-confinement``."""

Manifest = dict[str, Any]

_GUARDED: Final = {
    "resourcequotas": "ResourceQuota",
    "limitranges": "LimitRange",
    "networkpolicies": "NetworkPolicy",
}
_PSA: Final = "pod-security.kubernetes.io/"


def _cel(value: Any) -> str:
    """A CEL literal of a JSON value (JSON's strings, numbers, lists, maps, true/false/null are CEL)."""
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def _has_label(subject: str, key: str, value: str) -> str:
    return (
        f"{_cel(key)} in {subject}.metadata.labels && {subject}.metadata.labels[{_cel(key)}] == {_cel(value)}"
    )


def _owned(subject: str, level: str) -> str:
    """CEL: ``subject`` (a Namespace) is a preview of the requesting deployer."""
    enforce = f"{_PSA}enforce"
    return " && ".join(
        [
            f"{subject}.metadata.name.matches({_cel(PREVIEW_NAMESPACE_PATTERN)})",
            f"has({subject}.metadata.labels)",
            f"has({subject}.metadata.annotations)",
            _has_label(subject, "app.kubernetes.io/managed-by", MANAGED_BY),
            _has_label(subject, PREVIEW_LABEL, "true"),
            *(f"{_cel(key)} in {subject}.metadata.labels" for key in OWNERSHIP_LABELS),
            f"{_cel(enforce)} in {subject}.metadata.labels",
            f"{subject}.metadata.labels[{_cel(enforce)}] in {_cel(['restricted', level])}",
            _has_label(subject, f"{_PSA}warn", "restricted"),
            _has_label(subject, f"{_PSA}audit", "restricted"),
            f"{_cel(DEPLOYER_ANNOTATION)} in {subject}.metadata.annotations",
            f"{subject}.metadata.annotations[{_cel(DEPLOYER_ANNOTATION)}] == request.userInfo.username",
        ]
    )


def _rule(group: str, resources: list[str]) -> Manifest:
    return {
        "apiGroups": [group],
        "apiVersions": ["*"],
        "operations": ["CREATE", "UPDATE", "DELETE"],
        "resources": resources,
    }


def _validations(settings: BundleSettings) -> list[Manifest]:
    level = settings.preview_pod_security
    pod_security_labels(level)  # the settings' level is one a preview may enforce
    account = settings.names.object(Account.PREVIEW_DEPLOYER)
    workloads_role = settings.names.cluster(PREVIEW_WORKLOADS_ROLE)
    ownership = _cel(list(OWNERSHIP_LABELS))
    quota = preview_quota(json.dumps(preview_quota_entries(settings)))
    specs = guarded_specs(settings.ingress_namespace, quota)
    guarded_checks = " || ".join(
        f"(request.resource.resource == {_cel(resource)} && object.metadata.name == {_cel(name)} "
        f"&& object.spec == {_cel(spec)})"
        for resource, kind in _GUARDED.items()
        for (spec_kind, name), spec in specs.items()
        if spec_kind == kind
    )
    return [
        {
            "expression": "variables.owned",
            "message": (
                "the preview deployer may create, change and delete only its own preview namespaces "
                "(impl-pr-<N>-<repo>-<hash>, labelled by aphex, Pod Security enforced, annotated with "
                "the deployer) and write only inside them"
            ),
            "reason": "Forbidden",
        },
        {
            "expression": (
                "!variables.isNamespace || request.operation != 'UPDATE' || "
                f"(({_owned('oldObject', level)}) && {ownership}.all(key, "
                "object.metadata.labels[key] == oldObject.metadata.labels[key]))"
            ),
            "message": (
                "a preview namespace stays a preview and keeps its owner, repository and pull request labels"
            ),
            "reason": "Forbidden",
        },
        {
            "expression": "variables.isNamespace || request.operation != 'DELETE'",
            "message": "a preview's quota, LimitRange, NetworkPolicies and RoleBinding are never deleted",
            "reason": "Forbidden",
        },
        {
            "expression": (
                "request.resource.resource != 'rolebindings' || request.operation == 'DELETE' || ("
                f"object.metadata.name == {_cel(account)} "
                "&& object.roleRef.apiGroup == 'rbac.authorization.k8s.io' "
                "&& object.roleRef.kind == 'ClusterRole' "
                f"&& object.roleRef.name == {_cel(workloads_role)} "
                "&& size(object.subjects) == 1 "
                "&& object.subjects[0].kind == 'ServiceAccount' "
                f"&& object.subjects[0].name == {_cel(account)} "
                f"&& object.subjects[0].namespace == {_cel(settings.namespace)})"
            ),
            "message": "the preview deployer may bind only itself, only to its preview-workloads ClusterRole",
            "reason": "Forbidden",
        },
        {
            "expression": (
                f"!(request.resource.resource in {_cel(list(_GUARDED))}) || request.operation == 'DELETE' "
                f"|| {guarded_checks}"
            ),
            "message": "a preview's ResourceQuota, LimitRange and NetworkPolicies are exactly aphex's",
            "reason": "Forbidden",
        },
    ]


def deployer_policy(settings: BundleSettings) -> list[Manifest]:
    """The ValidatingAdmissionPolicy confining the preview deployer, and its binding (Deny)."""
    name = settings.names.cluster(POLICY_ROLE)
    level = settings.preview_pod_security
    user = service_account_user(settings.namespace, settings.names.object(Account.PREVIEW_DEPLOYER))
    labels = standard_labels(
        name=POLICY_ROLE, component="admission", version=settings.version, instance=settings.instance
    )
    policy = {
        "apiVersion": ADMISSION_API,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    _rule("", ["namespaces", "resourcequotas", "limitranges"]),
                    _rule("networking.k8s.io", ["networkpolicies"]),
                    _rule("rbac.authorization.k8s.io", ["rolebindings"]),
                ]
            },
            "matchConditions": [
                {"name": "preview-deployer", "expression": f"request.userInfo.username == {_cel(user)}"}
            ],
            "variables": [  # evaluated lazily, in order (a variable may use the earlier ones)
                {
                    "name": "isNamespace",
                    "expression": "request.resource.group == '' && request.resource.resource == 'namespaces'",
                },
                {
                    # The namespace a request writes: the Namespace itself, or the one holding the object.
                    "name": "namespace",
                    "expression": (
                        "variables.isNamespace ? (request.operation == 'DELETE' ? oldObject : object) "
                        ": namespaceObject"
                    ),
                },
                {
                    "name": "owned",
                    # Never null for the resources matched: an error would deny (failurePolicy Fail).
                    "expression": _owned("variables.namespace", level),
                },
            ],
            "validations": _validations(settings),
        },
    }
    binding = {
        "apiVersion": ADMISSION_API,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": labels},
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    }
    return [policy, binding]


def admission_objects(settings: BundleSettings) -> list[Manifest]:
    """Every admission object of the bundle (only the deployer has cluster-wide write)."""
    return deployer_policy(settings)
