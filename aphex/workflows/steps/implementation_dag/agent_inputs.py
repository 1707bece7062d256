"""Validation of an agent run's inputs before they are written into a CodeRun or DocsRun manifest.

``coderun-template`` and ``docsrun-template`` are callable from any workflow (by ``templateRef``), so they
do not trust their callers: their first step validates every input and the resource manifest is filled
only from this step's outputs (docs/implementation-dag.md describes the resources). Label values are
sanitized with :func:`aphex.dsl.names.dns_label`, as on preview namespaces.
"""

import re
from typing import Annotated, Final

from hera.workflows import Parameter

from aphex.dsl.deadlines import AGENT_VALIDATE_SECONDS
from aphex.dsl.names import (
    InvalidValue,
    dns_label,
    validate_branch_name,
    validate_commit_sha,
    validate_github_app,
    validate_github_owner,
    validate_github_repo,
    validate_model,
    validate_pr_or_issue,
    validate_relative_path,
)
from aphex.dsl.stage import ResourceClass, Stage
from aphex.workflows.steps.common.accounts import Account
from aphex.workflows.steps.common.exits import reject_input

__all__ = [
    "AGENT_STAGES",
    "CODERUN_STAGE",
    "DOCSRUN_STAGE",
    "RUN_TYPES",
    "validate_coderun_inputs",
    "validate_docsrun_inputs",
]

AGENT_STAGES = ("implement", "clippy", "qa", "docs")
RUN_TYPES = ("implementation", "documentation", "intake", "review", "remediate")
_SERVICE = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")


def _choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise InvalidValue(field, value, f"must be one of {', '.join(allowed)}")
    return value


def _repository_url(value: str, owner: str, repo: str, field: str) -> str:
    match = re.fullmatch(r"https://[A-Za-z0-9.-]+(?::[0-9]+)?/([^/]+)/([^/]+)", value)
    if not match or (match.group(1), match.group(2)) != (owner, repo):
        raise InvalidValue(field, value, f"must be https://<github host>/{owner}/{repo}")
    return value


def _working_directory(value: str) -> str:
    return "." if value == "." else validate_relative_path(value, "working-directory")


def validate_coderun_inputs(
    github_app: str,
    stage: str,
    run_type: str,
    owner: str,
    repo: str,
    pr: str,
    issue: str,
    commit: str,
    repository_url: str,
    docs_repository_url: str,
    working_directory: str,
    service: str,
    model: str,
) -> tuple[
    Annotated[str, Parameter(name="github-app")],
    Annotated[str, Parameter(name="stage")],
    Annotated[str, Parameter(name="run-type")],
    Annotated[str, Parameter(name="owner")],
    Annotated[str, Parameter(name="repo")],
    Annotated[str, Parameter(name="pr")],
    Annotated[str, Parameter(name="issue")],
    Annotated[str, Parameter(name="commit")],
    Annotated[str, Parameter(name="repository-url")],
    Annotated[str, Parameter(name="docs-repository-url")],
    Annotated[str, Parameter(name="working-directory")],
    Annotated[str, Parameter(name="service")],
    Annotated[str, Parameter(name="model")],
    Annotated[str, Parameter(name="repo-label")],
]:
    """Runner entrypoint of ``coderun-template``: every value, validated, as an output parameter."""
    try:
        validate_github_owner(owner)
        validate_github_repo(repo)
        mode, number = validate_pr_or_issue(pr, issue)
        values = (
            validate_github_app(github_app),
            _choice(stage, AGENT_STAGES, "stage"),
            _choice(run_type, RUN_TYPES, "run-type"),
            owner,
            repo,
            str(number) if mode == "pr" else "",
            str(number) if mode == "issue" else "",
            validate_commit_sha(commit),
            _repository_url(repository_url, owner, repo, "repository-url"),
            _repository_url(docs_repository_url or repository_url, owner, repo, "docs-repository-url"),
            _working_directory(working_directory),
            _choice_service(service),
            validate_model(model),
            dns_label(repo),
        )
    except InvalidValue as error:
        raise reject_input(error) from None
    return values


CODERUN_STAGE: Final = Stage(
    entrypoint=validate_coderun_inputs,
    name="validate-coderun",
    resources=ResourceClass.LIGHT,
    timeout=f"{AGENT_VALIDATE_SECONDS}s",
    account=Account.STEPS,
)


def _choice_service(value: str) -> str:
    if not _SERVICE.match(value):
        raise InvalidValue("service", value, "must be a DNS-1123 label")
    return value


def validate_docsrun_inputs(
    github_app: str,
    owner: str,
    repo: str,
    repository_url: str,
    working_directory: str,
    source_branch: str,
    model: str,
) -> tuple[
    Annotated[str, Parameter(name="github-app")],
    Annotated[str, Parameter(name="repository-url")],
    Annotated[str, Parameter(name="working-directory")],
    Annotated[str, Parameter(name="source-branch")],
    Annotated[str, Parameter(name="model")],
    Annotated[str, Parameter(name="repo-label")],
]:
    """Runner entrypoint of ``docsrun-template``."""
    try:
        validate_github_owner(owner)
        validate_github_repo(repo)
        validate_branch_name(source_branch, "source-branch")
        values = (
            validate_github_app(github_app),
            _repository_url(repository_url, owner, repo, "repository-url"),
            _working_directory(working_directory),
            source_branch,
            validate_model(model),
            dns_label(repo),
        )
    except InvalidValue as error:
        raise reject_input(error) from None
    return values


DOCSRUN_STAGE: Final = Stage(
    entrypoint=validate_docsrun_inputs,
    name="validate-docsrun",
    resources=ResourceClass.LIGHT,
    timeout=f"{AGENT_VALIDATE_SECONDS}s",
    account=Account.STEPS,
)
