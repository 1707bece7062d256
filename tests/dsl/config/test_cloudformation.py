"""The pipeline's own AWS resources (aphex.dsl.config.cloudformation): structure, least privilege, cfn-lint,
moto.

The moto test deploys the template into moto's CloudFormation in server mode, after a stack that exports
the cluster's OIDC provider ARN (as the cluster stack does), and reads back what moto's CloudFormation
applies: the bucket's encryption and tags, the IAM roles' trust and inline policies, the outputs. moto's
CloudFormation ignores a bucket's versioning, public access block, ownership controls and lifecycle and
does not create ``AWS::S3::BucketPolicy``; cfn-lint checks those against the CloudFormation resource
specification instead, and the structure tests check their values.
"""

import ast
import copy
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.api import ManualArgs, lint

from aphex.dsl.config import load_config
from aphex.dsl.config.cloudformation import (
    METRICS_NAMESPACE,
    PIPELINE_TAG,
    WILDCARD_RESOURCE_EXCEPTIONS,
    PipelineRole,
    cluster_export_template,
    pipeline_resources_template,
    self_update_template,
    service_account_name,
)
from aphex.dsl.config.model import AphexConfig
from aphex.dsl.names import InvalidValue

EXAMPLES = Path(__file__).parent / "examples"
EXPORT = "AphexCluster-OIDCProviderArn"
PROVIDER = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF"
ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF"
KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

CONFIG_TEXT = """
version: "1.0"
build: {commands: [make]}
environments:
  - name: dev
    region: eu-west-1
    account: "123456789012"
    stacks: [{name: Network, path: infra}, {name: Api, path: infra, dependsOn: [Network]}]
  - name: prod
    region: us-east-1
    account: "210987654321"
    role: aphex-deploy
    stacks: [{name: Api, path: infra}]
notifications:
  snsTopicArns: ["arn:aws:sns:eu-west-1:123456789012:deployments"]
pipeline: {artifactRetentionDays: 14}
"""
CONFIG = load_config(CONFIG_TEXT)
KMS_CONFIG = load_config(
    CONFIG_TEXT.replace(
        "{artifactRetentionDays: 14}", f"{{artifactRetentionDays: 14, artifactKmsKeyArn: '{KMS_KEY}'}}"
    )
)


def template(config: AphexConfig = CONFIG, **kwargs: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {"pipeline_name": "shop", "namespace": "aphex-shop", **kwargs}
    return pipeline_resources_template(config, **arguments)


def role_statements(tpl: dict[str, Any], role: PipelineRole) -> list[dict[str, Any]]:
    (policy,) = tpl["Resources"][role.logical_id]["Properties"]["Policies"]
    statements: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return statements


def trust_policy(tpl: dict[str, Any], role: PipelineRole) -> tuple[dict[str, Any], dict[str, Any]]:
    text, variables = tpl["Resources"][role.logical_id]["Properties"]["AssumeRolePolicyDocument"]["Fn::Sub"]
    document: dict[str, Any] = json.loads(text)
    return document, variables


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else [value]


def all_statements(tpl: dict[str, Any]) -> list[dict[str, Any]]:
    statements = [s for role in PipelineRole for s in role_statements(tpl, role)]
    statements += tpl["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    statements += [trust_policy(tpl, role)[0]["Statement"][0] for role in PipelineRole]
    return statements


def test_the_template_is_deterministic_and_json_serialisable() -> None:
    assert json.dumps(template(), sort_keys=True) == json.dumps(template(), sort_keys=True)
    assert set(template()["Resources"]) == {
        "ArtifactBucket",
        "ArtifactBucketPolicy",
        "BuildRole",
        "DeployRole",
        "MonitorRole",
    }
    assert set(template(cluster="blue")["Outputs"]) == {"Cluster", *template()["Outputs"]}
    assert set(template()["Outputs"]) == {
        "ArtifactBucketName",
        "BuildRoleArn",
        "DeployRoleArn",
        "MonitorRoleArn",
        "WorkflowTemplateName",
    }


def test_the_bucket_is_encrypted_versioned_private_and_expires_artifacts() -> None:
    bucket = template()["Resources"]["ArtifactBucket"]
    properties = bucket["Properties"]
    # Known before the stack exists (the self-update role is limited to it), unique per stack and account.
    assert properties["BucketName"] == {"Fn::Sub": "aphex-8d9001d32c6a-${AWS::AccountId}-${AWS::Region}"}
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
    )
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (lifecycle,) = properties["LifecycleConfiguration"]["Rules"]
    assert lifecycle["Status"] == "Enabled"
    assert lifecycle["ExpirationInDays"] == 14
    assert lifecycle["NoncurrentVersionExpiration"] == {"NoncurrentDays": 14}
    assert properties["Tags"] == [{"Key": PIPELINE_TAG, "Value": "shop"}]


def test_a_kms_key_switches_the_bucket_to_sse_kms_and_grants_only_the_needed_key_actions() -> None:
    tpl = template(KMS_CONFIG)
    (rule,) = tpl["Resources"]["ArtifactBucket"]["Properties"]["BucketEncryption"][
        "ServerSideEncryptionConfiguration"
    ]
    assert rule == {
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KMS_KEY},
        "BucketKeyEnabled": True,
    }
    key_actions = {
        role: [s["Action"] for s in role_statements(tpl, role) if s["Resource"] == [KMS_KEY]]
        for role in PipelineRole
    }
    assert key_actions == {
        PipelineRole.BUILD: [["kms:Decrypt", "kms:GenerateDataKey"]],
        PipelineRole.DEPLOY: [["kms:Decrypt"]],
        PipelineRole.MONITOR: [["kms:Decrypt", "kms:GenerateDataKey"]],
    }


def test_the_bucket_policy_denies_requests_without_tls() -> None:
    policy = template()["Resources"]["ArtifactBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "ArtifactBucket"}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [
        {"Fn::GetAtt": ["ArtifactBucket", "Arn"]},
        {"Fn::Sub": "${ArtifactBucket.Arn}/*"},
    ]


def test_no_statement_allows_every_action_and_only_documented_actions_use_every_resource() -> None:
    for statement in all_statements(template(KMS_CONFIG)):
        actions = as_list(statement["Action"])
        assert "*" not in actions
        if statement["Effect"] == "Allow":
            assert not any("*" in action for action in actions), statement
        if "*" in as_list(statement.get("Resource", [])):
            assert set(actions) <= set(WILDCARD_RESOURCE_EXCEPTIONS), statement
            assert statement["Condition"], statement


def test_each_role_trusts_only_its_service_account_through_the_clusters_oidc_provider() -> None:
    tpl = template(oidc_provider_arn_export="Other-OIDCProviderArn")
    for role in PipelineRole:
        document, variables = trust_policy(tpl, role)
        (statement,) = document["Statement"]
        assert statement == {
            "Effect": "Allow",
            "Principal": {"Federated": "${ProviderArn}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    "${Issuer}:aud": "sts.amazonaws.com",
                    "${Issuer}:sub": f"system:serviceaccount:aphex-shop:shop-{role.value}",
                }
            },
        }
        assert variables["ProviderArn"] == {"Fn::ImportValue": "Other-OIDCProviderArn"}
        assert variables["Issuer"] == {
            "Fn::Select": [1, {"Fn::Split": ["oidc-provider/", {"Fn::ImportValue": "Other-OIDCProviderArn"}]}]
        }


def test_the_build_role_only_reads_and_writes_artifacts() -> None:
    (statement,) = role_statements(template(), PipelineRole.BUILD)
    assert statement["Action"] == ["s3:GetObject", "s3:PutObject"]
    assert statement["Resource"] == [{"Fn::Sub": "${ArtifactBucket.Arn}/*"}]


def test_the_deploy_role_assumes_only_the_environments_roles_and_describes_only_their_stacks() -> None:
    statements = {s["Sid"]: s for s in role_statements(template(), PipelineRole.DEPLOY)}
    assert statements["ArtifactObjects"]["Action"] == ["s3:GetObject"]
    assert statements["EnvironmentRoles"]["Action"] == ["sts:AssumeRole"]
    bootstrap = "arn:aws:iam::123456789012:role/cdk-hnb659fds-{}-123456789012-eu-west-1"
    assert statements["EnvironmentRoles"]["Resource"] == [
        bootstrap.format("deploy-role"),
        bootstrap.format("file-publishing-role"),
        bootstrap.format("image-publishing-role"),
        bootstrap.format("lookup-role"),
        "arn:aws:iam::210987654321:role/aphex-deploy",
    ]
    assert statements["StackOutputsAndEvents"]["Action"] == [
        "cloudformation:DescribeStackEvents",
        "cloudformation:DescribeStacks",
    ]
    assert statements["StackOutputsAndEvents"]["Resource"] == [
        "arn:aws:cloudformation:eu-west-1:123456789012:stack/Network/*",
        "arn:aws:cloudformation:eu-west-1:123456789012:stack/Api/*",
        "arn:aws:cloudformation:us-east-1:210987654321:stack/Api/*",
    ]
    # The deploy step sends its deployment metrics (cdk_deploy._emit_deployment_metrics).
    assert set(statements) == {
        "ArtifactObjects",
        "EnvironmentRoles",
        "StackOutputsAndEvents",
        "PipelineMetrics",
    }
    assert statements["PipelineMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}
    }


def test_govcloud_environments_get_govcloud_arns() -> None:
    config = load_config(EXAMPLES / "valid-govcloud.yaml")
    statements = {s["Sid"]: s for s in role_statements(template(config), PipelineRole.DEPLOY)}
    assert statements["EnvironmentRoles"]["Resource"] == [
        "arn:aws-us-gov:iam::111111111111:role/aphex/deploy",
        "arn:aws-us-gov:iam::222222222222:role/deploy",
    ]
    assert all(
        arn.startswith("arn:aws-us-gov:cloudformation:")
        for arn in statements["StackOutputsAndEvents"]["Resource"]
    )


def test_the_monitor_role_publishes_metrics_notifications_and_metadata_only() -> None:
    """It also reads the self-update outcome and may list only its prefix (a missing outcome is a 404)."""
    statements = {s["Sid"]: s for s in role_statements(template(), PipelineRole.MONITOR)}
    assert statements["PipelineMetrics"] == {
        "Sid": "PipelineMetrics",
        "Effect": "Allow",
        "Action": ["cloudwatch:PutMetricData"],
        "Resource": ["*"],
        "Condition": {"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
    }
    assert statements["Notifications"]["Action"] == ["sns:Publish"]
    assert statements["Notifications"]["Resource"] == ["arn:aws:sns:eu-west-1:123456789012:deployments"]
    assert statements["RunMetadata"]["Action"] == ["s3:PutObject"]
    assert statements["RunMetadata"]["Resource"] == [{"Fn::Sub": "${ArtifactBucket.Arn}/metadata/*"}]
    assert statements["SelfUpdateOutcome"]["Action"] == ["s3:GetObject"]
    assert statements["SelfUpdateOutcome"]["Resource"] == [
        {"Fn::Sub": "${ArtifactBucket.Arn}/metadata/workflows/*"}
    ]
    assert statements["SelfUpdateOutcomeMissing"] == {
        "Sid": "SelfUpdateOutcomeMissing",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [{"Fn::GetAtt": ["ArtifactBucket", "Arn"]}],
        "Condition": {"StringLike": {"s3:prefix": "metadata/workflows/*"}},
    }
    assert set(statements) == {
        "PipelineMetrics", "Notifications", "RunMetadata", "SelfUpdateOutcome", "SelfUpdateOutcomeMissing"
    }  # fmt: skip
    minimal = load_config(EXAMPLES / "valid-minimal.yaml")
    assert "Notifications" not in {s["Sid"] for s in role_statements(template(minimal), PipelineRole.MONITOR)}


def test_outputs_and_service_accounts() -> None:
    outputs = template()["Outputs"]
    # pipeline.name unset: the WorkflowTemplate is aphex-pipeline, whatever the stack's pipeline is called.
    assert outputs["WorkflowTemplateName"]["Value"] == "aphex-pipeline"
    assert outputs["BuildRoleArn"]["Value"] == {"Fn::GetAtt": ["BuildRole", "Arn"]}
    full = load_config(EXAMPLES / "valid-full.yaml")
    assert template(full)["Outputs"]["WorkflowTemplateName"]["Value"] == "shop-delivery"
    assert [service_account_name("shop", role) for role in PipelineRole] == [
        "shop-build",
        "shop-deploy",
        "shop-monitor",
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"pipeline_name": "Shop"}, "pipelineName"),
        ({"pipeline_name": "a" * 51}, "pipelineName"),
        ({"namespace": "aphex_shop"}, "namespace"),
        ({"oidc_provider_arn_export": "${Evil}"}, "oidcProviderArnExport"),
    ],
)
def test_invalid_arguments_are_refused_by_name(kwargs: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidValue, match=rf"^{field}:"):
        template(CONFIG, **kwargs)


def test_a_key_that_bypassed_the_schema_is_still_refused_by_name() -> None:
    """A config built in code (not loaded) with an alias: the template is refused, naming the field."""
    alias = dataclasses.replace(
        CONFIG, pipeline=dataclasses.replace(CONFIG.pipeline, artifact_kms_key_arn="alias/aws/s3")
    )
    for build in (template, lambda config: self_update_template(config, pipeline_name="shop", namespace="a")):
        with pytest.raises(InvalidValue, match=r"^pipeline.artifactKmsKeyArn: .*not an alias"):
            build(alias)


def cfn_lint(tpl: dict[str, Any]) -> list[str]:
    matches = lint(json.dumps(tpl, indent=1), config=ManualArgs(regions=["eu-west-1"], include_checks=["I"]))
    return [f"{match.rule.id}: {match.message}" for match in matches]


@pytest.mark.parametrize("config", [CONFIG, KMS_CONFIG], ids=["sse-s3", "sse-kms"])
def test_cfn_lint_finds_nothing(config: AphexConfig) -> None:
    assert cfn_lint(template(config)) == []


def test_cfn_lint_finds_nothing_in_the_self_update_and_cluster_templates() -> None:
    assert (
        cfn_lint(self_update_template(CONFIG, pipeline_name="shop", namespace="argo", cluster="blue")) == []
    )
    assert cfn_lint(self_update_template(KMS_CONFIG, pipeline_name="shop", namespace="argo")) == []
    assert cfn_lint(cluster_export_template("blue", PROVIDER)) == []


def test_cfn_lint_would_catch_a_broken_bucket_or_policy() -> None:
    broken = copy.deepcopy(template())
    broken["Resources"]["ArtifactBucket"]["Properties"]["VersioningConfiguration"] = {"Status": "On"}
    broken["Resources"]["ArtifactBucket"]["Properties"]["PublicAccessBlockConfiguration"]["BlockAll"] = True
    found = cfn_lint(broken)
    assert any("'On' is not one of" in line for line in found), found
    assert any("BlockAll" in line for line in found), found


# --- moto in server mode ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server on 127.0.0.1 (a free port) and dummy credentials; yields its URL."""
    from moto.server import ThreadedMotoServer

    empty = tmp_path_factory.mktemp("aws") / "none"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_CONFIG_FILE": str(empty),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        }.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def policy_document(response: dict[str, Any]) -> dict[str, Any]:
    """The policy of a GetRolePolicy response.

    moto (5.2) stores an inline policy created by CloudFormation as the Python repr of the template's
    mapping, which botocore cannot decode as JSON; real IAM returns URL-encoded JSON (decoded by botocore).
    """
    document = response["PolicyDocument"]
    parsed: dict[str, Any] = ast.literal_eval(document) if isinstance(document, str) else document
    return parsed


def client(aws: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=aws, region_name="eu-west-1")


@pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy:UserWarning")
def test_the_template_deploys_into_moto_after_the_cluster_export(aws: str) -> None:
    cloudformation = client(aws, "cloudformation")
    cluster = {
        "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"OidcProviderArn": {"Value": PROVIDER, "Export": {"Name": EXPORT}}},
    }
    cloudformation.create_stack(StackName="aphex-cluster", TemplateBody=json.dumps(cluster))
    cloudformation.create_stack(
        StackName="shop", TemplateBody=json.dumps(template()), Capabilities=["CAPABILITY_IAM"]
    )
    (stack,) = cloudformation.describe_stacks(StackName="shop")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}
    assert outputs["WorkflowTemplateName"] == "aphex-pipeline"
    assert outputs["ArtifactBucketName"] == "aphex-8d9001d32c6a-123456789012-eu-west-1"
    exports = {e["Name"]: e["Value"] for e in cloudformation.list_exports()["Exports"]}
    assert {name: exports[name] for name in exports if name.startswith("shop-")} == {
        f"shop-{key}": value for key, value in outputs.items()
    }

    s3 = client(aws, "s3")
    bucket = outputs["ArtifactBucketName"]
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": PIPELINE_TAG, "Value": "shop"}]

    iam = client(aws, "iam")
    for role in PipelineRole:
        arn = outputs[f"{role.logical_id}Arn"]
        name = arn.rsplit("/", 1)[1]
        described = iam.get_role(RoleName=name)["Role"]
        assert described["Arn"] == arn
        assert described["Path"] == "/aphex/shop/"
        assert arn.startswith("arn:aws:iam::123456789012:role/aphex/shop/")
        (trust,) = described["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Federated": PROVIDER}
        assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert trust["Condition"]["StringEquals"] == {
            f"{ISSUER}:aud": "sts.amazonaws.com",
            f"{ISSUER}:sub": f"system:serviceaccount:aphex-shop:shop-{role.value}",
        }
        assert iam.list_role_policies(RoleName=name)["PolicyNames"] == [f"aphex-{role.value}"]
        document = policy_document(iam.get_role_policy(RoleName=name, PolicyName=f"aphex-{role.value}"))
        objects = f"arn:aws:s3:::{bucket}/*"
        resources = {s["Sid"]: s["Resource"] for s in document["Statement"]}
        if role is PipelineRole.BUILD:
            assert resources == {"ArtifactObjects": [objects]}
        elif role is PipelineRole.DEPLOY:
            assert resources["ArtifactObjects"] == [objects]
            assert resources["EnvironmentRoles"][-1] == "arn:aws:iam::210987654321:role/aphex-deploy"
        else:
            assert resources["RunMetadata"] == [f"arn:aws:s3:::{bucket}/metadata/*"]
            assert resources["SelfUpdateOutcome"] == [f"arn:aws:s3:::{bucket}/metadata/workflows/*"]
            assert resources["SelfUpdateOutcomeMissing"] == [f"arn:aws:s3:::{bucket}"]
            assert resources["PipelineMetrics"] == ["*"]
