"""The Aphex pipeline's self-update stage: the pipeline's own AWS resources and its next topology.

From the ``aphex-config.yaml`` at the pushed commit it

1. deploys the pipeline's CloudFormation stack
   (:func:`aphex.dsl.config.cloudformation.pipeline_resources_template`: the artifact bucket and the IRSA
   roles of the stages; named by :func:`aphex.dsl.config.cloudformation.pipeline_stack_name` from the
   pipeline and its ``cluster``) with boto3: create or update, wait for the outcome; "No updates are to be
   performed" is success. Its role's policy is :func:`aphex.dsl.config.cloudformation.self_update_statements`;
2. regenerates the pipeline's WorkflowTemplate through the public compiler, exactly as a platform engineer
   does: ``aphex compile --config aphex-config.yaml --values <the settings it was compiled with, its
   pipelines entry updated with the stack's outputs> --release <release> --pipeline-only`` in a
   subprocess, which lints what it compiled and writes nothing when the lint finds a problem;
3. applies it with ``kubectl apply --server-side --field-manager=aphex-pipeline --force-conflicts -f -``
   (:func:`aphex.workflows.steps.common.process.run`; no shell).

The step's ``settings`` input holds the release and the values the template was compiled with, with its
own ``pipelines`` entry only (another pipeline's entry never changes this one's template).

A running Workflow keeps the spec it started with (``storedWorkflowTemplateSpec``): only the next run
sees the new topology. A failure never fails the run (the design says "continue with the current
topology"): the step reports it in its output ``self-update-status`` (``succeeded: ...`` or
``failed: ...``) and writes the outcome to ``s3://<bucket>/metadata/workflows/<workflow-id>/self-update.json``
(``{"message": <the status line>, "status": "Succeeded" | "Failed"}``,
:func:`aphex.workflows.steps.aphex_pipeline.monitoring.store_self_update`), where the exit handler's record
reads it: an Argo global output would be unset, and the exit handler in Error, whenever the run ends before
this step. Writing it is best effort (a failed put is printed to stderr). Renaming the pipeline
(``pipeline.name``) is refused here: its RBAC names the installed WorkflowTemplate, so a rename is a
reinstall.
"""

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Final

from botocore.exceptions import BotoCoreError, ClientError, WaiterError  # type: ignore[import-untyped]
from hera.workflows import Parameter

from aphex.dsl.bundle_writer import dump_yaml
from aphex.dsl.config import ConfigError, load_config
from aphex.dsl.config.cloudformation import (
    PIPELINE_TAG,
    SELF_UPDATE_SERVICE_ACCOUNT,
    pipeline_resources_template,
    pipeline_stack_name,
)
from aphex.dsl.config.model import CONFIG_FILE, AphexConfig
from aphex.dsl.config.resources import PipelineError, PipelineResources, pipeline_id, template_name
from aphex.dsl.names import InvalidValue
from aphex.dsl.settings import BundleSettings, SettingsError, settings_from_document
from aphex.dsl.stage import NETWORK_RETRY, ResourceClass, Stage
from aphex.dsl.yaml_input import YamlInputError, load_yaml
from aphex.workflows.steps.aphex_pipeline.monitoring import store_self_update
from aphex.workflows.steps.common.aws import pod_session
from aphex.workflows.steps.common.git import clone
from aphex.workflows.steps.common.process import StepError, run
from aphex.workflows.steps.common.scratch import scratch

__all__ = [
    "FIELD_MANAGER",
    "STAGE",
    "SelfUpdateResult",
    "apply_template",
    "compile_pipeline",
    "deploy_pipeline_stack",
    "run_self_update",
    "self_update",
]

FIELD_MANAGER: Final = "aphex-pipeline"
_NO_UPDATES: Final = "No updates are to be performed"
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")


@dataclass(frozen=True, kw_only=True)
class SelfUpdateResult:
    """What the stage did; ``status`` is one line for people, ``succeeded`` decides the stage's phase."""

    succeeded: bool
    status: str


def _outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in stack.get("Outputs") or []}


def _exists(cloudformation: Any, stack_name: str) -> bool:
    try:
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return False
        raise
    return bool(stack.get("StackStatus") != "REVIEW_IN_PROGRESS")


def deploy_pipeline_stack(
    cloudformation: Any, *, stack_name: str, template: Mapping[str, Any], pipeline_name: str
) -> tuple[str, dict[str, str]]:
    """Create or update the stack and wait; return ``created``/``updated``/``unchanged`` and its outputs."""
    if not _STACK_NAME.match(stack_name):
        raise InvalidValue("stack-name", stack_name, "must be a CloudFormation stack name")
    arguments = {
        "StackName": stack_name,
        "TemplateBody": json.dumps(template, sort_keys=True),
        "Capabilities": ["CAPABILITY_IAM"],
        "Tags": [{"Key": PIPELINE_TAG, "Value": pipeline_name}],
    }
    if _exists(cloudformation, stack_name):
        try:
            cloudformation.update_stack(**arguments)
        except ClientError as error:
            if _NO_UPDATES in str(error):
                return "unchanged", _outputs(cloudformation, stack_name)
            raise
        cloudformation.get_waiter("stack_update_complete").wait(StackName=stack_name)
        return "updated", _outputs(cloudformation, stack_name)
    cloudformation.create_stack(**arguments)
    cloudformation.get_waiter("stack_create_complete").wait(StackName=stack_name)
    return "created", _outputs(cloudformation, stack_name)


def apply_template(template: Mapping[str, Any]) -> None:
    """Server-side apply of one WorkflowTemplate (this pipeline owns its topology: conflicts are forced)."""
    run(
        [
            "kubectl",
            "apply",
            "--server-side",
            f"--field-manager={FIELD_MANAGER}",
            "--force-conflicts",
            "-f",
            "-",
        ],
        stdin=dump_yaml(template),
        timeout=120,
    )


def _settings(values: str) -> BundleSettings:
    try:
        data = json.loads(values)
    except json.JSONDecodeError:
        raise InvalidValue(
            "settings", "<json>", "must be the JSON settings (release, values) of the pipeline"
        ) from None
    if not isinstance(data, dict):
        raise InvalidValue("settings", "<json>", "must be a JSON object")
    try:
        parsed = settings_from_document(data)
    except SettingsError as error:
        raise InvalidValue("settings", "<json>", str(error)) from None
    if len(parsed.pipelines) != 1:
        raise InvalidValue("settings", "<json>", "must hold exactly the pipeline's own pipelines entry")
    return parsed


def compile_pipeline(config_file: Path, settings: BundleSettings, workdir: Path) -> dict[str, Any]:
    """The pipeline's WorkflowTemplate as ``aphex compile --pipeline-only`` writes it for ``settings``
    (which hold the pipeline's ``pipelines`` entry), linted by the compiler; ``workdir`` is empty scratch."""
    values = workdir / "values.yaml"
    values.write_text(dump_yaml(settings.to_values()), encoding="utf-8")
    out = workdir / "compiled"
    command = [
        sys.executable,
        "-m",
        "aphex.cli",
        "compile",
        "--config",
        str(config_file),
        "--values",
        str(values),
        "--release",
        settings.instance,
        "--pipeline-only",
        "--out",
        str(out),
    ]
    run(command, timeout=300)
    written = sorted(out.rglob("*.yaml"))
    if len(written) != 1:
        raise StepError(
            f"aphex compile --pipeline-only wrote {len(written)} files, expected one WorkflowTemplate"
        )
    try:
        template = load_yaml(written[0].read_bytes(), source=written[0].name)
    except YamlInputError as error:
        raise StepError(str(error)) from None
    if not isinstance(template, dict) or template.get("kind") != "WorkflowTemplate":
        raise StepError(
            f"aphex compile --pipeline-only wrote {written[0].name}, which is not a WorkflowTemplate"
        )
    return template


def run_self_update(
    *,
    config_file: Path,
    settings: BundleSettings,
    template_name: str,
    cloudformation: Any,
    workdir: Path,
) -> SelfUpdateResult:
    """Deploy the pipeline's stack, then compile and apply the regenerated WorkflowTemplate; never raises for
    either. ``settings`` hold exactly the pipeline's own ``pipelines`` entry."""
    try:
        config = load_config(config_file)
    except ConfigError as error:
        return SelfUpdateResult(
            succeeded=False, status=f"failed: {CONFIG_FILE}: " + "; ".join(str(p) for p in error.problems)
        )
    renamed = _renamed(config, settings, template_name)
    if renamed:
        return SelfUpdateResult(succeeded=False, status=f"failed: WorkflowTemplate: {renamed}")
    (entry,) = settings.pipelines
    try:
        current = PipelineResources.from_cluster_pipeline(entry)
        identity = pipeline_id(config, settings)
    except PipelineError as error:
        return SelfUpdateResult(succeeded=False, status=f"failed: settings: {error}")
    problems: list[str] = []
    done: list[str] = []
    stack_name = pipeline_stack_name(identity, current.cluster)
    updated = current
    try:
        cfn = pipeline_resources_template(
            config, pipeline_name=identity, namespace=settings.namespace, cluster=current.cluster
        )
        outcome, outputs = deploy_pipeline_stack(
            cloudformation, stack_name=stack_name, template=cfn, pipeline_name=identity
        )
        updated = PipelineResources.from_stack_outputs(
            outputs, self_update_role_arn=current.self_update_role_arn, cluster=current.cluster
        )
        done.append(f"pipeline stack {stack_name} {outcome}")
    except (InvalidValue, PipelineError, BotoCoreError, ClientError, WaiterError) as error:
        problems.append(f"pipeline stack {stack_name}: {error}")
    try:
        recorded = replace(settings, pipelines=(updated.recorded_in(entry),))
        apply_template(compile_pipeline(config_file, recorded, workdir))
        done.append(f"WorkflowTemplate {template_name} applied ({len(config.environments)} environments)")
    except StepError as error:
        problems.append(f"WorkflowTemplate: {error}")
    if problems:
        return SelfUpdateResult(succeeded=False, status="failed: " + "; ".join(problems + done))
    return SelfUpdateResult(succeeded=True, status="succeeded: " + "; ".join(done))


def _renamed(config: AphexConfig, settings: BundleSettings, installed: str) -> str:
    """Why the commit's configuration cannot update the installed template ``installed`` ("" if it can)."""
    try:
        name = template_name(config, settings)
    except InvalidValue as error:
        return str(error)
    if name != installed:
        return (
            f"pipeline.name changes the WorkflowTemplate from {installed} to {name}: "
            "renaming a pipeline is a reinstall"
        )
    return ""


def _client(service: str) -> Any:
    return pod_session().client(service)


def self_update(
    commit_sha: str,
    repo_url: str,
    template_name: str,
    settings: str,
    bucket: str,
    workflow_id: str,
) -> Annotated[str, Parameter(name="self-update-status")]:
    """Runner entrypoint: update the pipeline from the commit's configuration; never fails the run."""
    try:
        parsed = _settings(settings)
        work = scratch("self-update-")
        checkout = clone(repo_url, commit_sha, work / "checkout")
        compiled = work / "compile"
        compiled.mkdir()
        result = run_self_update(
            config_file=checkout / CONFIG_FILE,
            settings=parsed,
            template_name=template_name,
            cloudformation=_client("cloudformation"),
            workdir=compiled,
        )
    except (InvalidValue, StepError, OSError, BotoCoreError, ClientError) as error:
        result = SelfUpdateResult(succeeded=False, status=f"failed: {error}")
    stream = sys.stdout if result.succeeded else sys.stderr
    print(f"self-update {result.status}", file=stream)
    try:  # best effort, as the whole step: the exit handler then records no self-update stage
        store_self_update(
            _client("s3"),
            bucket=bucket,
            workflow_id=workflow_id,
            succeeded=result.succeeded,
            message=result.status,
        )
    except (InvalidValue, BotoCoreError, ClientError) as error:
        print(f"self-update: the outcome was not recorded: {error}", file=sys.stderr)
    return result.status


STAGE: Final = Stage(
    entrypoint=self_update,
    name="self-update",
    resources=ResourceClass.STANDARD,
    timeout="45m",
    retry=NETWORK_RETRY,
    account=SELF_UPDATE_SERVICE_ACCOUNT,
)
