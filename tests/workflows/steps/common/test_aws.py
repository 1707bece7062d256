"""Sessions for target accounts: partitions, role ARNs, and STS AssumeRole against a real moto server."""

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aphex.dsl.names import InvalidValue
from aphex.workflows.steps.common import aws
from tests.workflows.steps.conftest import PIPELINE_ACCOUNT

REGIONS = {
    "us-east-1": "aws",
    "eu-west-1": "aws",
    "ap-southeast-2": "aws",
    "cn-north-1": "aws-cn",
    "cn-northwest-1": "aws-cn",
    "us-gov-west-1": "aws-us-gov",
    "us-gov-east-1": "aws-us-gov",
    "us-iso-east-1": "aws-iso",
    "us-isob-east-1": "aws-iso-b",
    "eusc-de-east-1": "aws-eusc",
}


@pytest.mark.parametrize(("region", "partition"), sorted(REGIONS.items()))
def test_the_partition_follows_the_region(region: str, partition: str) -> None:
    assert aws.partition_for(region) == partition


def test_role_names_become_arns_in_the_regions_partition() -> None:
    assert aws.role_arn("222233334444", "us-gov-west-1", "Deployer") == (
        "arn:aws-us-gov:iam::222233334444:role/Deployer"
    )
    assert (
        aws.role_arn("222233334444", "cn-north-1", "Deployer") == "arn:aws-cn:iam::222233334444:role/Deployer"
    )
    full = "arn:aws:iam::222233334444:role/Deployer"
    assert aws.role_arn("222233334444", "eu-west-1", full) == full


@pytest.mark.parametrize(
    ("account", "region", "role", "field"),
    [
        ("12345678901", "eu-west-1", "R", "account"),
        ("222233334444", "moon-1", "R", "region"),
        ("222233334444", "eu-west-1", "bad role", "role"),
        ("222233334444", "eu-west-1", "arn:aws:iam::999999999999:role/R", "role"),
        ("222233334444", "us-gov-west-1", "arn:aws:iam::222233334444:role/R", "role"),
    ],
)
def test_bad_values_are_named(account: str, region: str, role: str, field: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        aws.role_arn(account, region, role)
    assert caught.value.field == field


def test_session_names_are_valid_for_sts() -> None:
    assert aws.session_name("aphex-pipeline-x7k2p") == "aphex-pipeline-x7k2p"
    assert aws.session_name("a" * 100) == "a" * 64
    assert aws.session_name("{{workflow.name}}") == "workflow.name"
    assert aws.session_name("") == "aphex-pipeline"


def test_the_pipeline_account_uses_its_own_credentials(moto: str) -> None:
    session = aws_session(PIPELINE_ACCOUNT, "eu-west-1", "")
    assert session.get_credentials().access_key == "testing"
    assert session.region_name == "eu-west-1"
    identity = session.client("sts").get_caller_identity()
    assert identity["Account"] == PIPELINE_ACCOUNT
    assert ":assumed-role/" not in identity["Arn"]


def aws_session(account: str, region: str, role: str, workflow: str = "aphex-run-1") -> object:
    return aws.session_for(account, region, role, pipeline_account=PIPELINE_ACCOUNT, workflow_name=workflow)


@pytest.mark.parametrize(
    ("region", "partition"), [("eu-west-1", "aws"), ("us-gov-west-1", "aws-us-gov"), ("cn-north-1", "aws-cn")]
)
def test_another_account_is_entered_through_its_role(moto: str, region: str, partition: str) -> None:
    session = aws_session("222233334444", region, "", workflow="aphex-run-1")
    credentials = session.get_credentials()  # type: ignore[attr-defined]
    assert credentials.access_key != "testing"
    assert credentials.token
    identity = session.client("sts").get_caller_identity()  # type: ignore[attr-defined]
    # Without a named role the CDK bootstrap deploy role is entered: the one the deploy policy allows.
    role = f"cdk-hnb659fds-deploy-role-222233334444-{region}"
    assert identity["Arn"] == f"arn:{partition}:sts::222233334444:assumed-role/{role}/aphex-run-1"


def test_a_named_role_is_assumed_even_in_the_pipeline_account(moto: str) -> None:
    session = aws_session(PIPELINE_ACCOUNT, "us-east-1", "ReadOnly", workflow="wf-2")
    identity = session.client("sts").get_caller_identity()  # type: ignore[attr-defined]
    assert identity["Arn"] == f"arn:aws:sts::{PIPELINE_ACCOUNT}:assumed-role/ReadOnly/wf-2"


def test_an_explicit_endpoint_is_used_for_sts(moto: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    session = aws.session_for(
        "222233334444", "eu-west-1", "Deployer", pipeline_account=PIPELINE_ACCOUNT, endpoint_url=moto
    )
    sts = aws.client(session, "sts", endpoint_url=moto)
    assert sts.get_caller_identity()["Account"] == "222233334444"


def test_credentials_are_handed_to_child_processes(moto: str) -> None:
    session = aws_session("222233334444", "eu-west-1", "Deployer")
    env = aws.credential_environment(session)  # type: ignore[arg-type]
    frozen = session.get_credentials().get_frozen_credentials()  # type: ignore[attr-defined]
    assert env == {
        "AWS_ACCESS_KEY_ID": frozen.access_key,
        "AWS_SECRET_ACCESS_KEY": frozen.secret_key,
        "AWS_SESSION_TOKEN": frozen.token,
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": moto,
    }
    child = boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
        region_name=env["AWS_REGION"],
    )
    assert child.client("sts").get_caller_identity()["Account"] == "222233334444"


# Property 14: the target account's role is assumed exactly when the accounts differ (or a role is named).
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    account=st.sampled_from([PIPELINE_ACCOUNT, "222233334444", "000011112222"]),
    region=st.sampled_from(["eu-west-1", "us-gov-west-1", "cn-north-1", "ap-south-1"]),
    role=st.sampled_from(["", "Deployer", "cdk-hnb659fds-deploy-role"]),
)
def test_property_14_role_assumed_when_accounts_differ(
    moto: str, account: str, region: str, role: str
) -> None:
    session = aws_session(account, region, role, workflow="aphex-prop-14")
    identity = session.client("sts").get_caller_identity()  # type: ignore[attr-defined]
    assert identity["Account"] == account
    if account == PIPELINE_ACCOUNT and not role:
        assert ":assumed-role/" not in identity["Arn"]
    else:
        name = role or aws.default_cross_account_role(account, region)
        partition = aws.partition_for(region)
        assert identity["Arn"] == f"arn:{partition}:sts::{account}:assumed-role/{name}/aphex-prop-14"


def test_assumed_credentials_are_assumed_again_before_they_expire(moto: str) -> None:
    """botocore RefreshableCredentials (botocore/credentials.py, ``refresh_needed``): with credentials
    of 900 s, always inside the 15-minute advisory window, every use re-assumes the role; every
    refreshed set identifies as the same role and session."""
    session = aws.session_for(
        "222233334444",
        "eu-west-1",
        "Deployer",
        pipeline_account=PIPELINE_ACCOUNT,
        workflow_name="aphex-long-1",
        duration_seconds=900,
    )
    keys = []
    for _ in range(3):
        identity = session.client("sts").get_caller_identity()
        assert identity["Arn"] == "arn:aws:sts::222233334444:assumed-role/Deployer/aphex-long-1"
        keys.append(session.get_credentials().get_frozen_credentials().access_key)
    assert len(set(keys)) == 3
    assert set(keys).isdisjoint({"testing"})


def test_credentials_far_from_expiry_are_kept(moto: str) -> None:
    session = aws_session("222233334444", "eu-west-1", "Deployer")
    first = session.get_credentials().get_frozen_credentials()  # type: ignore[attr-defined]
    session.client("sts").get_caller_identity()  # type: ignore[attr-defined]
    assert session.get_credentials().get_frozen_credentials() == first  # type: ignore[attr-defined]
