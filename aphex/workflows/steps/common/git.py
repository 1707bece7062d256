"""Git for the stages: fetch exactly one commit of a repository, and the branch names a push carries.

The commit is fetched by its SHA into an empty repository (``git init`` + ``git fetch <url> <sha>`` +
``git checkout --detach FETCH_HEAD``) and ``git rev-parse HEAD`` must equal it: a branch that moved since
the push cannot change what is checked out.
"""

import re
from pathlib import Path

from aphex.dsl.names import InvalidValue, validate_commit_sha
from aphex.workflows.steps.common.github import GitHubError, git_auth_environment
from aphex.workflows.steps.common.process import StepError, run

__all__ = ["clone", "validate_branch"]

_BRANCH = re.compile(r"^(?:refs/heads/)?[A-Za-z0-9._/-]{1,244}$")
_REPO_URL = re.compile(r"^(?:https://[A-Za-z0-9.-]+(?::[0-9]+)?/|file:///)[A-Za-z0-9._~/-]+$")


def validate_branch(value: str, field: str = "branch") -> str:
    """A branch name or ``refs/heads/<name>`` as a push event carries it."""
    if not _BRANCH.match(value) or ".." in value or value.endswith("/") or "//" in value:
        raise InvalidValue(field, value, "must be a branch name or refs/heads/<name>")
    return value


def clone(repo_url: str, commit_sha: str, destination: Path) -> Path:
    """Fetch exactly ``commit_sha`` of ``repo_url`` into ``destination`` and check it out (detached).

    A private repository is fetched with the GitHub credentials of the step's environment
    (:func:`aphex.workflows.steps.common.github.git_auth_environment`: an http header in git's environment,
    redacted from errors); nothing of them is written to the checkout's configuration.
    """
    validate_commit_sha(commit_sha, "commit-sha", allow_empty=False)
    if len(commit_sha) != 40:
        raise InvalidValue("commit-sha", commit_sha, "must be a 40-character hex commit id")
    if not _REPO_URL.match(repo_url) or ".." in repo_url:
        raise InvalidValue("repo-url", repo_url, "must be an https:// (or file://) repository URL")
    try:
        auth, secrets = git_auth_environment(repo_url)
    except GitHubError as error:
        raise StepError(f"repo-url: no GitHub credentials for {repo_url}: {error}") from None
    run(["git", "init", "--quiet", str(destination)])
    run(
        ["git", "fetch", "--quiet", "--depth=1", repo_url, commit_sha],
        cwd=destination,
        env=auth,
        redact=secrets,
    )
    run(["git", "checkout", "--quiet", "--detach", "FETCH_HEAD"], cwd=destination)
    head = run(["git", "rev-parse", "HEAD"], cwd=destination).stdout.strip()
    if head != commit_sha:
        raise StepError(f"commit-sha: checked out {head}, expected {commit_sha}")
    return destination
