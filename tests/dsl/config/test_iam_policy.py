"""The offline IAM evaluator (aphex.dsl.config.iam_policy): IAM's matching rules, the calls it describes."""

import pytest

from aphex.dsl.config.cloudformation import self_update_statements
from aphex.dsl.config.iam_policy import Call, UnknownCall, allows, call_authorization, resolve, sse_kms_calls

BUCKET_OBJECTS = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/metadata/*"]}


@pytest.mark.parametrize(
    ("action", "resource", "allowed"),
    [
        ("s3:GetObject", "arn:aws:s3:::b/metadata/x", True),
        ("S3:getobject", "arn:aws:s3:::b/metadata/x", True),  # actions are case-insensitive
        ("s3:GetObject", "arn:aws:s3:::b/metadata/a/b/c", True),  # '*' spans '/'
        ("s3:GetObject", "arn:aws:s3:::b/Metadata/x", False),  # resources are case-sensitive
        ("s3:GetObject", "arn:aws:s3:::b/x", False),
        ("s3:GetObjectAcl", "arn:aws:s3:::b/metadata/x", False),
        ("s3:PutObject", "arn:aws:s3:::b/metadata/x", False),
    ],
)
def test_actions_and_resources_match_as_iam_matches_them(action: str, resource: str, allowed: bool) -> None:
    assert allows([BUCKET_OBJECTS], Call(action=action, resource=resource)) is allowed


def test_question_mark_is_one_character_and_deny_wins() -> None:
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::1:role/r?"}
    assert allows([statement], Call(action="sts:AssumeRole", resource="arn:aws:iam::1:role/r1"))
    assert not allows([statement], Call(action="sts:AssumeRole", resource="arn:aws:iam::1:role/r12"))
    deny = {"Effect": "Deny", "Action": "sts:*", "Resource": "*"}
    assert not allows([statement, deny], Call(action="sts:AssumeRole", resource="arn:aws:iam::1:role/r1"))


def test_conditions_need_the_key_and_its_value() -> None:
    metrics = {
        "Effect": "Allow",
        "Action": "cloudwatch:PutMetricData",
        "Resource": "*",
        "Condition": {"StringEquals": {"cloudwatch:namespace": "AphexPipeline"}},
    }
    call = call_authorization(
        "cloudwatch", "PutMetricData", {"Namespace": "AphexPipeline"}, region="eu-west-1", account="1"
    )
    assert call is not None
    assert allows([metrics], call)
    other = Call(action="cloudwatch:PutMetricData", resource="*", context={"cloudwatch:namespace": "Other"})
    assert not allows([metrics], other)
    assert not allows([metrics], Call(action="cloudwatch:PutMetricData", resource="*"))
    unknown = {**metrics, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
    assert not allows(
        [unknown], Call(action="cloudwatch:PutMetricData", resource="*", context={"aws:SourceIp": "10.0.0.1"})
    )


def test_calls_become_actions_resources_and_condition_keys() -> None:
    listed = call_authorization(
        "s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "metadata/workflows/u/"}, region="r", account="1"
    )
    assert listed == Call(
        action="s3:ListBucket", resource="arn:aws:s3:::b", context={"s3:prefix": "metadata/workflows/u/"}
    )
    stack = call_authorization("cloudformation", "DescribeStacks", {"StackName": "App"}, region="eu-west-1",
                               account="123456789012")  # fmt: skip
    assert stack is not None
    assert stack.resource.startswith("arn:aws:cloudformation:eu-west-1:123456789012:stack/App/")
    assert call_authorization("sts", "GetCallerIdentity", {}, region="r", account="1") is None
    with pytest.raises(UnknownCall, match=r"ec2\.RunInstances"):
        call_authorization("ec2", "RunInstances", {}, region="r", account="1")


def test_the_self_update_policy_resolves_to_exactly_its_stack() -> None:
    variables = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012"}
    statements = resolve(self_update_statements("blue-aphex-shop"), variables)
    update = call_authorization("cloudformation", "UpdateStack", {"StackName": "blue-aphex-shop"},
                                region="eu-west-1", account="123456789012")  # fmt: skip
    other = call_authorization("cloudformation", "UpdateStack", {"StackName": "green-aphex-shop"},
                               region="eu-west-1", account="123456789012")  # fmt: skip
    assert update is not None
    assert other is not None
    assert allows(statements, update)
    assert not allows(statements, other)
    own_role = "arn:aws:iam::123456789012:role/aphex/blue-aphex-shop/blue-aphex-shop-BuildRole-X"
    assert allows(statements, Call(action="iam:PutRolePolicy", resource=own_role))
    itself = "arn:aws:iam::123456789012:role/aphex-self-update/blue-aphex-shop/SelfUpdate-X"
    assert not allows(statements, Call(action="iam:PutRolePolicy", resource=itself))
    assert resolve({"Fn::Sub": ["${A}-${B}", {"B": {"Ref": "C"}}]}, {"A": "a", "C": "c"}) == "a-c"


def test_s3_asks_kms_with_the_callers_rights_on_an_sse_kms_bucket() -> None:
    """UsingKMSEncryption.html, "Permissions": writes GenerateDataKey, reads Decrypt, multipart both;
    nothing for calls that touch no object data, nor for other services."""
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert [(c.action, c.resource) for c in sse_kms_calls("s3", "PutObject", key)] == [
        ("kms:GenerateDataKey", key)
    ]
    assert [(c.action, c.resource) for c in sse_kms_calls("s3", "GetObject", key)] == [("kms:Decrypt", key)]
    assert [c.action for c in sse_kms_calls("s3", "CreateMultipartUpload", key)] == [
        "kms:GenerateDataKey",
        "kms:Decrypt",
    ]
    assert sse_kms_calls("s3", "ListObjectsV2", key) == []
    assert sse_kms_calls("sns", "Publish", key) == []
