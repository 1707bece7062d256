"""The typed configuration (aphex.dsl.config.model): building it, stack waves, roles and partitions."""

from pathlib import Path

import pytest

from aphex.dsl.config import load_config
from aphex.dsl.config.model import (
    AphexConfig,
    Approval,
    Build,
    Environment,
    SecretKeyRef,
    Stack,
    partition_of,
)

EXAMPLES = Path(__file__).parent / "examples"


def environment(*stacks: Stack, role: str | None = None, region: str = "eu-west-1") -> Environment:
    return Environment(name="dev", region=region, account="123456789012", stacks=stacks, role=role)


def stack(name: str, *depends_on: str) -> Stack:
    return Stack(name=name, path=".", depends_on=depends_on)


def test_the_full_example_becomes_the_model() -> None:
    config = load_config(EXAMPLES / "valid-full.yaml")
    assert isinstance(config, AphexConfig)
    assert config.build == Build(commands=("npm ci", "npm run build"))
    assert [env.name for env in config.environments] == ["staging", "production"]
    staging = config.environment("staging")
    assert staging.role_arn == "arn:aws:iam::555555555555:role/aphex-deploy"
    assert staging.stacks[3] == Stack(name="Api", path="services/api", depends_on=("Database", "Cache"))
    assert staging.hooks.pre_deploy == ("npm run check-quota",)
    assert staging.hooks.post_deploy == ("npm run migrate",)
    assert staging.approval == Approval(required=False)
    assert staging.tests is not None
    assert staging.tests.timeout_seconds == 1800
    assert staging.cdk_context.required == ("hostedZoneId", "@aws-cdk/core:bootstrapQualifier")
    production = config.environment("production")
    assert production.approval is not None
    assert production.approval.timeout_seconds == 24 * 3600
    assert production.tests is None
    assert production.role is None
    assert config.notifications.sns_topic_arns[1].endswith("deployments.fifo")
    assert config.notifications.slack is not None
    assert config.notifications.slack.webhook_secret == SecretKeyRef(name="shop-slack", key="webhook-url")
    assert (config.pipeline.name, config.pipeline.artifact_retention_days) == ("shop-delivery", 90)
    with pytest.raises(KeyError):
        config.environment("qa")


def test_defaults_of_the_minimal_example() -> None:
    config = load_config(EXAMPLES / "valid-minimal.yaml")
    env = config.environments[0]
    assert (env.account, env.role, env.approval, env.tests) == ("012345678901", None, None, None)
    assert env.hooks.pre_deploy == env.hooks.post_deploy == ()
    assert config.notifications.sns_topic_arns == ()
    assert config.notifications.slack is None
    assert (config.pipeline.name, config.pipeline.artifact_retention_days) == (None, 30)


def test_the_model_is_frozen() -> None:
    config = load_config(EXAMPLES / "valid-minimal.yaml")
    with pytest.raises(AttributeError):
        config.version = "2.0"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("eu-west-1", "aws"),
        ("il-central-1", "aws"),
        ("us-gov-west-1", "aws-us-gov"),
        ("cn-northwest-1", "aws-cn"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
        ("eu-isoe-west-1", "aws-iso-e"),
        ("us-isof-south-1", "aws-iso-f"),
        ("eusc-de-east-1", "aws-eusc"),
    ],
)
def test_partition_of_a_region(region: str, partition: str) -> None:
    assert partition_of(region) == partition


def test_role_names_become_arns_in_the_environments_partition_and_account() -> None:
    assert environment(stack("A"), role="deploy", region="us-gov-west-1").role_arn == (
        "arn:aws-us-gov:iam::123456789012:role/deploy"
    )
    arn = "arn:aws-cn:iam::123456789012:role/x/deploy"
    assert environment(stack("A"), role=arn, region="cn-north-1").role_arn == arn
    assert environment(stack("A")).role_arn is None


def test_cdk_bootstrap_roles_exclude_the_cloudformation_execution_role() -> None:
    roles = environment(stack("A"), region="cn-north-1").cdk_bootstrap_role_arns()
    assert roles == (
        "arn:aws-cn:iam::123456789012:role/cdk-hnb659fds-deploy-role-123456789012-cn-north-1",
        "arn:aws-cn:iam::123456789012:role/cdk-hnb659fds-file-publishing-role-123456789012-cn-north-1",
        "arn:aws-cn:iam::123456789012:role/cdk-hnb659fds-image-publishing-role-123456789012-cn-north-1",
        "arn:aws-cn:iam::123456789012:role/cdk-hnb659fds-lookup-role-123456789012-cn-north-1",
    )


def test_without_depends_on_every_stack_is_its_own_wave_in_list_order() -> None:
    env = environment(stack("Zeta"), stack("Alpha"), stack("Mid"))
    assert env.stack_waves() == [["Zeta"], ["Alpha"], ["Mid"]]


def test_empty_depends_on_lists_keep_the_list_order() -> None:
    env = environment(stack("B"), Stack(name="A", path=".", depends_on=()))
    assert env.stack_waves() == [["B"], ["A"]]


def test_with_depends_on_stacks_deploy_in_waves_ties_in_list_order() -> None:
    env = environment(
        stack("Api", "Database", "Cache"),
        stack("Cache", "Network"),
        stack("Dns"),
        stack("Database", "Network"),
        stack("Network"),
    )
    assert env.stack_waves() == [["Dns", "Network"], ["Cache", "Database"], ["Api"]]


def test_a_stack_waits_for_its_latest_dependency() -> None:
    env = environment(stack("A"), stack("B", "A"), stack("C", "B"), stack("D", "A", "C"))
    assert env.stack_waves() == [["A"], ["B"], ["C"], ["D"]]


def test_waves_refuse_cycles_and_unknown_stacks_built_without_validation() -> None:
    with pytest.raises(ValueError, match="cycle"):
        environment(stack("A", "B"), stack("B", "A")).stack_waves()
    with pytest.raises(ValueError, match="unknown"):
        environment(stack("A", "Nope")).stack_waves()


@pytest.mark.parametrize(("timeout", "seconds"), [("45s", 45), ("30m", 1800), ("24h", 86400), ("7d", 604800)])
def test_approval_timeouts_in_seconds(timeout: str, seconds: int) -> None:
    assert Approval(required=True, timeout=timeout).timeout_seconds == seconds
    assert Approval(required=True).timeout_seconds is None
