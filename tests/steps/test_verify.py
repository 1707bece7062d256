"""cluster-verify: the check against a recording kubectl stand-in, the runner boundary, the template, RBAC."""

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dsl.bundle import object_path
from dsl.exit_codes import INVALID_INPUT
from dsl.lint import SourceDocument, lint_documents
from dsl.settings import BundleSettings
from tests.rbac_eval import Request, allowed
from tests.runner import run_step
from tests.steps.standins import StandIns, install
from workflows.bundle import template_to_dict
from workflows.steps import verify
from workflows.steps.kube import StepError
from workflows.verify import (
    SERVICE_ACCOUNT_VERIFIER,
    cluster_verify_template,
    verifier_rbac_objects,
)

GET_CRD = ["kubectl", "get", "crd", "--output", "json", "--request-timeout=30s"]
GET_ADMISSION = ["kubectl", "get", "--raw", "/apis/admissionregistration.k8s.io/v1", "--request-timeout=30s"]
# The discovery document an API server of Kubernetes 1.30 or later serves for the group version.
ADMISSION = json.dumps(
    {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "admissionregistration.k8s.io/v1",
        "resources": [
            {"name": name, "namespaced": False, "kind": kind, "verbs": ["create", "delete", "get", "list"]}
            for name, kind in (
                ("mutatingwebhookconfigurations", "MutatingWebhookConfiguration"),
                ("validatingadmissionpolicies", "ValidatingAdmissionPolicy"),
                ("validatingadmissionpolicies/status", "ValidatingAdmissionPolicy"),
                ("validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding"),
                ("validatingwebhookconfigurations", "ValidatingWebhookConfiguration"),
            )
        ],
    }
)


def get_eventbus(name: str = "default", namespace: str = "argo-events") -> list[str]:
    return [
        "kubectl", "get", "eventbus.argoproj.io", name, "--namespace", namespace,
        "--ignore-not-found", "--output", "json", "--request-timeout=30s",
    ]  # fmt: skip


def crd(plural: str, group: str, versions: dict[str, bool]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"plural": plural},
            "versions": [
                {"name": name, "served": served, "storage": True} for name, served in versions.items()
            ],
        },
    }


ARGO = [
    crd(plural, "argoproj.io", {"v1alpha1": True})
    for plural in (*verify.ARGO_WORKFLOWS_PLURALS, *verify.ARGO_EVENTS_PLURALS)
]
AGENTS = [crd(plural, "agents.platform", {"v1": True}) for plural in ("coderuns", "docsruns")]
UNRELATED = [crd("certificates", "cert-manager.io", {"v1": True})]
EVENTBUS = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "EventBus",
    "metadata": {"name": "default", "namespace": "argo-events"},
    "status": {
        "conditions": [{"type": "Configured", "status": "True"}, {"type": "Deployed", "status": "True"}]
    },
}


def crd_list(items: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def without(*names: str) -> list[dict[str, Any]]:
    return [item for item in [*ARGO, *AGENTS, *UNRELATED] if item["metadata"]["name"] not in names]


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    standins = install(tmp_path / "standins", ["kubectl"])
    for key, value in standins.environment().items():
        monkeypatch.setenv(key, value)
    standins.on(*GET_ADMISSION, stdout=ADMISSION)
    return standins


def test_a_ready_cluster_passes_with_exactly_two_calls(
    kubectl: StandIns, capsys: pytest.CaptureFixture[str]
) -> None:
    kubectl.on(*GET_CRD, stdout=crd_list([*ARGO, *AGENTS, *UNRELATED]))
    kubectl.on(*get_eventbus(), stdout=json.dumps(EVENTBUS))
    verify.verify_cluster()
    assert kubectl.calls() == [GET_CRD, get_eventbus(), GET_ADMISSION]
    out = capsys.readouterr().out
    assert out.startswith("cluster ready for aphex: Argo Workflows (5 CRDs), Argo Events (3 CRDs;")
    assert "EventBus default in namespace argo-events" in out
    assert "coderuns, docsruns serving agents.platform/v1" in out


def test_every_missing_item_is_reported_in_one_error(
    kubectl: StandIns, capsys: pytest.CaptureFixture[str]
) -> None:
    items = without("eventsources.argoproj.io", "sensors.argoproj.io", "coderuns.agents.platform")
    items.append(crd("coderuns", "agents.platform", {"v1alpha1": True, "v1": False}))
    kubectl.on(*GET_CRD, stdout=crd_list(items))
    kubectl.on(*get_eventbus(), stdout="")  # --ignore-not-found: nothing when absent
    with pytest.raises(SystemExit) as raised:
        verify.verify_cluster()
    assert raised.value.code == 1
    assert kubectl.calls() == [GET_CRD, get_eventbus(), GET_ADMISSION]
    err = capsys.readouterr().err
    assert err == (
        "the cluster is not ready for aphex, 4 item(s) missing:\n"
        "  - CustomResourceDefinition eventsources.argoproj.io (Argo Events) is not installed\n"
        "  - CustomResourceDefinition sensors.argoproj.io (Argo Events) is not installed\n"
        "  - CustomResourceDefinition coderuns.agents.platform (agent platform) does not serve version v1 "
        "(served: v1alpha1)\n"
        "  - EventBus default in namespace argo-events does not exist\n"
        "see docs/troubleshooting.md, section 'cluster-verify fails'\n"
    )


def test_without_the_eventbus_crd_the_eventbus_is_not_looked_up(kubectl: StandIns) -> None:
    kubectl.on(*GET_CRD, stdout=crd_list(without("eventbus.argoproj.io")))
    with pytest.raises(verify.ClusterNotReady) as raised:
        verify.check_cluster(verify.Expectations())
    assert kubectl.calls() == [GET_CRD, GET_ADMISSION]
    assert raised.value.missing == (
        "CustomResourceDefinition eventbus.argoproj.io (Argo Events) is not installed",
        "EventBus default in namespace argo-events cannot be checked without a served CRD "
        "eventbus.argoproj.io",
    )


def test_an_eventbus_that_is_not_deployed_counts_as_missing(kubectl: StandIns) -> None:
    broken = {
        **EVENTBUS,
        "status": {
            "conditions": [
                {"type": "Configured", "status": "True"},
                {"type": "Deployed", "status": "False", "reason": "JetStreamStatefulSetFailed"},
            ]
        },
    }
    kubectl.on(*GET_CRD, stdout=crd_list([*ARGO, *AGENTS]))
    kubectl.on(*get_eventbus(), stdout=json.dumps(broken))
    with pytest.raises(verify.ClusterNotReady) as raised:
        verify.check_cluster(verify.Expectations())
    assert raised.value.missing == (
        "EventBus default in namespace argo-events is not ready: condition Deployed is False "
        "(JetStreamStatefulSetFailed)",
    )


def test_the_agent_group_version_eventbus_and_namespace_are_configurable(kubectl: StandIns) -> None:
    custom = [crd(plural, "agents.example.com", {"v2beta1": True}) for plural in ("coderuns", "docsruns")]
    kubectl.on(*GET_CRD, stdout=crd_list([*ARGO, *custom]))
    kubectl.on(*get_eventbus("bus", "events"), stdout=json.dumps(EVENTBUS))
    expected = verify.Expectations(
        events_namespace="events",
        eventbus_name="bus",
        agent_api_group="agents.example.com",
        agent_api_version="v2beta1",
    )
    assert "agents.example.com/v2beta1" in verify.check_cluster(expected)
    assert kubectl.calls() == [GET_CRD, get_eventbus("bus", "events"), GET_ADMISSION]
    with pytest.raises(verify.ClusterNotReady) as raised:
        verify.check_cluster(verify.Expectations(events_namespace="events", eventbus_name="bus"))
    assert raised.value.missing == (
        "CustomResourceDefinition coderuns.agents.platform (agent platform) is not installed",
        "CustomResourceDefinition docsruns.agents.platform (agent platform) is not installed",
    )


def test_a_kubectl_failure_fails_with_its_stderr(
    kubectl: StandIns, capsys: pytest.CaptureFixture[str]
) -> None:
    kubectl.on(
        *GET_CRD,
        stderr='Error from server (Forbidden): customresourcedefinitions is forbidden: User "x"\n',
        exit=1,
    )
    with pytest.raises(SystemExit) as raised:
        verify.verify_cluster()
    assert raised.value.code == 1
    assert "customresourcedefinitions is forbidden" in capsys.readouterr().err
    assert kubectl.calls() == [GET_CRD]


def test_output_that_is_not_json_is_an_error(kubectl: StandIns) -> None:
    kubectl.on(*GET_CRD, stdout="No resources found\n")
    with pytest.raises(StepError, match="kubectl did not return JSON"):
        verify.check_cluster(verify.Expectations())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("events_namespace", "Argo_Events"),
        ("eventbus_name", "bus;rm -rf"),
        ("agent_api_group", "platform"),
        ("agent_api_version", "1"),
    ],
)
def test_invalid_parameters_fail_before_any_call(
    kubectl: StandIns, capsys: pytest.CaptureFixture[str], field: str, value: str
) -> None:
    """An invalid parameter exits INVALID_INPUT, which the steps' retry expression never retries."""
    with pytest.raises(SystemExit) as raised:
        verify.verify_cluster(**{field: value})
    assert raised.value.code == INVALID_INPUT
    assert capsys.readouterr().err.startswith(f"invalid parameter {field.replace('_', '-')}: ")
    assert kubectl.calls() == []


@given(st.sets(st.sampled_from([*ARGO, *AGENTS]).map(lambda item: item["metadata"]["name"])))
def test_exactly_the_absent_crds_are_reported(absent: set[str]) -> None:
    required = verify.Expectations().crds()
    listing = {"items": [item for item in [*ARGO, *AGENTS] if item["metadata"]["name"] not in absent]}
    reported = verify.missing_crds(listing, required)
    assert [line.split()[1] for line in reported] == [c.name for c in required if c.name in absent]


def test_through_the_runner_boundary(tmp_path: Path, kubectl: StandIns) -> None:
    kubectl.on(*GET_CRD, stdout=crd_list(without("sensors.argoproj.io")))
    kubectl.on(*get_eventbus("bus", "events"), stdout=json.dumps(EVENTBUS))
    inputs = {
        "events_namespace": "events",
        "eventbus_name": "bus",
        "agent_api_group": "agents.platform",
        "agent_api_version": "v1",
    }
    result = run_step("workflows.steps.verify:verify_cluster", inputs, tmp_path)
    assert result.returncode == 1, result.stderr
    assert "CustomResourceDefinition sensors.argoproj.io (Argo Events) is not installed" in result.stderr
    assert "1 item(s) missing" in result.stderr
    assert kubectl.calls() == [GET_CRD, get_eventbus("bus", "events"), GET_ADMISSION]


def test_verify_main_uses_the_given_context(kubectl: StandIns, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = ["kubectl", "--context", "staging"]
    kubectl.on(*prefix, *GET_CRD[1:], stdout=crd_list([*ARGO, *AGENTS]))
    kubectl.on(*prefix, *get_eventbus()[1:], stdout=json.dumps(EVENTBUS))
    kubectl.on(*prefix, *GET_ADMISSION[1:], stdout=ADMISSION)
    assert verify.verify_main(["--context", "staging"]) == 0
    assert kubectl.calls() == [
        [*prefix, *GET_CRD[1:]],
        [*prefix, *get_eventbus()[1:]],
        [*prefix, *GET_ADMISSION[1:]],
    ]
    assert capsys.readouterr().out.startswith("cluster ready for aphex")


def test_verify_main_exit_codes(kubectl: StandIns, capsys: pytest.CaptureFixture[str]) -> None:
    kubectl.on(*GET_CRD, stdout=crd_list(ARGO))
    kubectl.on(*get_eventbus(), stdout=json.dumps(EVENTBUS))
    assert verify.verify_main([]) == 1
    assert "aphex verify: the cluster is not ready" in capsys.readouterr().err
    assert verify.verify_main(["--agent-api-version", "latest"]) == 2
    assert "agent-api-version: must be a version" in capsys.readouterr().err
    assert len(kubectl.calls()) == 3


def test_a_cluster_without_the_admission_api_is_reported(kubectl: StandIns) -> None:
    kubectl.rules.clear()
    kubectl.on(*GET_CRD, stdout=crd_list([*ARGO, *AGENTS]))
    kubectl.on(*get_eventbus(), stdout=json.dumps(EVENTBUS))
    # What kubectl prints when the API server does not serve the group version (Kubernetes 1.29 or older
    # without the beta API enabled).
    kubectl.on(
        *GET_ADMISSION,
        stderr="Error from server (NotFound): the server could not find the requested resource\n",
        exit=1,
    )
    with pytest.raises(verify.ClusterNotReady) as raised:
        verify.check_cluster(verify.Expectations())
    assert raised.value.missing == (
        "ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1, Kubernetes 1.30 or later) is not "
        "served: the preview deployer cannot be confined",
    )
    assert kubectl.calls() == [GET_CRD, get_eventbus(), GET_ADMISSION]


def test_an_admission_api_without_policies_is_reported() -> None:
    webhooks_only = {"resources": [{"name": "validatingwebhookconfigurations"}]}
    assert [line.split(": resource ")[1] for line in verify.admission_problems(webhooks_only)] == [
        "validatingadmissionpolicies is not served: the preview deployer cannot be confined",
        "validatingadmissionpolicybindings is not served: the preview deployer cannot be confined",
    ]
    assert verify.admission_problems(json.loads(ADMISSION)) == []


def test_another_discovery_failure_is_an_error(kubectl: StandIns) -> None:
    kubectl.rules.clear()
    kubectl.on(*GET_CRD, stdout=crd_list([*ARGO, *AGENTS]))
    kubectl.on(*get_eventbus(), stdout=json.dumps(EVENTBUS))
    kubectl.on(*GET_ADMISSION, stderr="Unable to connect to the server: dial tcp: i/o timeout\n", exit=1)
    with pytest.raises(StepError, match="i/o timeout"):
        verify.check_cluster(verify.Expectations())


def test_the_step_defaults_are_the_settings_defaults() -> None:
    settings = BundleSettings()
    assert settings.agent_api_group == verify.DEFAULT_AGENT_API_GROUP
    assert settings.agent_api_version == verify.DEFAULT_AGENT_API_VERSION


# The compiled template and its RBAC.


@pytest.fixture(scope="module")
def compiled() -> dict[str, Any]:
    return template_to_dict(cluster_verify_template(BundleSettings()))


def test_the_template_passes_the_linter(compiled: dict[str, Any]) -> None:
    document = SourceDocument(file=str(object_path(compiled)), index=0, data=compiled)
    assert lint_documents([document]) == []


def test_the_template_is_hardened_and_runs_as_the_verifier(compiled: dict[str, Any]) -> None:
    spec = compiled["spec"]
    assert compiled["metadata"]["name"] == "cluster-verify"
    assert spec["serviceAccountName"] == "aphex-verifier"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    scripts = [entry for entry in spec["templates"] if "script" in entry]
    assert [entry["name"] for entry in scripts] == ["verify-cluster"]
    (step,) = scripts
    body = step["script"]
    assert step["serviceAccountName"] == "aphex-verifier"
    assert body["image"] == "ghcr.io/aphex-dev/deployer:0.1.0"
    assert body["source"] == "{{inputs.parameters}}"
    assert body["args"] == ["-m", "hera.workflows.runner", "-e", "workflows.steps.verify:verify_cluster"]
    context = body["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert set(body["resources"]["limits"]) >= {"cpu", "memory"}


def test_the_parameters_are_described_and_default_to_the_settings() -> None:
    settings = BundleSettings(agent_api_group="agents.example.com", agent_api_version="v2")
    compiled = template_to_dict(cluster_verify_template(settings))
    parameters = {p["name"]: p for p in compiled["spec"]["arguments"]["parameters"]}
    assert {name: p["value"] for name, p in parameters.items()} == {
        "events-namespace": "argo-events",
        "eventbus-name": "default",
        "agent-api-group": "agents.example.com",
        "agent-api-version": "v2",
    }
    assert all(p["description"].strip() for p in parameters.values())


def test_another_instance_gets_its_own_names() -> None:
    settings = BundleSettings(instance="team-b")
    compiled = template_to_dict(cluster_verify_template(settings))
    assert compiled["metadata"]["name"] == "team-b-cluster-verify"
    assert compiled["spec"]["serviceAccountName"] == f"team-b-{SERVICE_ACCOUNT_VERIFIER}"
    names = {(obj["kind"], obj["metadata"]["name"]) for obj in verifier_rbac_objects(settings)}
    assert ("ClusterRole", "team-b-argo-verifier") in names


def _as_verifier(verb: str, group: str, resource: str, namespace: str | None = None) -> Request:
    return Request(
        account="aphex-verifier",
        account_namespace="argo",
        verb=verb,
        group=group,
        resource=resource,
        namespace=namespace,
        name=None,
    )


def test_the_verifier_may_make_exactly_the_calls_of_the_check() -> None:
    rbac = verifier_rbac_objects(BundleSettings())
    assert allowed(rbac, _as_verifier("list", "apiextensions.k8s.io", "customresourcedefinitions"))
    assert allowed(rbac, _as_verifier("get", "argoproj.io", "eventbus", "argo-events"))
    assert allowed(rbac, _as_verifier("create", "argoproj.io", "workflowtaskresults", "argo"))
    denied = [
        _as_verifier("create", "apiextensions.k8s.io", "customresourcedefinitions"),
        _as_verifier("list", "argoproj.io", "eventbus", "argo-events"),
        _as_verifier("get", "", "secrets", "argo"),
        _as_verifier("create", "argoproj.io", "workflowtaskresults", "default"),
        _as_verifier("get", "agents.platform", "coderuns", "argo"),
    ]
    assert [request for request in denied if allowed(rbac, request)] == []
    kinds = [obj["kind"] for obj in rbac]
    assert kinds == ["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"]
    rules = [rule for obj in rbac for rule in obj.get("rules", [])]
    assert all("*" not in values for rule in rules for values in rule.values())
