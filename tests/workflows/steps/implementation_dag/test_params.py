"""The set-params step: validation of every run parameter
(aphex.workflows.steps.implementation_dag.set_params)."""

import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aphex.dsl.exit_codes import INVALID_INPUT
from aphex.dsl.names import InvalidValue, preview_namespace
from aphex.workflows.steps.implementation_dag.set_params import (
    derive_preview,
    set_params,
    validate_run_parameters,
)
from tests.runner import run_step

VALID: dict[str, str] = {
    "owner": "octo-org",
    "repo": "hello.world",
    "pr": "42",
    "commit": "",
    "domain": "preview.example.com",
    "chart_path": "charts/app",
    "values_file": "values-preview.yaml",
    "image_tag": "",
    "model": "claude-sonnet-4-5",
    "rex_app": "5DLabs-Rex",
    "clippy_app": "5DLabs-Cleo",
    "qa_app": "5DLabs-Tess",
    "docs_app": "5DLabs-Morgan",
    "docs_stage": "false",
    "issue": "",
}


def test_valid_parameters_derive_the_preview() -> None:
    run = validate_run_parameters(**VALID)
    assert run.preview.namespace == preview_namespace("octo-org", "hello.world", 42)
    assert run.preview.namespace == "impl-pr-42-hello-world-c8e13f218d"
    assert run.preview.release == "hello-world-pr-42"
    assert run.preview.host == f"{run.preview.namespace}.preview.example.com"
    assert run.preview.namespace.startswith("impl-pr-42-hello-world-")
    assert run.preview.image_tag == ""  # resolve-head tags with the deployed commit
    assert run.repository_url == "https://github.com/octo-org/hello.world"


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("pr", "4 2", "pr"),
        ("owner", "octo;rm", "owner"),
        ("chart_path", "../../etc", "chartPath"),
        ("values_file", "/etc/passwd", "valuesFile"),
        ("image_tag", "-latest", "imageTag"),
        ("rex_app", "Rex App", "rex-app"),
        ("docs_stage", "yes", "docs-stage"),
        ("commit", "HEAD", "commit"),
        ("domain", "evil.com\nkind: Secret", "domain"),
    ],
)
def test_each_bad_parameter_is_named(field: str, value: str, named: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        validate_run_parameters(**{**VALID, field: value})
    assert caught.value.field == named


def test_entrypoint_rejects_invalid_input_with_one_line_and_the_no_retry_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as caught:
        set_params(**{**VALID, "pr": "abc"})
    assert caught.value.code == INVALID_INPUT
    assert capsys.readouterr().err.strip() == "invalid parameter pr: must be a positive integer (got 'abc')"


@settings(max_examples=300)
@given(
    owner=st.text(max_size=45),
    repo=st.text(max_size=110),
    pr=st.text(max_size=12),
    domain=st.text(max_size=40),
)
def test_any_input_is_rejected_clearly_or_yields_valid_names(
    owner: str, repo: str, pr: str, domain: str
) -> None:
    try:
        plan = derive_preview(owner=owner, repo=repo, pr=pr, domain=domain)
    except InvalidValue as error:
        assert error.field in {"owner", "repo", "pr", "domain"}
        return
    assert len(plan.release) <= 53
    assert plan.namespace == preview_namespace(owner, repo, int(pr))
    assert len(plan.host) <= 253
    assert all(ch.isalnum() or ch in ".-" for ch in plan.host)


def _run_runner(function: str, inputs: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_step(function, inputs, tmp_path)


def test_runner_boundary_writes_validated_outputs(tmp_path: Path) -> None:
    result = _run_runner(
        "aphex.workflows.steps.implementation_dag.set_params:set_params",
        {**VALID, "github_url": "https://github.com"},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    outputs = tmp_path / "out" / "parameters"
    assert (outputs / "namespace").read_text() == "impl-pr-42-hello-world-c8e13f218d"
    assert (outputs / "release").read_text() == "hello-world-pr-42"
    assert (outputs / "image-tag").read_text() == ""
    assert (outputs / "docs-stage").read_text() == "false"
    assert (outputs / "mode").read_text() == "pr"


def test_an_issue_run_has_no_preview_and_passes_the_issue(tmp_path: Path) -> None:
    inputs = {**VALID, "pr": "", "issue": "12", "github_url": "https://github.com"}
    result = _run_runner("aphex.workflows.steps.implementation_dag.set_params:set_params", inputs, tmp_path)
    assert result.returncode == 0, result.stderr
    outputs = tmp_path / "out" / "parameters"
    assert (outputs / "mode").read_text() == "issue"
    assert (outputs / "issue").read_text() == "12"
    assert (outputs / "pr").read_text() == ""
    assert (outputs / "namespace").read_text() == ""


@pytest.mark.parametrize(
    ("pr", "issue", "named"),
    [("", "", "pr"), ("4", "5", "issue"), ("", "0", "issue"), ("", "x", "issue")],
)
def test_exactly_one_of_pr_and_issue(
    pr: str, issue: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        set_params(**{**VALID, "pr": pr, "issue": issue})
    assert capsys.readouterr().err.startswith(f"invalid parameter {named}:")


def test_runner_boundary_rejects_a_bad_parameter(tmp_path: Path) -> None:
    result = _run_runner(
        "aphex.workflows.steps.implementation_dag.set_params:set_params",
        {**VALID, "repo": "a b", "github_url": "https://github.com"},
        tmp_path,
    )
    assert result.returncode == INVALID_INPUT
    assert "invalid parameter repo:" in result.stderr


_GITHUB_LOGINS = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True).filter(
    lambda login: "--" not in login  # GitHub refuses consecutive hyphens, and so does validate_github_owner
)
_PULL_REQUESTS = st.tuples(
    _GITHUB_LOGINS,
    st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True).filter(lambda r: not r.endswith(".git")),
    st.integers(min_value=1, max_value=10**6),
)


@settings(max_examples=200)
@given(first=_PULL_REQUESTS, second=_PULL_REQUESTS)
def test_distinct_pull_requests_never_share_an_ingress_host(
    first: tuple[str, str, int], second: tuple[str, str, int]
) -> None:
    def host(owner: str, repo: str, pr: int) -> str:
        return derive_preview(owner=owner, repo=repo, pr=str(pr), domain="preview.example.com").host

    same = (first[0].lower(), first[1].lower(), first[2]) == (second[0].lower(), second[1].lower(), second[2])
    assert (host(*first) == host(*second)) == same
