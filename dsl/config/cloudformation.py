"""The pipeline's own AWS resources as a CloudFormation template, derived from ``aphex-config.yaml``.

The self-update stage deploys this template before it regenerates the WorkflowTemplate. It holds:

- the artifact bucket: encrypted (SSE-S3, or SSE-KMS with a given key), versioned, all public access
  blocked, ACLs disabled, TLS required by its policy, artifacts and superseded versions expiring after
  ``pipeline.artifactRetentionDays``;
- one IAM role per stage kind, assumed through IRSA (EKS IAM roles for service accounts): each trusts only
  ``sts:AssumeRoleWithWebIdentity`` from the cluster's OIDC provider (imported from the CloudFormation
  export the cluster stack publishes) for one ServiceAccount of the pipeline's namespace.

The build role, which runs repository code, can only read and write objects in the bucket. The deploy
role reads objects and may assume only the environments' roles (or, for an environment without ``role``,
the CDK bootstrap roles of its account and region) and describe the configured stacks. The monitor role
publishes metrics in the ``AphexPipeline`` namespace, to the configured SNS topics, writes run metadata
under ``metadata/`` and reads the self-update outcome (``metadata/workflows/<id>/self-update.json``,
written by the self-update role, which the platform team creates). To read it, it may get objects under
``metadata/workflows/`` and list the bucket only under that prefix, so that a missing outcome is a 404 (S3
answers 403 to a ``GetObject`` of a missing key without ``s3:ListBucket``).

One ``Resource: "*"`` exists, where AWS requires it: ``cloudwatch:PutMetricData`` has no resource-level
permissions (it is narrowed by the ``cloudwatch:namespace`` condition key instead); see
:data:`WILDCARD_RESOURCE_EXCEPTIONS`. No statement allows ``Action: "*"``.

Names are left to CloudFormation (no fixed bucket or role names), so two pipelines never collide, and
every resource is tagged with the pipeline's name.
"""

from __future__ import annotations

import enum
import json
import re
from typing import Any, Final

from dsl.config.model import AphexConfig
from dsl.names import InvalidValue

__all__ = [
    "METRICS_NAMESPACE",
    "PIPELINE_TAG",
    "WILDCARD_RESOURCE_EXCEPTIONS",
    "PipelineRole",
    "pipeline_resources_template",
    "service_account_name",
]

METRICS_NAMESPACE: Final = "AphexPipeline"
PIPELINE_TAG: Final = "aphex:pipeline"
WILDCARD_RESOURCE_EXCEPTIONS: Final = {
    "cloudwatch:PutMetricData": "CloudWatch supports no resource-level permissions for PutMetricData; "
    "the statement is limited by the cloudwatch:namespace condition key",
}
"""Actions that AWS only authorises on ``Resource: "*"``, and how each is narrowed instead."""

_PIPELINE_NAME_MAX: Final = 50
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$")
_EXPORT_NAME = re.compile(r"^[A-Za-z0-9:-]{1,255}$")
_KMS_KEY_ARN = re.compile(r"^arn:aws(?:-[a-z-]+)?:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]{1,128}$")
_POLICY_VERSION: Final = "2012-10-17"


class PipelineRole(enum.Enum):
    """The IAM roles of a pipeline; each is bound to one ServiceAccount (``<pipeline>-<value>``)."""

    BUILD = "build"
    DEPLOY = "deploy"
    MONITOR = "monitor"

    @property
    def logical_id(self) -> str:
        """The role's logical id in the template (``BuildRole``)."""
        return f"{self.value.title()}Role"


def service_account_name(pipeline_name: str, role: PipelineRole) -> str:
    """The ServiceAccount whose pods may assume ``role``: ``<pipeline>-build`` and so on."""
    return f"{pipeline_name}-{role.value}"


def _check(field: str, value: str, pattern: re.Pattern[str], reason: str, max_length: int = 255) -> None:
    if not isinstance(value, str) or len(value) > max_length or not pattern.match(value):
        raise InvalidValue(field, value, reason)


def _bucket_arn() -> dict[str, Any]:
    return {"Fn::GetAtt": ["ArtifactBucket", "Arn"]}


def _objects(prefix: str = "") -> dict[str, Any]:
    return {"Fn::Sub": "${ArtifactBucket.Arn}/" + prefix + "*"}


def _statement(sid: str, actions: list[str], resources: list[Any], **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def _trust_policy(namespace: str, service_account: str, export: str) -> dict[str, Any]:
    """The IRSA trust policy, as ``Fn::Sub`` over JSON text: its condition keys name the OIDC issuer.

    CloudFormation cannot compute an object key, so the policy is a string whose ``${Issuer}`` is the
    provider ARN's part after ``oidc-provider/`` (``oidc.eks.<region>.amazonaws.com/id/<id>``).
    """
    document = {
        "Version": _POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": "${ProviderArn}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        "${Issuer}:aud": "sts.amazonaws.com",
                        "${Issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                    }
                },
            }
        ],
    }
    provider = {"Fn::ImportValue": export}
    issuer = {"Fn::Select": [1, {"Fn::Split": ["oidc-provider/", provider]}]}
    return {"Fn::Sub": [json.dumps(document, sort_keys=True), {"ProviderArn": provider, "Issuer": issuer}]}


def _kms_statement(kms_key_arn: str | None, actions: list[str]) -> list[dict[str, Any]]:
    return [] if kms_key_arn is None else [_statement("ArtifactKey", actions, [kms_key_arn])]


def _build_policy(kms_key_arn: str | None) -> list[dict[str, Any]]:
    return [
        _statement("ArtifactObjects", ["s3:GetObject", "s3:PutObject"], [_objects()]),
        *_kms_statement(kms_key_arn, ["kms:Decrypt", "kms:GenerateDataKey"]),
    ]


def _deploy_policy(config: AphexConfig, kms_key_arn: str | None) -> list[dict[str, Any]]:
    roles: list[str] = []
    stacks: list[str] = []
    for environment in config.environments:
        targets = (environment.role_arn,) if environment.role_arn else environment.cdk_bootstrap_role_arns()
        roles += [arn for arn in targets if arn not in roles]
        prefix = f"arn:{environment.partition}:cloudformation:{environment.region}:{environment.account}"
        stacks += [
            arn
            for arn in (f"{prefix}:stack/{stack.name}/*" for stack in environment.stacks)
            if arn not in stacks
        ]
    return [
        _statement("ArtifactObjects", ["s3:GetObject"], [_objects()]),
        *_kms_statement(kms_key_arn, ["kms:Decrypt"]),
        _statement("EnvironmentRoles", ["sts:AssumeRole"], list(roles)),
        _statement(
            "StackOutputsAndEvents",
            ["cloudformation:DescribeStackEvents", "cloudformation:DescribeStacks"],
            list(stacks),
        ),
    ]


def _monitor_policy(config: AphexConfig, kms_key_arn: str | None) -> list[dict[str, Any]]:
    statements = [
        _statement(
            "PipelineMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            Condition={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
        ),
        _statement("RunMetadata", ["s3:PutObject"], [_objects("metadata/")]),
        _statement("SelfUpdateOutcome", ["s3:GetObject"], [_objects("metadata/workflows/")]),
        _statement(
            "SelfUpdateOutcomeMissing",
            ["s3:ListBucket"],
            [_bucket_arn()],
            Condition={"StringLike": {"s3:prefix": "metadata/workflows/*"}},
        ),
        *_kms_statement(kms_key_arn, ["kms:Decrypt", "kms:GenerateDataKey"]),
    ]
    topics = list(config.notifications.sns_topic_arns)
    if topics:
        statements.append(_statement("Notifications", ["sns:Publish"], topics))
    return statements


def _tags(pipeline_name: str) -> list[dict[str, str]]:
    return [{"Key": PIPELINE_TAG, "Value": pipeline_name}]


def _role(
    role: PipelineRole, pipeline_name: str, namespace: str, export: str, statements: list[dict[str, Any]]
) -> dict[str, Any]:
    account = service_account_name(pipeline_name, role)
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": f"Aphex pipeline {pipeline_name}: {role.value} stage "
            f"(ServiceAccount {namespace}/{account})",
            "AssumeRolePolicyDocument": _trust_policy(namespace, account, export),
            "MaxSessionDuration": 3600,
            "Policies": [
                {
                    "PolicyName": f"aphex-{role.value}",
                    "PolicyDocument": {"Version": _POLICY_VERSION, "Statement": statements},
                }
            ],
            "Tags": _tags(pipeline_name),
        },
    }


def _bucket(config: AphexConfig, pipeline_name: str, kms_key_arn: str | None) -> dict[str, Any]:
    days = config.pipeline.artifact_retention_days
    encryption: dict[str, Any] = (
        {"SSEAlgorithm": "AES256"}
        if kms_key_arn is None
        else {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_arn}
    )
    return {
        "Type": "AWS::S3::Bucket",
        # Artifacts and run metadata are the pipeline's audit trail: deleting the stack keeps them.
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": encryption, "BucketKeyEnabled": kms_key_arn is not None}
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "Id": "expire-artifacts",
                        "Status": "Enabled",
                        "ExpirationInDays": days,
                        "NoncurrentVersionExpiration": {"NoncurrentDays": days},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                    }
                ]
            },
            "Tags": _tags(pipeline_name),
        },
    }


def _bucket_policy() -> dict[str, Any]:
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": {"Ref": "ArtifactBucket"},
            "PolicyDocument": {
                "Version": _POLICY_VERSION,
                "Statement": [
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": {"AWS": "*"},
                        "Action": "s3:*",
                        "Resource": [_bucket_arn(), _objects()],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            },
        },
    }


def pipeline_resources_template(
    config: AphexConfig,
    *,
    pipeline_name: str,
    namespace: str,
    oidc_provider_arn_export: str = "AphexCluster-OIDCProviderArn",
    kms_key_arn: str | None = None,
) -> dict[str, Any]:
    """The CloudFormation template of the pipeline's bucket and IRSA roles (JSON-serialisable, stable).

    ``pipeline_name`` names the ServiceAccounts (``<pipeline_name>-build``, ``-deploy``, ``-monitor``) in
    ``namespace`` and tags every resource; ``oidc_provider_arn_export`` is the export of the cluster's
    OIDC provider ARN; ``kms_key_arn`` switches the bucket from SSE-S3 to SSE-KMS with that key. Raises
    :class:`dsl.names.InvalidValue` naming the argument that is not acceptable.
    """
    _check(
        "pipelineName",
        pipeline_name,
        _DNS_LABEL,
        f"must be a DNS label of at most {_PIPELINE_NAME_MAX} characters",
        _PIPELINE_NAME_MAX,
    )
    _check("namespace", namespace, _DNS_LABEL, "must be a Kubernetes namespace name", 63)
    _check(
        "oidcProviderArnExport",
        oidc_provider_arn_export,
        _EXPORT_NAME,
        "must be a CloudFormation export name (letters, digits, ':' and '-')",
    )
    if kms_key_arn is not None:
        _check("kmsKeyArn", kms_key_arn, _KMS_KEY_ARN, "must be a KMS key ARN", 2048)

    def role(kind: PipelineRole, statements: list[dict[str, Any]]) -> dict[str, Any]:
        return _role(kind, pipeline_name, namespace, oidc_provider_arn_export, statements)

    resources = {
        "ArtifactBucket": _bucket(config, pipeline_name, kms_key_arn),
        "ArtifactBucketPolicy": _bucket_policy(),
        PipelineRole.BUILD.logical_id: role(PipelineRole.BUILD, _build_policy(kms_key_arn)),
        PipelineRole.DEPLOY.logical_id: role(PipelineRole.DEPLOY, _deploy_policy(config, kms_key_arn)),
        PipelineRole.MONITOR.logical_id: role(PipelineRole.MONITOR, _monitor_policy(config, kms_key_arn)),
    }
    outputs: dict[str, Any] = {
        "ArtifactBucketName": {
            "Description": "Artifacts under <commit-sha>/, run metadata under metadata/",
            "Value": {"Ref": "ArtifactBucket"},
        },
        "WorkflowTemplateName": {
            "Description": "The pipeline's WorkflowTemplate",
            "Value": config.pipeline.name or pipeline_name,
        },
    }
    for kind in PipelineRole:
        outputs[f"{kind.logical_id}Arn"] = {
            "Description": f"IRSA role of ServiceAccount {service_account_name(pipeline_name, kind)}",
            "Value": {"Fn::GetAtt": [kind.logical_id, "Arn"]},
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Aphex pipeline {pipeline_name}: artifact bucket and IRSA roles of its stages",
        "Resources": resources,
        "Outputs": outputs,
    }
