"""The phase of every node of the compiled implementation DAG in each of its modes, run with ``aphex run``.

What Argo does that these outcomes rest on (docs/argo-behaviours.md):
- a bare ``depends: X`` is ``X.Succeeded || X.Skipped || X.Daemoned`` (argo-workflows
  ``workflow/common/ancestry.go``, expandDependency), so every task names the phase it needs: in an issue
  run ``clippy`` is Skipped by ``when`` and ``qa`` (``clippy.Succeeded``) and everything after it is
  Omitted with "omitted: depends condition not met" (``workflow/controller/dag.go``, executeDAGTask);
- Omitted tasks do not fail a DAG (``dag.go``, assessDAGPhase), so the issue run Succeeds.
The expected tables below are Argo's outcomes, not this interpreter's: each row follows from those rules.
"""

from collections.abc import Iterator

import pytest

from aphex.dsl.run import RunResult
from examples.demo.harness import DemoEnvironment, demo_environment

AGENT = ("", "[0]", "[0].validate", "[1]", "[1].run", "[1].run(0)")
"""The nodes of one agent stage (coderun-main: validate, then the resource with its retry node)."""


def _agent(stage: str) -> dict[str, str]:
    return {f"{stage}{suffix}": "Succeeded" for suffix in AGENT}


PULL_REQUEST = {
    "": "Succeeded",
    "set-params": "Succeeded",
    **_agent("implement"),
    **_agent("clippy"),
    **_agent("qa"),
    "resolve-head": "Succeeded",
    "resolve-head(0)": "Succeeded",
    "deploy": "Succeeded",
    "deploy(0)": "Succeeded",
    "acceptance": "Succeeded",
    "docs": "Skipped",
    "onExit": "Succeeded",
    "onExit.cleanup": "Skipped",
    "onExit.stop-agents": "Skipped",
    "onExit.keep-preview": "Succeeded",
    "onExit.keep-preview(0)": "Succeeded",
    "onExit.publish-failure": "Skipped",
    "onExit.publish-success": "Succeeded",
    "onExit.publish-success(0)": "Succeeded",
}
ISSUE = {
    "": "Succeeded",
    "set-params": "Succeeded",
    **_agent("implement"),
    "clippy": "Skipped",
    "qa": "Omitted",
    "resolve-head": "Omitted",
    "deploy": "Omitted",
    "acceptance": "Omitted",
    "docs": "Omitted",
    "onExit": "Succeeded",
    "onExit.cleanup": "Skipped",
    "onExit.stop-agents": "Skipped",
    # keep-preview finds out itself that an issue run has no preview; nothing is approved.
    "onExit.keep-preview": "Succeeded",
    "onExit.keep-preview(0)": "Succeeded",
    "onExit.publish-failure": "Skipped",
    "onExit.publish-success": "Skipped",
}
WITH_DOCS = {**PULL_REQUEST, "docs": "Succeeded", **_agent("docs")}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoEnvironment]:
    with demo_environment(tmp_path_factory.mktemp("modes")) as environment:
        yield environment


def _phases(result: RunResult, workflow: str) -> dict[str, str]:
    return {node.name.removeprefix(workflow).removeprefix("."): node.phase for node in result.nodes}


def _run(env: DemoEnvironment, **parameters: str) -> tuple[RunResult, dict[str, str]]:
    env.reset()
    result = env.run(parameters=env.parameters(**parameters))
    return result, _phases(result, f"implementation-dag-demo{env.runs}")


def test_a_pull_request_run_runs_every_stage_once(env: DemoEnvironment) -> None:
    result, phases = _run(env)
    assert phases == PULL_REQUEST
    assert result.phase == "Succeeded", result.message


def test_an_issue_run_runs_only_set_params_and_the_implementation_agent(env: DemoEnvironment) -> None:
    result, phases = _run(env, pr="", issue="7")
    assert phases == ISSUE
    assert result.phase == "Succeeded", result.message
    messages = {node.display_name: node.message for node in result.nodes if node.phase == "Omitted"}
    assert set(messages.values()) == {"omitted: depends condition not met"}
    assert not env.cluster.calls(), "an issue run must not touch the cluster"
    assert not env.github.reviews


def test_a_pull_request_run_with_docs_runs_the_documentation_agent_on_the_head_branch(
    env: DemoEnvironment,
) -> None:
    result, phases = _run(env, **{"docs-stage": "true"})
    assert phases == WITH_DOCS
    assert result.phase == "Succeeded", result.message
    validated = next(node for node in result.nodes if node.name.endswith(".docs[0].validate"))
    assert validated.parameters["source-branch"] == env.github.head_ref == "feature/pr-42"


def test_an_input_a_retry_cannot_fix_costs_one_attempt(env: DemoEnvironment) -> None:
    """resolve-head rejects a pull request whose head is a fork with exit code 2; the retry expression
    ``lastRetry.exitCode != "2"`` stops the retries (argo-workflows workflow/controller/operator.go,
    processNodeRetries: "retryStrategy.expression evaluated to false")."""
    env.github.head_repository = "mallory/sample-app"
    try:
        result, phases = _run(env)
    finally:
        env.github.head_repository = None
    assert result.phase == "Failed"
    attempts = sorted(name for name in phases if name.startswith("resolve-head("))
    assert attempts == ["resolve-head(0)"]
    assert phases["resolve-head"] == "Failed"
    assert phases["deploy"] == phases["acceptance"] == "Omitted"
    assert phases["onExit.stop-agents(0)"] == "Succeeded"  # asked the API for unfinished agent runs
    retry = next(node for node in result.nodes if node.name.endswith(".resolve-head"))
    assert retry.message == "retryStrategy.expression evaluated to false"
    assert not env.cluster.calls_starting("helm", "upgrade")  # nothing was deployed; cleanup may uninstall
