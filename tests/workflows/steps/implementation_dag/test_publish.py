"""The exit handler's GitHub reporting against a GitHub API stand-in over real HTTP."""

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from aphex.dsl.names import preview_namespace
from aphex.workflows.steps.common.github import GitHubClient, GitHubError, resolve_token
from aphex.workflows.steps.implementation_dag import publish
from tests.runner import run_step
from tests.standins.github import GitHubStandIn, github_standin

SHA = "a" * 40

SUCCESS = {
    "owner": "octo-org",
    "repo": "hello",
    "pr": "42",
    "workflow_name": "implementation-dag-x7k2p",
    "workflow_namespace": "argo",
    "argo_ui_url": "https://argo.example.com",
    "preview_urls": json.dumps(["https://hello-pr-42.preview.example.com/"]),
    "acceptance_summary": json.dumps({"successRatio": 1.0, "p95Ms": 12.5, "requests": 20}),
    "deployed_sha": SHA,
    "namespace": preview_namespace("octo-org", "hello", 42),
    "release": "hello-pr-42",
    "expires_at": "2026-11-23T12:00:00Z",
}


def test_success_posts_one_comment_and_one_approval_pinned_to_the_commit(github: GitHubStandIn) -> None:
    publish.publish_success(**SUCCESS)
    assert len(github.comments) == 1
    body = github.comments[0]["body"]
    assert body.startswith(publish.marker(42))
    assert "https://hello-pr-42.preview.example.com/" in body
    assert "https://argo.example.com/workflows/argo/implementation-dag-x7k2p" in body
    assert "`acceptance-evidence`" in body
    assert [(r["event"], r["commit_id"]) for r in github.reviews] == [("APPROVE", SHA)]


def test_a_rerun_updates_the_comment_and_posts_no_second_review(github: GitHubStandIn) -> None:
    publish.publish_success(**SUCCESS)
    publish.publish_success(**{**SUCCESS, "expires_at": "2026-11-24T12:00:00Z"})
    assert len(github.comments) == 1
    assert "2026-11-24T12:00:00Z" in github.comments[0]["body"]
    assert len(github.reviews) == 1
    assert github.paths("PATCH") == [f"/repos/octo-org/hello/issues/comments/{github.comments[0]['id']}"]


def test_a_502_is_retried_and_posts_exactly_once(github: GitHubStandIn) -> None:
    github.fail_next(r"/issues/42/comments$", 502)
    publish.publish_success(**SUCCESS)
    assert len(github.comments) == 1
    assert github.paths("GET").count("/repos/octo-org/hello/issues/42/comments") == 2


def test_rate_limits_wait_as_github_says() -> None:
    with github_standin() as standin:
        standin.fail_next(r"/pulls/1$", 429, {"Retry-After": "7"})
        standin.fail_next(r"/pulls/1$", 403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1030"})
        waits: list[float] = []
        client = GitHubClient(standin.url, standin.token, sleep=waits.append, clock=lambda: 1000.0)
        assert client.get_pull("o", "r", 1)["head"]["sha"] == standin.head_sha
    assert waits == [7.0, 30.0]


def test_client_errors_are_not_retried() -> None:
    with github_standin() as standin:
        client = GitHubClient(standin.url, "wrong", sleep=lambda s: None)
        with pytest.raises(GitHubError, match="HTTP 401"):
            client.get_pull("o", "r", 1)
        assert len(standin.requests) == 1


def test_the_marker_is_found_on_a_later_page(github: GitHubStandIn) -> None:
    github.comments.extend({"id": i, "body": f"chatter {i}"} for i in range(150))
    github.comments.append({"id": 999, "body": publish.marker(42) + "\nold summary"})
    publish.publish_success(**SUCCESS)
    assert len(github.comments) == 151
    assert github.comments[-1]["body"].startswith(publish.marker(42) + "\n## Implementation DAG: succeeded")


def test_approval_is_withheld_when_the_head_moved(github: GitHubStandIn) -> None:
    github.head_sha = "b" * 40
    publish.publish_success(**SUCCESS)
    publish.publish_success(**SUCCESS)
    assert github.reviews == []
    assert len(github.comments) == 1
    assert "Approval withheld: the pull request's head moved to `" + "b" * 40 in github.comments[0]["body"]


def test_failure_comments_the_failed_nodes_and_never_approves(github: GitHubStandIn) -> None:
    failures = [
        {
            "displayName": "deploy",
            "templateName": "deploy",
            "phase": "Failed",
            "message": "helm ``` exited 1",
        },
    ]
    publish.publish_failure(
        owner="octo-org",
        repo="hello",
        pr="42",
        issue="",
        workflow_name="implementation-dag-x7k2p",
        workflow_namespace="argo",
        argo_ui_url="https://argo.example.com",
        workflow_status="Failed",
        workflow_failures=json.dumps(failures),
    )
    assert github.reviews == []
    body = github.comments[0]["body"]
    assert "| deploy | deploy | Failed |" in body
    assert "````\ndeploy: helm ``` exited 1\n````" in body
    assert "The preview was removed." in body


def test_a_failed_issue_run_comments_on_the_issue(github: GitHubStandIn) -> None:
    publish.publish_failure(
        owner="octo-org",
        repo="hello",
        pr="",
        issue="12",
        workflow_name="implementation-dag-x7k2p",
        workflow_namespace="argo",
        argo_ui_url="https://argo.example.com",
        workflow_status="Failed",
        workflow_failures="[]",
    )
    assert github.reviews == []
    (comment,) = github.comments
    assert "No pull request was opened." in comment["body"]
    assert github.paths("POST") == ["/repos/octo-org/hello/issues/12/comments"]


def test_failure_with_invalid_parameters_reports_nothing(github: GitHubStandIn) -> None:
    publish.publish_failure(
        owner="-bad-",
        repo="hello",
        pr="42",
        issue="",
        workflow_name="w",
        workflow_namespace="argo",
        argo_ui_url="https://argo.example.com",
        workflow_status="Failed",
        workflow_failures="",
    )
    assert github.requests == []


def test_the_client_refuses_merge_endpoints() -> None:
    with github_standin() as standin:
        client = GitHubClient(standin.url, standin.token)
        for path in ("/repos/o/r/pulls/1/merge", "/repos/o/r/merges", "/graphql"):
            with pytest.raises(GitHubError, match="never merges"):
                client.request("PUT", path)
        assert standin.requests == []
    assert not hasattr(client, "merge")


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("preview_urls", "not json", "preview-urls"),
        ("deployed_sha", "", "deployed-sha"),
        ("argo_ui_url", "javascript:alert(1)", "argo-ui-url"),
        ("expires_at", "tomorrow", "expires-at"),
        ("pr", "0", "pr"),
    ],
)
def test_bad_inputs_are_named(
    github: GitHubStandIn, capsys: pytest.CaptureFixture[str], field: str, value: str, named: str
) -> None:
    with pytest.raises(SystemExit):
        publish.publish_success(**{**SUCCESS, field: value})
    assert capsys.readouterr().err.startswith(f"invalid parameter {named}:")
    assert github.requests == []


def test_missing_credentials_are_explained(
    github: GitHubStandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    with pytest.raises(SystemExit):
        publish.publish_success(**SUCCESS)
    assert "GITHUB_APP_PRIVATE_KEY" in capsys.readouterr().err


def _app_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def test_github_app_credentials_are_exchanged_for_an_installation_token() -> None:
    private, public = _app_key()
    with github_standin() as standin:
        standin.app_public_key = public
        env = {
            "GITHUB_API_URL": standin.url,
            "GITHUB_APP_ID": "42",
            "GITHUB_APP_PRIVATE_KEY": private.replace("\n", "\\n"),
        }
        assert resolve_token(owner="octo-org", repo="hello", environ=env) == standin.token
        assert standin.paths() == ["/repos/octo-org/hello/installation", "/app/installations/7/access_tokens"]


def test_no_credentials_resolve_to_none() -> None:
    assert resolve_token(owner="o", repo="r", environ={}) is None


def test_through_the_runner_boundary(tmp_path: Path) -> None:
    with github_standin() as standin:
        env = {"GITHUB_API_URL": standin.url, "GITHUB_TOKEN": standin.token}
        result = run_step(
            "aphex.workflows.steps.implementation_dag.publish:publish_success", SUCCESS, tmp_path, env
        )
        assert result.returncode == 0, result.stderr
        assert len(standin.comments) == 1
        assert len(standin.reviews) == 1
