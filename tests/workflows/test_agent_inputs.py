"""Validation of agent runs before a CodeRun/DocsRun manifest is written (workflows.steps.agent_inputs)."""

import pytest

from workflows.steps.agent_inputs import validate_coderun_inputs, validate_docsrun_inputs

CODERUN = {
    "github_app": "5DLabs-Rex",
    "stage": "implement",
    "run_type": "implementation",
    "owner": "octo-org",
    "repo": "hello",
    "pr": "7",
    "issue": "",
    "commit": "",
    "repository_url": "https://github.com/octo-org/hello",
    "docs_repository_url": "",
    "working_directory": ".",
    "service": "hello",
    "model": "claude-sonnet-4-5",
}


def test_valid_inputs_pass_through_and_docs_repository_defaults_to_the_repository() -> None:
    values = validate_coderun_inputs(**CODERUN)
    assert values[8] == values[9] == "https://github.com/octo-org/hello"
    assert values[1] == "implement"
    assert values[5:7] == ("7", "")


def test_an_issue_run_passes_the_issue_and_no_pull_request() -> None:
    values = validate_coderun_inputs(**{**CODERUN, "pr": "", "issue": "12"})
    assert values[5:7] == ("", "12")


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("stage", "deploy", "stage"),
        ("run_type", "merge", "run-type"),
        ("repository_url", "https://github.com/other/hello", "repository-url"),
        ("repository_url", "http://github.com/octo-org/hello", "repository-url"),
        ("working_directory", "../x", "working-directory"),
        ("service", "Hello World", "service"),
        ("github_app", "x'; kind: Secret", "github-app"),
        ("model", "m\nkind: Secret", "model"),
        ("issue", "3", "issue"),
        ("pr", "", "pr"),
    ],
)
def test_bad_inputs_fail_naming_the_parameter(
    field: str, value: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        validate_coderun_inputs(**{**CODERUN, field: value})
    assert capsys.readouterr().err.startswith(f"invalid parameter {named}:")


def test_docsrun_rejects_a_bad_branch(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        validate_docsrun_inputs(
            github_app="5DLabs-Morgan",
            owner="octo-org",
            repo="hello",
            repository_url="https://github.com/octo-org/hello",
            working_directory=".",
            source_branch="main..evil",
            model="m",
        )
    assert "source-branch" in capsys.readouterr().err
