"""Preview environments of the implementation DAG: deploy with Helm, keep with an expiry, clean up.

``deploy`` checks the pull request out with git, prepares the namespace ``impl-pr-<N>`` (labels, a
RoleBinding for the deployer, a ResourceQuota, a default-deny ingress NetworkPolicy that still admits
the ingress controller), installs the chart with ``helm upgrade --install --wait``, discovers the ingress
hosts and writes the evidence. ``cleanup`` (exit handler, failure) uninstalls the release and deletes the
namespace when nothing else lives in it; ``keep_preview`` (exit handler, success) sets the expiry.

Egress is left open on purpose: a preview usually needs its dependencies (databases, APIs, registries)
and those differ per application; clusters that want egress control add their own policy.
``--atomic`` is not used: a failed release stays in place for the failure evidence, and the exit handler
uninstalls it anyway.
"""

import base64
import json
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final

import yaml
from hera.workflows import Artifact, Parameter

from dsl.labels import LABEL_PREFIX, MANAGED_BY
from dsl.names import (
    InvalidValue,
    dns_label,
    helm_release_name,
    preview_namespace,
    validate_commit_sha,
    validate_dns_name,
    validate_github_owner,
    validate_github_repo,
    validate_image_tag,
    validate_pr_number,
    validate_relative_path,
)
from workflows.steps.kube import StepError, run
from workflows.steps.params import derive_preview

__all__ = [
    "cleanup",
    "deploy",
    "ingress_urls",
    "keep_preview",
    "namespace_manifests",
]

EXPIRES_AT: Final = f"{LABEL_PREFIX}expires-at"
JANITOR_EXPIRES: Final = "janitor/expires"
QUOTA: Final = {
    "pods": "20",
    "requests.cpu": "2",
    "requests.memory": "4Gi",
    "limits.cpu": "4",
    "limits.memory": "8Gi",
    "services.loadbalancers": "0",
    "services.nodeports": "0",
}
_HELM_TIMEOUT = re.compile(r"^[1-9][0-9]{0,4}[smh]$")
_K8S_NAME = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")


def _labels(*, owner: str, repo: str, pr: int, workflow: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        f"{LABEL_PREFIX}preview": "true",
        f"{LABEL_PREFIX}pr": str(pr),
        f"{LABEL_PREFIX}repo": dns_label(repo),
        f"{LABEL_PREFIX}owner": dns_label(owner),
        f"{LABEL_PREFIX}workflow": dns_label(workflow),
    }


def namespace_manifests(
    *,
    owner: str,
    repo: str,
    pr: int,
    workflow: str,
    service_account: str,
    service_account_namespace: str,
    workloads_role: str,
    ingress_namespace: str,
) -> list[dict[str, Any]]:
    """Namespace, deployer RoleBinding, ResourceQuota and NetworkPolicies of one preview, in apply order.

    The RoleBinding is named after the deployer's ServiceAccount, so each aphex instance deploying into
    a shared preview namespace binds only itself.
    """
    namespace = preview_namespace(pr)
    labels = _labels(owner=owner, repo=repo, pr=pr, workflow=workflow)

    def meta(name: str) -> dict[str, Any]:
        return {"name": name, "namespace": namespace, "labels": labels}

    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta(service_account),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": workloads_role,
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": service_account, "namespace": service_account_namespace}
            ],
        },
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": meta("preview"),
            "spec": {"hard": dict(QUOTA)},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("default-deny-ingress"),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("allow-ingress-controller-and-namespace"),
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {"podSelector": {}},
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": ingress_namespace}
                                }
                            },
                        ]
                    }
                ],
            },
        },
    ]


def ingress_urls(ingresses: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Hosts and URLs of a ``kubectl get ingress -o json`` list: https when the host is under TLS."""
    hosts: set[str] = set()
    tls_hosts: set[str] = set()
    for item in ingresses.get("items", []):
        spec = item.get("spec", {})
        for rule in spec.get("rules", []) or []:
            if rule.get("host"):
                hosts.add(rule["host"])
        for tls in spec.get("tls", []) or []:
            tls_hosts.update(tls.get("hosts", []) or [])
    ordered = sorted(hosts)
    return ordered, [f"{'https' if host in tls_hosts else 'http'}://{host}/" for host in ordered]


def _scratch() -> Path:
    base = Path(os.environ.get("APHEX_SCRATCH") or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="checkout-", dir=base))


def _git_auth(owner: str, repo: str) -> tuple[list[str], list[str]]:
    """``git -c`` options carrying the token as a header (never in the URL), and the values to redact."""
    from workflows.steps.github import resolve_token

    token = resolve_token(owner=owner, repo=repo)
    if not token:
        return [], []
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return ["-c", f"http.extraHeader=Authorization: Basic {basic}"], [basic, token]


def checkout(*, owner: str, repo: str, repository_url: str, pr: int, commit: str) -> tuple[Path, str]:
    """Fetch the pull request (or the pinned commit) into a fresh directory; return it and its SHA."""
    work = _scratch()
    auth, secrets = _git_auth(owner, repo)
    ref = commit or f"refs/pull/{pr}/head"
    run(["git", "init", "--quiet", str(work)])
    run(["git", *auth, "fetch", "--quiet", "--depth=1", repository_url, ref], cwd=work, redact=secrets)
    run(["git", "checkout", "--quiet", "--detach", "FETCH_HEAD"], cwd=work)
    sha = run(["git", "rev-parse", "HEAD"], cwd=work).stdout.strip()
    if commit and sha != commit:
        raise StepError(f"commit: checked out {sha}, expected {commit}")
    return work, sha


def _inside(checkout_dir: Path, relative: str, field: str) -> Path:
    path = (checkout_dir / relative).resolve()
    if not path.is_relative_to(checkout_dir.resolve()):
        raise InvalidValue(field, relative, "leaves the repository checkout")
    if not path.exists():
        raise InvalidValue(field, relative, "does not exist in the checked-out commit")
    return path


def _env_name(key: str) -> str:
    value = os.environ.get(key, "")
    if not _K8S_NAME.match(value):
        raise StepError(f"{key} must be set to a Kubernetes name on the pod (got {value!r})")
    return value


def _write_evidence(evidence: Path, files: Mapping[str, str]) -> None:
    evidence.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (evidence / name).write_text(text, encoding="utf-8")


def _fail(error: Exception) -> SystemExit:
    prefix = "invalid parameter " if isinstance(error, InvalidValue) else ""
    print(f"{prefix}{error}", file=sys.stderr)
    return SystemExit(1)


def deploy(
    owner: str,
    repo: str,
    pr: str,
    commit: str,
    repository_url: str,
    namespace: str,
    release: str,
    host: str,
    image_tag: str,
    chart_path: str,
    values_file: str,
    workflow_name: str,
    evidence: Annotated[Path, Artifact(name="deploy-evidence", output=True, global_name="deploy-evidence")],
    helm_timeout: str = "10m",
    ingress_namespace: str = "ingress-nginx",
) -> tuple[
    Annotated[str, Parameter(name="urls", global_name="preview-urls")],
    Annotated[str, Parameter(name="deployed-sha", global_name="deployed-sha")],
]:
    """Runner entrypoint: deploy the pull request's preview and write the deploy evidence."""
    try:
        return _deploy(
            owner=owner,
            repo=repo,
            pr=pr,
            commit=commit,
            repository_url=repository_url,
            namespace=namespace,
            release=release,
            host=host,
            image_tag=image_tag,
            chart_path=chart_path,
            values_file=values_file,
            workflow_name=workflow_name,
            evidence=evidence,
            helm_timeout=helm_timeout,
            ingress_namespace=ingress_namespace,
        )
    except (InvalidValue, StepError) as error:
        raise _fail(error) from None


def _deploy(
    *,
    owner: str,
    repo: str,
    pr: str,
    commit: str,
    repository_url: str,
    namespace: str,
    release: str,
    host: str,
    image_tag: str,
    chart_path: str,
    values_file: str,
    workflow_name: str,
    evidence: Path,
    helm_timeout: str,
    ingress_namespace: str,
) -> tuple[str, str]:
    validate_github_owner(owner)
    validate_github_repo(repo)
    number = validate_pr_number(pr)
    validate_commit_sha(commit)
    expected_url = f"{os.environ.get('GITHUB_URL', 'https://github.com').rstrip('/')}/{owner}/{repo}"
    if repository_url != expected_url:
        raise InvalidValue(
            "repository-url", repository_url, f"must be {expected_url} (GITHUB_URL/owner/repo)"
        )
    if namespace != preview_namespace(number):
        raise InvalidValue("namespace", namespace, f"must be {preview_namespace(number)}")
    if release != helm_release_name(repo, number):
        raise InvalidValue("release", release, f"must be {helm_release_name(repo, number)}")
    if not host.startswith(f"{release}.") or not validate_dns_name(host.removeprefix(f"{release}."), "host"):
        raise InvalidValue("host", host, f"must be {release}.<domain>")
    validate_image_tag(image_tag, "image-tag")
    validate_relative_path(chart_path, "chartPath")
    validate_relative_path(values_file, "valuesFile")
    if not _HELM_TIMEOUT.match(helm_timeout):
        raise InvalidValue("helm-timeout", helm_timeout, "must be a duration such as 600s, 10m or 1h")
    if not _K8S_NAME.match(ingress_namespace):
        raise InvalidValue("ingress-namespace", ingress_namespace, "must be a namespace name")
    if not _K8S_NAME.match(dns_label(workflow_name)):
        raise InvalidValue("workflow-name", workflow_name, "must be a workflow name")
    account = _env_name("APHEX_SERVICE_ACCOUNT")
    account_namespace = _env_name("APHEX_WORKFLOW_NAMESPACE")
    workloads_role = _env_name("APHEX_PREVIEW_WORKLOADS_ROLE")

    work, sha = checkout(owner=owner, repo=repo, repository_url=repository_url, pr=number, commit=commit)
    chart = _inside(work, chart_path, "chartPath")
    values = _inside(work, values_file, "valuesFile")

    manifests = namespace_manifests(
        owner=owner,
        repo=repo,
        pr=number,
        workflow=workflow_name,
        service_account=account,
        service_account_namespace=account_namespace,
        workloads_role=workloads_role,
        ingress_namespace=ingress_namespace,
    )
    run(
        ["kubectl", "apply", "--server-side", "--field-manager=aphex", "--force-conflicts", "-f", "-"],
        stdin=yaml.safe_dump_all(manifests, sort_keys=True),
    )
    try:
        run(
            [
                "helm",
                "upgrade",
                "--install",
                release,
                str(chart),
                "--namespace",
                namespace,
                "--values",
                str(values),
                "--set-string",
                f"image.tag={image_tag}",
                "--set-string",
                f"ingress.host={host}",
                "--wait",
                "--timeout",
                helm_timeout,
                "--history-max",
                "5",
            ]
        )
    finally:
        _write_evidence(evidence, _cluster_evidence(namespace, release))
    ingresses = json.loads(
        run(["kubectl", "get", "ingress", "--namespace", namespace, "--output", "json"]).stdout
    )
    hosts, urls = ingress_urls(ingresses)
    report = {
        "namespace": namespace,
        "release": release,
        "host": host,
        "hosts": hosts,
        "urls": urls,
        "commit": sha,
    }
    _write_evidence(evidence, {"urls.json": json.dumps(report, indent=2, sort_keys=True) + "\n"})
    if not urls:
        raise StepError(f"no ingress hosts found in namespace {namespace}: the chart must create an Ingress")
    print(f"deployed {release} ({sha}) to {namespace}: {', '.join(urls)}")
    return json.dumps(urls), sha


def _cluster_evidence(namespace: str, release: str) -> dict[str, str]:
    """What is deployed, as far as the cluster will tell; a failing query is recorded, not raised."""
    queries = {
        "resources.yaml": [
            "kubectl",
            "get",
            "all,ingress,configmap",
            "--namespace",
            namespace,
            "--output",
            "yaml",
        ],
        "helm-status.txt": ["helm", "status", release, "--namespace", namespace],
        "helm-values.yaml": ["helm", "get", "values", release, "--namespace", namespace, "--output", "yaml"],
    }
    files = {}
    for name, argv in queries.items():
        try:
            files[name] = run(argv).stdout
        except StepError as error:
            files[name] = f"# unavailable: {error}\n"
    return files


def _preview_or_none(owner: str, repo: str, pr: str, domain: str) -> tuple[str, str] | None:
    if pr == "":
        print("no pull request (an issue run, or invalid parameters): there is no preview")
        return None
    try:
        plan = derive_preview(owner=owner, repo=repo, pr=pr, domain=domain)
    except InvalidValue as error:
        print(f"nothing to clean up: the run's parameters were invalid ({error})")
        return None
    return plan.namespace, plan.release


def cleanup(owner: str, repo: str, pr: str, domain: str) -> None:
    """Runner entrypoint (exit handler, failure): uninstall the release, then delete the namespace
    when it is ours and no other release remains in it (``impl-pr-<N>`` is shared by every repository's
    pull request N on a cluster)."""
    names = _preview_or_none(owner, repo, pr, domain)
    if names is None:
        return
    namespace, release = names
    try:
        run(
            [
                "helm",
                "uninstall",
                release,
                "--namespace",
                namespace,
                "--ignore-not-found",
                "--wait",
                "--timeout",
                "5m",
            ]
        )
        found = run(
            ["kubectl", "get", "namespace", namespace, "--ignore-not-found", "--output", "json"]
        ).stdout
        if not found.strip():
            print(f"namespace {namespace} does not exist; nothing more to do")
            return
        labels = json.loads(found).get("metadata", {}).get("labels", {})
        if labels.get("app.kubernetes.io/managed-by") != MANAGED_BY:
            print(f"namespace {namespace} is not managed by aphex; left in place")
            return
        remaining = run(["helm", "list", "--namespace", namespace, "--short", "--all"]).stdout.split()
        if remaining:
            print(f"namespace {namespace} still holds releases {', '.join(remaining)}; left in place")
            return
        run(["kubectl", "delete", "namespace", namespace, "--ignore-not-found", "--wait=false"])
        print(f"uninstalled {release} and deleted namespace {namespace}")
    except StepError as error:
        raise _fail(error) from None


def _now() -> datetime:
    """The clock (a seam for tests)."""
    return datetime.now(UTC)


def keep_preview(
    owner: str,
    repo: str,
    pr: str,
    domain: str,
    ttl_hours: int = 24,
) -> Annotated[str, Parameter(name="expires-at")]:
    """Runner entrypoint (exit handler, success): annotate the namespace with its expiry.

    An issue run (no ``pr``) has no preview: nothing is kept and ``expires-at`` is empty, which is
    what tells publish-success that there is no preview to report or approve.
    """
    if pr == "":
        print("no pull request (an issue run): there is no preview to keep")
        return ""
    try:
        plan = derive_preview(owner=owner, repo=repo, pr=pr, domain=domain)
        if not 1 <= ttl_hours <= 24 * 30:
            raise InvalidValue("ttl-hours", ttl_hours, "must be between 1 and 720")
        expires = (_now() + timedelta(hours=ttl_hours)).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
        run(
            [
                "kubectl",
                "annotate",
                "namespace",
                plan.namespace,
                "--overwrite",
                f"{EXPIRES_AT}={expires}",
                f"{JANITOR_EXPIRES}={expires}",
            ]
        )
    except (InvalidValue, StepError) as error:
        raise _fail(error) from None
    print(f"preview {plan.namespace} kept until {expires}")
    return expires
