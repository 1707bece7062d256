"""The typed form of ``aphex-config.yaml``: frozen dataclasses built from a validated document.

:func:`aphex.dsl.config.load.load_config` validates a document against the schema and the semantic rules,
then calls :func:`config_from_validated`; nothing else should build these objects from raw data. The
pipeline generator reads them: one Argo DAG stage per :class:`Environment`, in order, and inside it the
stacks in the waves of :meth:`Environment.stack_waves`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "CDK_QUALIFIER",
    "CONFIG_FILE",
    "DEFAULT_ARTIFACT_RETENTION_DAYS",
    "AphexConfig",
    "Approval",
    "Build",
    "CdkContext",
    "Environment",
    "Hooks",
    "Notifications",
    "PipelineSettings",
    "SecretKeyRef",
    "SlackNotifications",
    "Stack",
    "Tests",
    "config_from_validated",
    "partition_of",
]

CONFIG_FILE: Final = "aphex-config.yaml"
"""Where an application repository keeps its configuration: at its root."""
CDK_QUALIFIER: Final = "hnb659fds"
"""The default qualifier of ``cdk bootstrap``: it appears in the bootstrap roles' names."""

DEFAULT_ARTIFACT_RETENTION_DAYS: Final = 30

_PARTITIONS: Final = (
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("us-iso-", "aws-iso"),
    ("eu-isoe-", "aws-iso-e"),
    ("eusc-", "aws-eusc"),
    ("cn-", "aws-cn"),
)


def partition_of(region: str) -> str:
    """The AWS partition of a region: ``aws-us-gov`` for ``us-gov-west-1``, ``aws`` for ``eu-west-1``."""
    for prefix, partition in _PARTITIONS:
        if region.startswith(prefix):
            return partition
    return "aws"


@dataclass(frozen=True, kw_only=True)
class Stack:
    """One CDK stack: its CloudFormation name, the CDK app's directory, the stacks it waits for."""

    name: str
    path: str
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Hooks:
    """Commands run in the environment's stage before the first and after the last stack."""

    pre_deploy: tuple[str, ...] = ()
    post_deploy: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Approval:
    """A manual gate before the environment; ``timeout`` as written (``24h``), ``None`` waits forever."""

    required: bool
    timeout: str | None = None

    @property
    def timeout_seconds(self) -> int | None:
        """The timeout in seconds, or ``None``."""
        if self.timeout is None:
            return None
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[self.timeout[-1]]
        return int(self.timeout[:-1]) * unit


@dataclass(frozen=True, kw_only=True)
class Tests:
    """Test commands run in order after the environment deployed."""

    commands: tuple[str, ...]
    timeout_seconds: int | None = None


@dataclass(frozen=True, kw_only=True)
class CdkContext:
    """CDK context keys that must be set before the run starts."""

    required: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Environment:
    """A deployment target: account, region, the role to deploy with and the stacks."""

    name: str
    region: str
    account: str
    stacks: tuple[Stack, ...]
    role: str | None = None
    hooks: Hooks = field(default_factory=Hooks)
    approval: Approval | None = None
    tests: Tests | None = None
    cdk_context: CdkContext = field(default_factory=CdkContext)

    @property
    def partition(self) -> str:
        """The AWS partition of the environment's region."""
        return partition_of(self.region)

    @property
    def role_arn(self) -> str | None:
        """The full ARN of ``role`` (a bare name is a role in ``account``), or ``None``."""
        if self.role is None or self.role.startswith("arn:"):
            return self.role
        return f"arn:{self.partition}:iam::{self.account}:role/{self.role}"

    def cdk_bootstrap_role_arns(self) -> tuple[str, ...]:
        """The roles the CDK CLI assumes in this account and region (``cdk bootstrap``'s defaults).

        Deploy, file and image publishing and lookup roles; not the CloudFormation execution role,
        which only CloudFormation itself may assume.
        """
        prefix = f"arn:{self.partition}:iam::{self.account}:role/cdk-{CDK_QUALIFIER}"
        suffix = f"{self.account}-{self.region}"
        kinds = ("deploy-role", "file-publishing-role", "image-publishing-role", "lookup-role")
        return tuple(f"{prefix}-{kind}-{suffix}" for kind in kinds)

    def stack_waves(self) -> list[list[str]]:
        """Stack names in deployment waves; the stacks of one wave do not depend on each other.

        Without any ``dependsOn`` in the environment every stack is its own wave, in list order. With
        ``dependsOn`` a stack's wave is one after the latest wave of its dependencies (stacks without
        dependencies in the first); inside a wave the list order is kept. Raises ``ValueError`` on a
        dependency cycle or an unknown stack, which a validated document never has.
        """
        order = [stack.name for stack in self.stacks]
        if not any(stack.depends_on for stack in self.stacks):
            return [[name] for name in order]
        deps = {stack.name: stack.depends_on for stack in self.stacks}
        wave_of: dict[str, int] = {}
        while len(wave_of) < len(order):
            progressed = False
            for name in order:
                if name in wave_of:
                    continue
                if any(dep not in deps for dep in deps[name]):
                    raise ValueError(f"environment {self.name}: stack {name} depends on an unknown stack")
                if all(dep in wave_of for dep in deps[name]):
                    wave_of[name] = 1 + max((wave_of[dep] for dep in deps[name]), default=-1)
                    progressed = True
            if not progressed:
                raise ValueError(f"environment {self.name}: dependsOn has a cycle")
        waves: list[list[str]] = [[] for _ in range(max(wave_of.values()) + 1)]
        for name in order:
            waves[wave_of[name]].append(name)
        return waves


@dataclass(frozen=True, kw_only=True)
class Build:
    """The build stage's commands, run in order."""

    commands: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class SecretKeyRef:
    """A key of a Kubernetes Secret in the pipeline's namespace."""

    name: str
    key: str


@dataclass(frozen=True, kw_only=True)
class SlackNotifications:
    """A Slack incoming webhook whose URL is held in a Kubernetes Secret."""

    webhook_secret: SecretKeyRef


@dataclass(frozen=True, kw_only=True)
class Notifications:
    """Where run outcomes are reported."""

    sns_topic_arns: tuple[str, ...] = ()
    slack: SlackNotifications | None = None


@dataclass(frozen=True, kw_only=True)
class PipelineSettings:
    """The pipeline's own settings; ``name`` ``None`` keeps the name the pipeline was installed with."""

    name: str | None = None
    artifact_retention_days: int = DEFAULT_ARTIFACT_RETENTION_DAYS
    artifact_kms_key_arn: str | None = None
    """SSE-KMS with this key for the artifact bucket; None: SSE-S3."""


@dataclass(frozen=True, kw_only=True)
class AphexConfig:
    """A whole ``aphex-config.yaml``."""

    version: str
    build: Build
    environments: tuple[Environment, ...]
    notifications: Notifications = field(default_factory=Notifications)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)

    def environment(self, name: str) -> Environment:
        """The environment called ``name``; ``KeyError`` when there is none."""
        for environment in self.environments:
            if environment.name == name:
                return environment
        raise KeyError(name)


def _strings(values: Sequence[Any] | None) -> tuple[str, ...]:
    return tuple(str(value) for value in values or ())


def _stack(data: Mapping[str, Any]) -> Stack:
    return Stack(name=data["name"], path=data["path"], depends_on=_strings(data.get("dependsOn")))


def _environment(data: Mapping[str, Any]) -> Environment:
    hooks = data.get("hooks") or {}
    context = data.get("cdkContext") or {}
    approval = data.get("approval")
    tests = data.get("tests")
    timeout = None if tests is None else tests.get("timeoutSeconds")
    return Environment(
        name=data["name"],
        region=data["region"],
        account=data["account"],
        role=data.get("role"),
        stacks=tuple(_stack(stack) for stack in data["stacks"]),
        hooks=Hooks(
            pre_deploy=_strings(hooks.get("preDeploy")), post_deploy=_strings(hooks.get("postDeploy"))
        ),
        approval=None
        if approval is None
        else Approval(required=bool(approval["required"]), timeout=approval.get("timeout")),
        tests=None
        if tests is None
        else Tests(
            commands=_strings(tests["commands"]), timeout_seconds=None if timeout is None else int(timeout)
        ),
        cdk_context=CdkContext(required=_strings(context.get("required"))),
    )


def _notifications(data: Mapping[str, Any]) -> Notifications:
    slack = data.get("slack")
    secret = None if slack is None else slack["webhookSecret"]
    return Notifications(
        sns_topic_arns=_strings(data.get("snsTopicArns")),
        slack=None
        if secret is None
        else SlackNotifications(webhook_secret=SecretKeyRef(name=secret["name"], key=secret["key"])),
    )


def config_from_validated(data: Mapping[str, Any]) -> AphexConfig:
    """Build the model from a document that :func:`aphex.dsl.config.validate.validate_document` accepted.

    It trusts its input; use :func:`aphex.dsl.config.load.load_config` or
    :func:`aphex.dsl.config.load.config_from_document`, which validate first.
    """
    pipeline = data.get("pipeline") or {}
    retention = pipeline.get("artifactRetentionDays", DEFAULT_ARTIFACT_RETENTION_DAYS)
    return AphexConfig(
        version=data["version"],
        build=Build(commands=_strings(data["build"]["commands"])),
        environments=tuple(_environment(environment) for environment in data["environments"]),
        notifications=_notifications(data.get("notifications") or {}),
        pipeline=PipelineSettings(
            name=pipeline.get("name"),
            artifact_retention_days=int(retention),
            artifact_kms_key_arn=pipeline.get("artifactKmsKeyArn"),
        ),
    )
