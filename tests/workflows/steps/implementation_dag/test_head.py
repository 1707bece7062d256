"""resolve-head against the GitHub API stand-in over real HTTP: the commit the agents left is deployed."""

from pathlib import Path

import pytest

from aphex.dsl.exit_codes import INVALID_INPUT
from aphex.workflows.steps.implementation_dag.head import resolve_head
from tests.runner import run_step
from tests.standins.github import GitHubStandIn

SHA = "b" * 40
ARGS = {"owner": "octo-org", "repo": "hello", "pr": "42", "image_tag": ""}


def _exit_code(excinfo: pytest.ExceptionInfo[SystemExit]) -> object:
    return excinfo.value.code


def test_the_head_after_the_agents_is_deployed_and_tagged_with_its_commit(github: GitHubStandIn) -> None:
    github.head_sha, github.head_ref = SHA, "feature/x"
    assert resolve_head(**ARGS) == (SHA, "feature/x", SHA)
    assert github.paths("GET") == [
        "/repos/octo-org/hello/pulls/42",
        "/repos/octo-org/hello/git/ref/heads/feature/x",
    ]


def test_a_given_image_tag_is_kept(github: GitHubStandIn) -> None:
    github.head_sha = SHA
    assert resolve_head(**{**ARGS, "image_tag": "v1.2.3"})[2] == "v1.2.3"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pr_state": "closed"}, "pr: is 'closed', not open"),
        ({"head_repository": "mallory/hello"}, "pr: comes from mallory/hello, not octo-org/hello"),
    ],
)
def test_a_pull_request_that_cannot_be_deployed_is_rejected_without_retry(
    github: GitHubStandIn, change: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in change.items():
        setattr(github, key, value)
    with pytest.raises(SystemExit) as excinfo:
        resolve_head(**ARGS)
    assert _exit_code(excinfo) == INVALID_INPUT
    assert message in capsys.readouterr().err


def test_a_branch_github_has_not_caught_up_with_fails_for_a_retry(
    github: GitHubStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    github.head_sha, github.head_ref = SHA, "feature/x"
    github.branch_tips["feature/x"] = "c" * 40
    with pytest.raises(SystemExit) as excinfo:
        resolve_head(**ARGS)
    assert _exit_code(excinfo) == 1
    assert "is not the tip" in capsys.readouterr().err


def test_invalid_parameters_exit_2_through_the_runner(tmp_path: Path) -> None:
    result = run_step(
        "aphex.workflows.steps.implementation_dag.head:resolve_head", {**ARGS, "pr": "42; rm -rf /"}, tmp_path
    )
    assert result.returncode == INVALID_INPUT
    assert "invalid parameter pr:" in result.stderr
