"""``coderun-template`` and ``docsrun-template``: run one agent of the agent platform and wait for it.

Each template validates its inputs in a runner step, then applies the platform's custom resource
(``CodeRun`` or ``DocsRun``, API group configurable, docs/implementation-dag.md) with a resource template
that waits for ``status.phase`` to reach ``Succeeded`` or ``Failed`` within a deadline. The resource is
named ``<workflow>-<stage>`` and applied (not created), so a retried stage adopts the run it already
started instead of starting a second agent. ``setOwnerReference`` makes the Workflow its controlling
owner (argo-workflows ``workflow/controller/operator.go``, executeResource), so deleting the Workflow
deletes the run and its agent. Labels (workflow, stage, repo, pr, app) make it findable; their values are
validated or sanitized label values. Argo resource templates:
https://argo-workflows.readthedocs.io/en/latest/walk-through/kubernetes-resources/.
"""

from typing import Any, Final

import yaml
from hera.workflows import Parameter, Resource, RetryStrategy, Steps, WorkflowTemplate
from hera.workflows.models import TemplateRef, ValueFrom

from aphex.dsl.labels import LABEL_PREFIX, MANAGED_BY
from aphex.dsl.metrics import stage_metrics
from aphex.dsl.settings import BundleSettings
from aphex.dsl.steps import runner_step
from aphex.dsl.workflow_templates import template_basics
from aphex.workflows.steps.common.accounts import Account
from aphex.workflows.steps.implementation_dag.agent_inputs import CODERUN_STAGE, DOCSRUN_STAGE

__all__ = [
    "CODERUN_ENTRY",
    "CODERUN_TEMPLATE",
    "DOCSRUN_ENTRY",
    "DOCSRUN_TEMPLATE",
    "IMPLEMENTATION_DAG",
    "coderun_ref",
    "coderun_template",
    "docsrun_ref",
    "docsrun_template",
]

CODERUN_TEMPLATE: Final = "coderun-template"
CODERUN_ENTRY: Final = "coderun-main"
DOCSRUN_TEMPLATE: Final = "docsrun-template"
DOCSRUN_ENTRY: Final = "docsrun-main"
IMPLEMENTATION_DAG: Final = "implementation-dag"
"""The pipeline whose agent stages these templates run (its WorkflowTemplate's base name)."""

_CODERUN_INPUTS: Final = (
    ("github-app", None, "GitHub App of the agent, e.g. 5DLabs-Rex; the platform mounts github-app-<name>"),
    ("stage", None, "Stage of the calling pipeline: implement, clippy, qa or docs"),
    (
        "run-type",
        "implementation",
        "CodeRun runType: implementation, documentation, intake, review, remediate",
    ),
    ("owner", None, "GitHub owner of the repository"),
    ("repo", None, "GitHub repository name"),
    ("pr", None, "Pull request number (empty when the agent implements an issue)"),
    ("issue", "", "Issue the agent implements in a new pull request (instead of pr)"),
    ("commit", "", "Commit the run starts from (empty: the pull request's head)"),
    ("repository-url", None, "https URL of the repository"),
    ("docs-repository-url", "", "https URL of the docs repository (empty: the repository itself)"),
    ("working-directory", ".", "Directory inside the repository the agent works in"),
    ("service", None, "Service name the platform groups runs by (DNS label)"),
    ("model", None, "Model the agent uses"),
)
_DOCSRUN_INPUTS: Final = (
    ("github-app", None, "GitHub App of the documentation agent, e.g. 5DLabs-Morgan"),
    ("owner", None, "GitHub owner of the repository"),
    ("repo", None, "GitHub repository name"),
    ("repository-url", None, "https URL of the repository"),
    ("working-directory", ".", "Directory inside the repository to document"),
    ("source-branch", "main", "Branch the documentation is generated from"),
    ("model", None, "Model the agent uses"),
)


def _inputs(spec: tuple[tuple[str, str | None, str], ...]) -> list[Parameter]:
    return [
        Parameter(name=name, description=text)
        if default is None
        else Parameter(name=name, default=default, description=text)
        for name, default, text in spec
    ]


def _ref(name: str) -> str:
    return "{{inputs.parameters." + name + "}}"


def _wait_template(
    *, name: str, manifest: dict[str, Any], inputs: list[str], settings: BundleSettings
) -> Resource:
    """A resource template that applies ``manifest`` and waits for its phase."""
    return Resource(
        name=name,
        inputs=[Parameter(name=input_name) for input_name in inputs],
        action="apply",
        set_owner_reference=True,
        manifest=yaml.safe_dump(manifest, sort_keys=False),
        success_condition="status.phase == Succeeded",
        failure_condition="status.phase == Failed",
        active_deadline_seconds=settings.agent_deadline_seconds,
        # A controller or API hiccup (Error) is retried; an agent that reports Failed is not.
        retry_strategy=RetryStrategy(limit=2, retry_policy="OnError"),
        service_account_name=settings.names.object(Account.AGENTS),
        outputs=[Parameter(name="name", value_from=ValueFrom(json_path="{.metadata.name}"))],
    )


def _run_labels(stage: str) -> dict[str, str]:
    # repo-label is the repository as a label value (aphex.dsl.names.dns_label, as on preview namespaces): a
    # GitHub name such as ".github" or one of 100 characters is not a valid label value.
    return {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        f"{LABEL_PREFIX}workflow": "{{workflow.name}}",
        f"{LABEL_PREFIX}stage": stage,
        f"{LABEL_PREFIX}repo": _ref("repo-label"),
        f"{LABEL_PREFIX}github-app": _ref("github-app"),
    }


def _validated(step: str, names: list[str]) -> dict[str, str]:
    return {name: "{{steps." + step + ".outputs.parameters." + name + "}}" for name in names}


def coderun_template(settings: BundleSettings) -> WorkflowTemplate:
    """``coderun-template``: entry ``coderun-main`` validates, creates a CodeRun and waits for it."""
    names = [name for name, _, _ in _CODERUN_INPUTS]
    manifest = {
        "apiVersion": settings.agent_api_version_full,
        "kind": "CodeRun",
        "metadata": {
            # One run per workflow and stage: a retry applies the same name and adopts it.
            "name": "{{workflow.name}}-" + _ref("stage"),
            "labels": {
                **_run_labels(_ref("stage")),
                f"{LABEL_PREFIX}pr": _ref("pr"),
                f"{LABEL_PREFIX}issue": _ref("issue"),
            },
        },
        "spec": {
            "service": _ref("service"),
            "repositoryUrl": _ref("repository-url"),
            "docsRepositoryUrl": _ref("docs-repository-url"),
            "workingDirectory": _ref("working-directory"),
            "model": _ref("model"),
            "githubApp": _ref("github-app"),
            "runType": _ref("run-type"),
            "env": {
                "APHEX_STAGE": _ref("stage"),
                "APHEX_WORKFLOW": "{{workflow.name}}",
                "REPO_OWNER": _ref("owner"),
                "REPO_NAME": _ref("repo"),
                "PR_NUMBER": _ref("pr"),
                "ISSUE_NUMBER": _ref("issue"),
                "HEAD_COMMIT": _ref("commit"),
            },
        },
    }
    with WorkflowTemplate(
        **template_basics(
            settings,
            name=settings.names.template(CODERUN_TEMPLATE),
            app_name=CODERUN_TEMPLATE,
            component="agents",
            description="Run one agent CodeRun and wait for its phase.",
            service_account=settings.names.object(Account.STEPS),
        )
    ) as template:
        validate = runner_step(CODERUN_STAGE, settings)
        created = [*names, "repo-label"]
        run = _wait_template(name="create-coderun", manifest=manifest, inputs=created, settings=settings)
        pipeline = settings.names.template(IMPLEMENTATION_DAG)
        # The stage is one of the implementation DAG's literals (implement, clippy, qa).
        metrics = stage_metrics(pipeline, _ref("stage"))
        with Steps(name=CODERUN_ENTRY, inputs=_inputs(_CODERUN_INPUTS), metrics=metrics):
            validate(name="validate", arguments={name.replace("-", "_"): _ref(name) for name in names})
            run(name="run", arguments=_validated("validate", created))
    return template


def docsrun_template(settings: BundleSettings) -> WorkflowTemplate:
    """``docsrun-template``: entry ``docsrun-main`` validates, creates a DocsRun and waits for it."""
    names = [name for name, _, _ in _DOCSRUN_INPUTS]
    created = ["github-app", "repository-url", "working-directory", "source-branch", "model", "repo-label"]
    manifest = {
        "apiVersion": settings.agent_api_version_full,
        "kind": "DocsRun",
        "metadata": {
            "name": "{{workflow.name}}-docs",
            "labels": _run_labels("docs"),
        },
        "spec": {
            "repositoryUrl": _ref("repository-url"),
            "workingDirectory": _ref("working-directory"),
            "sourceBranch": _ref("source-branch"),
            "githubApp": _ref("github-app"),
            "model": _ref("model"),
            "includeCodebase": True,
        },
    }
    with WorkflowTemplate(
        **template_basics(
            settings,
            name=settings.names.template(DOCSRUN_TEMPLATE),
            app_name=DOCSRUN_TEMPLATE,
            component="agents",
            description="Run the documentation agent and wait for it.",
            service_account=settings.names.object(Account.STEPS),
        )
    ) as template:
        validate = runner_step(DOCSRUN_STAGE, settings)
        run = _wait_template(name="create-docsrun", manifest=manifest, inputs=created, settings=settings)
        metrics = stage_metrics(settings.names.template(IMPLEMENTATION_DAG), "docs")
        with Steps(name=DOCSRUN_ENTRY, inputs=_inputs(_DOCSRUN_INPUTS), metrics=metrics):
            validate(name="validate", arguments={name.replace("-", "_"): _ref(name) for name in names})
            run(name="run", arguments=_validated("validate", created))
    return template


def coderun_ref(settings: BundleSettings) -> TemplateRef:
    """The ``templateRef`` agent stages call."""
    return TemplateRef(name=settings.names.template(CODERUN_TEMPLATE), template=CODERUN_ENTRY)


def docsrun_ref(settings: BundleSettings) -> TemplateRef:
    """The ``templateRef`` of the optional documentation stage."""
    return TemplateRef(name=settings.names.template(DOCSRUN_TEMPLATE), template=DOCSRUN_ENTRY)
