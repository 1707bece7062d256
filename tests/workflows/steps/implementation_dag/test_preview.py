"""Deploy, cleanup and keep-preview with a real git remote, a recording helm stand-in and the
Kubernetes API stand-in (real HTTP on 127.0.0.1) that the steps reach through the official client."""

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from aphex.dsl.names import helm_release_name, preview_namespace
from aphex.dsl.settings import BundleSettings, load_settings
from aphex.workflows.bundle import build_bundle
from aphex.workflows.implementation_dag.dag import preview_quota_entries
from aphex.workflows.steps.common import kubernetes_api
from aphex.workflows.steps.implementation_dag import preview
from tests.runner import run_step
from tests.standins.commands import StandIns, install
from tests.standins.kube_api import KubeStandIn, kube_standin

NAMESPACE = preview_namespace("octo-org", "hello", 7)
NS = f"/api/v1/namespaces/{NAMESPACE}"
APPLY = "fieldManager=aphex&force=true"
DEPLOYER = "system:serviceaccount:argo:aphex-preview-deployer"
OURS = {
    "app.kubernetes.io/managed-by": "aphex",
    "aphex.dev/owner": "octo-org",
    "aphex.dev/repo": "hello",
    "aphex.dev/pr": "7",
}

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


@dataclass
class Cluster:
    """The helm stand-in (a recording executable on PATH) and the Kubernetes API stand-in."""

    helm: StandIns
    api: KubeStandIn

    def calls(self) -> list[list[str]]:
        return self.helm.calls()

    def on(self, *argv: str, stdout: str = "", stderr: str = "", exit: int = 0) -> None:
        self.helm.on(*argv, stdout=stdout, stderr=stderr, exit=exit)


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    standins = install(tmp_path / "standins", ["helm"])
    for key, value in standins.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    waits: list[float] = []
    monkeypatch.setattr(kubernetes_api, "_sleep", waits.append)
    monkeypatch.setenv("GITHUB_URL", f"file://{tmp_path / 'remotes'}")
    monkeypatch.setenv("APHEX_SERVICE_ACCOUNT", "aphex-preview-deployer")
    monkeypatch.setenv("APHEX_WORKFLOW_NAMESPACE", "argo")
    monkeypatch.setenv("APHEX_PREVIEW_WORKLOADS_ROLE", "aphex-argo-preview-workloads")
    monkeypatch.setenv("APHEX_SCRATCH", str(tmp_path / "scratch"))
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_APP_ID", raising=False)
    with kube_standin() as api:
        monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig(tmp_path / "kubeconfig")))
        yield Cluster(helm=standins, api=api)


def ingresses(api: KubeStandIn, namespace: str = NAMESPACE) -> None:
    for index, item in enumerate(INGRESS["items"]):
        api.put(f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/app-{index}", item)


def our_namespace(api: KubeStandIn, labels: dict[str, str] = OURS) -> None:
    api.put(NS, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": labels}})


def deploy_args(tmp_path: Path, **overrides: str) -> dict[str, str]:
    args = {
        "owner": "octo-org",
        "repo": "hello",
        "pr": "7",
        "commit": "",
        "repository_url": f"file://{tmp_path / 'remotes'}/octo-org/hello",
        "namespace": NAMESPACE,
        "release": "hello-pr-7",
        "host": f"{NAMESPACE}.preview.example.com",
        "image_tag": "pr-7",
        "chart_path": "charts/app",
        "values_file": "values-preview.yaml",
        "workflow_name": "implementation-dag-abc12",
        "quota": json.dumps(preview_quota_entries(BundleSettings())),
    }
    return {**args, **overrides}


def run_deploy(tmp_path: Path, **overrides: str) -> tuple[str, str]:
    return preview.deploy_preview(**deploy_args(tmp_path, **overrides), evidence=tmp_path / "evidence")


EVIDENCE_LISTS = [
    ("GET", f"{NS}/pods"),
    ("GET", f"{NS}/services"),
    ("GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"),
    ("GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets"),
    ("GET", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"),
    ("GET", f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses"),
    ("GET", f"{NS}/configmaps"),
]
CLEAR_EXPIRY = ("PATCH", f"{NS}?fieldManager=aphex")
"""deploy removes the expiry an earlier run kept (merge patch), so the janitor leaves the preview alone."""
RBAC_NS = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}"
NETWORKING_NS = f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}"
APPLIES = [
    ("PATCH", f"{NS}?{APPLY}"),
    ("PATCH", f"{RBAC_NS}/rolebindings/aphex-preview-deployer?{APPLY}"),
    ("PATCH", f"{NS}/resourcequotas/preview?{APPLY}"),
    ("PATCH", f"{NS}/limitranges/preview?{APPLY}"),
    ("PATCH", f"{NETWORKING_NS}/networkpolicies/default-deny-ingress?{APPLY}"),
    ("PATCH", f"{NETWORKING_NS}/networkpolicies/allow-ingress-controller-and-namespace?{APPLY}"),
]


def test_deploy_makes_exactly_these_calls(
    tmp_path: Path, cluster: Cluster, remote: tuple[Path, str, str]
) -> None:
    _, pr_head, _ = remote
    ingresses(cluster.api)
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
        [
            "helm", "upgrade", "--install", "hello-pr-7", str(checkout / "charts" / "app"),
            "--namespace", NAMESPACE, "--values", str(checkout / "values-preview.yaml"),
            "--set-string", "image.tag=pr-7", "--set-string", f"ingress.host={NAMESPACE}.preview.example.com",
            "--wait", "--timeout", "10m", "--history-max", "5",
        ],
        ["helm", "status", "hello-pr-7", "--namespace", NAMESPACE],
        ["helm", "get", "values", "hello-pr-7", "--namespace", NAMESPACE, "--output", "yaml"],
    ]  # fmt: skip
    assert cluster.api.calls() == [
        *APPLIES,
        CLEAR_EXPIRY,
        *EVIDENCE_LISTS,
        ("GET", f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses"),
    ]
    applied = [r for r in cluster.api.requests if r.method == "PATCH"][:-1]
    assert {r.content_type for r in applied} == {"application/apply-patch+yaml"}
    manifests = [r.body for r in applied]
    assert [m["kind"] for m in manifests] == [
        "Namespace",
        "RoleBinding",
        "ResourceQuota",
        "LimitRange",
        "NetworkPolicy",
        "NetworkPolicy",
    ]
    namespace = manifests[0]["metadata"]
    assert namespace["labels"] == {
        **OURS,
        "aphex.dev/preview": "true",
        "aphex.dev/workflow": "implementation-dag-abc12",
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }
    assert namespace["annotations"] == {"aphex.dev/deployer": DEPLOYER}
    assert manifests[1]["subjects"] == [
        {"kind": "ServiceAccount", "name": "aphex-preview-deployer", "namespace": "argo"}
    ]
    assert manifests[1]["metadata"]["name"] == "aphex-preview-deployer"
    assert manifests[1]["roleRef"]["name"] == "aphex-argo-preview-workloads"
    assert manifests[3]["spec"] == {
        "limits": [
            {
                "type": "Container",
                "default": {"cpu": "500m", "memory": "512Mi"},
                "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
            }
        ]
    }
    admitted = manifests[5]["spec"]["ingress"][0]["from"][1]["namespaceSelector"]["matchLabels"]
    assert admitted == {"kubernetes.io/metadata.name": "ingress-nginx"}
    evidence = tmp_path / "evidence"
    assert json.loads((evidence / "urls.json").read_text())["commit"] == pr_head
    assert json.loads((evidence / "urls.json").read_text())["namespace"] == NAMESPACE
    assert (evidence / "helm-status.txt").read_text() == "STATUS: deployed\n"
    listed = yaml.safe_load((evidence / "resources.yaml").read_text())
    assert listed["items"] == INGRESS["items"]


def test_deploy_relaxes_pod_security_to_baseline_and_never_to_privileged(
    tmp_path: Path, cluster: Cluster, remote: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    ingresses(cluster.api)
    preview.deploy_preview(**deploy_args(tmp_path), evidence=tmp_path / "evidence", pod_security="baseline")
    labels = cluster.api.requests[0].body["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    cluster.api.requests.clear()
    with pytest.raises(SystemExit):
        preview.deploy_preview(
            **deploy_args(tmp_path), evidence=tmp_path / "evidence", pod_security="privileged"
        )
    assert capsys.readouterr().err.startswith("invalid parameter pod-security:")
    assert cluster.api.requests == []


def test_conflicts_and_server_errors_are_retried(
    tmp_path: Path, cluster: Cluster, remote: tuple[Path, str, str]
) -> None:
    ingresses(cluster.api)
    cluster.api.fail_next("PATCH", r"/resourcequotas/preview$", 409, "the object has been modified")
    cluster.api.fail_next("PATCH", r"/resourcequotas/preview$", 503)
    run_deploy(tmp_path)
    quota = [c for c in cluster.api.calls() if c[1].startswith(f"{NS}/resourcequotas/")]
    assert quota == [("PATCH", f"{NS}/resourcequotas/preview?{APPLY}")] * 3
    assert cluster.api.objects[f"{NS}/resourcequotas/preview"]["spec"]["hard"]["pods"] == "20"


def test_a_refused_call_fails_at_once_naming_it(
    tmp_path: Path, cluster: Cluster, remote: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.api.fail_next("PATCH", r"/rolebindings/", 403, "denied by ValidatingAdmissionPolicy")
    with pytest.raises(SystemExit):
        run_deploy(tmp_path)
    err = capsys.readouterr().err
    assert f"apply RoleBinding {NAMESPACE}/aphex-preview-deployer: HTTP 403: denied by" in err
    assert cluster.api.calls() == APPLIES[:2]
    assert cluster.calls() == []


def test_an_api_server_that_keeps_failing_gives_up_after_five_attempts(
    tmp_path: Path, cluster: Cluster, remote: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(kubernetes_api.ATTEMPTS):
        cluster.api.fail_next("PATCH", r"/namespaces/[^/]+$", 500, "etcdserver: request timed out")
    with pytest.raises(SystemExit):
        run_deploy(tmp_path)
    assert "apply Namespace " in capsys.readouterr().err
    assert cluster.api.calls() == [APPLIES[0]] * kubernetes_api.ATTEMPTS


def test_a_pinned_commit_that_is_not_the_head_is_deployed(
    tmp_path: Path, cluster: Cluster, remote: tuple[Path, str, str]
) -> None:
    _, _, old = remote
    ingresses(cluster.api)
    _, sha = run_deploy(tmp_path, commit=old)
    assert sha == old


def test_an_unknown_commit_fails(
    tmp_path: Path, cluster: Cluster, remote: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        run_deploy(tmp_path, commit="f" * 40)
    assert "git" in capsys.readouterr().err
    assert cluster.calls() == []
    assert cluster.api.requests == []


def test_a_missing_chart_is_named(
    tmp_path: Path, cluster: Cluster, remote: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        run_deploy(tmp_path, chart_path="charts/nope")
    assert capsys.readouterr().err.startswith("invalid parameter chartPath:")
    assert cluster.calls() == []


def test_a_symlink_out_of_the_checkout_is_refused(
    tmp_path: Path, cluster: Cluster, remote: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
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
    tmp_path: Path, cluster: Cluster, capsys: pytest.CaptureFixture[str], field: str, value: str, named: str
) -> None:
    with pytest.raises(SystemExit):
        run_deploy(tmp_path, **{field: value})
    assert capsys.readouterr().err.startswith(f"invalid parameter {named}:")
    assert cluster.calls() == []
    assert cluster.api.requests == []


def test_a_failing_helm_install_fails_with_its_stderr_and_keeps_evidence(
    tmp_path: Path, cluster: Cluster, remote: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.on("helm", "upgrade", stderr="Error: timed out waiting for the condition\n", exit=1)
    with pytest.raises(SystemExit):
        run_deploy(tmp_path)
    assert "timed out waiting for the condition" in capsys.readouterr().err
    assert (tmp_path / "evidence" / "resources.yaml").exists()
    assert cluster.api.calls() == [*APPLIES, CLEAR_EXPIRY, *EVIDENCE_LISTS]


def test_no_ingress_hosts_fail(
    tmp_path: Path, cluster: Cluster, remote: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        run_deploy(tmp_path)
    assert f"no ingress hosts found in namespace {NAMESPACE}" in capsys.readouterr().err


def test_a_token_is_sent_as_a_header_and_never_written(
    tmp_path: Path, cluster: Cluster, remote: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "sekrit-token-value")
    ingresses(cluster.api)
    run_deploy(tmp_path)
    for path in (tmp_path / "evidence").rglob("*"):
        assert "sekrit-token-value" not in path.read_text()
    assert all("sekrit" not in " ".join(call) for call in cluster.calls())
    assert all("sekrit" not in json.dumps(r.body) for r in cluster.api.requests)


UNINSTALL = [
    "helm", "uninstall", "hello-pr-7", "--namespace", NAMESPACE,
    "--ignore-not-found", "--wait", "--timeout", "5m",
]  # fmt: skip


def test_cleanup_uninstalls_and_deletes_our_empty_namespace(cluster: Cluster) -> None:
    our_namespace(cluster.api)
    cluster.api.put(f"{NS}/resourcequotas/preview", {"kind": "ResourceQuota"})
    preview.cleanup(owner="octo-org", repo="hello", pr="7", domain="preview.example.com")
    assert cluster.calls() == [UNINSTALL, ["helm", "list", "--namespace", NAMESPACE, "--short", "--all"]]
    assert cluster.api.calls() == [("GET", NS), ("DELETE", f"{NS}?propagationPolicy=Background")]
    assert cluster.api.objects == {}


def test_cleanup_keeps_a_namespace_another_release_still_uses(cluster: Cluster) -> None:
    our_namespace(cluster.api)
    cluster.on("helm", "list", stdout="other-release\n")
    preview.cleanup(owner="octo-org", repo="hello", pr="7", domain="preview.example.com")
    assert cluster.api.calls() == [("GET", NS)]


@pytest.mark.parametrize(
    "labels",
    [
        {},
        {**OURS, "app.kubernetes.io/managed-by": "someone-else"},
        {**OURS, "aphex.dev/owner": "other-org"},
        {**OURS, "aphex.dev/pr": "8"},
    ],
)
def test_cleanup_leaves_a_namespace_that_is_not_this_pull_requests(
    cluster: Cluster, labels: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    our_namespace(cluster.api, labels)
    preview.cleanup(owner="octo-org", repo="hello", pr="7", domain="preview.example.com")
    assert cluster.api.calls() == [("GET", NS)]
    assert "is not this pull request's aphex preview; left in place" in capsys.readouterr().out


def test_cleanup_is_a_no_op_when_nothing_exists_and_when_parameters_were_invalid(cluster: Cluster) -> None:
    preview.cleanup(owner="octo-org", repo="hello", pr="7", domain="preview.example.com")
    assert cluster.calls() == [UNINSTALL]
    assert cluster.api.calls() == [("GET", NS)]
    preview.cleanup(owner="octo;rm", repo="hello", pr="7", domain="preview.example.com")
    assert len(cluster.calls()) == 1
    assert len(cluster.api.requests) == 1


def test_keep_preview_annotates_the_expiry(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    our_namespace(cluster.api)
    monkeypatch.setattr(preview, "_now", lambda: datetime(2026, 11, 22, 10, 30, 15, 123, tzinfo=UTC))
    expires = preview.keep_preview(
        owner="octo-org", repo="hello", pr="7", domain="preview.example.com", ttl_hours=24
    )
    assert expires == "2026-11-23T10:30:15Z"
    assert cluster.api.calls() == [("PATCH", f"{NS}?fieldManager=aphex-keep-preview")]
    (request,) = cluster.api.requests
    assert request.content_type == "application/merge-patch+json"
    annotations = {"aphex.dev/expires-at": "2026-11-23T10:30:15Z", "janitor/expires": "2026-11-23T10:30:15Z"}
    assert request.body == {"metadata": {"annotations": annotations}}
    assert cluster.api.objects[NS]["metadata"] == {
        "name": NAMESPACE,
        "labels": OURS,
        "annotations": annotations,
    }
    assert cluster.calls() == []


def test_keep_preview_fails_when_the_namespace_is_gone(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        preview.keep_preview(owner="octo-org", repo="hello", pr="7", domain="preview.example.com")
    assert f"annotate namespace {NAMESPACE}: HTTP 404" in capsys.readouterr().err
    assert NS not in cluster.api.objects


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
        quota=preview.preview_quota(deploy_args(Path())["quota"]),
    )  # fmt: skip
    for manifest in manifests:
        for value in manifest["metadata"]["labels"].values():
            assert len(value) <= 63
    assert helm_release_name(repo, pr) != ""


def test_keep_preview_through_the_runner_boundary(tmp_path: Path, cluster: Cluster) -> None:
    inputs = {
        "owner": "octo-org",
        "repo": "hello",
        "pr": "7",
        "domain": "preview.example.com",
        "ttl_hours": "24",
    }
    out = tmp_path / "out"
    our_namespace(cluster.api)
    result = run_step("aphex.workflows.steps.implementation_dag.preview:keep_preview", inputs, tmp_path)
    assert result.returncode == 0, result.stderr
    expires = (out / "parameters" / "expires-at").read_text()
    assert cluster.api.objects[NS]["metadata"]["annotations"]["janitor/expires"] == expires


def test_an_issue_run_has_no_preview_to_keep_or_clean(cluster: Cluster) -> None:
    assert preview.keep_preview(owner="octo-org", repo="hello", pr="", domain="preview.example.com") == ""
    preview.cleanup(owner="octo-org", repo="hello", pr="", domain="preview.example.com")
    assert cluster.calls() == []
    assert cluster.api.requests == []


NOW = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
PREVIEWS = "/api/v1/namespaces"
LIST_PREVIEWS = (
    "GET",
    f"{PREVIEWS}?labelSelector=app.kubernetes.io/managed-by=aphex,aphex.dev/preview=true",
)


def kept_namespace(
    api: KubeStandIn,
    name: str,
    *,
    expires: str | None,
    deployer: str = DEPLOYER,
    labels: dict[str, str] | None = None,
) -> str:
    annotations = {"aphex.dev/deployer": deployer}
    if expires is not None:
        annotations["aphex.dev/expires-at"] = expires
    metadata = {
        "name": name,
        "labels": {**OURS, "aphex.dev/preview": "true"} if labels is None else labels,
        "annotations": annotations,
    }
    api.put(f"{PREVIEWS}/{name}", {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata})
    return name


@pytest.fixture
def janitor(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Cluster:
    monkeypatch.setattr(preview, "_now", lambda: NOW)
    return cluster


def test_the_janitor_removes_only_its_own_previews_past_their_expiry(janitor: Cluster) -> None:
    expired = kept_namespace(janitor.api, NAMESPACE, expires="2026-11-22T10:29:59Z")
    kept_namespace(janitor.api, preview_namespace("octo-org", "hello", 8), expires="2026-11-22T10:30:01Z")
    kept_namespace(janitor.api, preview_namespace("octo-org", "hello", 9), expires=None)
    other_instance = "system:serviceaccount:team-b:aphex-preview-deployer"
    kept_namespace(
        janitor.api, preview_namespace("octo-org", "hello", 10), expires="2020-01-01T00:00:00Z",
        deployer=other_instance,
    )  # fmt: skip
    kept_namespace(janitor.api, preview_namespace("octo-org", "hello", 11), expires="tomorrow")
    janitor.api.put(f"{PREVIEWS}/team-a", {"metadata": {"name": "team-a", "labels": {"team": "a"}}})

    assert preview.expire_previews() == json.dumps([expired])

    listing = ["helm", "list", "--namespace", expired, "--short", "--all"]
    assert janitor.calls() == [listing, listing]  # nothing installed: nothing to uninstall
    assert janitor.api.calls() == [
        LIST_PREVIEWS,
        ("GET", f"{PREVIEWS}/{expired}"),  # the expiry, read again right before the removal
        ("GET", f"{PREVIEWS}/{expired}"),  # the ownership, after the uninstalls (cleanup's code)
        ("DELETE", f"{PREVIEWS}/{expired}?propagationPolicy=Background"),
    ]
    assert sorted(path.rsplit("/", 1)[-1] for path in janitor.api.objects) == sorted(
        ["team-a", *(preview_namespace("octo-org", "hello", pr) for pr in (8, 9, 10, 11))]
    )


def test_the_janitor_uninstalls_every_release_of_an_expired_preview_first(janitor: Cluster) -> None:
    kept_namespace(janitor.api, NAMESPACE, expires="2026-11-21T10:30:00Z")
    janitor.on("helm", "list", stdout="hello-pr-7\nsidecar-db\n")
    # The helm stand-in answers every list alike, so the releases still look installed afterwards: the
    # namespace is then left in place, as it is when an uninstall did not take.
    assert preview.expire_previews() == "[]"
    assert janitor.calls() == [
        ["helm", "list", "--namespace", NAMESPACE, "--short", "--all"],
        UNINSTALL,
        [*UNINSTALL[:2], "sidecar-db", *UNINSTALL[3:]],
        ["helm", "list", "--namespace", NAMESPACE, "--short", "--all"],
    ]
    assert janitor.api.calls() == [LIST_PREVIEWS, ("GET", NS), ("GET", NS)]
    assert NS in janitor.api.objects


def test_a_dry_run_of_the_janitor_lists_and_removes_nothing(janitor: Cluster) -> None:
    kept_namespace(janitor.api, NAMESPACE, expires="2026-11-21T10:30:00Z")
    assert preview.expire_previews(dry_run=True) == json.dumps([NAMESPACE])
    assert janitor.calls() == []
    assert janitor.api.calls() == [LIST_PREVIEWS, ("GET", NS)]


def test_one_failing_removal_does_not_stop_the_others_and_fails_the_step(
    janitor: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    first = kept_namespace(janitor.api, NAMESPACE, expires="2026-11-21T10:30:00Z")
    second = kept_namespace(
        janitor.api, preview_namespace("octo-org", "hello", 8), expires="2026-11-21T10:30:00Z"
    )
    janitor.on("helm", "list", "--namespace", first, stderr="Error: Kubernetes cluster unreachable", exit=1)
    with pytest.raises(SystemExit) as failed:
        preview.expire_previews()
    assert failed.value.code == 1
    assert f"{PREVIEWS}/{second}" not in janitor.api.objects
    assert f"{PREVIEWS}/{first}" in janitor.api.objects
    err = capsys.readouterr().err
    assert "Kubernetes cluster unreachable" in err
    assert f"could not remove {first}" in err


def test_the_janitor_through_the_runner_boundary(tmp_path: Path, janitor: Cluster) -> None:
    kept_namespace(janitor.api, NAMESPACE, expires="2020-01-01T00:00:00Z")
    result = run_step(
        "aphex.workflows.steps.implementation_dag.preview:expire_previews", {"dry_run": "false"}, tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "parameters" / "removed").read_text() == json.dumps([NAMESPACE])
    assert janitor.api.objects == {}


def test_deploying_over_a_kept_preview_clears_its_expiry_until_the_run_keeps_it_again(
    tmp_path: Path, cluster: Cluster, remote: tuple[Path, str, str]
) -> None:
    kept_namespace(cluster.api, NAMESPACE, expires="2020-01-01T00:00:00Z")
    cluster.api.objects[NS]["metadata"]["annotations"]["janitor/expires"] = "2020-01-01T00:00:00Z"
    ingresses(cluster.api)
    run_deploy(tmp_path)
    (clear,) = [r for r in cluster.api.requests if r.content_type == "application/merge-patch+json"]
    assert clear.body == {
        "metadata": {"annotations": {"aphex.dev/expires-at": None, "janitor/expires": None}}
    }
    assert cluster.api.objects[NS]["metadata"]["annotations"] == {"aphex.dev/deployer": DEPLOYER}
    assert preview.expire_previews() == "[]"


def test_the_janitor_leaves_a_preview_whose_expiry_changed_since_it_listed(
    janitor: Cluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kept_namespace(janitor.api, NAMESPACE, expires="2020-01-01T00:00:00Z")
    reads: list[str] = []
    real_read = preview._read_namespace

    def read_after_a_new_run_started(cluster: kubernetes_api.Cluster, namespace: str) -> dict[str, object]:
        reads.append(namespace)
        del janitor.api.objects[NS]["metadata"]["annotations"]["aphex.dev/expires-at"]
        return real_read(cluster, namespace)

    monkeypatch.setattr(preview, "_read_namespace", read_after_a_new_run_started)
    assert preview.expire_previews() == "[]"
    assert reads == [NAMESPACE]
    assert janitor.calls() == []
    assert NS in janitor.api.objects
    assert "its expiry changed since the listing; left in place" in capsys.readouterr().out


def _compiled_dag_arguments(values: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The arguments of the implementation DAG's tasks as ``aphex compile --values`` writes them."""
    (dag,) = [
        o
        for o in build_bundle(load_settings(values))
        if (o["kind"], o["metadata"]["name"]) == ("WorkflowTemplate", "implementation-dag")
    ]
    return {
        task["name"]: {p["name"]: p["value"] for p in task.get("arguments", {}).get("parameters", [])}
        for template in dag["spec"]["templates"]
        if "dag" in template
        for task in template["dag"]["tasks"]
    }


def test_the_compiled_preview_quota_is_the_quota_deploy_creates(
    tmp_path: Path, cluster: Cluster, remote: tuple[Path, str, str]
) -> None:
    """values ``previewQuota`` -> the deploy task's ``quota`` argument -> the ResourceQuota the deploy
    step applies, which the admission policy compiled from the same values admits (its exact spec)."""
    values = {
        "previewQuota": {
            "pods": 7,
            "requests": {"cpu": "1500m", "memory": "3Gi"},
            "limits": {"cpu": "3", "memory": "6Gi"},
        }
    }
    quota = _compiled_dag_arguments(values)["deploy"]["quota"]
    ingresses(cluster.api)
    run_deploy(tmp_path, quota=quota)
    applied = cluster.api.objects[f"{NS}/resourcequotas/preview"]["spec"]
    assert applied == {
        "hard": {
            "pods": "7",
            "requests.cpu": "1500m",
            "requests.memory": "3Gi",
            "limits.cpu": "3",
            "limits.memory": "6Gi",
            "services.loadbalancers": "0",
            "services.nodeports": "0",
        }
    }
    (policy,) = [o for o in build_bundle(load_settings(values)) if o["kind"] == "ValidatingAdmissionPolicy"]
    literal = json.dumps(applied, sort_keys=True, separators=(", ", ": "))
    assert any(f"object.spec == {literal}" in v["expression"] for v in policy["spec"]["validations"])


@pytest.mark.parametrize(
    ("quota", "message"),
    [
        ({"requests.cpu": "5"}, "quota.requests.cpu: must be at most quota.limits.cpu (4) (got '5')"),
        ({"pods": "0"}, "quota.pods: must match"),
        ({"limits.memory": "8G"}, "quota.limits.memory: must match"),
    ],
)
def test_deploy_refuses_a_bad_quota_before_anything_runs(
    tmp_path: Path, cluster: Cluster, capsys: pytest.CaptureFixture[str], quota: dict[str, str], message: str
) -> None:
    entries = {**json.loads(deploy_args(tmp_path)["quota"]), **quota}
    with pytest.raises(SystemExit):
        run_deploy(tmp_path, quota=json.dumps(entries))
    assert message in capsys.readouterr().err
    assert cluster.api.requests == []
    assert cluster.calls() == []


def test_the_compiled_preview_lifetime_sets_the_expiry_the_janitor_acts_on(
    tmp_path: Path, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """values ``previewLifetimeHours`` -> keep-preview's ``ttl_hours`` argument -> the expiry keep-preview
    writes (through Hera's runner, as the pod runs it) -> preview-janitor leaves the preview until then
    and removes it once the expiry has passed."""
    inputs = {
        **_compiled_dag_arguments({"previewLifetimeHours": 72})["keep-preview"],
        "owner": "octo-org",
        "repo": "hello",
        "pr": "7",
        "domain": "preview.example.com",
    }
    assert inputs["ttl_hours"] == "72"
    kept_namespace(cluster.api, NAMESPACE, expires=None)
    before = datetime.now(UTC).replace(microsecond=0)
    result = run_step("aphex.workflows.steps.implementation_dag.preview:keep_preview", inputs, tmp_path)
    after = datetime.now(UTC)
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "out" / "parameters" / "expires-at").read_text()
    expires = datetime.strptime(written, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before + timedelta(hours=72) <= expires <= after + timedelta(hours=72)
    assert cluster.api.objects[NS]["metadata"]["annotations"]["aphex.dev/expires-at"] == written

    monkeypatch.setattr(preview, "_now", lambda: expires - timedelta(seconds=1))
    assert preview.expire_previews() == "[]"
    assert NS in cluster.api.objects
    monkeypatch.setattr(preview, "_now", lambda: expires + timedelta(seconds=1))
    assert preview.expire_previews() == json.dumps([NAMESPACE])
    assert NS not in cluster.api.objects


def test_keep_preview_refuses_a_lifetime_the_values_refuse(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    our_namespace(cluster.api)
    with pytest.raises(SystemExit):
        preview.keep_preview(
            owner="octo-org", repo="hello", pr="7", domain="preview.example.com", ttl_hours=721
        )
    assert "ttl-hours: must be between 1 and 720 (got 721)" in capsys.readouterr().err
    assert cluster.api.requests == []
