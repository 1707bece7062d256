"""The ``resolve-head`` step: the commit the agents left, which deploy, acceptance and approval use.

The agents push to the pull request's branch, so the commit a run started from is not the one to deploy.
After the last agent stage this step asks GitHub for the pull request, checks that it is still open and
still a branch of the same repository (never a fork), and that the branch's tip is the pull request's
head; that commit is what the preview deploys, the acceptance test probes and the approval is pinned to.
The image tag defaults to the commit itself: a tag such as ``pr-<N>`` names a moving thing.
"""

from dataclasses import dataclass
from typing import Annotated, Any, Final
from urllib.parse import quote

from hera.workflows import Parameter

from aphex.dsl.deadlines import STAGE_TIMEOUT_SECONDS
from aphex.dsl.names import (
    InvalidValue,
    validate_branch_name,
    validate_commit_sha,
    validate_github_owner,
    validate_github_repo,
    validate_image_tag,
    validate_pr_number,
)
from aphex.dsl.stage import NETWORK_RETRY, ResourceClass, Stage
from aphex.workflows.steps.common.exits import fail
from aphex.workflows.steps.common.github import GitHubClient, GitHubError, client_for
from aphex.workflows.steps.common.process import StepError

__all__ = ["STAGE", "PullRequestHead", "find_head", "resolve_head"]


@dataclass(frozen=True, kw_only=True)
class PullRequestHead:
    """The pull request's head as the run deploys it."""

    commit: str
    branch: str


def _field(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def find_head(client: GitHubClient, *, owner: str, repo: str, pr: int) -> PullRequestHead:
    """The open pull request's head commit and branch, checked against the branch itself.

    Raises :class:`InvalidValue` when the pull request can no longer be deployed (closed, from a fork):
    retrying cannot change that. Raises :class:`StepError` when GitHub has not caught up with a push yet
    (the branch's tip differs from the pull request's head): a retry a little later succeeds.
    """
    pull = client.get_pull(owner, repo, pr)
    if pull.get("state") != "open":
        raise InvalidValue("pr", pr, f"is {pull.get('state')!r}, not open: there is nothing to deploy")
    head_repository = _field(pull, "head", "repo", "full_name")
    if not isinstance(head_repository, str) or head_repository.lower() != f"{owner}/{repo}".lower():
        raise InvalidValue(
            "pr", pr, f"comes from {head_repository or 'a deleted repository'}, not {owner}/{repo}"
        )
    commit = validate_commit_sha(str(_field(pull, "head", "sha")), "head.sha", allow_empty=False)
    branch = validate_branch_name(str(_field(pull, "head", "ref")), "head.ref")
    ref = client.request("GET", f"/repos/{owner}/{repo}/git/ref/heads/{quote(branch, safe='/')}")
    tip = _field(ref, "object", "sha")
    if tip != commit:
        raise StepError(
            f"pull request #{pr}: its head {commit} is not the tip {tip} of branch {branch} yet "
            "(GitHub is still processing a push)"
        )
    return PullRequestHead(commit=commit, branch=branch)


def resolve_head(
    owner: str, repo: str, pr: str, image_tag: str
) -> tuple[
    Annotated[str, Parameter(name="commit")],
    Annotated[str, Parameter(name="branch")],
    Annotated[str, Parameter(name="image-tag")],
]:
    """Runner entrypoint: the pull request's head after the agents, and the image tag to deploy."""
    try:
        validate_github_owner(owner)
        validate_github_repo(repo)
        number = validate_pr_number(pr)
        tag = validate_image_tag(image_tag, "image-tag") if image_tag else ""
        head = find_head(client_for(owner, repo), owner=owner, repo=repo, pr=number)
    except (InvalidValue, GitHubError, StepError) as error:
        raise fail(error) from None
    tag = tag or head.commit
    print(f"pull request #{number}: deploying {head.commit} of {head.branch} as image tag {tag}")
    return head.commit, head.branch, tag


STAGE: Final = Stage(
    entrypoint=resolve_head,
    name="resolve-head",
    resources=ResourceClass.LIGHT,
    timeout=f"{STAGE_TIMEOUT_SECONDS['resolve-head']}s",
    retry=NETWORK_RETRY,
)
