"""The ``implementation-dag`` WorkflowTemplate: one pull request from agents to an approved preview.

set-params -> implement (Rex) -> clippy (Cleo) -> qa (Tess) -> resolve-head -> deploy (Helm, preview
namespace) -> acceptance (black-box probes) -> [docs (Morgan), optional]; the exit handler cleans the
preview up on failure, or keeps it with an expiry and approves the pull request on success. It approves;
it never merges. The agents push to the pull request's branch, so ``resolve-head`` reads the head they
left and everything after it deploys, tests and approves exactly that commit. An issue run stops after
the implementation agent. Every dependency names the phase it needs (``X.Succeeded``): a bare ``X`` is
also satisfied by a skipped ``X`` (docs/argo-behaviours.md). The exit handler is fed by workflow
parameters and ``globalName`` outputs, and no parameter is ever pasted into shell source. DAG reference:
https://argo-workflows.readthedocs.io/en/latest/walk-through/dag/.
"""

import json
from typing import Final

from hera.workflows import DAG, Env, FieldEnv, Parameter, SecretEnv, Task, WorkflowTemplate
from hera.workflows.models import Mutex, PodGC, Synchronization, TTLStrategy

from aphex.dsl.deadlines import DeadlineError, check_run_deadline
from aphex.dsl.metrics import acceptance_metrics, run_metrics, stage_metrics
from aphex.dsl.params import workflow_parameter, workflow_parameter_ref
from aphex.dsl.settings import BundleSettings, SettingsError
from aphex.dsl.steps import github_credentials_env, runner_step
from aphex.dsl.workflow_templates import template_basics
from aphex.workflows.implementation_dag.agents import (
    IMPLEMENTATION_DAG,
    coderun_ref,
    docsrun_ref,
)
from aphex.workflows.steps.common.accounts import Account
from aphex.workflows.steps.implementation_dag.acceptance import STAGE as ACCEPTANCE
from aphex.workflows.steps.implementation_dag.agent_runs import STAGE as STOP_AGENTS
from aphex.workflows.steps.implementation_dag.head import STAGE as RESOLVE_HEAD
from aphex.workflows.steps.implementation_dag.preview import CLEANUP_STAGE as CLEANUP
from aphex.workflows.steps.implementation_dag.preview import DEPLOY_STAGE as DEPLOY
from aphex.workflows.steps.implementation_dag.preview import KEEP_STAGE as KEEP
from aphex.workflows.steps.implementation_dag.publish import FAILURE_STAGE as PUBLISH_FAILURE
from aphex.workflows.steps.implementation_dag.publish import SUCCESS_STAGE as PUBLISH_SUCCESS
from aphex.workflows.steps.implementation_dag.set_params import STAGE as SET_PARAMS

__all__ = [
    "NAME",
    "PREVIEW_WORKLOADS_ROLE",
    "check_deadlines",
    "deployer_env",
    "implementation_dag",
    "preview_quota_entries",
    "pull_request_mutex",
]

NAME: Final = IMPLEMENTATION_DAG
PREVIEW_WORKLOADS_ROLE: Final = "preview-workloads"
"""Role of the ClusterRole the deployer binds inside each preview namespace it creates."""


def pull_request_mutex(settings: BundleSettings, *, issue: str) -> Synchronization:
    """The mutex of one pull request's (or issue's) preview in this instance, held by its
    implementation-DAG run and by ``preview-cleanup``, from the workflow parameters ``owner``, ``repo``
    and ``pr``; ``issue`` is the issue part (empty for a pull request).

    Named after this instance's template: Argo keys a mutex by namespace and name (argo-workflows
    workflow/sync/lock_name.go, getMutexLockName), so a lock shared between instances would hold only for
    instances in one namespace. What keeps two instances off one preview is its ownership instead: the
    first deployer annotates the namespace, and the admission policy refuses the other's writes to it
    (:mod:`aphex.workflows.implementation_dag.admission`)."""
    template = settings.names.template(NAME)
    return Synchronization(
        mutexes=[
            Mutex(
                name=f"{template}-{workflow_parameter_ref('owner')}-{workflow_parameter_ref('repo')}"
                f"-pr{workflow_parameter_ref('pr')}-issue{issue}"
            )
        ]
    )


def check_deadlines(settings: BundleSettings) -> None:
    """:class:`SettingsError` when the workflow deadline would end a run whose every stage is still within
    its own deadline (:mod:`aphex.dsl.deadlines`)."""
    try:
        check_run_deadline(
            workflow_deadline_seconds=settings.workflow_deadline_seconds,
            agent_deadline_seconds=settings.agent_deadline_seconds,
            docs_stage=settings.components.docs_stage,
        )
    except DeadlineError as error:
        raise SettingsError(str(error)) from None


def _out(name: str) -> str:
    return "{{tasks.set-params.outputs.parameters." + name + "}}"


def _head(name: str) -> str:
    return "{{tasks.resolve-head.outputs.parameters." + name + "}}"


def _arguments(settings: BundleSettings) -> list[Parameter]:
    apps = settings.agents
    return [
        workflow_parameter("owner", description="GitHub owner (user or organisation) of the repository"),
        workflow_parameter("repo", description="GitHub repository name"),
        workflow_parameter(
            "pr", default="", description="Pull request number (give pr, or issue for an issue run)"
        ),
        workflow_parameter(
            "issue",
            default="",
            description="Issue to implement: only the implementation agent runs and opens a pull request",
        ),
        workflow_parameter(
            "commit",
            default="",
            description="Full commit SHA the agents start from (empty: the pull request's head at the start)",
        ),
        workflow_parameter(
            "domain",
            default=settings.preview_domain,
            description="DNS domain under which previews are served",
        ),
        workflow_parameter(
            "chartPath", default="charts/app", description="Helm chart path inside the repository"
        ),
        workflow_parameter(
            "valuesFile", default="values-preview.yaml", description="Helm values file inside the repository"
        ),
        workflow_parameter(
            "imageTag", default="", description="Image tag to deploy (empty: the SHA of the deployed commit)"
        ),
        workflow_parameter(
            "min-success-ratio",
            default="0.95",
            description="Acceptance gate: lowest share of successful requests",
        ),
        workflow_parameter(
            "max-p95-ms", default="1200", description="Acceptance gate: highest p95 latency in ms"
        ),
        workflow_parameter("acceptance-path", default="/", description="Path the acceptance test requests"),
        workflow_parameter(
            "acceptance-requests", default="20", description="Acceptance requests per preview host"
        ),
        workflow_parameter(
            "acceptance-concurrency", default="4", description="Concurrent acceptance requests in total"
        ),
        workflow_parameter(
            "acceptance-timeout-seconds", default="10", description="Timeout of one acceptance request"
        ),
        workflow_parameter(
            "acceptance-verify-tls",
            default="true",
            enum=["true", "false"],
            description="Verify the preview's TLS certificate",
        ),
        workflow_parameter("model", default=settings.agent_model, description="Model the agents use"),
        workflow_parameter(
            "rex-app", default=apps.implementation, description="GitHub App of the implementation agent"
        ),
        workflow_parameter(
            "clippy-app", default=apps.lint, description="GitHub App of the format/lint agent"
        ),
        workflow_parameter("qa-app", default=apps.qa, description="GitHub App of the QA (test) agent"),
        workflow_parameter(
            "docs-app", default=apps.docs, description="GitHub App of the documentation agent"
        ),
        workflow_parameter(
            "docs-stage",
            default="false",
            # Without the docs component the DocsRun template is not installed: only "false" is offered.
            enum=["true", "false"] if settings.components.docs_stage else ["false"],
            description="Run the documentation agent after acceptance",
        ),
    ]


def deployer_env(settings: BundleSettings) -> list[Env | SecretEnv | FieldEnv]:
    """Who the deployer is, from the downward API, and the ClusterRole it binds in each preview."""
    return [
        Env(name="APHEX_PREVIEW_WORKLOADS_ROLE", value=settings.names.cluster(PREVIEW_WORKLOADS_ROLE)),
        FieldEnv(name="APHEX_SERVICE_ACCOUNT", field_path="spec.serviceAccountName"),
        FieldEnv(name="APHEX_WORKFLOW_NAMESPACE", field_path="metadata.namespace"),
    ]


def _agent_task(
    settings: BundleSettings,
    name: str,
    *,
    stage: str,
    app_output: str,
    run_type: str,
    depends: str,
    when: str | None = None,
) -> Task:
    return Task(
        name=name,
        template_ref=coderun_ref(settings),
        depends=depends,
        when=when,
        arguments={
            "github-app": _out(app_output),
            "stage": stage,
            "run-type": run_type,
            "owner": _out("owner"),
            "repo": _out("repo"),
            "pr": _out("pr"),
            "issue": _out("issue"),
            "commit": _out("commit"),
            "repository-url": _out("repository-url"),
            "working-directory": ".",
            "service": _out("service"),
            "model": _out("model"),
        },
    )


def _docs_task(settings: BundleSettings) -> Task:
    """The optional documentation stage after acceptance (only when the docs component is installed)."""
    return Task(
        name="docs",
        template_ref=docsrun_ref(settings),
        depends="acceptance.Succeeded",
        when=f"{_out('docs-stage')} == true",
        arguments={
            "github-app": _out("docs-app"),
            "owner": _out("owner"),
            "repo": _out("repo"),
            "repository-url": _out("repository-url"),
            "source-branch": _head("branch"),
            "model": _out("model"),
        },
    )


def preview_quota_entries(settings: BundleSettings) -> dict[str, str]:
    """The configurable entries of a preview's ResourceQuota (values ``previewQuota``), as the deploy
    step receives them (:func:`aphex.workflows.steps.implementation_dag.preview.preview_quota`)."""
    quota = settings.preview_quota
    return {
        "pods": str(quota.pods),
        "requests.cpu": quota.requests.cpu,
        "requests.memory": quota.requests.memory,
        "limits.cpu": quota.limits.cpu,
        "limits.memory": quota.limits.memory,
    }


def implementation_dag(settings: BundleSettings) -> WorkflowTemplate:
    """Build the ``implementation-dag`` WorkflowTemplate."""
    github_env = github_credentials_env(settings)
    pipeline = settings.names.template(NAME)
    with WorkflowTemplate(
        **template_basics(
            settings,
            name=pipeline,
            app_name=NAME,
            component="implementation",
            description=(
                "Per pull request: agents implement, lint and test; Helm deploys a preview; a black-box "
                "acceptance test gates it; the exit handler cleans up or approves (never merges)."
            ),
            service_account=settings.names.object(Account.STEPS),
        ),
        entrypoint="main",
        on_exit="exit-handler",
        arguments=_arguments(settings),
        active_deadline_seconds=settings.workflow_deadline_seconds,
        synchronization=pull_request_mutex(settings, issue=workflow_parameter_ref("issue")),
        ttl_strategy=TTLStrategy(
            seconds_after_success=7 * 24 * 3600,
            seconds_after_failure=3 * 24 * 3600,
        ),
        pod_gc=PodGC(strategy="OnPodSuccess"),
        archive_logs=settings.archive_logs,
        metrics=run_metrics(pipeline),
    ) as template:
        deploy_env = [*github_env, *deployer_env(settings)]
        set_params_step = runner_step(SET_PARAMS, settings, metrics=stage_metrics(pipeline, "set-params"))
        head_step = runner_step(
            RESOLVE_HEAD, settings, env=github_env, metrics=stage_metrics(pipeline, "resolve-head")
        )
        deploy_step = runner_step(DEPLOY, settings, env=deploy_env, metrics=stage_metrics(pipeline, "deploy"))
        # set-params has validated owner and repo before acceptance can run.
        acceptance_step = runner_step(
            ACCEPTANCE,
            settings,
            metrics=[
                *stage_metrics(pipeline, "acceptance"),
                *acceptance_metrics(
                    pipeline,
                    repo=f"{workflow_parameter_ref('owner')}/{workflow_parameter_ref('repo')}",
                    success_ratio_output="success-ratio",
                    p95_output="p95-ms",
                ),
            ],
        )
        cleanup_step = runner_step(CLEANUP, settings, metrics=stage_metrics(pipeline, "cleanup"))
        keep_step = runner_step(KEEP, settings, metrics=stage_metrics(pipeline, "keep-preview"))
        stop_agents_step = runner_step(STOP_AGENTS, settings, metrics=stage_metrics(pipeline, "stop-agents"))
        success_step = runner_step(
            PUBLISH_SUCCESS, settings, env=github_env, metrics=stage_metrics(pipeline, "publish-success")
        )
        failure_step = runner_step(
            PUBLISH_FAILURE, settings, env=github_env, metrics=stage_metrics(pipeline, "publish-failure")
        )

        with DAG(name="main"):
            params = set_params_step(
                name="set-params",
                arguments={
                    "owner": workflow_parameter_ref("owner"),
                    "repo": workflow_parameter_ref("repo"),
                    "pr": workflow_parameter_ref("pr"),
                    "issue": workflow_parameter_ref("issue"),
                    "commit": workflow_parameter_ref("commit"),
                    "domain": workflow_parameter_ref("domain"),
                    "chart_path": workflow_parameter_ref("chartPath"),
                    "values_file": workflow_parameter_ref("valuesFile"),
                    "image_tag": workflow_parameter_ref("imageTag"),
                    "model": workflow_parameter_ref("model"),
                    "rex_app": workflow_parameter_ref("rex-app"),
                    "clippy_app": workflow_parameter_ref("clippy-app"),
                    "qa_app": workflow_parameter_ref("qa-app"),
                    "docs_app": workflow_parameter_ref("docs-app"),
                    "docs_stage": workflow_parameter_ref("docs-stage"),
                    "github_url": settings.github.web_url,
                },
            )
            implement = _agent_task(
                settings,
                "implement",
                stage="implement",
                app_output="rex-app",
                run_type="implementation",
                depends="set-params.Succeeded",
            )
            clippy = _agent_task(
                settings,
                "clippy",
                stage="clippy",
                app_output="clippy-app",
                run_type="remediate",
                depends="implement.Succeeded",
                # An issue run ends when the implementation agent has opened its pull request.
                when=f"{_out('mode')} == pr",
            )
            # clippy is Skipped in an issue run: `clippy.Succeeded` leaves qa and all after it Omitted.
            qa = _agent_task(
                settings,
                "qa",
                stage="qa",
                app_output="qa-app",
                run_type="review",
                depends="clippy.Succeeded",
            )
            head = head_step(
                name="resolve-head",
                depends="qa.Succeeded",
                arguments={
                    "owner": _out("owner"),
                    "repo": _out("repo"),
                    "pr": _out("pr"),
                    "image_tag": _out("image-tag"),
                },
            )
            deployed = deploy_step(
                name="deploy",
                depends="resolve-head.Succeeded",
                arguments={
                    "owner": _out("owner"),
                    "repo": _out("repo"),
                    "pr": _out("pr"),
                    "commit": _head("commit"),
                    "repository_url": _out("repository-url"),
                    "namespace": _out("namespace"),
                    "release": _out("release"),
                    "host": _out("host"),
                    "image_tag": _head("image-tag"),
                    "chart_path": _out("chart-path"),
                    "values_file": _out("values-file"),
                    "workflow_name": "{{workflow.name}}",
                    "ingress_namespace": settings.ingress_namespace,
                    "pod_security": settings.preview_pod_security,
                    "quota": json.dumps(preview_quota_entries(settings)),
                },
            )
            accepted = acceptance_step(
                name="acceptance",
                depends="deploy.Succeeded",
                arguments={
                    "urls": "{{tasks.deploy.outputs.parameters.urls}}",
                    "path": workflow_parameter_ref("acceptance-path"),
                    "requests_per_host": workflow_parameter_ref("acceptance-requests"),
                    "concurrency": workflow_parameter_ref("acceptance-concurrency"),
                    "timeout_seconds": workflow_parameter_ref("acceptance-timeout-seconds"),
                    "min_success_ratio": workflow_parameter_ref("min-success-ratio"),
                    "max_p95_ms": workflow_parameter_ref("max-p95-ms"),
                    "verify_tls": workflow_parameter_ref("acceptance-verify-tls"),
                },
            )
            if settings.components.docs_stage:
                _docs_task(settings)
            del params, implement, clippy, qa, head, deployed, accepted

        identity = {
            "owner": workflow_parameter_ref("owner"),
            "repo": workflow_parameter_ref("repo"),
            "pr": workflow_parameter_ref("pr"),
            "domain": workflow_parameter_ref("domain"),
        }
        workflow_link = {
            "workflow_name": "{{workflow.name}}",
            "workflow_namespace": "{{workflow.namespace}}",
            "argo_ui_url": settings.argo_ui_url,
        }
        with DAG(name="exit-handler"):
            # The steps find out themselves whether there is a preview (an issue run has none): a `when`
            # on a global output would not resolve when set-params failed before publishing it.
            cleanup_step(name="cleanup", when="{{workflow.status}} != Succeeded", arguments=identity)
            # A stage's wait may end before its agent (its deadline, `argo stop`): stop what still runs.
            stop_agents_step(
                name="stop-agents",
                when="{{workflow.status}} != Succeeded",
                arguments={
                    "workflow_name": "{{workflow.name}}",
                    "namespace": "{{workflow.namespace}}",
                    "api_group": settings.agent_api_group,
                    "api_version": settings.agent_api_version,
                },
            )
            keep_step(
                name="keep-preview",
                when="{{workflow.status}} == Succeeded",
                arguments={**identity, "ttl_hours": str(settings.preview_lifetime_hours)},
            )
            success_step(
                name="publish-success",
                depends="keep-preview.Succeeded",
                # keep-preview's validated output: empty when the run had no preview (an issue run).
                when="'{{tasks.keep-preview.outputs.parameters.expires-at}}' != ''",
                arguments={
                    "owner": workflow_parameter_ref("owner"),
                    "repo": workflow_parameter_ref("repo"),
                    "pr": workflow_parameter_ref("pr"),
                    **workflow_link,
                    "preview_urls": "{{workflow.outputs.parameters.preview-urls}}",
                    "acceptance_summary": "{{workflow.outputs.parameters.acceptance-summary}}",
                    "deployed_sha": "{{workflow.outputs.parameters.deployed-sha}}",
                    "namespace": "{{workflow.outputs.parameters.preview-namespace}}",
                    "release": "{{workflow.outputs.parameters.preview-release}}",
                    "expires_at": "{{tasks.keep-preview.outputs.parameters.expires-at}}",
                },
            )
            failure_step(
                name="publish-failure",
                depends="cleanup.Succeeded || cleanup.Failed || cleanup.Errored || cleanup.Skipped",
                when="{{workflow.status}} != Succeeded",
                arguments={
                    "owner": workflow_parameter_ref("owner"),
                    "repo": workflow_parameter_ref("repo"),
                    "pr": workflow_parameter_ref("pr"),
                    "issue": workflow_parameter_ref("issue"),
                    **workflow_link,
                    "workflow_status": "{{workflow.status}}",
                    "workflow_failures": "{{workflow.failures}}",
                },
            )
    return template
