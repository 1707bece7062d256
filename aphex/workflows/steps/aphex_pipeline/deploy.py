"""An environment stage: deploy the commit's CDK stacks, wave by wave, each synthesized just in time.

The stage downloads the artifacts the build stored for the commit
(:func:`aphex.workflows.steps.aphex_pipeline.build.fetch_artifacts`), takes the environment's credentials
(:func:`aphex.workflows.steps.common.aws.session_for`: the pipeline's own, or the target account's role) and
then deploys the waves in order; the stacks of one wave (no dependency between them) run in parallel, and
for every stack:

1. ``cdk synth <stack> --app <app> [-c key=value ...] -o <assembly>`` runs the commit's own CDK app,
   immediately before the stack is deployed, into a cloud assembly of its own
   (https://docs.aws.amazon.com/cdk/v2/guide/cli.html);
2. ``cdk deploy <stack> --require-approval never --app <assembly> --outputs-file <file>`` deploys exactly
   that assembly;
3. on failure the stack's CloudFormation events ending in ``_FAILED`` since the deployment began are
   fetched (``DescribeStackEvents``), written to the evidence and put into the error, and no later wave
   is deployed (the rest of its own wave finishes); on success the outputs are read from
   ``DescribeStacks`` (the source of truth, not the CLI's file) into ``outputs.json``
   ``{stack: {key: value}}``, which is also the step's output.

Pre- and post-deploy hooks (shell lines from the configuration) run before the first and after the last
stack with ``APHEX_STACK_OUTPUTS`` naming ``outputs.json``. The CDK CLI and the hooks get the scrubbed
environment of :func:`aphex.workflows.steps.common.shell.command_environment` plus the environment's
credentials (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``), ``AWS_REGION``,
``AWS_DEFAULT_REGION``, ``CDK_DEFAULT_ACCOUNT``, ``CDK_DEFAULT_REGION``, ``APHEX_ENVIRONMENT`` and
``APHEX_COMMIT_SHA``: the CDK app is repository code that already runs with them during synthesis.
Context is passed to ``cdk synth`` only (``cdk deploy`` reads the synthesized assembly). The credentials
are taken from the session again for every stack and hook: an assumed role's session refreshes itself
(:func:`aphex.workflows.steps.common.aws.session_for`), so a stack that starts late in a long deploy gets
fresh ones.
"""

import json
import re
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]
from hera.workflows import Artifact, Parameter

from aphex.dsl.config.cloudformation import PipelineRole
from aphex.dsl.names import InvalidValue, validate_commit_sha, validate_dns_label, validate_relative_path
from aphex.dsl.stage import HEAVY_SCRATCH_SIZE, ON_POD_ERROR, ResourceClass, Stage, StepImage
from aphex.workflows.steps.aphex_pipeline.build import fetch_artifacts
from aphex.workflows.steps.aphex_pipeline.monitoring import Deployment, deployment_metrics, put_metrics
from aphex.workflows.steps.common.aws import (
    credential_environment,
    pod_session,
    session_for,
    validate_account,
    validate_bucket,
    validate_region,
)
from aphex.workflows.steps.common.exits import fail
from aphex.workflows.steps.common.process import CommandError, StepError
from aphex.workflows.steps.common.scratch import scratch
from aphex.workflows.steps.common.shell import ShellResult, command_environment, run_logged, run_shell

__all__ = [
    "STAGE",
    "DeployPlan",
    "StackRun",
    "cdk_deploy",
    "deploy_environment",
    "deploy_stacks",
    "failure_events",
    "parse_context",
    "parse_hooks",
    "parse_waves",
    "stack_outputs",
    "synth",
]

_STACK = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_CONTEXT_KEY = re.compile(r"^[A-Za-z0-9@][A-Za-z0-9@:._/-]{0,255}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TAIL: Final = 3000


@dataclass(frozen=True, kw_only=True)
class DeployPlan:
    """What one environment stage deploys, all validated."""

    environment: str
    account: str
    region: str
    commit_sha: str
    waves: list[list[str]]
    context: dict[str, str]
    app: str
    pre_deploy: list[str]
    post_deploy: list[str]
    timeout: int


@dataclass(frozen=True, kw_only=True)
class StackRun:
    """The timeline of one stack: synthesis immediately precedes its deployment."""

    stack: str
    cloudformation_name: str
    synth_started_at: str
    synth_finished_at: str
    deploy_started_at: str
    deploy_finished_at: str
    status: str
    duration_seconds: float


def _json(value: str, field: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise InvalidValue(field, value, "must be JSON") from None


def parse_waves(value: str) -> list[list[str]]:
    """``stacks``: a JSON list of waves, each a non-empty list of stack names; no name twice."""
    waves = _json(value, "stacks")
    if not isinstance(waves, list) or not waves:
        raise InvalidValue("stacks", value, "must be a non-empty JSON list of waves (lists of stack names)")
    seen: set[str] = set()
    for index, wave in enumerate(waves):
        if not isinstance(wave, list) or not wave:
            raise InvalidValue(f"stacks[{index}]", wave, "must be a non-empty list of stack names")
        for name in wave:
            if not isinstance(name, str) or not _STACK.match(name):
                raise InvalidValue(
                    f"stacks[{index}]", name, "must be a stack name: a letter, then letters, digits or '-'"
                )
            if name in seen:
                raise InvalidValue(f"stacks[{index}]", name, "names a stack that is already deployed earlier")
            seen.add(name)
    return waves


def parse_context(value: str) -> dict[str, str]:
    """``context``: a JSON object of CDK context keys and string values, safe as ``-c key=value``."""
    context = _json(value or "{}", "context")
    if not isinstance(context, dict):
        raise InvalidValue("context", value, "must be a JSON object of strings")
    for key, item in context.items():
        if not _CONTEXT_KEY.match(key):
            raise InvalidValue(f"context.{key}", key, "must be a context key of letters, digits and @:._/-")
        if not isinstance(item, str) or _CONTROL.search(item) or len(item) > 4096:
            raise InvalidValue(f"context.{key}", item, "must be a string without control characters")
    return dict(sorted(context.items()))


def parse_hooks(value: str, field: str) -> list[str]:
    """A JSON list of shell lines (possibly empty)."""
    hooks = _json(value or "[]", field)
    if not isinstance(hooks, list) or not all(isinstance(h, str) and h.strip() for h in hooks):
        raise InvalidValue(field, value, "must be a JSON list of non-empty shell commands")
    return hooks


def _app(source: Path, app: str) -> str:
    if app:
        if _CONTROL.search(app):
            raise InvalidValue("app", app, "must be one line")
        return app
    try:
        configured = json.loads((source / "cdk.json").read_text(encoding="utf-8")).get("app")
    except (OSError, ValueError, AttributeError):
        configured = None
    if not isinstance(configured, str) or not configured.strip() or _CONTROL.search(configured):
        raise InvalidValue("app", app, 'is empty and the artifacts have no cdk.json with an "app" command')
    return configured


def _assembly_stack(assembly: Path, stack: str) -> tuple[str, Path]:
    """The CloudFormation name and template of ``stack`` in a synthesized cloud assembly."""
    try:
        manifest = json.loads((assembly / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise StepError(f"synthesis of {stack} wrote no cloud assembly manifest") from None
    for artifact_id, artifact in (manifest.get("artifacts") or {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        if stack not in {artifact_id, artifact.get("displayName")}:
            continue
        properties = artifact.get("properties") or {}
        template = assembly / str(properties.get("templateFile", f"{artifact_id}.template.json"))
        if not template.is_file():
            raise StepError(f"synthesis of {stack} wrote no template ({template.name})")
        return str(properties.get("stackName") or artifact_id), template
    raise StepError(f"synthesis produced no stack named {stack}: is it defined by the app?")


def _redacted(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _checked(result: ShellResult, argv: Sequence[str], redact: Sequence[str]) -> None:
    if result.succeeded:
        return
    output = _redacted(result.output(), redact)
    if result.timed_out:
        raise StepError(
            f"`{' '.join(argv[:2])}` did not finish within the timeout: {output[-_TAIL:].strip()}"
        )
    raise CommandError(argv, result.exit_code or 1, output)


def synth(
    stack: str,
    *,
    app: str,
    assembly: Path,
    cwd: Path,
    env: Mapping[str, str],
    context: Mapping[str, str],
    timeout: float,
    log: Path,
    redact: Sequence[str] = (),
) -> tuple[ShellResult, str, Path]:
    """``cdk synth`` one stack into ``assembly``; return the run, its CloudFormation name and template."""
    argv = ["cdk", "synth", stack, "--app", app]
    for key, value in context.items():
        argv += ["-c", f"{key}={value}"]
    argv += ["-o", str(assembly)]
    result = run_logged(argv, cwd=cwd, env=env, timeout=timeout, log=log)
    _checked(result, argv, redact)
    name, template = _assembly_stack(assembly, stack)
    return result, name, template


def failure_events(cloudformation: Any, stack_name: str) -> list[dict[str, str]]:
    """The ``*_FAILED`` events of the stack's latest operation, oldest first (empty when it has none)."""
    found: list[dict[str, str]] = []
    try:
        pages = cloudformation.get_paginator("describe_stack_events").paginate(StackName=stack_name)
        for page in pages:
            for event in page["StackEvents"]:
                status = str(event.get("ResourceStatus", ""))
                if status.endswith("_FAILED"):
                    found.append(
                        {
                            "timestamp": str(event.get("Timestamp", "")),
                            "logicalResourceId": str(event.get("LogicalResourceId", "")),
                            "resourceType": str(event.get("ResourceType", "")),
                            "resourceStatus": status,
                            "reason": str(event.get("ResourceStatusReason", "")),
                        }
                    )
                user_started = event.get("ResourceStatusReason") == "User Initiated"
                if user_started and event.get("ResourceType") == "AWS::CloudFormation::Stack":
                    return list(reversed(found))
    except ClientError as error:
        return [{"error": f"no events for {stack_name}: {error.response['Error'].get('Message', error)}"}]
    return list(reversed(found))


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The stack's outputs according to CloudFormation."""
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = stacks[0].get("Outputs") or []
    return {str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in outputs}


def _event_text(events: Sequence[Mapping[str, str]]) -> str:
    if not events:
        return "CloudFormation reports no failed resources"
    return "; ".join(
        e["error"]
        if "error" in e
        else f"{e['logicalResourceId']} ({e['resourceType']}) {e['resourceStatus']}: {e['reason']}"
        for e in events
    )


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


def _hooks(
    commands: Sequence[str], *, kind: str, cwd: Path, env: Mapping[str, str], timeout: float, logs: Path
) -> None:
    for index, command in enumerate(commands, start=1):
        result = run_shell(command, cwd=cwd, env=env, timeout=timeout, log=logs / f"{kind}-{index:02d}.log")
        sys.stdout.write(result.output())
        if not result.succeeded:
            state = "timed out" if result.timed_out else f"exited {result.exit_code}"
            tail = result.output()[-_TAIL:].strip()
            raise StepError(f"{kind} hook {index} `{command}` {state}: {tail}")


def _deploy_stack(
    stack: str,
    *,
    plan: DeployPlan,
    source: Path,
    env: Mapping[str, str],
    work: Path,
    evidence: Path,
    redact: Sequence[str],
) -> tuple[StackRun, ShellResult]:
    """Synthesize ``stack`` just before deploying it (seed properties 23 and 25), then deploy it."""
    logs = evidence / "logs"
    assembly = work / "assemblies" / stack
    synthesized, name, _ = synth(
        stack,
        app=plan.app,
        assembly=assembly,
        cwd=source,
        env=env,
        context=plan.context,
        timeout=plan.timeout,
        log=logs / f"{stack}-synth.log",
        redact=redact,
    )
    argv = ["cdk", "deploy", stack, "--require-approval", "never", "--app", str(assembly),
            "--outputs-file", str(evidence / "cdk-outputs" / f"{stack}.json")]  # fmt: skip
    deployed = run_logged(argv, cwd=source, env=env, timeout=plan.timeout, log=logs / f"{stack}-deploy.log")
    run = StackRun(
        stack=stack,
        cloudformation_name=name,
        synth_started_at=synthesized.started_at,
        synth_finished_at=synthesized.finished_at,
        deploy_started_at=deployed.started_at,
        deploy_finished_at=deployed.finished_at,
        status="Succeeded" if deployed.succeeded else "Failed",
        duration_seconds=deployed.duration_seconds,
    )
    return run, deployed


def _stack_failure(
    stack: str,
    run: StackRun,
    deployed: ShellResult,
    plan: DeployPlan,
    cloudformation: Any,
    evidence: Path,
    redact: Sequence[str],
) -> StepError:
    """The error of a failed stack, with its CloudFormation failure events (also kept as evidence)."""
    name = run.cloudformation_name
    events = failure_events(cloudformation, name)
    _write_json(
        evidence / f"failure-{stack}.json",
        {"stack": stack, "cloudformationName": name, "exitCode": deployed.exit_code,
         "timedOut": deployed.timed_out, "events": events},
    )  # fmt: skip
    detail = _event_text(events)
    if not events or "error" in events[0]:
        lines = deployed.output().strip().splitlines()
        detail += f"; cdk: {_redacted(lines[-1], redact) if lines else 'no output'}"
    return StepError(f"stack {stack} failed to deploy to {plan.environment}: {detail}")


def deploy_environment(
    plan: DeployPlan,
    *,
    source: Path,
    session: Any,
    evidence: Path,
    work: Path,
    timeline: list[StackRun] | None = None,
) -> dict[str, dict[str, str]]:
    """Deploy ``plan`` from the unpacked artifacts in ``source``; return the outputs.

    Each stack's :class:`StackRun` is appended to ``timeline`` as it finishes (also on failure). Writes
    ``outputs.json``, ``timeline.json``, logs and, on failure, ``failure-<stack>.json`` to ``evidence``.
    Raises :class:`StepError` at the first failure.
    """
    evidence.mkdir(parents=True, exist_ok=True)
    outputs_file = evidence / "outputs.json"
    outputs: dict[str, dict[str, str]] = {}
    timeline = [] if timeline is None else timeline
    _write_json(outputs_file, outputs)
    base = {
        "CDK_DEFAULT_ACCOUNT": plan.account,
        "CDK_DEFAULT_REGION": plan.region,
        "APHEX_ENVIRONMENT": plan.environment,
        "APHEX_COMMIT_SHA": plan.commit_sha,
        "APHEX_STACK_OUTPUTS": str(outputs_file),
    }

    def environment() -> tuple[dict[str, str], list[str]]:
        """The child's environment with the session's current credentials, and the secrets to redact."""
        credentials = credential_environment(session)
        env = command_environment(work / "home", {**credentials, **base})
        return env, [
            credentials[k] for k in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN") if k in credentials
        ]

    cloudformation = session.client("cloudformation")
    logs = evidence / "logs"
    (evidence / "cdk-outputs").mkdir(parents=True, exist_ok=True)
    try:
        env, _ = environment()
        _hooks(plan.pre_deploy, kind="pre-deploy", cwd=source, env=env, timeout=plan.timeout, logs=logs)
        for wave in plan.waves:
            # Stacks of one wave do not depend on each other: they synthesize and deploy in parallel.
            # Each stack's CDK process gets the credentials current when it starts (a child cannot
            # refresh them): a stack deployed late in a long run never starts with stale ones.
            stack_environments = {stack: environment() for stack in wave}
            with ThreadPoolExecutor(max_workers=len(wave)) as pool:
                futures = [
                    pool.submit(
                        _deploy_stack,
                        stack,
                        plan=plan,
                        source=source,
                        env=stack_environments[stack][0],
                        work=work,
                        evidence=evidence,
                        redact=stack_environments[stack][1],
                    )
                    for stack in wave
                ]
                results = [future.result() for future in futures]
            failed: StepError | None = None
            for stack, (run, deployed) in zip(wave, results, strict=True):
                redact = stack_environments[stack][1]
                timeline.append(run)
                if not deployed.succeeded:
                    failed = failed or _stack_failure(
                        stack, run, deployed, plan, cloudformation, evidence, redact
                    )
                    continue
                outputs[stack] = stack_outputs(cloudformation, run.cloudformation_name)
                _write_json(outputs_file, outputs)
                print(f"deployed {stack} to {plan.environment} ({len(outputs[stack])} outputs)", flush=True)
            if failed is not None:
                raise failed
        env, _ = environment()
        _hooks(plan.post_deploy, kind="post-deploy", cwd=source, env=env, timeout=plan.timeout, logs=logs)
    finally:
        _write_json(evidence / "timeline.json", [asdict(r) for r in timeline])
    return outputs


def _emit_deployment_metrics(environment: str, timeline: Sequence[StackRun]) -> None:
    """Deployment metrics in the pipeline account; a failure to emit is reported, never fatal."""
    data = deployment_metrics(
        [
            Deployment(
                stack=r.stack, environment=environment, status=r.status, duration_seconds=r.duration_seconds
            )
            for r in timeline
        ],
        datetime.now(UTC),
    )
    try:
        put_metrics(pod_session().client("cloudwatch"), data)
    except (BotoCoreError, ClientError) as error:
        print(f"warning: deployment metrics were not emitted: {error}", file=sys.stderr)


def deploy_stacks(
    environment: str,
    account: str,
    region: str,
    pipeline_account: str,
    bucket: str,
    commit_sha: str,
    stacks: str,
    workflow_name: str,
    evidence: Annotated[Path, Artifact(name="deploy-evidence", output=True)],
    role: str = "",
    context: str = "{}",
    app: str = "",
    app_directory: str = ".",
    pre_deploy: str = "[]",
    post_deploy: str = "[]",
    command_timeout: int = 3600,
) -> Annotated[str, Parameter(name="stack-outputs")]:
    """Runner entrypoint: deploy one environment; outputs ``{stack: {output: value}}`` as JSON."""
    try:
        return cdk_deploy(
            environment=environment,
            account=account,
            region=region,
            pipeline_account=pipeline_account,
            bucket=bucket,
            commit_sha=commit_sha,
            stacks=stacks,
            workflow_name=workflow_name,
            evidence=evidence,
            role=role,
            context=context,
            app=app,
            app_directory=app_directory,
            pre_deploy=pre_deploy,
            post_deploy=post_deploy,
            command_timeout=command_timeout,
        )
    except (InvalidValue, StepError, BotoCoreError, ClientError) as error:
        raise fail(error) from None


STAGE: Final = Stage(
    entrypoint=deploy_stacks,
    name="deploy",
    resources=ResourceClass.HEAVY,
    timeout="6h",
    retry=ON_POD_ERROR,
    account=PipelineRole.DEPLOY.value,
    image=StepImage.BUILDER,
    scratch_size=HEAVY_SCRATCH_SIZE,
)


def cdk_deploy(
    *,
    environment: str,
    account: str,
    region: str,
    pipeline_account: str,
    bucket: str,
    commit_sha: str,
    stacks: str,
    workflow_name: str,
    evidence: Path,
    role: str = "",
    context: str = "{}",
    app: str = "",
    app_directory: str = ".",
    pre_deploy: str = "[]",
    post_deploy: str = "[]",
    command_timeout: int = 3600,
) -> str:
    """Validate, fetch the artifacts, take the environment's session and deploy; return the outputs JSON."""
    validate_dns_label(environment, "environment")
    validate_account(account)
    validate_account(pipeline_account, "pipeline-account")
    validate_region(region)
    validate_bucket(bucket)
    validate_commit_sha(commit_sha, "commit-sha", allow_empty=False)
    if app_directory != ".":
        validate_relative_path(app_directory, "app-directory")
    if not 1 <= command_timeout <= 6 * 3600:
        raise InvalidValue("command-timeout", command_timeout, "must be between 1 and 21600 seconds")
    waves = parse_waves(stacks)
    parsed_context = parse_context(context)
    hooks = (parse_hooks(pre_deploy, "pre-deploy"), parse_hooks(post_deploy, "post-deploy"))
    work = scratch(f"deploy-{environment}-")
    try:
        root = fetch_artifacts(
            pod_session().client("s3"), bucket=bucket, commit_sha=commit_sha, destination=work / "artifacts"
        )
    except ClientError as error:
        raise StepError(
            f"commit-sha: no artifacts at s3://{bucket}/{commit_sha}/artifacts.tar.gz "
            f"({error.response['Error'].get('Code')})"
        ) from None
    source = root / app_directory
    if not source.is_dir():
        raise InvalidValue("app-directory", app_directory, "is not a directory of the artifacts")
    plan = DeployPlan(
        environment=environment,
        account=account,
        region=region,
        commit_sha=commit_sha,
        waves=waves,
        context=parsed_context,
        app=_app(source, app),
        pre_deploy=hooks[0],
        post_deploy=hooks[1],
        timeout=command_timeout,
    )
    try:
        session = session_for(
            account, region, role, pipeline_account=pipeline_account, workflow_name=workflow_name
        )
    except (BotoCoreError, ClientError) as error:
        raise StepError(f"role: cannot assume the deployment role in {account}: {error}") from None
    timeline: list[StackRun] = []
    try:
        outputs = deploy_environment(
            plan, source=source, session=session, evidence=evidence, work=work, timeline=timeline
        )
    finally:
        _emit_deployment_metrics(environment, timeline)
    return json.dumps(outputs, sort_keys=True)
