"""The pipeline's own AWS resources as a CloudFormation template, derived from ``aphex-config.yaml``.

The self-update stage deploys this template before it regenerates the WorkflowTemplate. It holds:

- the artifact bucket: encrypted (SSE-S3, or SSE-KMS with ``pipeline.artifactKmsKeyArn`` and an S3
  Bucket Key; steps send no encryption headers, S3 applies the bucket's default to every object),
  versioned, all public access blocked, ACLs disabled, TLS required by its policy, artifacts and
  superseded versions expiring after ``pipeline.artifactRetentionDays``;
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

Names: the stack is ``<pipeline>`` (``<instance>-<name>``), or ``<cluster>-<pipeline>`` when a cluster is
named, and it imports the cluster's OIDC provider ARN from ``AphexCluster-OIDCProviderArn``, or
``AphexCluster-<cluster>-OIDCProviderArn`` (:func:`oidc_provider_export`, written by
:func:`cluster_export_template`), so two clusters in one account and region never share a stack or an
export. Its outputs are exported as ``<stack>-<output>``. Role names are left to CloudFormation, under
the IAM path ``/aphex/<stack>/``; the bucket is ``aphex-<12 hex digits of the stack name's
SHA-256>-<account>-<region>``. Both are therefore known before the stack exists, which is what lets the
self-update role (:func:`self_update_template`, a stack of its own: a stack cannot create the role that
deploys it) be limited to exactly this stack's roles and bucket. That role lives under another path,
``/aphex-self-update/<stack>/``, so it can never change its own policy. Every resource is tagged with the
pipeline's name.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from typing import Any, Final

from aphex.dsl.config.model import AphexConfig
from aphex.dsl.names import KMS_KEY_ARN_PATTERN, InvalidValue, validate_dns_label

__all__ = [
    "DEFAULT_WORKFLOW_TEMPLATE",
    "METRICS_NAMESPACE",
    "PIPELINE_TAG",
    "SELF_UPDATE_OUTPUT",
    "SELF_UPDATE_SERVICE_ACCOUNT",
    "WILDCARD_RESOURCE_EXCEPTIONS",
    "PipelineRole",
    "cluster_export_template",
    "oidc_provider_export",
    "pipeline_resources_template",
    "pipeline_stack_name",
    "self_update_stack_name",
    "self_update_statements",
    "self_update_template",
    "service_account_name",
    "validate_cluster",
    "workflow_template_name",
]

DEFAULT_WORKFLOW_TEMPLATE: Final = "aphex-pipeline"
"""The pipeline's WorkflowTemplate when ``pipeline.name`` is unset."""
SELF_UPDATE_SERVICE_ACCOUNT: Final = "self-update"
"""Suffix of the self-update stage's ServiceAccount, ``<pipeline>-self-update``."""
SELF_UPDATE_OUTPUT: Final = "SelfUpdateRoleArn"
"""The self-update stack's output: the role's ARN."""
METRICS_NAMESPACE: Final = "AphexPipeline"
PIPELINE_TAG: Final = "aphex:pipeline"
WILDCARD_RESOURCE_EXCEPTIONS: Final = {
    "cloudwatch:PutMetricData": "CloudWatch supports no resource-level permissions for PutMetricData; "
    "the statement is limited by the cloudwatch:namespace condition key",
}
"""Actions that AWS only authorises on ``Resource: "*"``, and how each is narrowed instead."""

_PIPELINE_NAME_MAX: Final = 50
_EXPORT_NAME = re.compile(r"^[A-Za-z0-9:-]{1,255}$")
_CLUSTER = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,39}$")
_OIDC_PROVIDER_ARN = re.compile(
    r"^arn:aws(?:-[a-z-]+)?:iam::[0-9]{12}:oidc-provider/[A-Za-z0-9.-]+(?:/[A-Za-z0-9._-]+)*$"
)
_KMS_KEY_ARN = re.compile(KMS_KEY_ARN_PATTERN)
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


def workflow_template_name(config: AphexConfig) -> str:
    """The pipeline's WorkflowTemplate: ``pipeline.name``, else :data:`DEFAULT_WORKFLOW_TEMPLATE`."""
    return config.pipeline.name or DEFAULT_WORKFLOW_TEMPLATE


def validate_cluster(cluster: str) -> str:
    """A cluster name as it appears in stack and export names (empty: the account has one cluster)."""
    if cluster:
        _check("cluster", cluster, _CLUSTER, "must be a letter, then at most 39 letters, digits or '-'", 40)
    return cluster


def oidc_provider_export(cluster: str = "") -> str:
    """The export holding the cluster's OIDC provider ARN, which the pipeline's roles trust."""
    return (
        f"AphexCluster-{validate_cluster(cluster)}-OIDCProviderArn"
        if cluster
        else "AphexCluster-OIDCProviderArn"
    )


def pipeline_stack_name(pipeline_name: str, cluster: str = "") -> str:
    """The pipeline's stack: ``<pipeline>``, or ``<cluster>-<pipeline>``."""
    return f"{validate_cluster(cluster)}-{pipeline_name}" if cluster else pipeline_name


def self_update_stack_name(pipeline_name: str, cluster: str = "") -> str:
    """The stack of the pipeline's self-update role: ``<pipeline stack>-self-update``."""
    return f"{pipeline_stack_name(pipeline_name, cluster)}-{SELF_UPDATE_SERVICE_ACCOUNT}"


def _role_path(stack_name: str) -> str:
    return f"/aphex/{stack_name}/"


def _bucket_name(stack_name: str) -> str:
    """``aphex-<hash>-<account>-<region>`` as ``Fn::Sub`` text (at most 47 characters: a valid bucket)."""
    digest = hashlib.sha256(stack_name.encode()).hexdigest()[:12]
    return f"aphex-{digest}-${{AWS::AccountId}}-${{AWS::Region}}"


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


def _metrics_statement() -> dict[str, Any]:
    return _statement(
        "PipelineMetrics",
        ["cloudwatch:PutMetricData"],
        ["*"],
        Condition={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
    )


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
        _metrics_statement(),
    ]


def _monitor_policy(config: AphexConfig, kms_key_arn: str | None) -> list[dict[str, Any]]:
    statements = [
        _metrics_statement(),
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
    kind: str,
    pipeline_name: str,
    namespace: str,
    export: str,
    path: str,
    statements: list[dict[str, Any]],
) -> dict[str, Any]:
    account = f"{pipeline_name}-{kind}"
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": f"Aphex pipeline {pipeline_name}: {kind} stage "
            f"(ServiceAccount {namespace}/{account})",
            "AssumeRolePolicyDocument": _trust_policy(namespace, account, export),
            "MaxSessionDuration": 3600,
            "Path": path,
            "Policies": [
                {
                    "PolicyName": f"aphex-{kind}",
                    "PolicyDocument": {"Version": _POLICY_VERSION, "Statement": statements},
                }
            ],
            "Tags": _tags(pipeline_name),
        },
    }


def _bucket(
    config: AphexConfig, pipeline_name: str, stack_name: str, kms_key_arn: str | None
) -> dict[str, Any]:
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
            "BucketName": {"Fn::Sub": _bucket_name(stack_name)},
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


def _validate_names(pipeline_name: str, namespace: str, export: str, config: AphexConfig) -> None:
    validate_dns_label(pipeline_name, "pipelineName", max_length=_PIPELINE_NAME_MAX)
    validate_dns_label(namespace, "namespace")
    _check(
        "oidcProviderArnExport",
        export,
        _EXPORT_NAME,
        "must be a CloudFormation export name (letters, digits, ':' and '-')",
    )
    key = config.pipeline.artifact_kms_key_arn
    if key is not None:
        _check("pipeline.artifactKmsKeyArn", key, _KMS_KEY_ARN, "must be a KMS key ARN, not an alias", 2048)


def _output(description: str, value: Any, key: str) -> dict[str, Any]:
    return {
        "Description": description,
        "Value": value,
        "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-" + key}},
    }


def pipeline_resources_template(
    config: AphexConfig,
    *,
    pipeline_name: str,
    namespace: str,
    cluster: str = "",
    oidc_provider_arn_export: str | None = None,
) -> dict[str, Any]:
    """The CloudFormation template of the pipeline's bucket and IRSA roles (JSON-serialisable, stable),
    for the stack :func:`pipeline_stack_name` ``(pipeline_name, cluster)``.

    ``pipeline_name`` names the ServiceAccounts (``<pipeline_name>-build``, ``-deploy``, ``-monitor``) in
    ``namespace`` and tags every resource; ``oidc_provider_arn_export`` (default
    :func:`oidc_provider_export` of ``cluster``) is the export of the cluster's OIDC provider ARN;
    ``pipeline.artifactKmsKeyArn`` of ``config`` switches the bucket from SSE-S3 to SSE-KMS with that key
    and grants each role exactly what S3 asks of KMS for its object calls on that key. Raises
    :class:`aphex.dsl.names.InvalidValue` naming the argument that is not acceptable.
    """
    export = oidc_provider_export(cluster) if oidc_provider_arn_export is None else oidc_provider_arn_export
    _validate_names(pipeline_name, namespace, export, config)
    kms_key_arn = config.pipeline.artifact_kms_key_arn
    stack_name = pipeline_stack_name(pipeline_name, cluster)
    path = _role_path(stack_name)

    def role(kind: PipelineRole, statements: list[dict[str, Any]]) -> dict[str, Any]:
        return _role(kind.value, pipeline_name, namespace, export, path, statements)

    resources = {
        "ArtifactBucket": _bucket(config, pipeline_name, stack_name, kms_key_arn),
        "ArtifactBucketPolicy": _bucket_policy(),
        PipelineRole.BUILD.logical_id: role(PipelineRole.BUILD, _build_policy(kms_key_arn)),
        PipelineRole.DEPLOY.logical_id: role(PipelineRole.DEPLOY, _deploy_policy(config, kms_key_arn)),
        PipelineRole.MONITOR.logical_id: role(PipelineRole.MONITOR, _monitor_policy(config, kms_key_arn)),
    }
    outputs: dict[str, Any] = {
        "ArtifactBucketName": _output(
            "Artifacts under <commit-sha>/, run metadata under metadata/",
            {"Ref": "ArtifactBucket"},
            "ArtifactBucketName",
        ),
        "WorkflowTemplateName": _output(
            "The pipeline's WorkflowTemplate", workflow_template_name(config), "WorkflowTemplateName"
        ),
    }
    if cluster:
        outputs["Cluster"] = _output("The cluster the pipeline runs on", cluster, "Cluster")
    for kind in PipelineRole:
        key = f"{kind.logical_id}Arn"
        outputs[key] = _output(
            f"IRSA role of ServiceAccount {service_account_name(pipeline_name, kind)}",
            {"Fn::GetAtt": [kind.logical_id, "Arn"]},
            key,
        )
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Aphex pipeline {pipeline_name}: artifact bucket and IRSA roles of its stages",
        "Resources": resources,
        "Outputs": outputs,
    }


_SELF_UPDATE_IAM_ACTIONS: Final = [
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:DeleteRolePolicy",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:PutRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
]
"""What CloudFormation needs, acting with the caller's rights, to create and update the stack's roles."""

_SELF_UPDATE_BUCKET_ACTIONS: Final = [
    "s3:CreateBucket",
    "s3:DeleteBucketPolicy",
    "s3:GetBucketPolicy",
    "s3:GetBucketTagging",
    "s3:GetEncryptionConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:PutBucketOwnershipControls",
    "s3:PutBucketPolicy",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketTagging",
    "s3:PutBucketVersioning",
    "s3:PutEncryptionConfiguration",
    "s3:PutLifecycleConfiguration",
]
"""What CloudFormation needs to create and update the artifact bucket (no delete: it is retained)."""


def self_update_statements(stack_name: str, kms_key_arn: str | None = None) -> list[dict[str, Any]]:
    """The self-update role's policy: deploy exactly the pipeline stack ``stack_name`` (CloudFormation
    acts with the caller's rights, hence the IAM and S3 actions on that stack's roles and bucket) and
    write the outcome under ``metadata/workflows/``. ARNs are ``Fn::Sub`` texts of the role's stack."""
    partition, region, account_id = "${AWS::Partition}", "${AWS::Region}", "${AWS::AccountId}"
    bucket = f"arn:{partition}:s3:::{_bucket_name(stack_name)}"
    return [
        _statement(
            "PipelineStack",
            ["cloudformation:CreateStack", "cloudformation:DescribeStacks", "cloudformation:UpdateStack"],
            [{"Fn::Sub": f"arn:{partition}:cloudformation:{region}:{account_id}:stack/{stack_name}/*"}],
        ),
        _statement(
            "PipelineStackRoles",
            list(_SELF_UPDATE_IAM_ACTIONS),
            [{"Fn::Sub": f"arn:{partition}:iam::{account_id}:role{_role_path(stack_name)}*"}],
        ),
        _statement("PipelineStackBucket", list(_SELF_UPDATE_BUCKET_ACTIONS), [{"Fn::Sub": bucket}]),
        _statement("SelfUpdateOutcome", ["s3:PutObject"], [{"Fn::Sub": f"{bucket}/metadata/workflows/*"}]),
        *_kms_statement(kms_key_arn, ["kms:GenerateDataKey"]),
    ]


def self_update_template(
    config: AphexConfig,
    *,
    pipeline_name: str,
    namespace: str,
    cluster: str = "",
) -> dict[str, Any]:
    """The stack of the self-update role (:func:`self_update_stack_name`), created once by the platform
    team: IRSA for ServiceAccount ``<pipeline_name>-self-update``, :func:`self_update_statements`."""
    export = oidc_provider_export(cluster)
    _validate_names(pipeline_name, namespace, export, config)
    kms_key_arn = config.pipeline.artifact_kms_key_arn
    stack_name = pipeline_stack_name(pipeline_name, cluster)
    role = _role(
        SELF_UPDATE_SERVICE_ACCOUNT,
        pipeline_name,
        namespace,
        export,
        f"/aphex-self-update/{stack_name}/",
        self_update_statements(stack_name, kms_key_arn),
    )
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Aphex pipeline {pipeline_name}: the self-update role, "
        f"which deploys stack {stack_name}",
        "Resources": {"SelfUpdateRole": role},
        "Outputs": {
            SELF_UPDATE_OUTPUT: _output(
                f"IRSA role of ServiceAccount {pipeline_name}-{SELF_UPDATE_SERVICE_ACCOUNT}",
                {"Fn::GetAtt": ["SelfUpdateRole", "Arn"]},
                SELF_UPDATE_OUTPUT,
            )
        },
    }


def cluster_export_template(cluster: str, oidc_provider_arn: str) -> dict[str, Any]:
    """A stack that exports the cluster's OIDC provider ARN as :func:`oidc_provider_export` (a stack needs
    one resource: a ``WaitConditionHandle``, which creates nothing)."""
    _check("oidcProviderArn", oidc_provider_arn, _OIDC_PROVIDER_ARN, "must be an IAM OIDC provider ARN", 2048)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Aphex: the OIDC provider of cluster {validate_cluster(cluster) or '(default)'}",
        "Resources": {"Anchor": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {
            "OIDCProviderArn": {
                "Description": "IAM OIDC provider of the cluster's service account tokens",
                "Value": oidc_provider_arn,
                "Export": {"Name": oidc_provider_export(cluster)},
            }
        },
    }
