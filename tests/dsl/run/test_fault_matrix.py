"""Fault matrix of the implementation DAG run locally: every main-DAG node forced to fail (``--fail NODE``),
plus a real helm ``--wait`` timeout and invalid parameters.

For each case: the exit handler ran; cleanup removed what deploy created (helm uninstall and namespace
delete recorded by the helm and Kubernetes API stand-ins, the app stopped) and touched nothing when no
preview could exist yet;
no approving review; a failure comment naming the failed node (not when the parameters are invalid:
there is no valid pull request to comment on); no CodeRun left in the local object store.
"""

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from aphex.dsl.names import preview_namespace
from aphex.dsl.run import Fault, RunResult
from examples.demo.harness import OWNER, PR, REPO, DemoEnvironment, demo_environment

NAMESPACE = preview_namespace(OWNER, REPO, PR)
NAMESPACE_PATH = f"/api/v1/namespaces/{NAMESPACE}"
RELEASE = f"sample-app-pr-{PR}"


@dataclass(frozen=True)
class Case:
    failed: str  # the node whose failure the comment must name
    fault: str | None = None  # --fail NODE
    parameters: dict[str, str] = field(default_factory=dict)
    helm_wait_timeout: bool = False
    preview_created: bool = False  # deploy created the namespace and the release before failing
    valid_parameters: bool = True


CASES = {
    "set-params": Case("set-params", fault="set-params"),
    "implement": Case("implement", fault="implement"),
    "clippy": Case("clippy", fault="clippy"),
    "qa": Case("qa", fault="qa"),
    "deploy": Case("deploy", fault="deploy"),
    "deploy-helm-wait-timeout": Case("deploy", helm_wait_timeout=True, preview_created=True),
    "acceptance": Case("acceptance", fault="acceptance", preview_created=True),
    "docs": Case("docs", fault="docs", parameters={"docs-stage": "true"}, preview_created=True),
    "invalid-parameters": Case("set-params", parameters={"pr": "4x2"}, valid_parameters=False),
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoEnvironment]:
    with demo_environment(tmp_path_factory.mktemp("faults")) as environment:
        yield environment


def _run(env: DemoEnvironment, case: Case) -> RunResult:
    env.reset()
    if case.helm_wait_timeout:
        env.cluster.fail_helm_wait()
    return env.run(
        faults=[Fault(node=case.fault)] if case.fault else [],
        parameters=env.parameters(**case.parameters),
        sleep=lambda _seconds: None,  # retries' backoff (deploy retries 3 times) without waiting
    )


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("name", list(CASES))
def test_fault(env: DemoEnvironment, name: str) -> None:
    case = CASES[name]
    result = _run(env, case)
    phases = {node.display_name: node.phase for node in result.nodes}

    assert result.phase == "Failed"
    assert phases[case.failed] == "Failed"
    # The exit handler ran: publish-failure runs whatever cleanup did; keep-preview never runs.
    assert f"{result.name}.onExit" in {node.name for node in result.nodes}
    assert phases["publish-failure"] == "Succeeded"
    assert phases["keep-preview"] in ("Skipped", "Error")
    assert "publish-success" not in phases or phases["publish-success"] == "Omitted"

    cluster = env.cluster
    if case.failed != "set-params":  # run-mode is known: cleanup runs and uninstalls (ignore-not-found)
        assert phases["cleanup"] == "Succeeded"
        assert cluster.calls_starting("helm", "uninstall", RELEASE, "--namespace", NAMESPACE)
    if case.preview_created:
        assert cluster.calls_starting("helm", "upgrade", "--install")
        assert cluster.calls_starting("helm", "uninstall", RELEASE, "--namespace", NAMESPACE)
        assert ("DELETE", f"{NAMESPACE_PATH}?propagationPolicy=Background") in cluster.api_calls()
        port = int((cluster.directory / f"{NAMESPACE}-{RELEASE}.port").read_text())
        assert not _listening(port)  # helm uninstall stopped the app it started
    else:
        assert not cluster.calls_starting("helm", "upgrade")
        assert not [call for call in cluster.api_calls() if call[0] in ("PATCH", "DELETE")]
    state = cluster.state()
    assert state["releases"] == {}  # nothing deployed is left
    assert state["namespaces"] == {}
    assert ("PATCH", f"{NAMESPACE_PATH}?fieldManager=aphex-keep-preview") not in cluster.api_calls()

    github = env.github
    assert github.reviews == []
    assert not [path for path in github.paths("POST") if path.endswith("/reviews")]
    assert not [path for path in github.paths() if "merge" in path]
    if case.valid_parameters:
        assert len(github.comments) == 1
        body = github.comments[0]["body"]
        assert "Implementation DAG: failed" in body
        assert f"| {case.failed} |" in body
        assert "No approval was given." in body
    else:
        assert github.comments == []
        assert github.requests == []

    assert not list((env.base / f"run-{env.runs}" / "store").rglob("*.json"))  # no CodeRun left


@pytest.mark.parametrize("name", ["set-params", "invalid-parameters"])
def test_exit_handler_does_not_error_when_set_params_fails(env: DemoEnvironment, name: str) -> None:
    result = _run(env, CASES[name])
    phases = {node.display_name: node.phase for node in result.nodes}
    assert phases["cleanup"] in ("Skipped", "Succeeded")
    assert phases[f"{result.name}.onExit"] == "Succeeded"
