"""The Aphex delivery pipeline: one WorkflowTemplate per application, from its ``aphex-config.yaml``.

validate -> build -> self-update -> for each environment, in order: [approve-<env> ->
check-approval-<env>] -> deploy-<env> -> [tests-<env>]; an exit handler records the run (metadata,
metrics, notifications). A push to the main branch starts it (the push Sensor passes ``commit-sha``,
``branch``, ``repo-url``, ``repo-name``, ``pusher``); ``synchronization.mutexes`` queues pushes so that
two runs never deploy the same stacks.

Only structure comes from the configuration at compile time: the environments' names and order, whether
an environment has an approval (and its timeout) or tests. Every free-form value (build, hook and test
commands, stack names and waves, accounts, roles) is read from the ``aphex-config.yaml`` of the pushed
commit by the ``validate`` step, which hands it to the later steps as output parameters that Argo passes
inside the runner's JSON input: nothing a repository writes is ever pasted into this template. The
self-update step regenerates this template from the commit's configuration, so a changed topology takes
effect in the next run. An approval is Argo's supported pattern: a suspend (with ``duration`` when the
configuration sets a timeout) whose supplied output ``decision`` defaults to ``reject``; the deploy runs only
when ``check-approval-<env>`` saw ``approve`` (docs/aphex-pipeline.md, "Approvals"). See https://argo-workflows.readthedocs.io/en/latest/walk-through/dag/.
"""

import dataclasses
import json
from typing import Any, Final

from hera.workflows import DAG, Parameter, SecretVolume, Suspend, Task, WorkflowTemplate
from hera.workflows.models import (
    KeyToPath,
    Mutex,
    PodGC,
    SuppliedValueFrom,
    Synchronization,
    TTLStrategy,
    ValueFrom,
)

from aphex.dsl.config.cloudformation import (
    SELF_UPDATE_SERVICE_ACCOUNT,
    PipelineRole,
    service_account_name,
    workflow_template_name,
)
from aphex.dsl.config.model import AphexConfig, Environment
from aphex.dsl.config.resources import (
    PipelineError,
    PipelineResources,
    pipeline_identity,
    template_name,
)
from aphex.dsl.manifest import manifest
from aphex.dsl.metrics import run_metrics, stage_metrics
from aphex.dsl.params import workflow_parameter, workflow_parameter_ref
from aphex.dsl.rbac import EXECUTOR_RULE, account_objects
from aphex.dsl.security import SCRATCH_PATH
from aphex.dsl.settings import BundleSettings, ClusterPipeline, settings_document
from aphex.dsl.steps import github_credentials_env, runner_step
from aphex.dsl.workflow_templates import template_basics
from aphex.workflows.steps.aphex_pipeline.approval import STAGE as CHECK_APPROVAL
from aphex.workflows.steps.aphex_pipeline.approval import Decision
from aphex.workflows.steps.aphex_pipeline.build import STAGE as BUILD
from aphex.workflows.steps.aphex_pipeline.deploy import STAGE as DEPLOY
from aphex.workflows.steps.aphex_pipeline.monitoring import STAGE as RECORD
from aphex.workflows.steps.aphex_pipeline.run_tests import STAGE as RUN_TESTS
from aphex.workflows.steps.aphex_pipeline.self_update import STAGE as SELF_UPDATE
from aphex.workflows.steps.aphex_pipeline.validate import PLAN_FIELDS, plan_output_name
from aphex.workflows.steps.aphex_pipeline.validate import STAGE as VALIDATE

__all__ = [
    "IRSA_ANNOTATION",
    "NAME",
    "PLAN_DIRECTORY",
    "SELF_UPDATE_SERVICE_ACCOUNT",
    "WORKFLOW_READ_RULE",
    "aphex_pipeline",
    "pipeline_rbac",
    "pipeline_steps_read",
    "pipeline_template",
    "service_accounts",
]

NAME: Final = "aphex-pipeline"
"""The WorkflowTemplate of a configuration without ``pipeline.name``."""
IRSA_ANNOTATION: Final = "eks.amazonaws.com/role-arn"
PLAN_DIRECTORY: Final = f"{SCRATCH_PATH}/plan"
SLACK_MOUNT: Final = "/etc/aphex/slack"
APPROVAL_WITHOUT_TIMEOUT_SECONDS: Final = 7 * 24 * 3600
"""How long the run's deadline lets an approval without ``timeout`` wait."""


def _accounts(name: str, settings: BundleSettings) -> dict[str, str]:
    identity = pipeline_identity(name, settings)
    names = {kind.value: service_account_name(identity, kind) for kind in PipelineRole}
    names[SELF_UPDATE_SERVICE_ACCOUNT] = f"{identity}-{SELF_UPDATE_SERVICE_ACCOUNT}"
    return names


def service_accounts(config: AphexConfig, settings: BundleSettings) -> dict[str, str]:
    """ServiceAccount name by stage kind: ``<instance>-<pipeline>-build`` and so on."""
    return _accounts(workflow_template_name(config), settings)


def _plan(environment: str, field: str) -> str:
    return "{{tasks.validate.outputs.parameters." + plan_output_name(environment, field) + "}}"


def _arguments() -> list[Parameter]:
    return [
        workflow_parameter("commit-sha", description="Full SHA of the pushed commit (the push's `after`)"),
        workflow_parameter(
            "branch", default="refs/heads/main", description="Pushed ref, e.g. refs/heads/main"
        ),
        workflow_parameter("repo-url", default="", description="HTTPS clone URL of the repository"),
        workflow_parameter("repo-name", default="", description="Repository as <owner>/<name>"),
        workflow_parameter("pusher", default="", description="GitHub login of the user who pushed"),
    ]


def _deadline(config: AphexConfig, settings: BundleSettings) -> int:
    waits = sum(
        environment.approval.timeout_seconds or APPROVAL_WITHOUT_TIMEOUT_SECONDS
        for environment in config.environments
        if environment.approval is not None and environment.approval.required
    )
    return settings.workflow_deadline_seconds + waits


def _needs_approval(environment: Environment) -> bool:
    return environment.approval is not None and environment.approval.required


def _done(task: str) -> str:
    """Succeeded, or Skipped because its environment is not in this commit's configuration; a failed or
    Omitted task stops everything after it (what a bare name would mean, minus Daemoned)."""
    return f"{task}.Succeeded || {task}.Skipped"


class _MeteredSuspend(Suspend):
    """A suspend template with its ``metrics``: Hera 7.1.0's :class:`Suspend` accepts them but leaves
    them out of the template it builds."""

    def _build_template(self) -> Any:
        template = super()._build_template()
        template.metrics = self._build_metrics()
        return template


def _approval(environment: Environment, pipeline: str) -> Suspend:
    """Argo's approval pattern (docs/aphex-pipeline.md): a suspend whose supplied ``decision`` defaults to
    ``reject``; with a timeout, the suspend's ``duration`` (Argo refuses ``timeout`` on a suspend)."""
    timeout = environment.approval.timeout_seconds if environment.approval else None
    text = f"approve to deploy to {environment.name}; anything else, or no answer, rejects"
    name = f"approve-{environment.name}"
    return _MeteredSuspend(
        name=name,
        metrics=stage_metrics(pipeline, name),
        duration=f"{timeout}s" if timeout else None,
        inputs=[
            Parameter(
                name="decision",
                default=Decision.REJECT.value,
                enum=[decision.value for decision in Decision],
                description=text,
            )
        ],
        outputs=[
            Parameter(
                name="decision",
                value_from=ValueFrom(supplied=SuppliedValueFrom(), default=Decision.REJECT.value),
                description=text,
            )
        ],
    )


def aphex_pipeline(
    config: AphexConfig, settings: BundleSettings, *, pipeline: ClusterPipeline
) -> WorkflowTemplate:
    """Build the pipeline's WorkflowTemplate for ``config`` on the cluster of ``settings``, with the
    resources its ``pipelines`` entry ``pipeline`` records."""
    resources = PipelineResources.from_cluster_pipeline(pipeline)
    name = template_name(config, settings)
    accounts = service_accounts(config, settings)
    bucket = resources.artifact_bucket
    environments = [environment.name for environment in config.environments]
    with WorkflowTemplate(
        **template_basics(
            settings,
            name=name,
            app_name=name,
            component="pipeline",
            description=(
                "Aphex delivery pipeline: validate, build, self-update, then each environment in order "
                "(approval, deploy, tests); the exit handler records the run and notifies."
            ),
            service_account=accounts[PipelineRole.MONITOR.value],
        ),
        entrypoint="main",
        on_exit="exit-handler",
        arguments=_arguments(),
        active_deadline_seconds=_deadline(config, settings),
        # One run per pipeline at a time: later pushes queue. Argo keys a mutex by namespace and name
        # (argo-workflows workflow/sync/lock_name.go, getMutexLockName); the template name carries the
        # instance, so another release's pipeline of the same name never waits on this one.
        synchronization=Synchronization(mutexes=[Mutex(name=f"{NAME}-{name}")]),
        ttl_strategy=TTLStrategy(seconds_after_success=7 * 24 * 3600, seconds_after_failure=14 * 24 * 3600),
        pod_gc=PodGC(strategy="OnPodSuccess"),
        archive_logs=settings.archive_logs,
        metrics=run_metrics(name),
    ) as template:
        account = accounts.__getitem__
        github_env = github_credentials_env(settings)
        # A template shared by the environments names its stage after the task: <template>-<environment>
        # (environment names are the configuration's, checked at compile time).
        per_environment = "-{{inputs.parameters.environment}}"
        validate_step = runner_step(
            VALIDATE,
            settings,
            env=github_env,
            metrics=stage_metrics(name, "validate"),
            outputs=[
                Parameter(
                    name=plan_output_name(environment, field),
                    value_from=ValueFrom(path=f"{PLAN_DIRECTORY}/{environment}/{field}"),
                )
                for environment in environments
                for field in PLAN_FIELDS
            ],
            account_name=account,
        )
        build_step = runner_step(
            BUILD, settings, env=github_env, metrics=stage_metrics(name, "build"), account_name=account
        )
        self_update_step = runner_step(
            SELF_UPDATE,
            settings,
            env=github_env,
            metrics=stage_metrics(name, SELF_UPDATE_SERVICE_ACCOUNT),
            account_name=account,
        )
        deploy_step = runner_step(
            DEPLOY, settings, metrics=stage_metrics(name, "deploy" + per_environment), account_name=account
        )
        tests_step = runner_step(
            RUN_TESTS, settings, metrics=stage_metrics(name, "tests" + per_environment), account_name=account
        )
        slack = config.notifications.slack
        record_step = runner_step(
            RECORD,
            settings,
            metrics=stage_metrics(name, "record"),
            volumes=[
                SecretVolume(
                    name="slack-webhook",
                    secret_name=slack.webhook_secret.name,
                    mount_path=SLACK_MOUNT,
                    read_only=True,
                    optional=True,
                    items=[KeyToPath(key=slack.webhook_secret.key, path="webhook-url")],
                )
            ]
            if slack is not None
            else [],
            account_name=account,
        )
        approvals = {
            environment.name: _approval(environment, name)
            for environment in config.environments
            if _needs_approval(environment)
        }
        check_step = runner_step(
            CHECK_APPROVAL,
            settings,
            metrics=stage_metrics(name, "check-approval" + per_environment),
            account_name=account,
        )

        with DAG(name="main") as main:
            validate_step(
                name="validate",
                arguments={
                    "commit_sha": workflow_parameter_ref("commit-sha"),
                    "branch": workflow_parameter_ref("branch"),
                    "repo_url": workflow_parameter_ref("repo-url"),
                    "repo_name": workflow_parameter_ref("repo-name"),
                    "pusher": workflow_parameter_ref("pusher"),
                    "environments": json.dumps(environments),
                    "plan_directory": PLAN_DIRECTORY,
                },
            )
            build_step(
                name="build",
                depends="validate",
                arguments={
                    "repo_url": workflow_parameter_ref("repo-url"),
                    "commit_sha": workflow_parameter_ref("commit-sha"),
                    "branch": workflow_parameter_ref("branch"),
                    "bucket": bucket,
                    "artifact_path": ".",
                    "command_timeout": "3600",
                },
            )
            self_update_step(
                name="self-update",
                depends="build",
                arguments={
                    "commit_sha": workflow_parameter_ref("commit-sha"),
                    "repo_url": workflow_parameter_ref("repo-url"),
                    "template_name": name,
                    # With only its own pipelines entry: one pipeline's template never changes with
                    # another's, and self-update compiles from exactly these settings.
                    "settings": json.dumps(
                        settings_document(dataclasses.replace(settings, pipelines=(pipeline,))),
                        sort_keys=True,
                    ),
                    # Its outcome goes to S3, where the exit handler finds it (or not, if it never ran).
                    "bucket": bucket,
                    "workflow_id": "{{workflow.uid}}",
                },
            )
            # The next run's topology must not depend on this one succeeding: continue on any outcome.
            previous = "self-update.Succeeded || self-update.Failed || self-update.Errored"
            for environment in config.environments:
                env = environment.name
                enabled = f"{_plan(env, 'enabled')} == true"
                if env in approvals:
                    Task(name=f"approve-{env}", template=approvals[env], depends=previous, when=enabled)
                    # Skipped (not Omitted) with its environment: `when` is evaluated before the
                    # arguments, so the missing output of a skipped approval is never read.
                    check_step(
                        name=f"check-approval-{env}",
                        depends=_done(f"approve-{env}"),
                        when=enabled,
                        arguments={
                            "environment": env,
                            "decision": "{{tasks.approve-" + env + ".outputs.parameters.decision}}",
                        },
                    )
                    previous = _done(f"check-approval-{env}")
                deploy_step(
                    name=f"deploy-{env}",
                    depends=previous,
                    when=enabled,
                    arguments={
                        "environment": env,
                        "account": _plan(env, "account"),
                        "region": _plan(env, "region"),
                        "pipeline_account": "{{tasks.validate.outputs.parameters.pipeline-account}}",
                        "bucket": bucket,
                        "commit_sha": workflow_parameter_ref("commit-sha"),
                        "stacks": _plan(env, "stacks"),
                        "workflow_name": "{{workflow.name}}",
                        "role": _plan(env, "role"),
                        "context": "{}",
                        "app": "",
                        "app_directory": _plan(env, "app-directory"),
                        "pre_deploy": _plan(env, "pre-deploy"),
                        "post_deploy": _plan(env, "post-deploy"),
                        "command_timeout": "3600",
                    },
                )
                previous = _done(f"deploy-{env}")
                if environment.tests is not None:
                    tests_step(
                        name=f"tests-{env}",
                        depends=previous,
                        when=f"{_plan(env, 'has-tests')} == true",
                        arguments={
                            "environment": env,
                            "commit_sha": workflow_parameter_ref("commit-sha"),
                            "bucket": bucket,
                            "commands": _plan(env, "tests"),
                            "stack_outputs": "{{tasks.deploy-" + env + ".outputs.parameters.stack-outputs}}",
                            "working_directory": ".",
                            "command_timeout": _plan(env, "test-timeout"),
                        },
                    )
                    previous = _done(f"tests-{env}")

        # Only what is set in every run (no step's outputs): the record reads the self-update outcome from S3.
        with DAG(name="exit-handler"):
            record_step(
                name="record",
                arguments={
                    "workflow_id": "{{workflow.uid}}",
                    "workflow_name": "{{workflow.name}}",
                    "namespace": "{{workflow.namespace}}",
                    "commit_sha": workflow_parameter_ref("commit-sha"),
                    "branch": workflow_parameter_ref("branch"),
                    "status": "{{workflow.status}}",
                    "started_at": "{{workflow.creationTimestamp}}",
                    "bucket": bucket,
                    "finished_at": "",
                    "failures": "{{workflow.failures}}",
                    # The main DAG's tasks in order: the record lists each with its node's phase and times.
                    "stages": json.dumps([task.name for task in main.tasks]),
                    "sns_topics": json.dumps(list(config.notifications.sns_topic_arns)),
                    "slack_webhook_file": f"{SLACK_MOUNT}/webhook-url" if slack is not None else "",
                    "argo_ui": settings.argo_ui_url,
                },
            )
    return template


def _workflow_template_rule(name: str) -> dict[str, Any]:
    # `create` cannot be limited by resourceNames; the template exists (installed with the bundle), so
    # get and patch (server-side apply) on exactly this name are enough.
    return {
        "apiGroups": ["argoproj.io"],
        "resources": ["workflowtemplates"],
        "verbs": ["get", "patch"],
        "resourceNames": [name],
    }


WORKFLOW_READ_RULE: Final = {
    # The record reads its own run's status.nodes (every stage's phase and times). Only `get`: Workflow
    # names are generated per run (generateName), so `resourceNames` cannot narrow it; no list or watch.
    "apiGroups": ["argoproj.io"],
    "resources": ["workflows"],
    "verbs": ["get"],
}


def pipeline_rbac(pipeline: ClusterPipeline, settings: BundleSettings) -> list[dict[str, Any]]:
    """One ServiceAccount (annotated with its IRSA role), Role and RoleBinding per stage kind."""
    pipeline_identity(pipeline.name, settings)
    arns = PipelineResources.from_cluster_pipeline(pipeline).role_arns()
    objects: list[dict[str, Any]] = []
    for kind in (*(role.value for role in PipelineRole), SELF_UPDATE_SERVICE_ACCOUNT):
        rules: list[dict[str, Any]] = [dict(EXECUTOR_RULE)]
        if kind == SELF_UPDATE_SERVICE_ACCOUNT:
            rules.append(_workflow_template_rule(settings.names.template(pipeline.name)))
        if kind == PipelineRole.MONITOR.value:
            rules.append(dict(WORKFLOW_READ_RULE))
        account, role, role_binding = account_objects(f"{pipeline.name}-{kind}", rules, settings)
        account["metadata"]["annotations"] = {IRSA_ANNOTATION: arns[kind]}
        objects += [account, role, role_binding]
    return objects


def pipeline_steps_read(settings: BundleSettings) -> dict[str, Any]:
    """What the steps of every Aphex pipeline read from the cluster whatever its configuration, for
    the cluster checks (:mod:`aphex.workflows.cluster_verify.prerequisites`), which cannot see the pipelines'
    templates (they are compiled from each repository's configuration): the GitHub credentials, in the
    workflows namespace. A Slack webhook Secret depends on the configuration and is not among them."""
    return {
        "metadata": {"namespace": settings.namespace},
        "env": [
            variable.build().model_dump(by_alias=True, exclude_none=True)
            for variable in github_credentials_env(settings)
        ],
    }


def pipeline_template(config: AphexConfig, settings: BundleSettings) -> dict[str, Any]:
    """The WorkflowTemplate of ``config`` for its entry in ``settings.pipelines`` (whose accounts the
    bundle installs); raises :class:`PipelineError` naming the missing entry."""
    name = workflow_template_name(config)
    pipeline = settings.pipeline(name)
    if pipeline is None:
        listed = ", ".join(entry.name for entry in settings.pipelines) or "none"
        raise PipelineError(
            f"pipelines: no entry named {name!r} (pipeline.name of the configuration; listed: {listed}); "
            "add one with the pipeline stack's outputs"
        )
    return manifest(aphex_pipeline(config, settings, pipeline=pipeline))
