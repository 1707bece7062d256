"""Validation of agent runs before a CodeRun/DocsRun manifest is written
(aphex.workflows.steps.implementation_dag.agent_inputs)."""

import re
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from aphex.dsl.names import dns_label
from aphex.workflows.steps.implementation_dag.agent_inputs import (
    validate_coderun_inputs,
    validate_docsrun_inputs,
)

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


_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
"""A Kubernetes label value (k8s.io/apimachinery validation.IsValidLabelValue)."""


@given(
    repo=st.from_regex(r"[A-Za-z0-9._-]{1,100}", fullmatch=True).filter(
        lambda name: name not in {".", ".."} and not name.lower().endswith(".git")  # GitHub refuses these
    )
)
def test_the_repository_label_is_a_valid_label_value_for_every_github_name(repo: str) -> None:
    coderun = validate_coderun_inputs(
        **{**CODERUN, "repo": repo, "repository_url": f"https://github.com/octo-org/{repo}"}
    )
    docsrun = validate_docsrun_inputs(
        github_app="5DLabs-Morgan",
        owner="octo-org",
        repo=repo,
        repository_url=f"https://github.com/octo-org/{repo}",
        working_directory=".",
        source_branch="main",
        model="m",
    )
    assert coderun[-1] == docsrun[-1] == dns_label(repo)  # the same sanitizer as preview namespaces
    assert _LABEL_VALUE.match(coderun[-1])
    assert len(coderun[-1]) <= 63


def test_agent_runs_are_applied_with_one_name_per_workflow_and_stage_owned_by_the_workflow(
    templates: dict[str, dict[str, Any]],
) -> None:
    """``setOwnerReference`` makes the Workflow the run's controlling owner (argo-workflows
    workflow/controller/operator.go, executeResource), so deleting the Workflow deletes the run and its
    agent; ``apply`` of a fixed name makes a retry adopt the run instead of starting a second agent."""
    for template_name, resource_name, kind, name in (
        ("coderun-template", "create-coderun", "CodeRun", "{{workflow.name}}-{{inputs.parameters.stage}}"),
        ("docsrun-template", "create-docsrun", "DocsRun", "{{workflow.name}}-docs"),
    ):
        template = next(
            t for t in templates[template_name]["spec"]["templates"] if t["name"] == resource_name
        )
        resource = template["resource"]
        assert (resource["action"], resource["setOwnerReference"]) == ("apply", True)
        manifest = yaml.safe_load(resource["manifest"])
        assert manifest["kind"] == kind
        assert manifest["metadata"]["name"] == name
        assert "generateName" not in manifest["metadata"]
        assert manifest["metadata"]["labels"]["aphex.dev/repo"] == "{{inputs.parameters.repo-label}}"
