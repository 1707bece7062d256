"""stop-agents against the Kubernetes API stand-in over real HTTP: exact requests, what is left."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aphex.dsl.exit_codes import INVALID_INPUT
from aphex.workflows.steps.common import kubernetes_api
from aphex.workflows.steps.implementation_dag.agent_runs import stop_agents
from tests.runner import run_step
from tests.standins.kube_api import KubeStandIn, kube_standin

RUNS = "/apis/agents.platform/v1/namespaces/argo/coderuns"
DOCS = "/apis/agents.platform/v1/namespaces/argo/docsruns"
WORKFLOW = "implementation-dag-x7k2p"


def _run(name: str, workflow: str, phase: str | None) -> dict[str, Any]:
    run: dict[str, Any] = {
        "apiVersion": "agents.platform/v1",
        "kind": "CodeRun",
        "metadata": {"name": name, "namespace": "argo", "labels": {"aphex.dev/workflow": workflow}},
    }
    if phase is not None:
        run["status"] = {"phase": phase}
    return run


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeStandIn]:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(kubernetes_api, "_sleep", lambda seconds: None)
    with kube_standin() as standin:
        monkeypatch.setenv("KUBECONFIG", str(standin.kubeconfig(tmp_path / "kubeconfig")))
        yield standin


def test_unfinished_runs_of_this_workflow_are_deleted_and_finished_ones_kept(
    api: KubeStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    api.put(f"{RUNS}/{WORKFLOW}-implement", _run(f"{WORKFLOW}-implement", WORKFLOW, "Succeeded"))
    api.put(f"{RUNS}/{WORKFLOW}-clippy", _run(f"{WORKFLOW}-clippy", WORKFLOW, "Failed"))
    api.put(f"{RUNS}/{WORKFLOW}-qa", _run(f"{WORKFLOW}-qa", WORKFLOW, "Running"))
    api.put(f"{DOCS}/{WORKFLOW}-docs", _run(f"{WORKFLOW}-docs", WORKFLOW, None))  # not started yet
    api.put(f"{RUNS}/other-qa", _run("other-qa", "implementation-dag-other", "Running"))
    stop_agents(WORKFLOW, "argo", "agents.platform", "v1")
    selector = f"labelSelector=aphex.dev/workflow={WORKFLOW}"
    assert api.calls() == [
        ("GET", f"{RUNS}?{selector}"),
        ("DELETE", f"{RUNS}/{WORKFLOW}-qa"),
        ("GET", f"{DOCS}?{selector}"),
        ("DELETE", f"{DOCS}/{WORKFLOW}-docs"),
    ]
    assert sorted(api.objects) == [
        f"{RUNS}/{WORKFLOW}-clippy",
        f"{RUNS}/{WORKFLOW}-implement",
        f"{RUNS}/other-qa",
    ]
    assert capsys.readouterr().out.strip() == f"stopped coderuns/{WORKFLOW}-qa, docsruns/{WORKFLOW}-docs"


def test_a_cluster_without_docsruns_and_a_run_gone_meanwhile_are_fine(api: KubeStandIn) -> None:
    api.put(f"{RUNS}/{WORKFLOW}-qa", _run(f"{WORKFLOW}-qa", WORKFLOW, "Pending"))
    api.fail_next("GET", "/docsruns$", 404, "the server could not find the requested resource")
    api.fail_next("DELETE", "/coderuns/", 404, "not found")
    stop_agents(WORKFLOW, "argo", "agents.platform", "v1")


def test_a_busy_api_server_is_retried(api: KubeStandIn) -> None:
    api.put(f"{RUNS}/{WORKFLOW}-qa", _run(f"{WORKFLOW}-qa", WORKFLOW, "Running"))
    api.fail_next("DELETE", "/coderuns/", 503)
    stop_agents(WORKFLOW, "argo", "agents.platform", "v1")
    assert [call for call in api.calls() if call[0] == "DELETE"] == [("DELETE", f"{RUNS}/{WORKFLOW}-qa")] * 2
    assert f"{RUNS}/{WORKFLOW}-qa" not in api.objects


def test_a_refused_call_fails_the_step_naming_it(
    api: KubeStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    api.fail_next("GET", "/coderuns$", 403, "forbidden")
    with pytest.raises(SystemExit) as done:
        stop_agents(WORKFLOW, "argo", "agents.platform", "v1")
    assert done.value.code == 1
    assert "list coderuns.agents.platform in argo: HTTP 403: forbidden" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("workflow_name", "x,aphex.dev/stage!=qa"),
        ("namespace", "Argo"),
        ("api_group", "a/b"),
        ("api_version", "1"),
    ],
)
def test_invalid_input_exits_2_through_the_runner(tmp_path: Path, field: str, value: str) -> None:
    inputs = {
        "workflow_name": WORKFLOW,
        "namespace": "argo",
        "api_group": "agents.platform",
        "api_version": "v1",
    }
    result = run_step(
        "aphex.workflows.steps.implementation_dag.agent_runs:stop_agents", {**inputs, field: value}, tmp_path
    )
    assert result.returncode == INVALID_INPUT
    assert f"invalid parameter {field.replace('_', '-')}:" in result.stderr
