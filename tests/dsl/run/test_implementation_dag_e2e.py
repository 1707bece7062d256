"""The compiled implementation DAG end to end with ``aphex run``: the demo (examples/demo) as a test.

Real: the bundle, the local interpreter, every Hera runner step in a subprocess, git over smart HTTPS,
the sample app that acceptance probes. Stand-ins that record calls: helm, the
Kubernetes API, the GitHub API, the
agent platform (a resource rule completes each CodeRun).
"""

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from aphex.dsl.names import preview_namespace
from aphex.dsl.run import RunResult
from examples.demo.harness import OWNER, PR, REPO, DemoEnvironment, demo_environment

NAMESPACE = preview_namespace(OWNER, REPO, PR)
NAMESPACE_PATH = f"/api/v1/namespaces/{NAMESPACE}"
RELEASE = f"sample-app-pr-{PR}"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoEnvironment]:
    with demo_environment(tmp_path_factory.mktemp("demo")) as environment:
        yield environment


@pytest.fixture(scope="module")
def result(env: DemoEnvironment) -> RunResult:
    return env.run()


def test_run_succeeds_and_every_main_node_ran(result: RunResult) -> None:
    phases = {node.display_name: node.phase for node in result.nodes}
    assert result.phase == "Succeeded", result.message
    for name in ("set-params", "implement", "clippy", "qa", "resolve-head", "deploy", "acceptance"):
        assert phases[name] == "Succeeded", name
    assert phases["docs"] == "Skipped"  # docs-stage is false by default
    assert phases["cleanup"] == "Skipped"
    assert phases["publish-failure"] == "Skipped"
    assert phases["publish-success"] == "Succeeded"


def test_deploy_checked_out_the_pull_request_and_installed_the_chart(
    env: DemoEnvironment, result: RunResult
) -> None:
    assert result.parameters["deployed-sha"] == env.head_sha  # the head resolve-head found, over git's HTTPS
    installs = env.cluster.calls_starting("helm", "upgrade", "--install")
    assert len(installs) == 1
    install = installs[0]
    assert install[3] == RELEASE
    assert install[4].endswith("/charts/app")
    assert install[install.index("--values") + 1].endswith("/values-preview.yaml")
    assert f"ingress.host={NAMESPACE}.preview.example.com" in install
    assert f"image.tag={env.head_sha}" in install  # the commit names the image, never pr-<N>
    namespace = env.cluster.state()["namespaces"][NAMESPACE]
    assert namespace["labels"]["app.kubernetes.io/managed-by"] == "aphex"
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert (
        namespace["annotations"]["aphex.dev/deployer"] == "system:serviceaccount:argo:aphex-preview-deployer"
    )
    kinds = [
        r.body["kind"] for r in env.cluster.api.requests if r.content_type == "application/apply-patch+yaml"
    ]
    assert kinds == [
        "Namespace",
        "RoleBinding",
        "ResourceQuota",
        "LimitRange",
        "NetworkPolicy",
        "NetworkPolicy",
    ]


def test_acceptance_probed_the_running_app(result: RunResult) -> None:
    urls = json.loads(result.parameters["preview-urls"])
    assert len(urls) == 1
    assert urlsplit(urls[0]).hostname == "127.0.0.1"
    report = json.loads((Path(result.artifacts["acceptance-report"]) / "report.json").read_text())
    assert report["verdict"] == "passed"
    assert report["requests"] == 20
    assert report["successRatio"] == 1.0
    samples = list((Path(result.artifacts["acceptance-report"]) / "responses").iterdir())
    assert samples
    assert '"app": "sample-app"' in samples[0].read_text()  # the sample app answered, not a stand-in


def test_keep_preview_annotated_the_namespace(env: DemoEnvironment, result: RunResult) -> None:
    annotate = [
        call
        for call in env.cluster.api_calls()
        if call == ("PATCH", f"{NAMESPACE_PATH}?fieldManager=aphex-keep-preview")
    ]
    assert len(annotate) == 1
    annotations = env.cluster.state()["namespaces"][NAMESPACE]["annotations"]
    assert set(annotations) == {"aphex.dev/deployer", "aphex.dev/expires-at", "janitor/expires"}
    assert annotations["aphex.dev/expires-at"] == annotations["janitor/expires"]
    assert not env.cluster.calls_starting("helm", "uninstall")
    assert not [call for call in env.cluster.api_calls() if call[0] == "DELETE"]
    assert list(env.cluster.state()["releases"]) == [f"{NAMESPACE}/{RELEASE}"]  # the preview is kept


def test_github_got_one_comment_with_the_preview_url_and_one_approval(
    env: DemoEnvironment, result: RunResult
) -> None:
    url = json.loads(result.parameters["preview-urls"])[0]
    assert len(env.github.comments) == 1
    body = env.github.comments[0]["body"]
    assert "Implementation DAG: succeeded" in body
    assert url in body
    assert len(env.github.reviews) == 1
    review = env.github.reviews[0]
    assert (review["event"], review["commit_id"]) == ("APPROVE", env.head_sha)
    posts = env.github.paths("POST")
    assert posts.count(f"/repos/octo-org/sample-app/pulls/{PR}/reviews") == 1
    assert not [path for path in env.github.paths() if "merge" in path]  # approves, never merges
    assert {r.headers.get("Authorization") for r in env.github.requests} == {f"Bearer {env.github.token}"}


def test_no_coderun_is_left_in_the_object_store(env: DemoEnvironment, result: RunResult) -> None:
    coderuns = [n for n in result.nodes if n.template_name == "create-coderun" and n.type == "Pod"]
    assert len(coderuns) == 3
    assert not list((env.base / f"run-{env.runs}" / "store").rglob("*.json"))


def test_the_app_is_still_serving_the_kept_preview(result: RunResult) -> None:
    port = urlsplit(json.loads(result.parameters["preview-urls"])[0]).port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
