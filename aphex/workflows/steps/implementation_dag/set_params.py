"""The ``set-params`` step: validate every run parameter and derive the preview's names.

A run works on a pull request (``pr``) or implements an issue (``issue``); an issue run only runs the
implementation agent, whose new pull request starts a full run of its own through the PR webhook.

This is the gate of the implementation DAG: every value a later stage places into a
resource manifest, a command line or a GitHub API call is one of this step's outputs, never a raw
workflow parameter. An invalid parameter fails the step with a message naming it, and nothing
downstream runs. The exit handler re-derives the same names through :func:`derive_preview` so that it
can clean up even when it never sees this step's outputs.
"""

import re
from dataclasses import dataclass
from typing import Annotated, Final

from hera.workflows import Parameter

from aphex.dsl.deadlines import STAGE_TIMEOUT_SECONDS
from aphex.dsl.names import (
    InvalidValue,
    dns_label,
    helm_release_name,
    preview_namespace,
    validate_commit_sha,
    validate_dns_name,
    validate_github_app,
    validate_github_owner,
    validate_github_repo,
    validate_image_tag,
    validate_model,
    validate_pr_number,
    validate_pr_or_issue,
    validate_relative_path,
)
from aphex.dsl.stage import ResourceClass, Stage
from aphex.workflows.steps.common.exits import reject_input

__all__ = ["STAGE", "PreviewPlan", "RunParameters", "derive_preview", "set_params", "validate_run_parameters"]


@dataclass(frozen=True, kw_only=True)
class PreviewPlan:
    """Where a pull request's preview lives."""

    namespace: str
    release: str
    host: str
    image_tag: str


@dataclass(frozen=True, kw_only=True)
class RunParameters:
    """The validated parameters of one implementation-DAG run."""

    owner: str
    repo: str
    mode: str
    """``pr`` or ``issue``."""
    pr: int | None
    issue: int | None
    commit: str
    repository_url: str
    chart_path: str
    values_file: str
    model: str
    rex_app: str
    clippy_app: str
    qa_app: str
    docs_app: str
    docs_stage: bool
    preview: PreviewPlan | None
    """Only a pull-request run has a preview."""


def derive_preview(*, owner: str, repo: str, pr: str, domain: str, image_tag: str = "") -> PreviewPlan:
    """Validate the identifying parameters and derive namespace, release, ingress host and image tag."""
    validate_github_owner(owner)
    validate_github_repo(repo)
    number = validate_pr_number(pr)
    validate_dns_name(domain)
    release = helm_release_name(repo, number)
    namespace = preview_namespace(owner, repo, number)
    # Named after the namespace, which is one (owner, repository, pull request)'s: two owners'
    # repositories of one name never ask for the same Ingress host.
    host = f"{namespace}.{domain}"
    if len(host) > 253:
        raise InvalidValue("domain", domain, f"is too long for the preview host {host!r} (253 characters)")
    # Empty: resolve-head tags the image with the commit it deploys, which only exists after the agents.
    tag = validate_image_tag(image_tag) if image_tag else ""
    return PreviewPlan(namespace=namespace, release=release, host=host, image_tag=tag)


def _parse_bool(value: str, field: str) -> bool:
    if value in {"true", "false"}:
        return value == "true"
    raise InvalidValue(field, value, "must be 'true' or 'false'")


def validate_run_parameters(
    *,
    owner: str,
    repo: str,
    pr: str,
    commit: str,
    domain: str,
    chart_path: str,
    values_file: str,
    image_tag: str,
    model: str,
    rex_app: str,
    clippy_app: str,
    qa_app: str,
    docs_app: str,
    docs_stage: str,
    github_url: str = "https://github.com",
    issue: str = "",
) -> RunParameters:
    """Validate one run's parameters; raise :class:`InvalidValue` naming the first bad one."""
    validate_github_owner(owner)
    validate_github_repo(repo)
    mode, number = validate_pr_or_issue(pr, issue)
    preview = (
        derive_preview(owner=owner, repo=repo, pr=pr, domain=domain, image_tag=image_tag)
        if mode == "pr"
        else None
    )
    if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[A-Za-z0-9._~-]+)*/?", github_url):
        raise InvalidValue("github-url", github_url, "must be the http(s) URL of the GitHub server")
    return RunParameters(
        owner=owner,
        repo=repo,
        mode=mode,
        pr=number if mode == "pr" else None,
        issue=number if mode == "issue" else None,
        commit=validate_commit_sha(commit),
        repository_url=f"{github_url.rstrip('/')}/{owner}/{repo}",
        chart_path=validate_relative_path(chart_path, "chartPath"),
        values_file=validate_relative_path(values_file, "valuesFile"),
        model=validate_model(model),
        rex_app=validate_github_app(rex_app, "rex-app"),
        clippy_app=validate_github_app(clippy_app, "clippy-app"),
        qa_app=validate_github_app(qa_app, "qa-app"),
        docs_app=validate_github_app(docs_app, "docs-app"),
        docs_stage=_parse_bool(docs_stage, "docs-stage"),
        preview=preview,
    )


def set_params(
    owner: str,
    repo: str,
    pr: str,
    commit: str,
    domain: str,
    chart_path: str,
    values_file: str,
    image_tag: str,
    model: str,
    rex_app: str,
    clippy_app: str,
    qa_app: str,
    docs_app: str,
    docs_stage: str,
    issue: str,
    github_url: str = "https://github.com",
) -> tuple[
    Annotated[str, Parameter(name="owner")],
    Annotated[str, Parameter(name="repo")],
    Annotated[str, Parameter(name="mode", global_name="run-mode")],
    Annotated[str, Parameter(name="pr")],
    Annotated[str, Parameter(name="issue")],
    Annotated[str, Parameter(name="commit")],
    Annotated[str, Parameter(name="repository-url")],
    Annotated[str, Parameter(name="service")],
    Annotated[str, Parameter(name="chart-path")],
    Annotated[str, Parameter(name="values-file")],
    Annotated[str, Parameter(name="model")],
    Annotated[str, Parameter(name="rex-app")],
    Annotated[str, Parameter(name="clippy-app")],
    Annotated[str, Parameter(name="qa-app")],
    Annotated[str, Parameter(name="docs-app")],
    Annotated[str, Parameter(name="docs-stage")],
    Annotated[str, Parameter(name="namespace", global_name="preview-namespace")],
    Annotated[str, Parameter(name="release", global_name="preview-release")],
    Annotated[str, Parameter(name="host", global_name="preview-host")],
    Annotated[str, Parameter(name="image-tag")],
]:
    """Runner entrypoint: validate, then publish the validated values as output parameters."""
    try:
        run = validate_run_parameters(
            owner=owner,
            repo=repo,
            pr=pr,
            commit=commit,
            domain=domain,
            chart_path=chart_path,
            values_file=values_file,
            image_tag=image_tag,
            model=model,
            rex_app=rex_app,
            clippy_app=clippy_app,
            qa_app=qa_app,
            docs_app=docs_app,
            docs_stage=docs_stage,
            github_url=github_url,
            issue=issue,
        )
    except InvalidValue as error:
        raise reject_input(error) from None
    preview = run.preview or PreviewPlan(namespace="", release="", host="", image_tag="")
    if run.preview is None:
        print(f"issue #{run.issue}: the implementation agent opens a pull request; its own run follows")
    else:
        print(
            f"namespace={preview.namespace} release={preview.release} host={preview.host} "
            f"image-tag={preview.image_tag}"
        )
    return (
        run.owner,
        run.repo,
        run.mode,
        "" if run.pr is None else str(run.pr),
        "" if run.issue is None else str(run.issue),
        run.commit,
        run.repository_url,
        dns_label(run.repo),
        run.chart_path,
        run.values_file,
        run.model,
        run.rex_app,
        run.clippy_app,
        run.qa_app,
        run.docs_app,
        "true" if run.docs_stage else "false",
        preview.namespace,
        preview.release,
        preview.host,
        preview.image_tag,
    )


STAGE: Final = Stage(
    entrypoint=set_params,
    name="set-params",
    resources=ResourceClass.LIGHT,
    timeout=f"{STAGE_TIMEOUT_SECONDS['set-params']}s",
)
