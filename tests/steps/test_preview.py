"""Deploy, cleanup and keep-preview with a real git remote and recording helm/kubectl stand-ins."""

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from dsl.names import helm_release_name
from tests.runner import run_step
from tests.steps.standins import StandIns, install
from workflows.steps import preview

INGRESS = {
    "items": [
        {
            "spec": {
                "rules": [{"host": "hello-pr-7.preview.example.com"}],
                "tls": [{"hosts": ["hello-pr-7.preview.example.com"]}],
            }
        },
        {"spec": {"rules": [{"host": "api-hello-pr-7.preview.example.com"}, {"http": {}}]}},
    ]
}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, str, str]:
    """A bare repository ``octo-org/hello`` with main and a PR head ref; returns it, PR sha, old sha."""
    work = tmp_path / "src"
    work.mkdir()
    git("init", "--quiet", "--initial-branch=main", cwd=work)
    git("config", "user.email", "dev@example.com", cwd=work)
    git("config", "user.name", "dev", cwd=work)
    (work / "charts" / "app").mkdir(parents=True)
    (work / "charts" / "app" / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 0.1.0\n")
    (work / "values-preview.yaml").write_text("replicaCount: 1\n")
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "chart", cwd=work)
    old = git("rev-parse", "HEAD", cwd=work)
    (work / "values-preview.yaml").write_text("replicaCount: 2\n")
    git("commit", "--quiet", "-am", "pr change", cwd=work)
    pr_head = git("rev-parse", "HEAD", cwd=work)
    bare = tmp_path / "remotes" / "octo-org" / "hello"
    bare.parent.mkdir(parents=True)
    git("clone", "--quiet", "--bare", str(work), str(bare), cwd=tmp_path)
    git("update-ref", "refs/pull/7/head", pr_head, cwd=bare)
    git("update-ref", "refs/heads/main", old, cwd=bare)
    return bare, pr_head, old


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    standins = install(tmp_path / "standins", ["helm", "kubectl"])
    for key, value in standins.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GITHUB_URL", f"file://{tmp_path / 'remotes'}")
    monkeypatch.setenv("APHEX_SERVICE_ACCOUNT", "aphex-preview-deployer")
    monkeypatch.setenv("APHEX_WORKFLOW_NAMESPACE", "argo")
    monkeypatch.setenv("APHEX_PREVIEW_WORKLOADS_ROLE", "aphex-argo-preview-workloads")
    monkeypatch.setenv("APHEX_SCRATCH", str(tmp_path / "scratch"))
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_APP_ID", raising=False)
    return standins


def deploy_args(tmp_path: Path, **overrides: str) -> dict[str, str]:
    args = {
        "owner": "octo-org",
        "repo": "hello",
        "pr": "7",
        "commit": "",
        "repository_url": f"file://{tmp_path / 'remotes'}/octo-org/hello",
        "namespace": "impl-pr-7",
        "release": "hello-pr-7",
        "host": "hello-pr-7.preview.example.com",
        "image_tag": "pr-7",
        "chart_path": "charts/app",
        "values_file": "values-preview.yaml",
        "workflow_name": "implementation-dag-abc12",
    }
    return {**args, **overrides}


def run_deploy(tmp_path: Path, **overrides: str) -> tuple[str, str]:
    return preview.deploy(**deploy_args(tmp_path, **overrides), evidence=tmp_path / "evidence")


def test_deploy_makes_exactly_these_calls(
    tmp_path: Path, cluster: StandIns, remote: tuple[Path, str, str]
) -> None:
    _, pr_head, _ = remote
    cluster.on("kubectl", "get", "ingress", stdout=json.dumps(INGRESS))
    cluster.on("helm", "status", stdout="STATUS: deployed\n")
    urls, sha = run_deploy(tmp_path)
    assert sha == pr_head
    assert json.loads(urls) == [
        "http://api-hello-pr-7.preview.example.com/",
        "https://hello-pr-7.preview.example.com/",
    ]
    calls = cluster.calls()
    checkout = next(Path(c[4]).parent.parent for c in calls if c[:3] == ["helm", "upgrade", "--install"])
    assert calls == [
        ["kubectl", "apply", "--server-side", "--field-manager=aphex", "--force-conflicts", "-f", "-"],
        [
            "helm", "upgrade", "--install", "hello-pr-7", str(checkout / "charts" / "app"),
            "--namespace", "impl-pr-7", "--values", str(checkout / "values-preview.yaml"),
            "--set-string", "image.tag=pr-7", "--set-string", "ingress.host=hello-pr-7.preview.example.com",
            "--wait", "--timeout", "10m", "--history-max", "5",
        ],
        ["kubectl", "get", "all,ingress,configmap", "--namespace", "impl-pr-7", "--output", "yaml"],
        ["helm", "status", "hello-pr-7", "--namespace", "impl-pr-7"],
        ["helm", "get", "values", "hello-pr-7", "--namespace", "impl-pr-7", "--output", "yaml"],
        ["kubectl", "get", "ingress", "--namespace", "impl-pr-7", "--output", "json"],
    ]  # fmt: skip
    manifests = list(yaml.safe_load_all(cluster.stdin_of("kubectl", "apply")))
    assert [m["kind"] for m in manifests] == [
        "Namespace",
        "RoleBinding",
        "ResourceQuota",
        "NetworkPolicy",
        "NetworkPolicy",
    ]
    labels = manifests[0]["metadata"]["labels"]
    assert labels["aphex.dev/pr"] == "7"
    assert labels["aphex.dev/workflow"] == "implementation-dag-abc12"
    assert manifests[1]["subjects"] == [
        {"kind": "ServiceAccount", "name": "aphex-preview-deployer", "namespace": "argo"}
    ]
    assert manifests[1]["metadata"]["name"] == "aphex-preview-deployer"
    assert manifests[1]["roleRef"]["name"] == "aphex-argo-preview-workloads"
    admitted = manifests[4]["spec"]["ingress"][0]["from"][1]["namespaceSelector"]["matchLabels"]
    assert admitted == {"kubernetes.io/metadata.name": "ingress-nginx"}
    evidence = tmp_path / "evidence"
    assert json.loads((evidence / "urls.json").read_text())["commit"] == pr_head
    assert (evidence / "helm-status.txt").read_text() == "STATUS: deployed\n"


def test_a_pinned_commit_that_is_not_the_head_is_deployed(
    tmp_path: Path, cluster: StandIns, remote: tuple[Path, str, str]
) -> None:
    _, _, old = remote
    cluster.on("kubectl", "get", "ingress", stdout=json.dumps(INGRESS))
    _, sha = run_deploy(tmp_path, commit=old)
    assert sha == old


def test_an_unknown_commit_fails(
    tmp_path: Path, cluster: StandIns, remote: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        run_deploy(tmp_path, commit="f" * 40)
    assert "git" in capsys.readouterr().err
    assert cluster.calls() == []


def test_a_missing_chart_is_named(
    tmp_path: Path, cluster: StandIns, remote: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        run_deploy(tmp_path, chart_path="charts/nope")
    assert capsys.readouterr().err.startswith("invalid parameter chartPath:")
    assert cluster.calls() == []


def test_a_symlink_out_of_the_checkout_is_refused(
    tmp_path: Path, cluster: StandIns, remote: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    bare, _, _ = remote
    work = tmp_path / "evil"
    git("clone", "--quiet", str(bare), str(work), cwd=tmp_path)
    git("config", "user.email", "dev@example.com", cwd=work)
    git("config", "user.name", "dev", cwd=work)
    (work / "leak").symlink_to("/etc")
    git("add", "leak", cwd=work)
    git("commit", "--quiet", "-m", "leak", cwd=work)
    git("push", "--quiet", "origin", "HEAD:refs/pull/7/head", "--force", cwd=work)
    with pytest.raises(SystemExit):
        run_deploy(tmp_path, values_file="leak/passwd")
    assert "valuesFile: leaves the repository checkout" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("namespace", "kube-system", "namespace"),
        ("release", "other-pr-7", "release"),
        ("host", "evil.example.com", "host"),
        ("repository_url", "https://github.com/someone/else", "repository-url"),
        ("chart_path", "../x", "chartPath"),
        ("image_tag", "a b", "image-tag"),
    ],
)
def test_bad_parameters_are_named_before_anything_runs(
    tmp_path: Path, cluster: StandIns, capsys: pytest.CaptureFixture[str], field: str, value: str, named: str
) -> None:
    with pytest.raises(SystemExit):
        run_deploy(tmp_path, **{field: value})
    assert capsys.readouterr().err.startswith(f"invalid parameter {named}:")
    assert cluster.calls() == []


def test_a_failing_helm_install_fails_with_its_stderr_and_keeps_evidence(
    tmp_path: Path, cluster: StandIns, remote: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.on("helm", "upgrade", stderr="Error: timed out waiting for the condition\n", exit=1)
    with pytest.raises(SystemExit):
        run_deploy(tmp_path)
    assert "timed out waiting for the condition" in capsys.readouterr().err
    assert (tmp_path / "evidence" / "resources.yaml").exists()
    assert not any(call[:3] == ["kubectl", "get", "ingress"] for call in cluster.calls())


def test_no_ingress_hosts_fail(
    tmp_path: Path, cluster: StandIns, remote: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.on("kubectl", "get", "ingress", stdout='{"items": []}')
    with pytest.raises(SystemExit):
        run_deploy(tmp_path)
    assert "no ingress hosts found in namespace impl-pr-7" in capsys.readouterr().err


def test_a_token_is_sent_as_a_header_and_never_written(
    tmp_path: Path, cluster: StandIns, remote: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "sekrit-token-value")
    cluster.on("kubectl", "get", "ingress", stdout=json.dumps(INGRESS))
    run_deploy(tmp_path)
    for path in (tmp_path / "evidence").rglob("*"):
        assert "sekrit-token-value" not in path.read_text()
    assert all("sekrit" not in " ".join(call) for call in cluster.calls())


def test_cleanup_uninstalls_and_deletes_our_empty_namespace(cluster: StandIns) -> None:
    cluster.on(
        "kubectl",
        "get",
        "namespace",
        stdout=json.dumps({"metadata": {"labels": {"app.kubernetes.io/managed-by": "aphex"}}}),
    )
    preview.cleanup(owner="octo-org", repo="hello", pr="7", domain="preview.example.com")
    assert cluster.calls() == [
        [
            "helm",
            "uninstall",
            "hello-pr-7",
            "--namespace",
            "impl-pr-7",
            "--ignore-not-found",
            "--wait",
            "--timeout",
            "5m",
        ],
        ["kubectl", "get", "namespace", "impl-pr-7", "--ignore-not-found", "--output", "json"],
        ["helm", "list", "--namespace", "impl-pr-7", "--short", "--all"],
        ["kubectl", "delete", "namespace", "impl-pr-7", "--ignore-not-found", "--wait=false"],
    ]


def test_cleanup_keeps_a_namespace_another_release_still_uses(cluster: StandIns) -> None:
    cluster.on(
        "kubectl",
        "get",
        "namespace",
        stdout=json.dumps({"metadata": {"labels": {"app.kubernetes.io/managed-by": "aphex"}}}),
    )
    cluster.on("helm", "list", stdout="other-repo-pr-7\n")
    preview.cleanup(owner="octo-org", repo="hello", pr="7", domain="preview.example.com")
    assert not any(call[:2] == ["kubectl", "delete"] for call in cluster.calls())


def test_cleanup_leaves_a_namespace_it_does_not_manage(cluster: StandIns) -> None:
    cluster.on("kubectl", "get", "namespace", stdout=json.dumps({"metadata": {"labels": {}}}))
    preview.cleanup(owner="octo-org", repo="hello", pr="7", domain="preview.example.com")
    assert not any(call[:2] == ["kubectl", "delete"] for call in cluster.calls())


def test_cleanup_is_a_no_op_when_nothing_exists_and_when_parameters_were_invalid(cluster: StandIns) -> None:
    preview.cleanup(owner="octo-org", repo="hello", pr="7", domain="preview.example.com")
    assert [c[:2] for c in cluster.calls()] == [["helm", "uninstall"], ["kubectl", "get"]]
    preview.cleanup(owner="octo;rm", repo="hello", pr="7", domain="preview.example.com")
    assert len(cluster.calls()) == 2


def test_keep_preview_annotates_the_expiry(cluster: StandIns, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview, "_now", lambda: datetime(2026, 11, 22, 10, 30, 15, 123, tzinfo=UTC))
    expires = preview.keep_preview(
        owner="octo-org", repo="hello", pr="7", domain="preview.example.com", ttl_hours=24
    )
    assert expires == "2026-11-23T10:30:15Z"
    assert cluster.calls() == [
        [
            "kubectl", "annotate", "namespace", "impl-pr-7", "--overwrite",
            "aphex.dev/expires-at=2026-11-23T10:30:15Z", "janitor/expires=2026-11-23T10:30:15Z",
        ]
    ]  # fmt: skip


def test_keep_preview_fails_when_the_namespace_is_gone(
    cluster: StandIns, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.on(
        "kubectl", "annotate", stderr='Error from server (NotFound): namespaces "impl-pr-7" not found', exit=1
    )
    with pytest.raises(SystemExit):
        preview.keep_preview(owner="octo-org", repo="hello", pr="7", domain="preview.example.com")
    assert "NotFound" in capsys.readouterr().err


@given(
    repo=st.from_regex(r"\A[A-Za-z0-9._-]{1,100}\Z"),
    owner=st.from_regex(r"\A[a-z0-9]{1,39}\Z"),
    pr=st.integers(1, 10**9),
)
def test_namespace_manifests_are_valid_for_any_valid_run(repo: str, owner: str, pr: int) -> None:
    if repo in {".", ".."} or repo.lower().endswith(".git"):
        return
    manifests = preview.namespace_manifests(
        owner=owner, repo=repo, pr=pr, workflow="implementation-dag-x", service_account="sa",
        service_account_namespace="argo", workloads_role="wl", ingress_namespace="ingress-nginx",
    )  # fmt: skip
    for manifest in manifests:
        for value in manifest["metadata"]["labels"].values():
            assert len(value) <= 63
    assert helm_release_name(repo, pr) != ""


def test_keep_preview_through_the_runner_boundary(tmp_path: Path, cluster: StandIns) -> None:
    inputs = {
        "owner": "octo-org",
        "repo": "hello",
        "pr": "7",
        "domain": "preview.example.com",
        "ttl_hours": "24",
    }
    out = tmp_path / "out"
    result = run_step("workflows.steps.preview:keep_preview", inputs, tmp_path)
    assert result.returncode == 0, result.stderr
    expires = (out / "parameters" / "expires-at").read_text()
    assert cluster.calls()[0][-1] == f"janitor/expires={expires}"


def test_an_issue_run_has_no_preview_to_keep_or_clean(cluster: StandIns) -> None:
    assert preview.keep_preview(owner="octo-org", repo="hello", pr="", domain="preview.example.com") == ""
    preview.cleanup(owner="octo-org", repo="hello", pr="", domain="preview.example.com")
    assert cluster.calls() == []
