"""How previews end: the ``preview-cleanup`` and ``preview-janitor`` WorkflowTemplates and the CronWorkflow.

A successful implementation-DAG run keeps its preview with an ``aphex.dev/expires-at`` annotation
(:func:`aphex.workflows.steps.implementation_dag.preview.keep_preview`). Two things remove it, both through
the code of the exit handler's cleanup (:mod:`aphex.workflows.steps.implementation_dag.preview`) and under the
preview deployer's ServiceAccount, so the admission policy of
:mod:`aphex.workflows.implementation_dag.admission` confines them to this instance's previews:

- ``preview-cleanup`` (parameters ``owner``, ``repo``, ``pr``), which the ``pr-closed`` Sensor of
  :mod:`aphex.workflows.events` submits when a pull request is closed or merged. It holds the pull request's
  mutex (:func:`aphex.workflows.implementation_dag.dag.pull_request_mutex`), so it waits for a run of the same
  pull request that is still deploying and removes what that run kept.
- ``preview-janitor`` (no parameters), which the CronWorkflow of the same name runs on the
  ``previewJanitorSchedule`` value: every preview of this instance past its expiry is removed.

CronWorkflow fields used (argo-workflows ``pkg/apis/workflow/v1alpha1/cron_workflow_types.go``,
CronWorkflowSpec): ``schedules`` (``schedule`` is gone in v4; each is parsed with robfig/cron's
``ParseStandard``, ``workflow/validate/validate.go``, CronWorkflow), ``timezone``, ``concurrencyPolicy:
Forbid`` (a run still active when the next is due is not joined by another: ``workflow/cron/operator.go``,
enforceRuntimePolicy), ``startingDeadlineSeconds`` (a run missed while the controller was down still
starts within it: shouldOutstandingWorkflowsBeRun), the history limits (enforceHistoryLimit), and
``workflowSpec.workflowTemplateRef``, so the janitor can also be submitted by hand (``argo submit --from
workflowtemplate/preview-janitor``).
"""

from collections.abc import Sequence
from typing import Any, Final

from hera.workflows import DAG, Env, FieldEnv, Parameter, SecretEnv, WorkflowTemplate
from hera.workflows.models import PodGC, Synchronization, TTLStrategy

from aphex.dsl.labels import LABEL_PREFIX, standard_labels
from aphex.dsl.params import workflow_parameter, workflow_parameter_ref
from aphex.dsl.settings import BundleSettings
from aphex.dsl.stage import Stage
from aphex.dsl.steps import runner_step
from aphex.dsl.workflow_templates import template_basics
from aphex.workflows.implementation_dag.dag import deployer_env, pull_request_mutex
from aphex.workflows.steps.common.accounts import Account
from aphex.workflows.steps.implementation_dag.preview import CLEANUP_STAGE, EXPIRE_STAGE

__all__ = [
    "CLEANUP_NAME",
    "JANITOR_NAME",
    "janitor_cron_workflow",
    "preview_cleanup_template",
    "preview_janitor_template",
]

CLEANUP_NAME: Final = "preview-cleanup"
JANITOR_NAME: Final = "preview-janitor"
CLEANUP_DEADLINE_SECONDS: Final = 3600
"""Room for a run of the same pull request to finish (the mutex) and for one removal (15 minutes)."""
JANITOR_DEADLINE_SECONDS: Final = 3600
JANITOR_STARTING_DEADLINE_SECONDS: Final = 900
"""A run the controller missed (a restart) still starts when it is at most this late."""

Manifest = dict[str, Any]


def _one_step_template(
    settings: BundleSettings,
    *,
    name: str,
    description: str,
    arguments: list[Parameter],
    deadline_seconds: int,
    stage: Stage,
    task: str,
    step_arguments: dict[str, str],
    env: Sequence[Env | SecretEnv | FieldEnv] = (),
    synchronization: Synchronization | None = None,
) -> WorkflowTemplate:
    """A WorkflowTemplate whose DAG ``main`` runs ``stage`` as its one task, ``task``."""
    with WorkflowTemplate(
        **template_basics(
            settings,
            name=settings.names.template(name),
            app_name=name,
            component="previews",
            description=description,
            service_account=settings.names.object(Account.PREVIEW_DEPLOYER),
        ),
        entrypoint="main",
        arguments=arguments,
        active_deadline_seconds=deadline_seconds,
        synchronization=synchronization,
        ttl_strategy=TTLStrategy(seconds_after_success=24 * 3600, seconds_after_failure=3 * 24 * 3600),
        pod_gc=PodGC(strategy="OnPodSuccess"),
        archive_logs=settings.archive_logs,
    ) as template:
        script = runner_step(stage, settings, env=env)
        with DAG(name="main"):
            script(name=task, arguments=step_arguments)
    return template


def preview_cleanup_template(settings: BundleSettings) -> WorkflowTemplate:
    """Build ``preview-cleanup``: remove one pull request's preview (its release and namespace)."""
    return _one_step_template(
        settings,
        name=CLEANUP_NAME,
        description=(
            "Removes the preview of one pull request (its Helm release and namespace) when the pull "
            "request is closed or merged; waits for a run of the same pull request to finish first."
        ),
        arguments=[
            workflow_parameter("owner", description="GitHub owner (user or organisation) of the repository"),
            workflow_parameter("repo", description="GitHub repository name"),
            workflow_parameter("pr", description="Number of the closed pull request"),
            workflow_parameter(
                "domain",
                default=settings.preview_domain,
                description="DNS domain of the previews (names the release as the implementation DAG did)",
            ),
        ],
        deadline_seconds=CLEANUP_DEADLINE_SECONDS,
        stage=CLEANUP_STAGE,
        task="cleanup",
        step_arguments={name: workflow_parameter_ref(name) for name in ("owner", "repo", "pr", "domain")},
        synchronization=pull_request_mutex(settings, issue=""),
    )


def preview_janitor_template(settings: BundleSettings) -> WorkflowTemplate:
    """Build ``preview-janitor``: remove every preview of this instance past its expiry."""
    return _one_step_template(
        settings,
        name=JANITOR_NAME,
        description=(
            "Removes every preview of this instance whose aphex.dev/expires-at has passed (run by the "
            "CronWorkflow of the same name)."
        ),
        arguments=[
            workflow_parameter(
                "dry-run",
                default="false",
                enum=["false", "true"],
                description="true: only list the expired previews, remove nothing",
            )
        ],
        deadline_seconds=JANITOR_DEADLINE_SECONDS,
        stage=EXPIRE_STAGE,
        task="expire-previews",
        step_arguments={"dry_run": workflow_parameter_ref("dry-run")},
        env=deployer_env(settings),
    )


def janitor_cron_workflow(settings: BundleSettings) -> Manifest:
    """The CronWorkflow that runs ``preview-janitor`` on ``previewJanitorSchedule`` (UTC)."""
    labels = standard_labels(
        name=JANITOR_NAME, component="previews", version=settings.version, instance=settings.instance
    )
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {
            # Named like the WorkflowTemplates (bare in the default instance): at most 30 + 16 characters,
            # within the 52 Argo allows a CronWorkflow (workflow/validate/validate.go, CronWorkflow).
            "name": settings.names.template(JANITOR_NAME),
            "namespace": settings.namespace,
            "labels": labels,
        },
        "spec": {
            "schedules": [settings.preview_janitor_schedule],
            "timezone": "UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": JANITOR_STARTING_DEADLINE_SECONDS,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "workflowMetadata": {"labels": {f"{LABEL_PREFIX}trigger": JANITOR_NAME}},
            "workflowSpec": {"workflowTemplateRef": {"name": settings.names.template(JANITOR_NAME)}},
        },
    }
