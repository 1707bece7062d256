"""The RBAC of the rendered chart, evaluated offline: every call the steps make is allowed, nothing more.

The chart is rendered by a real Helm engine with ``examples/cluster-values.yaml`` (one Aphex pipeline,
``shop-delivery``), so the pipeline's accounts are evaluated too.
"""

import json
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from aphex.dsl.names import preview_namespace
from aphex.dsl.settings import BundleSettings
from aphex.workflows.implementation_dag.dag import preview_quota_entries
from aphex.workflows.steps.implementation_dag.preview import namespace_manifests, preview_quota
from tests.rbac_eval import Request, allowed

DEFAULT_QUOTA = preview_quota(json.dumps(preview_quota_entries(BundleSettings())))

ROOT = Path(__file__).resolve().parents[3]
NS = "argo"
EVENTS = "argo-events"
SENSOR = "aphex-argo-sensor"
PREVIEW = preview_namespace("octo-org", "hello", 7)
PIPELINE = "aphex-shop-delivery"


@pytest.fixture(scope="module")
def bundle() -> list[dict[str, Any]]:
    """What ``helm template aphex helm/aphex -n argo -f examples/cluster-values.yaml`` gives."""
    values = yaml.safe_load((ROOT / "examples" / "cluster-values.yaml").read_text(encoding="utf-8"))
    with helm.Chart.load(ROOT / "helm" / "aphex") as chart:
        manifests = chart.render(values, name="aphex", namespace=NS)
    return [
        document
        for name, text in sorted(manifests.items())
        if name.endswith(".yaml")
        for document in yaml.safe_load_all(text)
        if document
    ]


@pytest.fixture
def rbac(bundle: list[dict[str, Any]]) -> list[dict[str, Any]]:
    objects = [o for o in bundle if o["apiVersion"].startswith("rbac.authorization.k8s.io/")]
    # What the deploy step creates in each preview namespace before it installs the release, with the
    # environment the compiled deploy template gives it.
    names = BundleSettings().names
    created = namespace_manifests(
        owner="octo-org",
        repo="hello",
        pr=7,
        workflow="implementation-dag-x",
        service_account=names.object("preview-deployer"),
        service_account_namespace=NS,
        workloads_role=names.cluster("preview-workloads"),
        ingress_namespace="ingress-nginx",
        quota=DEFAULT_QUOTA,
    )
    return [*objects, *(m for m in created if m["kind"] == "RoleBinding")]


def _request(
    account: str, verb: str, group: str, resource: str, namespace: str | None, name: str | None = None
):
    return Request(
        account=account,
        # The Sensors' account lives in the events namespace; every other one in the workflows namespace.
        account_namespace=EVENTS if account == SENSOR else NS,
        verb=verb,
        group=group,
        resource=resource,
        namespace=namespace,
        name=name,
    )


ALLOWED = [
    # Argo's executor in every step reports outputs.
    *[
        ("aphex-" + sa, "create", "argoproj.io", "workflowtaskresults", NS)
        for sa in ("steps", "agents", "preview-deployer")
    ],
    ("aphex-steps", "patch", "argoproj.io", "workflowtaskresults", NS),
    # Agent stages create their runs and wait on them.
    ("aphex-agents", "create", "agents.platform", "coderuns", NS),
    ("aphex-agents", "get", "agents.platform", "coderuns", NS),
    ("aphex-agents", "watch", "agents.platform", "coderuns", NS),
    # `action: apply` runs kubectl apply (argo-workflows workflow/executor/resource.go, getKubectlArguments):
    # get, then create or patch (a retried stage adopts its run).
    ("aphex-agents", "patch", "agents.platform", "coderuns", NS),
    ("aphex-agents", "create", "agents.platform", "docsruns", NS),
    ("aphex-agents", "patch", "agents.platform", "docsruns", NS),
    # stop-agents (exit handler) lists and deletes the run's unfinished runs.
    ("aphex-agents", "list", "agents.platform", "coderuns", NS),
    ("aphex-agents", "delete", "agents.platform", "coderuns", NS),
    ("aphex-agents", "delete", "agents.platform", "docsruns", NS),
    # deploy: namespace, its RoleBinding, then Helm inside the namespace.
    ("aphex-preview-deployer", "create", "", "namespaces", None),
    ("aphex-preview-deployer", "patch", "", "namespaces", None),
    ("aphex-preview-deployer", "create", "rbac.authorization.k8s.io", "rolebindings", PREVIEW),
    ("aphex-preview-deployer", "create", "", "resourcequotas", PREVIEW),
    ("aphex-preview-deployer", "patch", "", "limitranges", PREVIEW),
    ("aphex-preview-deployer", "create", "networking.k8s.io", "networkpolicies", PREVIEW),
    ("aphex-preview-deployer", "create", "apps", "deployments", PREVIEW),
    ("aphex-preview-deployer", "create", "", "services", PREVIEW),
    ("aphex-preview-deployer", "create", "networking.k8s.io", "ingresses", PREVIEW),
    ("aphex-preview-deployer", "create", "", "secrets", PREVIEW),
    ("aphex-preview-deployer", "list", "networking.k8s.io", "ingresses", PREVIEW),
    # cleanup and keep-preview.
    ("aphex-preview-deployer", "delete", "apps", "deployments", PREVIEW),
    ("aphex-preview-deployer", "delete", "", "namespaces", None),
    ("aphex-preview-deployer", "get", "", "namespaces", None),
    # cluster-verify gets exactly the objects its checks name:
    # tests/workflows/steps/cluster_verify/test_checks.py.
    ("aphex-verifier", "create", "argoproj.io", "workflowtaskresults", NS),
    # The Sensors create Workflows from the templates.
    (SENSOR, "create", "argoproj.io", "workflows", NS),
    # Every stage of the Aphex pipeline reports outputs.
    *[
        (f"{PIPELINE}-{stage}", "create", "argoproj.io", "workflowtaskresults", NS)
        for stage in ("build", "deploy", "monitor", "self-update")
    ],
]

DENIED = [
    # Repository code runs under build (and deploy, tests): no templates, no Secrets, no runs.
    (f"{PIPELINE}-build", "patch", "argoproj.io", "workflowtemplates", NS),
    (f"{PIPELINE}-build", "get", "", "secrets", NS),
    (f"{PIPELINE}-deploy", "create", "argoproj.io", "workflows", NS),
    (f"{PIPELINE}-monitor", "get", "argoproj.io", "workflowtemplates", NS),
    (f"{PIPELINE}-self-update", "create", "argoproj.io", "workflowtemplates", NS),
    (f"{PIPELINE}-self-update", "delete", "argoproj.io", "workflowtemplates", NS),
    ("aphex-preview-deployer", "get", "", "secrets", "kube-system"),
    ("aphex-preview-deployer", "list", "", "secrets", NS),
    ("aphex-steps", "get", "", "secrets", NS),
    ("aphex-steps", "patch", "argoproj.io", "workflowtemplates", NS),
    ("aphex-agents", "update", "argoproj.io", "workflowtemplates", NS),
    ("aphex-agents", "delete", "agents.platform", "coderuns", "kube-system"),
    ("aphex-steps", "create", "agents.platform", "coderuns", NS),
    ("aphex-preview-deployer", "create", "apps", "deployments", "default"),
    ("aphex-preview-deployer", "create", "rbac.authorization.k8s.io", "clusterrolebindings", None),
    ("aphex-preview-deployer", "escalate", "rbac.authorization.k8s.io", "clusterroles", None),
    ("aphex-verifier", "get", "", "secrets", EVENTS),  # only the named webhook Secret
    ("aphex-verifier", "list", "", "secrets", NS),
    ("aphex-verifier", "list", "apiextensions.k8s.io", "customresourcedefinitions", None),
    ("aphex-verifier", "list", "", "namespaces", None),
    ("aphex-verifier", "create", "apiextensions.k8s.io", "customresourcedefinitions", None),
    ("aphex-verifier", "list", "", "pods", NS),
    (SENSOR, "create", "argoproj.io", "workflowtemplates", NS),
    (SENSOR, "get", "", "secrets", EVENTS),
    (SENSOR, "create", "argoproj.io", "workflows", EVENTS),
    (SENSOR, "create", "rbac.authorization.k8s.io", "clusterrolebindings", None),
]


@pytest.mark.parametrize(("account", "verb", "group", "resource", "namespace"), ALLOWED)
def test_calls_the_steps_make_are_allowed(
    rbac: list[dict[str, Any]], account: str, verb: str, group: str, resource: str, namespace: str | None
) -> None:
    assert allowed(rbac, _request(account, verb, group, resource, namespace))


@pytest.mark.parametrize(("account", "verb", "group", "resource", "namespace"), DENIED)
def test_everything_else_is_denied(
    rbac: list[dict[str, Any]], account: str, verb: str, group: str, resource: str, namespace: str | None
) -> None:
    assert not allowed(rbac, _request(account, verb, group, resource, namespace))


def test_the_deployer_may_bind_only_the_preview_workloads_role(rbac: list[dict[str, Any]]) -> None:
    bind = "aphex-preview-deployer", "bind", "rbac.authorization.k8s.io", "clusterroles", None
    assert allowed(rbac, _request(*bind, name="aphex-argo-preview-workloads"))
    assert not allowed(rbac, _request(*bind, name="cluster-admin"))
    assert not allowed(rbac, _request(*bind, name="admin"))


def test_self_update_may_apply_only_its_own_template(rbac: list[dict[str, Any]]) -> None:
    for verb in ("get", "patch"):
        apply = f"{PIPELINE}-self-update", verb, "argoproj.io", "workflowtemplates", NS
        assert allowed(rbac, _request(*apply, name="shop-delivery"))
        assert not allowed(rbac, _request(*apply, name="implementation-dag"))


def test_no_rule_uses_a_wildcard(rbac: list[dict[str, Any]]) -> None:
    for obj in rbac:
        for rule in obj.get("rules", []):
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[key], (obj["metadata"]["name"], rule)


def test_no_account_can_bind_cluster_admin_or_read_secrets_elsewhere(
    rbac: list[dict[str, Any]], bundle: list[dict[str, Any]]
) -> None:
    accounts = [o["metadata"]["name"] for o in bundle if o["kind"] == "ServiceAccount"]
    assert len(accounts) == 9  # steps, agents, preview-deployer, verifier, sensor, 4 pipeline stages
    rbac_api = "rbac.authorization.k8s.io"
    for account in accounts:
        for request in (
            _request(account, "bind", rbac_api, "clusterroles", None, name="cluster-admin"),
            _request(account, "create", rbac_api, "clusterrolebindings", None),
            _request(account, "get", "", "secrets", "kube-system"),
            _request(account, "list", "", "secrets", NS),
        ):
            assert not allowed(rbac, request), (account, request)
