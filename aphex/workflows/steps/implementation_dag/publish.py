"""The exit handler's GitHub side: one summary comment, and on success one approving review.

Idempotent: the comment carries a hidden marker and is updated in place on a rerun; a review carrying
the marker for the same commit is never posted twice. The approval is pinned to the deployed commit and
withheld when the pull request's head moved since. Nothing here can merge (see
:mod:`aphex.workflows.steps.common.github`).
"""

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from aphex.dsl.names import (
    InvalidValue,
    validate_commit_sha,
    validate_github_owner,
    validate_github_repo,
    validate_object_name,
    validate_pr_number,
    validate_pr_or_issue,
)
from aphex.dsl.stage import NETWORK_RETRY, ResourceClass, Stage
from aphex.workflows.steps.common.argo_values import workflow_failures as workflow_failures_of
from aphex.workflows.steps.common.exits import fail
from aphex.workflows.steps.common.github import GitHubClient, GitHubError, ReviewEvent, client_for

__all__ = [
    "FAILURE_STAGE",
    "SUCCESS_STAGE",
    "failure_comment",
    "marker",
    "publish_failure",
    "publish_success",
    "success_comment",
]

_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[A-Za-z0-9._~%/-]*)?$")
EVIDENCE_ARTIFACTS: Final = ("deploy-evidence", "acceptance-evidence")


def marker(pr: int) -> str:
    """The hidden marker that identifies this pipeline's comment and reviews on a pull request."""
    return f"<!-- aphex:implementation-dag pr={pr} -->"


def _url(value: str, field: str) -> str:
    if not _URL.match(value):
        raise InvalidValue(field, value, "must be an http(s) URL")
    return value


def _json(value: str, field: str, kind: type) -> Any:
    try:
        data = json.loads(value)
    except json.JSONDecodeError:
        raise InvalidValue(field, value, "must be JSON") from None
    if not isinstance(data, kind):
        raise InvalidValue(field, value, f"must be a JSON {kind.__name__}")
    return data


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def _workflow_link(argo_ui_url: str, namespace: str, name: str) -> str:
    return f"{argo_ui_url.rstrip('/')}/workflows/{namespace}/{name}"


def success_comment(
    *,
    pr: int,
    workflow_url: str,
    urls: Sequence[str],
    namespace: str,
    release: str,
    expires_at: str,
    summary: Mapping[str, Any],
    sha: str,
) -> str:
    """The summary comment of a successful run."""
    lines = [
        marker(pr),
        "## Implementation DAG: succeeded",
        "",
        f"Deployed commit `{sha}` as release `{release}` in namespace `{namespace}`; the preview is kept "
        f"until {expires_at}.",
        "",
        "**Preview**",
        *[f"- <{url}>" for url in urls],
        "",
        "**Acceptance**",
        "",
        "| success ratio | p95 latency | requests |",
        "|---|---|---|",
        "| {} | {} ms | {} |".format(
            *(summary.get(key, "n/a") for key in ("successRatio", "p95Ms", "requests"))
        ),
        "",
        f"**Evidence**: [workflow]({workflow_url}), artifacts "
        + ", ".join(f"`{name}`" for name in EVIDENCE_ARTIFACTS)
        + ".",
        "",
        "This pipeline approves; merging stays with people.",
    ]
    return "\n".join(lines) + "\n"


def failure_comment(
    *, pr: int, workflow_url: str, status: str, failures: Sequence[Mapping[str, Any]], preview: bool = True
) -> str:
    """The summary comment of a failed run (on its pull request, or its issue): which nodes failed, why."""
    lines = [marker(pr), f"## Implementation DAG: {status.lower()}", "", f"[Workflow]({workflow_url})", ""]
    if failures:
        lines += ["| node | template | phase |", "|---|---|---|"]
        for failure in failures:
            cells = [str(failure.get(key, "")).replace("|", "\\|").replace("\n", " ") for key in
                     ("displayName", "templateName", "phase")]  # fmt: skip
            lines.append(f"| {' | '.join(cells)} |")
        messages = "\n".join(
            f"{failure.get('displayName', '?')}: {failure.get('message', '')}" for failure in failures
        )
        lines += ["", _fence(messages)]
    else:
        lines.append("No failed node was reported.")
    lines += [
        "",
        "The preview was removed. No approval was given." if preview else "No pull request was opened.",
    ]
    return "\n".join(lines) + "\n"


def _upsert_comment(client: GitHubClient, owner: str, repo: str, pr: int, body: str) -> None:
    for comment in client.list_issue_comments(owner, repo, pr):
        if marker(pr) in (comment.get("body") or ""):
            if comment.get("body") != body:
                client.update_issue_comment(owner, repo, int(comment["id"]), body)
            print(f"summary comment {comment['id']} is up to date")
            return
    created = client.create_issue_comment(owner, repo, pr, body)
    print(f"posted summary comment {created.get('id')}")


def _approve(client: GitHubClient, owner: str, repo: str, pr: int, sha: str) -> None:
    for review in client.list_reviews(owner, repo, pr):
        if marker(pr) in (review.get("body") or "") and review.get("commit_id") == sha:
            print(f"review {review.get('id')} already approves {sha}")
            return
    body = (
        f"{marker(pr)}\nQA approval: commit `{sha}` passed the implementation DAG "
        "(agents, preview deployment, acceptance)."
    )
    review = client.create_review(owner, repo, pr, body=body, event=ReviewEvent.APPROVE, commit_id=sha)
    print(f"approved {sha} with review {review.get('id')}")


def publish_success(
    owner: str,
    repo: str,
    pr: str,
    workflow_name: str,
    workflow_namespace: str,
    argo_ui_url: str,
    preview_urls: str,
    acceptance_summary: str,
    deployed_sha: str,
    namespace: str,
    release: str,
    expires_at: str,
) -> None:
    """Runner entrypoint (exit handler, success): summary comment, then the approving review."""
    try:
        validate_github_owner(owner)
        validate_github_repo(repo)
        number = validate_pr_number(pr)
        urls = [_url(str(url), "preview-urls") for url in _json(preview_urls, "preview-urls", list)]
        summary = _json(acceptance_summary, "acceptance-summary", dict)
        sha = validate_commit_sha(deployed_sha, "deployed-sha", allow_empty=False)
        link = _workflow_link(
            _url(argo_ui_url, "argo-ui-url"),
            validate_object_name(workflow_namespace, "workflow-namespace"),
            validate_object_name(workflow_name, "workflow-name"),
        )
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", expires_at):
            raise InvalidValue("expires-at", expires_at, "must be an RFC 3339 UTC timestamp")
        body = success_comment(
            pr=number,
            workflow_url=link,
            urls=urls,
            namespace=validate_object_name(namespace, "namespace"),
            release=validate_object_name(release, "release"),
            expires_at=expires_at,
            summary=summary,
            sha=sha,
        )
        client = client_for(owner, repo)
        head = client.get_pull(owner, repo, number).get("head", {}).get("sha")
        if head != sha:
            body += f"\nApproval withheld: the pull request's head moved to `{head}` after this run.\n"
        _upsert_comment(client, owner, repo, number, body)
        if head == sha:
            _approve(client, owner, repo, number, sha)
    except (InvalidValue, GitHubError) as error:
        raise fail(error) from None


SUCCESS_STAGE: Final = Stage(
    entrypoint=publish_success,
    name="publish-success",
    resources=ResourceClass.LIGHT,
    timeout="600s",
    retry=NETWORK_RETRY,
)


def publish_failure(
    owner: str,
    repo: str,
    pr: str,
    issue: str,
    workflow_name: str,
    workflow_namespace: str,
    argo_ui_url: str,
    workflow_status: str,
    workflow_failures: str,
) -> None:
    """Runner entrypoint (exit handler, failure): summary comment with the failed nodes; no approval.

    The comment goes to the pull request, or to the issue of an issue run (GitHub numbers both alike).
    """
    try:
        validate_github_owner(owner)
        validate_github_repo(repo)
        mode, number = validate_pr_or_issue(pr, issue)
    except InvalidValue as error:
        print(f"not reporting to GitHub: the run's parameters were invalid ({error})")
        return
    try:
        failures = workflow_failures_of(workflow_failures, "workflow-failures")
        if workflow_status not in ("Failed", "Error", "Succeeded"):
            raise InvalidValue("workflow-status", workflow_status, "must be an Argo workflow phase")
        link = _workflow_link(
            _url(argo_ui_url, "argo-ui-url"),
            validate_object_name(workflow_namespace, "workflow-namespace"),
            validate_object_name(workflow_name, "workflow-name"),
        )
        body = failure_comment(
            pr=number,
            workflow_url=link,
            status=workflow_status,
            failures=failures,
            preview=mode == "pr",
        )
        _upsert_comment(client_for(owner, repo), owner, repo, number, body)
    except (InvalidValue, GitHubError) as error:
        raise fail(error) from None


FAILURE_STAGE: Final = Stage(
    entrypoint=publish_failure,
    name="publish-failure",
    resources=ResourceClass.LIGHT,
    timeout="600s",
    retry=NETWORK_RETRY,
)
