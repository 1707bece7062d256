"""An offline evaluator of the pipeline's generated IAM policies, for the AWS calls its steps make.

It answers "does this identity policy allow this call?" the way IAM evaluates identity policies
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html): an explicit
``Deny`` wins, otherwise some ``Allow`` statement must match the action, the resource and every
condition; nothing matching is an implicit deny. Actions match case-insensitively, resources
case-sensitively, both with IAM's wildcards ``*`` (any run of characters, ``/`` included) and ``?`` (one
character) (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
Conditions: ``StringEquals``, ``StringNotEquals``, ``StringLike``, ``StringNotLike`` and ``Bool``; any other
operator, or a key the call does not supply, does not match (a condition IAM could satisfy is never
assumed to be satisfied).

Policies of :mod:`aphex.dsl.config.cloudformation` hold CloudFormation intrinsics; :func:`resolve` replaces
``Fn::Sub``, ``Ref`` and ``Fn::GetAtt`` with the values of a deployed stack.

A call is described by :func:`call_authorization`: the IAM action of a botocore operation (the service's
botocore service name and the operation, except where IAM names it otherwise: :data:`ACTION_EXCEPTIONS`), the
resource ARN it acts on and the condition keys it supplies. An operation without a known resource is
refused (:class:`UnknownCall`) rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aphex.dsl.errors import DefinitionError

__all__ = [
    "ACTION_EXCEPTIONS",
    "Call",
    "UnknownCall",
    "allows",
    "call_authorization",
    "resolve",
    "sse_kms_calls",
]

ACTION_EXCEPTIONS: Final[Mapping[tuple[str, str], str]] = {
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
}
"""Operations whose IAM action is not ``<service>:<operation>`` (Service Authorization Reference)."""

_NO_AUTHORIZATION: Final = frozenset({("sts", "GetCallerIdentity")})
"""Operations IAM always allows (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html)."""

_SSE_KMS_ACTIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "PutObject": ("kms:GenerateDataKey",),
    "CreateMultipartUpload": ("kms:GenerateDataKey", "kms:Decrypt"),
    "GetObject": ("kms:Decrypt",),
}
"""What S3 asks of KMS, with the caller's rights, for an object call on a bucket whose default encryption
is SSE-KMS (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html, "Permissions":
a write needs ``kms:GenerateDataKey``, a read ``kms:Decrypt``, a multipart upload both)."""

_SUB = re.compile(r"\$\{([^}!]+)\}")


class UnknownCall(DefinitionError):
    """A call whose resource this evaluator does not know: add it rather than guess."""


@dataclass(frozen=True, kw_only=True)
class Call:
    """What IAM authorises for one API call."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


def resolve(value: Any, variables: Mapping[str, str]) -> Any:
    """``value`` with ``Fn::Sub``, ``Ref`` and ``Fn::GetAtt`` replaced from ``variables``
    (``AWS::AccountId``, ``ArtifactBucket.Arn``, ...); a missing variable raises ``KeyError``."""
    if isinstance(value, list):
        return [resolve(item, variables) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::Sub"}:
        argument = value["Fn::Sub"]
        text, extra = (argument, {}) if isinstance(argument, str) else argument
        scope = {**variables, **{k: resolve(v, variables) for k, v in extra.items()}}
        return _SUB.sub(lambda match: str(scope[match.group(1)]), text)
    if set(value) == {"Ref"}:
        return variables[value["Ref"]]
    if set(value) == {"Fn::GetAtt"}:
        resource, attribute = value["Fn::GetAtt"]
        return variables[f"{resource}.{attribute}"]
    return {key: resolve(item, variables) for key, item in value.items()}


def _pattern(text: str, *, case_sensitive: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(f"^{body}$", 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


def _matches(patterns: str | Sequence[str], value: str, *, case_sensitive: bool) -> bool:
    listed = [patterns] if isinstance(patterns, str) else list(patterns)
    return any(_pattern(p, case_sensitive=case_sensitive).match(value) for p in listed)


def _condition_holds(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    for operator, keys in condition.items():
        for key, expected in keys.items():
            values = [expected] if isinstance(expected, str | bool) else list(expected)
            supplied = context.get(key)
            if supplied is None:
                return False
            if operator == "StringEquals":
                ok = supplied in [str(v) for v in values]
            elif operator == "StringNotEquals":
                ok = supplied not in [str(v) for v in values]
            elif operator == "StringLike":
                ok = _matches([str(v) for v in values], supplied, case_sensitive=True)
            elif operator == "StringNotLike":
                ok = not _matches([str(v) for v in values], supplied, case_sensitive=True)
            elif operator == "Bool":
                ok = supplied.lower() in [str(v).lower() for v in values]
            else:
                return False
            if not ok:
                return False
    return True


def _applies(statement: Mapping[str, Any], call: Call) -> bool:
    if "NotAction" in statement or "NotResource" in statement:
        return False  # the generated policies use neither; refuse rather than half-evaluate them
    return (
        _matches(statement["Action"], call.action, case_sensitive=False)
        and _matches(statement["Resource"], call.resource, case_sensitive=True)
        and _condition_holds(statement.get("Condition", {}), call.context)
    )


def allows(statements: Sequence[Mapping[str, Any]], call: Call) -> bool:
    """Whether an identity policy of ``statements`` (resolved) allows ``call``."""
    applying = [s for s in statements if _applies(s, call)]
    if any(s["Effect"] == "Deny" for s in applying):
        return False
    return any(s["Effect"] == "Allow" for s in applying)


def _s3(operation: str, params: Mapping[str, Any], partition: str) -> tuple[str, dict[str, str]]:
    bucket = str(params["Bucket"])
    if "Key" in params:
        return f"arn:{partition}:s3:::{bucket}/{params['Key']}", {}
    context = {"s3:prefix": str(params.get("Prefix", ""))} if operation.startswith("List") else {}
    return f"arn:{partition}:s3:::{bucket}", context


def sse_kms_calls(service: str, operation: str, key_arn: str) -> list[Call]:
    """The KMS calls S3 makes for ``service.operation`` on an object of a bucket encrypted with
    ``key_arn`` (none for other calls); they need the caller's identity policy to allow them."""
    if service != "s3":
        return []
    return [Call(action=action, resource=key_arn) for action in _SSE_KMS_ACTIONS.get(operation, ())]


def call_authorization(
    service: str,
    operation: str,
    params: Mapping[str, Any],
    *,
    region: str,
    account: str,
    partition: str = "aws",
) -> Call | None:
    """What IAM checks for the botocore call ``service.operation(**params)`` made in ``account`` and
    ``region``; None for a call IAM always allows. Raises :class:`UnknownCall` for an unmapped one."""
    if (service, operation) in _NO_AUTHORIZATION:
        return None
    action = ACTION_EXCEPTIONS.get((service, operation), f"{service}:{operation}")
    context: dict[str, str] = {}
    if service == "s3" and "Bucket" in params:
        resource, context = _s3(operation, params, partition)
    elif service == "cloudformation" and "StackName" in params:
        name = str(params["StackName"])
        # A stack's ARN ends in its id, unknown here: any id matches the policies' ``stack/<name>/*``.
        stack_id = "00000000-0000-0000-0000-000000000000"
        prefix = f"arn:{partition}:cloudformation:{region}:{account}"
        resource = name if name.startswith("arn:") else f"{prefix}:stack/{name}/{stack_id}"
    elif service == "sts" and "RoleArn" in params:
        resource = str(params["RoleArn"])
    elif service == "sns" and "TopicArn" in params:
        resource = str(params["TopicArn"])
    elif (service, operation) == ("cloudwatch", "PutMetricData"):
        resource = "*"  # no resource-level permissions: narrowed by the namespace condition key
        context = {"cloudwatch:namespace": str(params["Namespace"])}
    else:
        raise UnknownCall(f"{service}.{operation}: no resource known for this call")
    return Call(action=action, resource=resource, context=context)
