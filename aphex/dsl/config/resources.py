"""What an Aphex pipeline's stack created, and the names a pipeline takes from its configuration and release.

Shared by the compiler (:mod:`aphex.workflows.aphex_pipeline.pipeline`), ``aphex pipeline`` (its stacks and
values entry) and the self-update stage, which must agree on them without the stage importing the compiler.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

from aphex.dsl.config.cloudformation import (
    SELF_UPDATE_SERVICE_ACCOUNT,
    PipelineRole,
    validate_cluster,
    workflow_template_name,
)
from aphex.dsl.config.model import AphexConfig
from aphex.dsl.errors import InputError
from aphex.dsl.names import IAM_ROLE_ARN_PATTERN, InvalidValue
from aphex.dsl.settings import BundleSettings, ClusterPipeline, PipelineRoles

__all__ = [
    "PIPELINE_ID_MAX",
    "PipelineError",
    "PipelineResources",
    "pipeline_id",
    "pipeline_identity",
    "template_name",
]

PIPELINE_ID_MAX: Final = 50
_ROLE_ARN = re.compile(IAM_ROLE_ARN_PATTERN)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class PipelineError(InputError):
    """The pipeline cannot be generated from these inputs; the message names the input."""


@dataclass(frozen=True, kw_only=True)
class PipelineResources:
    """What the pipeline's CloudFormation stack created (its outputs), known once it is deployed.

    ``self_update_role_arn`` is not in the stack (a role cannot create itself): the platform team creates
    it with the rights to deploy the pipeline stack (CloudFormation, IAM roles, the bucket).
    """

    artifact_bucket: str
    build_role_arn: str
    deploy_role_arn: str
    monitor_role_arn: str
    self_update_role_arn: str | None = None
    cluster: str = ""
    """The cluster named in the stack's and the OIDC export's names (empty: the account's only one)."""

    def __post_init__(self) -> None:
        if not _BUCKET.match(self.artifact_bucket) or ".." in self.artifact_bucket:
            raise PipelineError(f"ArtifactBucketName: {self.artifact_bucket!r} is not an S3 bucket name")
        for field, value in self.role_arns().items():
            if not _ROLE_ARN.match(value):
                raise PipelineError(f"{field} role: {value!r} is not an IAM role ARN")
        try:
            validate_cluster(self.cluster)
        except InvalidValue as error:
            raise PipelineError(str(error)) from None

    def role_arns(self) -> dict[str, str]:
        """Role ARN by stage kind (``build``, ``deploy``, ``monitor``, ``self-update`` when known)."""
        arns = {
            PipelineRole.BUILD.value: self.build_role_arn,
            PipelineRole.DEPLOY.value: self.deploy_role_arn,
            PipelineRole.MONITOR.value: self.monitor_role_arn,
        }
        if self.self_update_role_arn:
            arns[SELF_UPDATE_SERVICE_ACCOUNT] = self.self_update_role_arn
        return arns

    @classmethod
    def from_cluster_pipeline(cls, pipeline: ClusterPipeline) -> "PipelineResources":
        """From the chart's ``pipelines`` entry (the stack's outputs the platform team recorded there)."""
        return cls(
            artifact_bucket=pipeline.artifact_bucket,
            build_role_arn=pipeline.role_arns.build,
            deploy_role_arn=pipeline.role_arns.deploy,
            monitor_role_arn=pipeline.role_arns.monitor,
            self_update_role_arn=pipeline.role_arns.self_update,
            cluster=pipeline.cluster,
        )

    @classmethod
    def from_stack_outputs(
        cls, outputs: Mapping[str, str], *, self_update_role_arn: str | None = None, cluster: str = ""
    ) -> "PipelineResources":
        """From the stack's outputs (``ArtifactBucketName``, ``BuildRoleArn``, ...)."""
        try:
            return cls(
                artifact_bucket=outputs["ArtifactBucketName"],
                build_role_arn=outputs[f"{PipelineRole.BUILD.logical_id}Arn"],
                deploy_role_arn=outputs[f"{PipelineRole.DEPLOY.logical_id}Arn"],
                monitor_role_arn=outputs[f"{PipelineRole.MONITOR.logical_id}Arn"],
                self_update_role_arn=self_update_role_arn or outputs.get("SelfUpdateRoleArn") or None,
                cluster=cluster or outputs.get("Cluster", ""),
            )
        except KeyError as error:
            raise PipelineError(f"the pipeline stack's outputs have no {error.args[0]}") from None

    def recorded_in(self, pipeline: ClusterPipeline) -> ClusterPipeline:
        """``pipeline`` (a ``pipelines`` entry) with these resources; its self-update role is kept."""
        return replace(
            pipeline,
            artifact_bucket=self.artifact_bucket,
            role_arns=PipelineRoles(
                build=self.build_role_arn,
                deploy=self.deploy_role_arn,
                monitor=self.monitor_role_arn,
                self_update=pipeline.role_arns.self_update,
            ),
            cluster=self.cluster,
        )


def template_name(config: AphexConfig, settings: BundleSettings) -> str:
    """The WorkflowTemplate's name: the pipeline's (``pipeline.name``, else ``aphex-pipeline``) named like
    the bundle's templates (:meth:`aphex.dsl.settings.ObjectNames.template`: ``<instance>-<pipeline>``,
    bare in the default instance)."""
    return settings.names.template(workflow_template_name(config))


def pipeline_identity(name: str, settings: BundleSettings) -> str:
    """``<instance>-<name>`` for the pipeline whose WorkflowTemplate is ``name``: prefix of its
    ServiceAccounts, name of its stack."""
    identity = settings.names.object(name)
    if len(identity) > PIPELINE_ID_MAX:
        raise PipelineError(
            f"pipeline.name: <instance>-<name> ({identity}) is longer than {PIPELINE_ID_MAX} characters"
        )
    return identity


def pipeline_id(config: AphexConfig, settings: BundleSettings) -> str:
    """:func:`pipeline_identity` of the pipeline ``config`` defines."""
    return pipeline_identity(workflow_template_name(config), settings)
