"""The self-update role (aphex.dsl.config.cloudformation.self_update_statements) against what the self-update
step does in moto: deploy the pipeline stack twice (create, then no change) and store its outcome; and
the resources CloudFormation creates on its behalf lie within the role's IAM and S3 statements."""

import json

import boto3
import pytest

from aphex.dsl.config import load_config
from aphex.dsl.config.cloudformation import (
    cluster_export_template,
    pipeline_resources_template,
    pipeline_stack_name,
    self_update_statements,
)
from aphex.dsl.config.iam_policy import Call, allows, resolve
from aphex.workflows.steps.aphex_pipeline.monitoring import store_self_update
from aphex.workflows.steps.aphex_pipeline.self_update import deploy_pipeline_stack
from tests.workflows.steps.conftest import PIPELINE_ACCOUNT, AwsCalls

PROVIDER = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
CONFIG = load_config(
    json.dumps({"version": "1.0", "build": {"commands": ["make"]},
                "environments": [{"name": "dev", "region": "us-east-1", "account": PIPELINE_ACCOUNT,
                                  "stacks": [{"name": "App", "path": "."}]}]})
)  # fmt: skip


@pytest.mark.filterwarnings("ignore:Tried to parse AWS..:UserWarning")
def test_every_call_of_the_self_update_step_is_allowed_by_its_role(moto: str, aws_calls: AwsCalls) -> None:
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(
        StackName="aphex-cluster-blue", TemplateBody=json.dumps(cluster_export_template("blue", PROVIDER))
    )
    stack = pipeline_stack_name("aphex-shop", "blue")
    template = pipeline_resources_template(
        CONFIG, pipeline_name="aphex-shop", namespace="argo", cluster="blue"
    )
    aws_calls.calls.clear()
    outcomes = [
        deploy_pipeline_stack(cloudformation, stack_name=stack, template=template, pipeline_name="aphex-shop")
        for _ in range(2)
    ]
    # moto applies an identical template as an update (CloudFormation would answer "No updates"):
    # either way both CreateStack and UpdateStack are checked.
    assert [outcome for outcome, _ in outcomes] == ["created", "updated"]
    outputs = outcomes[0][1]
    store_self_update(
        boto3.client("s3"),
        bucket=outputs["ArtifactBucketName"],
        workflow_id="w-1",
        succeeded=True,
        message="ok",
    )
    variables = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": PIPELINE_ACCOUNT}
    statements = resolve(self_update_statements(stack), variables)
    assert aws_calls.denied(statements) == []
    # What CloudFormation creates with the caller's rights: the roles and the bucket of the stack.
    for key in ("BuildRoleArn", "DeployRoleArn", "MonitorRoleArn"):
        for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy"):
            assert allows(statements, Call(action=action, resource=outputs[key]))
    bucket = f"arn:aws:s3:::{outputs['ArtifactBucketName']}"
    for action in ("s3:CreateBucket", "s3:PutEncryptionConfiguration", "s3:PutBucketPolicy"):
        assert allows(statements, Call(action=action, resource=bucket))
    # ... and nothing of another cluster's stack of the same pipeline.
    other = resolve(self_update_statements(pipeline_stack_name("aphex-shop", "green")), variables)
    assert aws_calls.denied(other) != []
    assert not allows(other, Call(action="iam:PutRolePolicy", resource=outputs["BuildRoleArn"]))
