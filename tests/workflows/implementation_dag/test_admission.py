"""The preview deployer's ValidatingAdmissionPolicy, evaluated offline with a CEL engine.

The policy's expressions (in the compiled bundle) are evaluated by cel-python with the variables the API
server binds (tests/admission_eval.py; Kubernetes docs "Validating Admission Policy", and the plugin in
k8s.io/apiserver/pkg/admission/plugin/policy/validating): every write the deploy, cleanup and keep-preview
steps make is admitted; the escalations of a deployer that binds itself elsewhere, deletes namespaces
or weakens a preview (and of a chart Helm installs with the deployer's rights) are denied. Then the RBAC
of the bundle is closed under self-binding (tests/rbac_eval.py), with and without the policy: without
it the deployer reaches Secrets in ``argo`` and ``kube-system``; with it no account reaches Secrets or
workloads outside its own namespace and the previews it manages.
"""

import copy
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from aphex.dsl.names import preview_namespace
from aphex.dsl.settings import BundleSettings, load_settings
from aphex.workflows.bundle import build_bundle
from aphex.workflows.implementation_dag.dag import preview_quota_entries
from aphex.workflows.steps.implementation_dag.preview import namespace_manifests, preview_quota
from tests.admission_eval import AdmissionRequest, denials
from tests.rbac_eval import Request, allowed, self_binding_closure

DEFAULT_QUOTA = preview_quota(json.dumps(preview_quota_entries(BundleSettings())))

ROOT = Path(__file__).resolve().parents[3]
NS = "argo"
DEPLOYER = "aphex-preview-deployer"
USER = f"system:serviceaccount:{NS}:{DEPLOYER}"
OTHER_USER = "system:serviceaccount:team-b:aphex-preview-deployer"
PREVIEW = preview_namespace("octo-org", "hello", 7)
RBAC = "rbac.authorization.k8s.io"
NETWORKING = "networking.k8s.io"

Manifest = dict[str, Any]


def _settings(**values: Any) -> BundleSettings:
    base = yaml.safe_load((ROOT / "examples" / "cluster-values.yaml").read_text(encoding="utf-8"))
    return load_settings({**base, **values})


@pytest.fixture(scope="module")
def bundle() -> list[Manifest]:
    return build_bundle(_settings())


def _preview(*, pod_security: str = "restricted", workflow: str = "implementation-dag-x") -> list[Manifest]:
    return namespace_manifests(
        owner="octo-org",
        repo="hello",
        pr=7,
        workflow=workflow,
        service_account=DEPLOYER,
        service_account_namespace=NS,
        workloads_role="aphex-argo-preview-workloads",
        ingress_namespace="ingress-nginx",
        quota=DEFAULT_QUOTA,
        pod_security=pod_security,
    )


def _namespace(name: str, labels: Mapping[str, str] | None = None, **annotations: str) -> Manifest:
    metadata: Manifest = {"name": name, "labels": {"kubernetes.io/metadata.name": name, **(labels or {})}}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


PREVIEW_MANIFESTS = _preview()
PREVIEW_NAMESPACE = PREVIEW_MANIFESTS[0]
OTHER_PREVIEW = copy.deepcopy(PREVIEW_NAMESPACE)
OTHER_PREVIEW["metadata"]["name"] = preview_namespace("octo-org", "other", 7)
OTHER_PREVIEW["metadata"]["annotations"]["aphex.dev/deployer"] = OTHER_USER
NAMESPACES = {
    PREVIEW: PREVIEW_NAMESPACE,
    OTHER_PREVIEW["metadata"]["name"]: OTHER_PREVIEW,
    NS: _namespace(NS),
    "kube-system": _namespace("kube-system"),
    "default": _namespace("default"),
}
_RESOURCES = {
    "Namespace": ("", "namespaces"),
    "RoleBinding": (RBAC, "rolebindings"),
    "ResourceQuota": ("", "resourcequotas"),
    "LimitRange": ("", "limitranges"),
    "NetworkPolicy": (NETWORKING, "networkpolicies"),
}


def write(
    operation: str, new: Manifest | None, old: Manifest | None = None, *, user: str = USER
) -> AdmissionRequest:
    """The admission request of ``operation`` on ``new`` (``old``: the stored object)."""
    subject = new or old
    assert subject is not None
    group, resource = _RESOURCES[subject["kind"]]
    namespace = subject["metadata"].get("namespace", "")
    return AdmissionRequest(
        username=user,
        operation=operation,
        group=group,
        resource=resource,
        name=subject["metadata"]["name"],
        namespace=namespace,
        object=new,
        old_object=old,
        namespace_object=NAMESPACES.get(namespace) if namespace else None,
    )


def _changed(manifest: Manifest, **metadata_or_spec: Any) -> Manifest:
    changed = copy.deepcopy(manifest)
    for key, value in metadata_or_spec.items():
        if key in ("labels", "annotations", "name"):
            changed["metadata"][key] = value
        else:
            changed[key] = value
    return changed


def _in(namespace: str, manifest: Manifest) -> Manifest:
    moved = copy.deepcopy(manifest)
    moved["metadata"]["namespace"] = namespace
    return moved


ROLE_BINDING = PREVIEW_MANIFESTS[1]
QUOTA, LIMITS, DENY_INGRESS, ALLOW_INGRESS = PREVIEW_MANIFESTS[2:]
RELABELLED = _preview(workflow="implementation-dag-y")[0]  # a later run re-applies the namespace
KEPT = _changed(
    PREVIEW_NAMESPACE, annotations={**PREVIEW_NAMESPACE["metadata"]["annotations"], "janitor/expires": "x"}
)
PSA = "pod-security.kubernetes.io/enforce"
LABELS = PREVIEW_NAMESPACE["metadata"]["labels"]
WITHOUT_PSA = {key: value for key, value in LABELS.items() if key != PSA}
OPEN_INGRESS = {"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]}
INTRUDER = {"kind": "ServiceAccount", "name": "default", "namespace": "kube-system"}


def _relabelled(**labels: str) -> Manifest:
    return _changed(PREVIEW_NAMESPACE, labels={**LABELS, **labels})


ADMITTED = {
    # deploy: server-side apply of every object (CREATE the first time, UPDATE on a retry or rerun).
    **{f"create {m['kind']} {m['metadata']['name']}": write("CREATE", m) for m in PREVIEW_MANIFESTS},
    **{f"re-apply {m['kind']} {m['metadata']['name']}": write("UPDATE", m, m) for m in PREVIEW_MANIFESTS},
    "a later run's workflow label": write("UPDATE", RELABELLED, PREVIEW_NAMESPACE),
    # keep-preview annotates, cleanup deletes the namespace.
    "keep-preview's expiry": write("UPDATE", KEPT, PREVIEW_NAMESPACE),
    "deploy clearing an earlier run's expiry": write("UPDATE", PREVIEW_NAMESPACE, KEPT),
    "cleanup (and preview-cleanup, preview-janitor) deletes the preview": write(
        "DELETE", None, PREVIEW_NAMESPACE
    ),
    # Anyone else is not this policy's business (the cluster's own RBAC applies).
    "an administrator deletes kube-system": write("DELETE", None, NAMESPACES["kube-system"], user="admin"),
    "another instance's deployer binds in argo": write("CREATE", _in(NS, ROLE_BINDING), user=OTHER_USER),
}

DENIED = {
    # Threat 1: the deployer binds its workloads role to itself elsewhere.
    "RoleBinding in argo": write("CREATE", _in(NS, ROLE_BINDING)),
    "RoleBinding in kube-system": write("CREATE", _in("kube-system", ROLE_BINDING)),
    "RoleBinding in default": write("CREATE", _in("default", ROLE_BINDING)),
    "RoleBinding in another instance's preview": write(
        "CREATE", _in(OTHER_PREVIEW["metadata"]["name"], ROLE_BINDING)
    ),
    "binding cluster-admin in its preview": write(
        "CREATE", _changed(ROLE_BINDING, roleRef={**ROLE_BINDING["roleRef"], "name": "cluster-admin"})
    ),
    "binding another account in its preview": write("CREATE", _changed(ROLE_BINDING, subjects=[INTRUDER])),
    "binding a second subject": write(
        "UPDATE", _changed(ROLE_BINDING, subjects=[*ROLE_BINDING["subjects"], INTRUDER]), ROLE_BINDING
    ),
    "a RoleBinding under another name": write("CREATE", _changed(ROLE_BINDING, name="extra")),
    # Threat 2: deleting or taking over namespaces.
    "deleting kube-system": write("DELETE", None, NAMESPACES["kube-system"]),
    "deleting argo": write("DELETE", None, NAMESPACES[NS]),
    "deleting another instance's preview": write("DELETE", None, OTHER_PREVIEW),
    "creating an unlabelled namespace": write("CREATE", _namespace(f"{PREVIEW[:-1]}0")),
    "creating a preview-labelled namespace with another name": write(
        "CREATE", _changed(PREVIEW_NAMESPACE, name="kube-system2")
    ),
    "adopting kube-system by labelling it": write(
        "UPDATE", _changed(PREVIEW_NAMESPACE, name="kube-system"), NAMESPACES["kube-system"]
    ),
    "claiming another instance's preview": write(
        "UPDATE", _changed(OTHER_PREVIEW, annotations={"aphex.dev/deployer": USER}), OTHER_PREVIEW
    ),
    # Threat 3: Pod Security removed or weakened.
    "stripping the enforce label": write(
        "UPDATE", _changed(PREVIEW_NAMESPACE, labels=WITHOUT_PSA), PREVIEW_NAMESPACE
    ),
    "enforce privileged": write("UPDATE", _relabelled(**{PSA: "privileged"}), PREVIEW_NAMESPACE),
    "enforce baseline when restricted is configured": write(
        "UPDATE", _relabelled(**{PSA: "baseline"}), PREVIEW_NAMESPACE
    ),
    "creating a preview that enforces nothing": write(
        "CREATE", _changed(PREVIEW_NAMESPACE, labels=WITHOUT_PSA)
    ),
    "changing the owner label": write(
        "UPDATE", _relabelled(**{"aphex.dev/owner": "evil"}), PREVIEW_NAMESPACE
    ),
    # Threat 4: the chart (same account) removes its isolation.
    "deleting the quota": write("DELETE", None, QUOTA),
    "deleting the LimitRange": write("DELETE", None, LIMITS),
    "deleting the default-deny NetworkPolicy": write("DELETE", None, DENY_INGRESS),
    "deleting the deployer's RoleBinding": write("DELETE", None, ROLE_BINDING),
    "raising the quota": write("UPDATE", _changed(QUOTA, spec={"hard": {"pods": "1000"}}), QUOTA),
    "replacing the quota under another name": write("CREATE", _changed(QUOTA, name="bigger")),
    "opening the default-deny policy": write(
        "UPDATE", _changed(DENY_INGRESS, spec=OPEN_INGRESS), DENY_INGRESS
    ),
    "an allow-all NetworkPolicy of the chart": write(
        "CREATE", _changed(DENY_INGRESS, name="allow-all", spec=OPEN_INGRESS)
    ),
    # Threat 5 (shared namespaces) is gone with per-repository names; writing into another
    # repository's preview of the same instance is still confined to what aphex writes there.
    "a quota in kube-system": write("CREATE", _in("kube-system", QUOTA)),
}


@pytest.mark.parametrize("name", list(ADMITTED))
def test_every_write_of_the_steps_is_admitted(bundle: list[Manifest], name: str) -> None:
    assert denials(bundle, ADMITTED[name]) == []


@pytest.mark.parametrize("name", list(DENIED))
def test_escalations_are_denied(bundle: list[Manifest], name: str) -> None:
    assert denials(bundle, DENIED[name]) != []


def test_a_denial_names_the_rule() -> None:
    (message,) = denials(build_bundle(BundleSettings()), DENIED["deleting the quota"])
    assert message == "a preview's quota, LimitRange, NetworkPolicies and RoleBinding are never deleted"


def test_baseline_is_admitted_only_where_the_value_allows_it() -> None:
    baseline = _preview(pod_security="baseline")[0]
    relaxed = build_bundle(_settings(previewPodSecurity="baseline"))
    assert denials(relaxed, write("CREATE", baseline)) == []
    assert denials(build_bundle(_settings()), write("CREATE", baseline)) != []
    privileged = _changed(baseline, labels={**baseline["metadata"]["labels"], PSA: "privileged"})
    assert denials(relaxed, write("CREATE", privileged)) != []


def test_the_policy_is_bound_to_deny_and_fails_closed(bundle: list[Manifest]) -> None:
    (policy,) = [o for o in bundle if o["kind"] == "ValidatingAdmissionPolicy"]
    (binding,) = [o for o in bundle if o["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert policy["apiVersion"] == binding["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}
    assert policy["spec"]["matchConditions"] == [
        {"name": "preview-deployer", "expression": f'request.userInfo.username == "{USER}"'}
    ]


# The RBAC of the whole bundle closed under self-binding.

BUILT_IN_ROLES = [
    {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    }
    for name in ("cluster-admin", "admin", "edit")
]


def _admit_with_policy(bundle: list[Manifest]) -> Any:
    def admit(binding: Mapping[str, Any]) -> bool:
        return denials(bundle, write("CREATE", dict(binding))) == []

    return admit


def _accounts(bundle: list[Manifest]) -> list[tuple[str, str]]:
    return [
        (o["metadata"]["name"], o["metadata"]["namespace"]) for o in bundle if o["kind"] == "ServiceAccount"
    ]


def _reach(rbac: list[Manifest], account: str, account_namespace: str) -> dict[str, set[str]]:
    """Namespaces where the account can read Secrets, and where it can create workloads."""
    reach: dict[str, set[str]] = {"secrets": set(), "deployments": set()}
    for namespace in NAMESPACES:
        base = Request(
            account=account, account_namespace=account_namespace, verb="get", group="", resource="secrets"
        )
        if allowed(rbac, Request(**{**vars(base), "namespace": namespace})):
            reach["secrets"].add(namespace)
        create = Request(
            **{
                **vars(base),
                "verb": "create",
                "group": "apps",
                "resource": "deployments",
                "namespace": namespace,
            }
        )
        if allowed(rbac, create):
            reach["deployments"].add(namespace)
    return reach


def _rbac(bundle: list[Manifest]) -> list[Manifest]:
    return [o for o in bundle if o["apiVersion"].startswith(f"{RBAC}/")] + BUILT_IN_ROLES


def test_without_the_policy_the_deployer_takes_over_argo_and_kube_system(bundle: list[Manifest]) -> None:
    closed = self_binding_closure(
        _rbac(bundle), account=DEPLOYER, account_namespace=NS, namespaces=NAMESPACES, admit=lambda _: True
    )
    reach = _reach(closed, DEPLOYER, NS)
    assert {NS, "kube-system", "default"} <= reach["secrets"]
    assert {NS, "kube-system", "default"} <= reach["deployments"]


def test_with_the_policy_no_account_reaches_beyond_its_namespace_and_its_previews(
    bundle: list[Manifest],
) -> None:
    accounts = _accounts(bundle)
    assert len(accounts) == 9  # steps, agents, preview-deployer, verifier, sensor, 4 pipeline stages
    admit = _admit_with_policy(bundle)
    for account, account_namespace in accounts:
        closed = self_binding_closure(
            _rbac(bundle),
            account=account,
            account_namespace=account_namespace,
            namespaces=NAMESPACES,
            admit=admit,
        )
        reach = _reach(closed, account, account_namespace)
        own = {account_namespace, PREVIEW} if account == DEPLOYER else {account_namespace}
        assert reach["secrets"] <= own, (account, reach)
        assert reach["deployments"] <= own, (account, reach)
        if account == DEPLOYER:
            assert reach == {"secrets": {PREVIEW}, "deployments": {PREVIEW}}
        else:
            assert reach == {"secrets": set(), "deployments": set()}, account


def test_the_deployer_is_the_only_account_with_cluster_wide_write(bundle: list[Manifest]) -> None:
    roles = {o["metadata"]["name"]: o for o in bundle if o["kind"] == "ClusterRole"}
    writes = {"create", "update", "patch", "delete", "deletecollection", "bind", "escalate", "impersonate"}
    writers = {
        subject["name"]
        for binding in bundle
        if binding["kind"] == "ClusterRoleBinding"
        for rule in roles[binding["roleRef"]["name"]]["rules"]
        if writes & set(rule["verbs"])
        for subject in binding["subjects"]
    }
    assert writers == {DEPLOYER}


@settings(max_examples=25, deadline=None)
@given(
    owner=st.from_regex(r"\A[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?\Z"),
    repo=st.from_regex(r"\A[A-Za-z0-9._-]{1,100}\Z").filter(
        lambda repo: repo not in {".", ".."} and not repo.lower().endswith(".git")
    ),
    pr=st.integers(1, 9_999_999_999),
)
def test_any_pull_requests_preview_is_admitted(owner: str, repo: str, pr: int) -> None:
    bundle = build_bundle(BundleSettings())
    manifests = namespace_manifests(
        owner=owner,
        repo=repo,
        pr=pr,
        workflow="implementation-dag-x",
        service_account=DEPLOYER,
        service_account_namespace=NS,
        workloads_role="aphex-argo-preview-workloads",
        ingress_namespace="ingress-nginx",
        quota=DEFAULT_QUOTA,
    )
    namespace = manifests[0]
    for manifest in manifests:
        request = write("CREATE", manifest)
        if manifest["kind"] != "Namespace":
            request = replace(request, namespace_object=namespace)
        assert denials(bundle, request) == [], (manifest["kind"], namespace["metadata"]["name"])


def test_only_the_deployer_lists_namespaces_for_the_janitor_and_the_templates_run_as_it(
    bundle: list[Manifest],
) -> None:
    """preview-janitor lists namespaces (a read; what it may delete is the DELETE rows above: its own
    previews, never another instance's) and runs, like preview-cleanup, as the preview deployer."""
    rbac = _rbac(bundle)
    listers = {
        account
        for account, account_namespace in _accounts(bundle)
        if allowed(
            rbac,
            Request(
                account=account,
                account_namespace=account_namespace,
                verb="list",
                group="",
                resource="namespaces",
            ),
        )
    }
    assert listers == {DEPLOYER}
    templates = {o["metadata"]["name"]: o for o in bundle if o["kind"] == "WorkflowTemplate"}
    for name in ("preview-cleanup", "preview-janitor"):
        spec = templates[name]["spec"]
        assert {spec["serviceAccountName"]} | {
            t.get("serviceAccountName") for t in spec["templates"] if "script" in t
        } == {DEPLOYER}
