"""Offline evaluation of the bundle's ValidatingAdmissionPolicies with a real CEL engine (cel-python).

It follows the API server's validating admission policy plugin (kubernetes
staging/src/k8s.io/apiserver/pkg/admission/plugin/policy/validating, documented at
https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/):

- a policy applies when a binding names it and one of its ``matchConstraints.resourceRules`` matches the
  request's API group, resource and operation, and every ``matchConditions`` expression is true;
- the expressions see ``request`` (``operation``, ``resource``, ``namespace``, ``name``,
  ``userInfo``), ``object`` (null on DELETE), ``oldObject`` (null on CREATE), ``namespaceObject`` (the
  namespace of a namespaced object, null for a cluster-scoped one) and ``variables``, each computed
  from the variables before it;
- a request is denied when a validation is false, or, with ``failurePolicy: Fail``, when an
  expression cannot be evaluated; the binding's ``validationActions`` must contain ``Deny``.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import celpy
from celpy import json_to_cel

__all__ = ["AdmissionRequest", "denials"]

_ENVIRONMENT = celpy.Environment()


@dataclass(frozen=True, kw_only=True)
class AdmissionRequest:
    """One write as the admission chain sees it."""

    username: str
    operation: str
    group: str
    resource: str
    name: str
    namespace: str = ""
    object: Mapping[str, Any] | None = None
    old_object: Mapping[str, Any] | None = None
    namespace_object: Mapping[str, Any] | None = None
    groups: tuple[str, ...] = field(default=())


class _Failed(Exception):
    """An expression could not be evaluated (failurePolicy Fail denies)."""


def _evaluate(expression: str, activation: dict[str, Any]) -> Any:
    try:
        return _ENVIRONMENT.program(_ENVIRONMENT.compile(expression)).evaluate(activation)
    except (celpy.CELEvalError, celpy.CELParseError) as error:
        raise _Failed(f"{expression[:80]}...: {error}") from None


def _true(value: Any) -> bool:
    return isinstance(value, celpy.celtypes.BoolType) and bool(value)


def _matches(policy: Mapping[str, Any], request: AdmissionRequest) -> bool:
    for rule in policy["spec"]["matchConstraints"]["resourceRules"]:
        if (
            any(group in ("*", request.group) for group in rule["apiGroups"])
            and any(resource in ("*", request.resource) for resource in rule["resources"])
            and any(operation in ("*", request.operation) for operation in rule["operations"])
        ):
            return True
    return False


def _activation(request: AdmissionRequest) -> dict[str, Any]:
    return {
        "request": json_to_cel(
            {
                "operation": request.operation,
                "resource": {"group": request.group, "version": "v1", "resource": request.resource},
                "namespace": request.namespace,
                "name": request.name,
                "userInfo": {"username": request.username, "groups": list(request.groups)},
            }
        ),
        "object": json_to_cel(request.object),
        "oldObject": json_to_cel(request.old_object),
        "namespaceObject": json_to_cel(request.namespace_object),
    }


def _policy_denials(policy: Mapping[str, Any], request: AdmissionRequest) -> list[str]:
    spec = policy["spec"]
    activation = _activation(request)
    try:
        for condition in spec.get("matchConditions", []):
            if not _evaluate(condition["expression"], activation):
                return []
        variables = celpy.celtypes.MapType({})
        activation["variables"] = variables
        for variable in spec.get("variables", []):
            variables[celpy.celtypes.StringType(variable["name"])] = _evaluate(
                variable["expression"], activation
            )
        return [
            str(validation["message"])
            for validation in spec["validations"]
            if not _true(_evaluate(validation["expression"], activation))
        ]
    except _Failed as error:
        if spec.get("failurePolicy", "Fail") == "Fail":
            return [f"failed to evaluate: {error}"]
        return []


def denials(objects: Iterable[Mapping[str, Any]], request: AdmissionRequest) -> list[str]:
    """The messages of every bound policy that denies ``request`` (empty: admitted)."""
    objects = list(objects)
    bound = {
        o["spec"]["policyName"]
        for o in objects
        if o["kind"] == "ValidatingAdmissionPolicyBinding" and "Deny" in o["spec"]["validationActions"]
    }
    messages: list[str] = []
    for policy in objects:
        name = policy["metadata"]["name"]
        if policy["kind"] == "ValidatingAdmissionPolicy" and name in bound and _matches(policy, request):
            messages += _policy_denials(policy, request)
    return messages
