"""Preview environments of the implementation DAG: deploy with Helm, keep with an expiry, clean up.

``deploy_preview`` checks the pull request out with git, prepares the pull request's own namespace
(:func:`aphex.dsl.names.preview_namespace`: labels with Pod Security admission, a RoleBinding for the
deployer, a ResourceQuota, a LimitRange, a default-deny ingress NetworkPolicy that still admits the ingress
controller) through the Kubernetes API, removes an expiry an earlier run kept, installs the chart with
``helm upgrade --install --wait``, discovers the ingress hosts and writes the evidence. ``cleanup``
(exit handler, failure) uninstalls the release and deletes the namespace when it is this pull request's
and nothing else lives in it; ``keep_preview`` (exit handler, success) sets the expiry;
``expire_previews`` (the ``preview-janitor`` CronWorkflow) removes previews past it with the same code
as ``cleanup``. What the deployer may do to these objects, and what the chart it installs may not, is
enforced by the admission policy of :mod:`aphex.workflows.implementation_dag.admission`.

Egress is left open on purpose: a preview usually needs its dependencies (databases, APIs, registries)
and those differ per application; clusters that want egress control add their own policy.
``--atomic`` is not used: a failed release stays in place for the failure evidence, and the exit handler
uninstalls it anyway.
"""

import contextlib
import json
import os
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

import yaml
from hera.workflows import Artifact, Parameter

from aphex.dsl.deadlines import PREVIEW_LIFETIME_MAX_HOURS, STAGE_TIMEOUT_SECONDS
from aphex.dsl.labels import LABEL_PREFIX, MANAGED_BY
from aphex.dsl.names import (
    PREVIEW_NAMESPACE_PATTERN,
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
from aphex.dsl.quantities import CPU_PATTERN, STORAGE_PATTERN, request_excess
from aphex.dsl.stage import NETWORK_RETRY, ResourceClass, Stage
from aphex.workflows.steps.common.accounts import Account
from aphex.workflows.steps.common.exits import fail
from aphex.workflows.steps.common.kubernetes_api import RAW, Cluster, NotFound, connect
from aphex.workflows.steps.common.process import StepError, run
from aphex.workflows.steps.common.scratch import scratch
from aphex.workflows.steps.implementation_dag.set_params import derive_preview

__all__ = [
    "CLEANUP_STAGE",
    "DEPLOYER_ANNOTATION",
    "DEPLOY_STAGE",
    "EXPIRE_STAGE",
    "FIELD_MANAGER",
    "KEEP_STAGE",
    "LIMIT_RANGE",
    "OWNERSHIP_LABELS",
    "PREVIEW_LABEL",
    "PREVIEW_SELECTOR",
    "QUOTA_FIXED",
    "PodSecurityLevel",
    "cleanup",
    "deploy_preview",
    "expire_previews",
    "guarded_specs",
    "ingress_urls",
    "keep_preview",
    "namespace_manifests",
    "pod_security_labels",
    "preview_quota",
    "service_account_user",
]

FIELD_MANAGER: Final = "aphex"
"""Field manager of the namespace's objects (server-side apply)."""
KEEP_FIELD_MANAGER: Final = "aphex-keep-preview"
EXPIRES_AT: Final = f"{LABEL_PREFIX}expires-at"
JANITOR_EXPIRES: Final = "janitor/expires"
PREVIEW_LABEL: Final = f"{LABEL_PREFIX}preview"
OWNERSHIP_LABELS: Final = (f"{LABEL_PREFIX}owner", f"{LABEL_PREFIX}repo", f"{LABEL_PREFIX}pr")
"""Labels that say whose pull request a preview namespace belongs to; they never change."""
DEPLOYER_ANNOTATION: Final = f"{LABEL_PREFIX}deployer"
"""The Kubernetes user (``system:serviceaccount:<namespace>:<name>``) that created the namespace."""


class PodSecurityLevel(StrEnum):
    """The Pod Security Standards a preview namespace may enforce (never ``privileged``)."""

    RESTRICTED = "restricted"
    BASELINE = "baseline"


"""Pod Security Standards a preview may enforce (https://kubernetes.io/docs/concepts/security/pod-security-admission/);
never ``privileged``."""
_POD_SECURITY: Final = "pod-security.kubernetes.io/"
QUOTA_NAME: Final = "preview"
LIMIT_RANGE_NAME: Final = "preview"
LIMIT_RANGE: Final = {
    "default": {"cpu": "500m", "memory": "512Mi"},
    "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
}
"""Limits and requests of a container that sets none (the quota requires both)."""
QUOTA_FIXED: Final = {"services.loadbalancers": "0", "services.nodeports": "0"}
"""Never configurable: a preview is reached through the ingress controller only."""
_QUOTA_PATTERNS: Final = {
    "pods": r"^[1-9][0-9]{0,2}$|^1000$",
    "requests.cpu": CPU_PATTERN,
    "requests.memory": STORAGE_PATTERN,
    "limits.cpu": CPU_PATTERN,
    "limits.memory": STORAGE_PATTERN,
}
"""The configurable entries of a preview's ResourceQuota (values ``previewQuota``) and their grammar."""
_HELM_TIMEOUT = re.compile(r"^[1-9][0-9]{0,4}[smh]$")
_K8S_NAME = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")


def service_account_user(namespace: str, name: str) -> str:
    """The user name Kubernetes authenticates a ServiceAccount's token as."""
    return f"system:serviceaccount:{namespace}:{name}"


def pod_security_labels(level: str) -> dict[str, str]:
    """Pod Security admission labels: ``enforce`` at ``level``, ``warn`` and ``audit`` at restricted."""
    if level not in tuple(PodSecurityLevel):
        raise InvalidValue("pod-security", level, f"must be one of {', '.join(PodSecurityLevel)}")
    return {
        f"{_POD_SECURITY}enforce": level,
        f"{_POD_SECURITY}warn": "restricted",
        f"{_POD_SECURITY}audit": "restricted",
    }


def preview_quota(value: str) -> dict[str, str]:
    """The ``hard`` of a preview's ResourceQuota from its configurable entries as JSON (``pods``,
    ``requests.cpu``, ``requests.memory``, ``limits.cpu``, ``limits.memory``, each a string), checked
    entry by entry and request against limit; raises :class:`InvalidValue` naming ``quota``."""
    try:
        entries = json.loads(value)
    except json.JSONDecodeError:
        raise InvalidValue("quota", value, "must be a JSON object") from None
    if not isinstance(entries, dict) or sorted(entries) != sorted(_QUOTA_PATTERNS):
        raise InvalidValue("quota", value, f"must hold exactly {', '.join(_QUOTA_PATTERNS)}")
    for key, pattern in _QUOTA_PATTERNS.items():
        if not isinstance(entries[key], str) or not re.match(pattern, entries[key]):
            raise InvalidValue(f"quota.{key}", entries[key], f"must match {pattern}")
    for resource in ("cpu", "memory"):
        request = entries[f"requests.{resource}"]
        excess = request_excess(f"quota.limits.{resource}", resource, request, entries[f"limits.{resource}"])
        if excess:
            raise InvalidValue(f"quota.requests.{resource}", request, excess)
    return {**{key: entries[key] for key in _QUOTA_PATTERNS}, **QUOTA_FIXED}


def _labels(*, owner: str, repo: str, pr: int, workflow: str) -> dict[str, str]:
    owner_label, repo_label, pr_label = OWNERSHIP_LABELS
    return {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        PREVIEW_LABEL: "true",
        pr_label: str(pr),
        repo_label: dns_label(repo),
        owner_label: dns_label(owner),
        f"{LABEL_PREFIX}workflow": dns_label(workflow),
    }


def guarded_specs(ingress_namespace: str, quota: Mapping[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    """The ``spec`` of every ResourceQuota, LimitRange and NetworkPolicy aphex puts in a preview, by
    (kind, name): the admission policy admits exactly these and nothing else of those kinds. ``quota``
    is the quota's ``hard`` (:func:`preview_quota`)."""
    return {
        ("ResourceQuota", QUOTA_NAME): {"hard": dict(quota)},
        ("LimitRange", LIMIT_RANGE_NAME): {"limits": [{"type": "Container", **LIMIT_RANGE}]},
        ("NetworkPolicy", "default-deny-ingress"): {"podSelector": {}, "policyTypes": ["Ingress"]},
        ("NetworkPolicy", "allow-ingress-controller-and-namespace"): {
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
    quota: Mapping[str, str],
    pod_security: str = "restricted",
) -> list[dict[str, Any]]:
    """Namespace, deployer RoleBinding, ResourceQuota, LimitRange and NetworkPolicies of one preview, in
    apply order. The RoleBinding is named after the deployer's ServiceAccount and binds only it."""
    namespace = preview_namespace(owner, repo, pr)
    labels = _labels(owner=owner, repo=repo, pr=pr, workflow=workflow)

    def meta(name: str) -> dict[str, Any]:
        return {"name": name, "namespace": namespace, "labels": labels}

    guarded = [
        {
            "apiVersion": "networking.k8s.io/v1" if kind == "NetworkPolicy" else "v1",
            "kind": kind,
            "metadata": meta(name),
            "spec": spec,
        }
        for (kind, name), spec in guarded_specs(ingress_namespace, quota).items()
    ]
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "labels": {**labels, **pod_security_labels(pod_security)},
                "annotations": {
                    DEPLOYER_ANNOTATION: service_account_user(service_account_namespace, service_account)
                },
            },
        },
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
        *guarded,
    ]


def ingress_urls(ingresses: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Hosts and URLs of an IngressList as the API server sends it: https when the host is under TLS."""
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


def _git_auth(owner: str, repo: str) -> tuple[dict[str, str], list[str]]:
    """The environment carrying the token as a header (never in the URL, a file or the command line),
    and the values to redact."""
    from aphex.workflows.steps.common.github import git_token_environment, resolve_token

    return git_token_environment(resolve_token(owner=owner, repo=repo))


def checkout(*, owner: str, repo: str, repository_url: str, pr: int, commit: str) -> tuple[Path, str]:
    """Fetch the pull request (or the pinned commit) into a fresh directory; return it and its SHA."""
    work = scratch("checkout-")
    auth, secrets = _git_auth(owner, repo)
    ref = commit or f"refs/pull/{pr}/head"
    run(["git", "init", "--quiet", str(work)])
    run(["git", "fetch", "--quiet", "--depth=1", repository_url, ref], cwd=work, redact=secrets, env=auth)
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


def deploy_preview(
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
    quota: str,
    evidence: Annotated[Path, Artifact(name="deploy-evidence", output=True, global_name="deploy-evidence")],
    helm_timeout: str = "10m",
    ingress_namespace: str = "ingress-nginx",
    pod_security: str = "restricted",
) -> tuple[
    Annotated[str, Parameter(name="urls", global_name="preview-urls")],
    Annotated[str, Parameter(name="deployed-sha", global_name="deployed-sha")],
]:
    """Runner entrypoint: deploy the pull request's preview and write the deploy evidence. ``quota`` is
    the JSON of the ResourceQuota's configurable entries (:func:`preview_quota`)."""
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
            quota=quota,
            evidence=evidence,
            helm_timeout=helm_timeout,
            ingress_namespace=ingress_namespace,
            pod_security=pod_security,
        )
    except (InvalidValue, StepError) as error:
        raise fail(error) from None


DEPLOY_STAGE: Final = Stage(
    entrypoint=deploy_preview,
    name="deploy",
    resources=ResourceClass.STANDARD,
    timeout=f"{STAGE_TIMEOUT_SECONDS['deploy']}s",
    retry=NETWORK_RETRY,
    account=Account.PREVIEW_DEPLOYER,
)


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
    quota: str,
    evidence: Path,
    helm_timeout: str,
    ingress_namespace: str,
    pod_security: str,
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
    expected_namespace = preview_namespace(owner, repo, number)
    if namespace != expected_namespace:
        raise InvalidValue("namespace", namespace, f"must be {expected_namespace}")
    if release != helm_release_name(repo, number):
        raise InvalidValue("release", release, f"must be {helm_release_name(repo, number)}")
    if not host.startswith(f"{namespace}.") or not validate_dns_name(
        host.removeprefix(f"{namespace}."), "host"
    ):
        raise InvalidValue("host", host, f"must be {namespace}.<domain>")
    validate_image_tag(image_tag, "image-tag")
    validate_relative_path(chart_path, "chartPath")
    validate_relative_path(values_file, "valuesFile")
    if not _HELM_TIMEOUT.match(helm_timeout):
        raise InvalidValue("helm-timeout", helm_timeout, "must be a duration such as 600s, 10m or 1h")
    if not _K8S_NAME.match(ingress_namespace):
        raise InvalidValue("ingress-namespace", ingress_namespace, "must be a namespace name")
    if not _K8S_NAME.match(dns_label(workflow_name)):
        raise InvalidValue("workflow-name", workflow_name, "must be a workflow name")
    pod_security_labels(pod_security)
    hard = preview_quota(quota)
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
        quota=hard,
        pod_security=pod_security,
    )
    cluster = connect(field_manager=FIELD_MANAGER)
    for manifest in manifests:
        cluster.apply(manifest)
    _clear_expiry(namespace)
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
        _write_evidence(evidence, _cluster_evidence(cluster, namespace, release))
    ingresses = cluster.call(
        f"list ingresses in {namespace}",
        lambda: cluster.networking.list_namespaced_ingress(namespace, **RAW),
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


def _cluster_evidence(cluster: Cluster, namespace: str, release: str) -> dict[str, str]:
    """What is deployed, as far as the cluster will tell; a failing query is recorded, not raised."""
    listings = {
        "pods": lambda: cluster.core.list_namespaced_pod(namespace, **RAW),
        "services": lambda: cluster.core.list_namespaced_service(namespace, **RAW),
        "deployments": lambda: cluster.apps.list_namespaced_deployment(namespace, **RAW),
        "statefulsets": lambda: cluster.apps.list_namespaced_stateful_set(namespace, **RAW),
        "jobs": lambda: cluster.batch.list_namespaced_job(namespace, **RAW),
        "ingresses": lambda: cluster.networking.list_namespaced_ingress(namespace, **RAW),
        "configmaps": lambda: cluster.core.list_namespaced_config_map(namespace, **RAW),
    }
    items: list[Any] = []
    unavailable: list[str] = []
    for plural, request in listings.items():
        try:
            items += cluster.call(f"list {plural} in {namespace}", request).get("items") or []
        except StepError as error:
            unavailable.append(f"# unavailable: {error}\n")
    resources = "".join(unavailable) + yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items})
    files = {"resources.yaml": resources}
    helm_queries = {
        "helm-status.txt": ["helm", "status", release, "--namespace", namespace],
        "helm-values.yaml": ["helm", "get", "values", release, "--namespace", namespace, "--output", "yaml"],
    }
    for name, argv in helm_queries.items():
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


def _read_namespace(cluster: Cluster, namespace: str) -> dict[str, Any]:
    return cluster.call(f"get namespace {namespace}", lambda: cluster.core.read_namespace(namespace, **RAW))


def _remove_preview(
    cluster: Cluster, namespace: str, releases: list[str], ownership: Mapping[str, str]
) -> str:
    """Uninstall ``releases``, then delete ``namespace`` when its labels carry ``ownership`` (the
    ``managed-by`` label and :data:`OWNERSHIP_LABELS`) and no other release remains in it. The one
    removal of a preview, used by :func:`cleanup` and :func:`expire_previews`; returns what it did."""
    for release in releases:
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
    try:
        found = _read_namespace(cluster, namespace)
    except NotFound:
        return f"namespace {namespace} does not exist; nothing more to do"
    labels = (found.get("metadata") or {}).get("labels") or {}
    if any(labels.get(key) != value for key, value in ownership.items()):
        return f"namespace {namespace} is not this pull request's aphex preview; left in place"
    remaining = run(["helm", "list", "--namespace", namespace, "--short", "--all"]).stdout.split()
    if remaining:
        return f"namespace {namespace} still holds releases {', '.join(remaining)}; left in place"
    with contextlib.suppress(NotFound):
        cluster.call(
            f"delete namespace {namespace}",
            lambda: cluster.core.delete_namespace(namespace, propagation_policy="Background", **RAW),
        )
    return f"uninstalled {', '.join(releases) or 'no release'} and deleted namespace {namespace}"


_OWNERSHIP_KEYS: Final = ("app.kubernetes.io/managed-by", *OWNERSHIP_LABELS)


def cleanup(owner: str, repo: str, pr: str, domain: str) -> None:
    """Runner entrypoint (exit handler on failure; ``preview-cleanup`` when the pull request closes):
    uninstall the release, then delete the namespace when it is this pull request's (managed by aphex,
    ownership labels of this owner, repository and pull request) and no other release remains in it."""
    names = _preview_or_none(owner, repo, pr, domain)
    if names is None:
        return
    namespace, release = names
    expected = _labels(owner=owner, repo=repo, pr=int(pr), workflow="")
    try:
        cluster = connect(field_manager=FIELD_MANAGER)
        print(_remove_preview(cluster, namespace, [release], {key: expected[key] for key in _OWNERSHIP_KEYS}))
    except StepError as error:
        raise fail(error) from None


CLEANUP_STAGE: Final = Stage(
    entrypoint=cleanup,
    name="cleanup-preview",
    resources=ResourceClass.STANDARD,
    timeout="15m",
    retry=NETWORK_RETRY,
    account=Account.PREVIEW_DEPLOYER,
)


PREVIEW_SELECTOR: Final = f"app.kubernetes.io/managed-by={MANAGED_BY},{PREVIEW_LABEL}=true"
"""The label selector of every aphex preview namespace (of every instance)."""


def _expiry(metadata: Mapping[str, Any]) -> datetime | None:
    """The namespace's ``aphex.dev/expires-at``; None when it has none (not kept) or it is malformed."""
    text = (metadata.get("annotations") or {}).get(EXPIRES_AT)
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def expire_previews(dry_run: bool = False) -> Annotated[str, Parameter(name="removed")]:
    """Runner entrypoint (``preview-janitor``): remove every preview of this deployer past its expiry.

    Lists the namespaces labelled as aphex previews, keeps those whose deployer annotation names this
    pod's ServiceAccount (this instance's; the admission policy lets it delete no other) and whose
    ``aphex.dev/expires-at`` has passed, and removes each with the code of :func:`cleanup`: every Helm
    release in it is uninstalled (the whole preview has expired), then the namespace is deleted. A
    namespace without a readable expiry is never touched. One failing removal does not stop the others;
    the step fails afterwards naming them. Returns the removed namespaces as a JSON list; with
    ``dry_run`` it only lists (and returns) the expired previews it would remove.
    """
    try:
        me = service_account_user(_env_name("APHEX_WORKFLOW_NAMESPACE"), _env_name("APHEX_SERVICE_ACCOUNT"))
        cluster = connect(field_manager=FIELD_MANAGER)
        listed = cluster.call(
            "list preview namespaces",
            lambda: cluster.core.list_namespace(label_selector=PREVIEW_SELECTOR, **RAW),
        )
    except StepError as error:
        raise fail(error) from None
    now = _now()
    removed: list[str] = []
    failed: list[str] = []
    for item in sorted(listed.get("items") or [], key=lambda item: str(item["metadata"]["name"])):
        metadata = item.get("metadata") or {}
        namespace = str(metadata.get("name", ""))
        labels = metadata.get("labels") or {}
        if (metadata.get("annotations") or {}).get(DEPLOYER_ANNOTATION) != me:
            continue
        if not re.match(PREVIEW_NAMESPACE_PATTERN, namespace) or any(
            key not in labels for key in _OWNERSHIP_KEYS
        ):
            print(f"namespace {namespace} is not an aphex preview namespace; left in place")
            continue
        expires = _expiry(metadata)
        if expires is None or expires > now:
            continue
        try:
            # Read again right before removing: a run that started since the listing clears the expiry.
            current = _read_namespace(cluster, namespace)
        except NotFound:
            continue
        except StepError as error:
            print(f"namespace {namespace}: {error}", file=sys.stderr)
            failed.append(namespace)
            continue
        if _expiry(current.get("metadata") or {}) != expires:
            print(f"namespace {namespace}: its expiry changed since the listing; left in place")
            continue
        if dry_run:
            print(f"expired {expires:%Y-%m-%dT%H:%M:%SZ}: would remove namespace {namespace}")
            removed.append(namespace)
            continue
        try:
            releases = run(["helm", "list", "--namespace", namespace, "--short", "--all"]).stdout.split()
            outcome = _remove_preview(
                cluster, namespace, releases, {key: labels[key] for key in _OWNERSHIP_KEYS}
            )
        except StepError as error:
            print(f"namespace {namespace}: {error}", file=sys.stderr)
            failed.append(namespace)
            continue
        print(f"expired {expires:%Y-%m-%dT%H:%M:%SZ}: {outcome}")
        if outcome.startswith("uninstalled "):
            removed.append(namespace)
    print(f"{len(removed)} expired preview(s) {'to remove (dry run)' if dry_run else 'removed'}")
    if failed:
        raise fail(StepError(f"could not remove {', '.join(failed)}"))
    return json.dumps(removed)


EXPIRE_STAGE: Final = Stage(
    entrypoint=expire_previews,
    name="expire-previews",
    resources=ResourceClass.STANDARD,
    timeout="45m",
    retry=NETWORK_RETRY,
    account=Account.PREVIEW_DEPLOYER,
)


def _clear_expiry(namespace: str) -> None:
    """Remove an expiry an earlier run kept (a new push to a pull request whose preview is kept): until
    this run keeps it again, the preview is in use and ``preview-janitor`` must leave it alone."""
    cluster = connect(field_manager=FIELD_MANAGER)
    patch = {"metadata": {"annotations": {EXPIRES_AT: None, JANITOR_EXPIRES: None}}}
    cluster.call(
        f"clear the expiry of namespace {namespace}",
        lambda: cluster.core.patch_namespace(
            namespace,
            patch,
            field_manager=FIELD_MANAGER,
            _content_type="application/merge-patch+json",
            **RAW,
        ),
    )


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
        if not 1 <= ttl_hours <= PREVIEW_LIFETIME_MAX_HOURS:
            raise InvalidValue("ttl-hours", ttl_hours, f"must be between 1 and {PREVIEW_LIFETIME_MAX_HOURS}")
        expires = (_now() + timedelta(hours=ttl_hours)).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
        cluster = connect(field_manager=KEEP_FIELD_MANAGER)
        patch = {"metadata": {"annotations": {EXPIRES_AT: expires, JANITOR_EXPIRES: expires}}}
        # A merge patch, not an apply: it fails with NotFound rather than create a bare namespace.
        cluster.call(
            f"annotate namespace {plan.namespace}",
            lambda: cluster.core.patch_namespace(
                plan.namespace,
                patch,
                field_manager=KEEP_FIELD_MANAGER,
                _content_type="application/merge-patch+json",
                **RAW,
            ),
        )
    except (InvalidValue, StepError) as error:
        raise fail(error) from None
    print(f"preview {plan.namespace} kept until {expires}")
    return expires


KEEP_STAGE: Final = Stage(
    entrypoint=keep_preview,
    name="keep-preview",
    resources=ResourceClass.LIGHT,
    timeout="5m",
    retry=NETWORK_RETRY,
    account=Account.PREVIEW_DEPLOYER,
)
