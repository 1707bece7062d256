"""AWS sessions for the delivery pipeline's steps: the pipeline account's own, or a target account's role.

An environment may live in another account than the pipeline (the AWS "cross-account role" pattern,
https://docs.aws.amazon.com/IAM/latest/UserGuide/tutorial_cross-account-with-roles.html): the step then
calls STS ``AssumeRole`` on ``arn:<partition>:iam::<account>:role/<name>`` and works with the temporary
credentials. The partition follows from the region (``cn-`` is ``aws-cn``, ``us-gov-`` is ``aws-us-gov``
and so on). The session name is the workflow's name, so CloudTrail ties every call to one run.

Role-chained sessions (the pipeline's own credentials are already an assumed IRSA role) last at most one
hour (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use.html#id_roles_use_view-role-max-session),
while an environment's deploy may take longer. The assumed session's credentials are therefore
botocore ``RefreshableCredentials``: botocore calls ``AssumeRole`` again when fewer than 15 minutes are
left (its advisory refresh window; 10 minutes is mandatory), so every client of the session keeps working
for as long as the deploy runs. A child process cannot refresh them: :func:`credential_environment`
freezes the current ones, and the deploy step takes them again for every stack.

Endpoints: boto3 honours ``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``) by itself; an explicit
``endpoint_url`` is used for the STS call and by :func:`client`. Tests point both at a moto server.

boto3 and botocore's session and credential modules are imported by the functions that build sessions,
not by this module: the pipeline definitions import the step modules (Hera's runner needs the functions),
and ``aphex compile`` should not pay for AWS clients it never builds (benchmarks/compile_benchmark.py).
"""

import os
import re
from collections.abc import Mapping
from typing import Any

from aphex.dsl.config.model import CDK_QUALIFIER, partition_of
from aphex.dsl.names import InvalidValue

__all__ = [
    "ROLE_SESSION_SECONDS",
    "client",
    "credential_environment",
    "default_cross_account_role",
    "partition_for",
    "pod_session",
    "role_arn",
    "session_for",
    "session_name",
    "validate_account",
    "validate_bucket",
    "validate_region",
]


def default_cross_account_role(account: str, region: str) -> str:
    """The role entered in another account when the config names none: the CDK bootstrap deploy role
    (``cdk bootstrap --trust <pipeline account>`` makes it trust the pipeline). The pipeline's deploy
    IAM policy (aphex.dsl.config.cloudformation) allows exactly the bootstrap roles."""
    return f"cdk-{CDK_QUALIFIER}-deploy-role-{account}-{region}"


ROLE_SESSION_SECONDS = 3600
"""Requested lifetime of an assumed role's credentials: the most STS grants a role-chained session."""

_ACCOUNT = re.compile(r"^[0-9]{12}$")
_REGION = re.compile(r"^[a-z]{2,4}(?:-[a-z]+)+-[0-9]{1,2}$")
_ROLE_NAME = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,64}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SESSION_CHARS = re.compile(r"[^A-Za-z0-9+=,.@_-]+")


def validate_account(value: str, field: str = "account") -> str:
    """A 12-digit AWS account id (as a string: leading zeros matter)."""
    if not isinstance(value, str) or not _ACCOUNT.match(value):
        raise InvalidValue(field, value, "must be a 12-digit AWS account id")
    return value


def validate_region(value: str, field: str = "region") -> str:
    """An AWS region name such as ``eu-west-1``, ``us-gov-west-1`` or ``cn-north-1``."""
    if not isinstance(value, str) or not _REGION.match(value):
        raise InvalidValue(field, value, "must be an AWS region such as eu-west-1")
    return value


def validate_bucket(value: str, field: str = "bucket") -> str:
    """An S3 bucket name: 3-63 lowercase letters, digits, '.' and '-'."""
    if not isinstance(value, str) or not _BUCKET.match(value) or ".." in value:
        raise InvalidValue(field, value, "must be an S3 bucket name")
    return value


def partition_for(region: str) -> str:
    """The AWS partition of ``region`` (``aws`` unless the region belongs to another one)."""
    validate_region(region)
    return partition_of(region)


def role_arn(account: str, region: str, role: str) -> str:
    """The ARN of ``role`` (a name, or the role's full ARN) in ``account``, in ``region``'s partition."""
    validate_account(account)
    partition = partition_for(region)
    if role.startswith("arn:"):
        expected = f"arn:{partition}:iam::{account}:role/"
        name = role.removeprefix(expected)
        if not role.startswith(expected) or not _ROLE_NAME.match(name):
            raise InvalidValue("role", role, f"must be a role name or an ARN starting with {expected}")
        return role
    if not _ROLE_NAME.match(role):
        raise InvalidValue("role", role, "must be an IAM role name (1-64 of letters, digits and +=,.@_-)")
    return f"arn:{partition}:iam::{account}:role/{role}"


def session_name(workflow_name: str) -> str:
    """An STS session name (2-64 of ``[A-Za-z0-9+=,.@_-]``) derived from the workflow's name."""
    name = _SESSION_CHARS.sub("-", workflow_name).strip("-")[:64]
    return name if len(name) >= 2 else "aphex-pipeline"


def session_for(
    account: str,
    region: str,
    role: str,
    *,
    pipeline_account: str,
    workflow_name: str = "",
    endpoint_url: str | None = None,
    duration_seconds: int | None = None,
) -> Any:
    """A boto3 Session for ``account`` in ``region``.

    The pipeline's own session when the account is the pipeline's and no role is named; otherwise the
    session of the assumed role (``role``, or :func:`default_cross_account_role` when empty), whose
    credentials (``duration_seconds`` long, default :data:`ROLE_SESSION_SECONDS`) are assumed again
    before they expire.
    """
    duration_seconds = ROLE_SESSION_SECONDS if duration_seconds is None else duration_seconds
    validate_account(account)
    validate_account(pipeline_account, "pipeline-account")
    validate_region(region)
    import boto3  # type: ignore[import-untyped]
    import botocore.session  # type: ignore[import-untyped]
    from botocore.credentials import RefreshableCredentials  # type: ignore[import-untyped]

    if account == pipeline_account and not role:
        return boto3.Session(region_name=region)
    arn = role_arn(account, region, role or default_cross_account_role(account, region))
    sts = boto3.Session(region_name=region).client("sts", region_name=region, endpoint_url=endpoint_url)
    name = session_name(workflow_name)

    def assume() -> dict[str, str]:
        answer = sts.assume_role(RoleArn=arn, RoleSessionName=name, DurationSeconds=duration_seconds)
        credentials = answer["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    refreshable = RefreshableCredentials.create_from_metadata(
        metadata=assume(), refresh_using=assume, method="sts-assume-role"
    )
    core = botocore.session.Session()
    core.get_component("credential_provider").insert_before("env", _AssumedRole(refreshable))
    return boto3.Session(botocore_session=core, region_name=region)


def pod_session() -> Any:
    """The session of the pod's own credentials (boto3 resolves region, credentials and endpoint)."""
    import boto3

    return boto3.Session()


class _AssumedRole:
    """The first provider of a session's chain: the assumed role's refreshable credentials.

    What botocore's resolver asks of a provider (botocore credentials.py, CredentialResolver and
    CredentialProvider): a ``METHOD`` naming it, a ``CANONICAL_NAME`` (None: not selectable by
    ``credential_source``) and ``load``."""

    METHOD = "sts-assume-role"
    CANONICAL_NAME = None

    def __init__(self, credentials: Any) -> None:
        self._assumed = credentials

    def load(self) -> Any:
        return self._assumed


def client(session: Any, service: str, *, endpoint_url: str | None = None) -> Any:
    """A client of ``service`` from ``session`` (``endpoint_url`` overrides boto3's own resolution)."""
    if endpoint_url:
        return session.client(service, endpoint_url=endpoint_url)
    return session.client(service)


def credential_environment(session: Any, *, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables that hand ``session``'s credentials and region to a child process (the CDK CLI).

    ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN`` (when there is one),
    ``AWS_REGION`` and ``AWS_DEFAULT_REGION``; ``AWS_ENDPOINT_URL`` is passed on when this process has one.
    """
    env = os.environ if environ is None else environ
    credentials = session.get_credentials()
    if credentials is None:
        raise InvalidValue("account", "", "no AWS credentials are available to this step")
    frozen = credentials.get_frozen_credentials()
    out = {
        "AWS_ACCESS_KEY_ID": frozen.access_key,
        "AWS_SECRET_ACCESS_KEY": frozen.secret_key,
        "AWS_REGION": session.region_name,
        "AWS_DEFAULT_REGION": session.region_name,
    }
    if frozen.token:
        out["AWS_SESSION_TOKEN"] = frozen.token
    if env.get("AWS_ENDPOINT_URL"):
        out["AWS_ENDPOINT_URL"] = env["AWS_ENDPOINT_URL"]
    return out
