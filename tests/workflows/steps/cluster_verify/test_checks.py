"""cluster-verify and ``aphex verify``: the checks derived from the values, the exact kubectl calls and
reports against a recording kubectl stand-in, the runner boundary, the template and the RBAC."""

import json
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from aphex.cli import main as aphex
from aphex.dsl.bundle_writer import object_path
from aphex.dsl.lint import SourceDocument, lint_documents
from aphex.dsl.manifest import manifest
from aphex.dsl.names import InvalidValue
from aphex.dsl.settings import BundleSettings, load_settings
from aphex.workflows.bundle import build_bundle
from aphex.workflows.cluster_verify.template import (
    cluster_verify_template,
    verifier_rbac_objects,
)
from aphex.workflows.steps.cluster_verify import checks as verify
from aphex.workflows.steps.common.accounts import Account
from aphex.workflows.verify_parts import required_checks
from tests.rbac_eval import Request, allowed
from tests.runner import run_step
from tests.standins.commands import StandIns, install
from tests.standins.kube_api import KubeStandIn, kube_standin

TIMEOUT = "--request-timeout=30s"
IGNORE = ["--ignore-not-found", "--output", "json", TIMEOUT]
ARGO_CRDS = [
    f"{plural}.argoproj.io"
    for plural in (
        "cronworkflows",
        "eventbus",
        "eventsources",
        "sensors",
        "workflows",
        "workflowtaskresults",
        "workflowtemplates",
    )
]
AGENT_CRDS = ["coderuns.agents.platform", "docsruns.agents.platform"]
ADMISSION = "admissionregistration.k8s.io/v1"
ADMISSION_RESOURCES = ["validatingadmissionpolicies", "validatingadmissionpolicybindings"]


def get_crds(*names: str) -> list[str]:
    return ["kubectl", "get", "customresourcedefinitions.apiextensions.k8s.io", *names, *IGNORE]


def get_namespaces(*names: str) -> list[str]:
    return ["kubectl", "get", "namespaces", *names, *IGNORE]


def get_secret(name: str, namespace: str) -> list[str]:
    template = "go-template=found\n{{range $key, $value := .data}}{{$key}}\n{{end}}"
    return [
        "kubectl", "get", "secret", name, "--namespace", namespace, "--ignore-not-found", "--output",
        template, TIMEOUT,
    ]  # fmt: skip


def get_eventbus(name: str = "default", namespace: str = "argo-events") -> list[str]:
    return ["kubectl", "get", "eventbus.argoproj.io", name, "--namespace", namespace, *IGNORE]


def get_api(group_version: str = ADMISSION) -> list[str]:
    return ["kubectl", "get", "--raw", f"/apis/{group_version}", TIMEOUT]


DEFAULT_CALLS = [
    get_crds(*ARGO_CRDS, *AGENT_CRDS),
    get_api(),
    get_namespaces("argo", "ingress-nginx", "argo-events"),
    get_secret("aphex-github", "argo"),
    get_secret("aphex-github-webhook", "argo-events"),
    get_eventbus(),
]


def _named(kind: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, **extra}


@dataclass
class Cluster:
    """What the stand-in kubectl answers, as a cluster holding these objects would.

    kubectl's shapes (kubectl ``pkg/cmd/get/get.go``, ``printGeneric``): with ``--ignore-not-found``
    absent objects are skipped and nothing at all is printed when none was found; one name prints the
    object, several a ``List``. A go-template output prints the template applied to the object.
    """

    crds: dict[str, dict[str, bool]] = field(
        default_factory=lambda: {
            name: {("v1" if "agents" in name else "v1alpha1"): True} for name in [*ARGO_CRDS, *AGENT_CRDS]
        }
    )
    apis: dict[str, list[str] | None] = field(default_factory=lambda: {ADMISSION: ADMISSION_RESOURCES})
    namespaces: dict[str, str] = field(
        default_factory=lambda: {name: "Active" for name in ("argo", "ingress-nginx", "argo-events")}
    )
    secrets: dict[tuple[str, str], list[str]] = field(
        default_factory=lambda: {
            ("argo", "aphex-github"): ["app-id", "private-key"],
            ("argo-events", "aphex-github-webhook"): ["secret"],
        }
    )
    eventbuses: dict[tuple[str, str], list[dict[str, str]]] = field(
        default_factory=lambda: {("argo-events", "default"): [{"type": "Deployed", "status": "True"}]}
    )

    def answer(
        self,
        kubectl: StandIns,
        settings: BundleSettings | None = None,
        prefix: tuple[str, ...] = ("kubectl",),
    ) -> None:
        """Rules answering every call the checks of ``settings`` (default: the defaults) can make."""
        checks = verify.merge_checks(required_checks(settings or BundleSettings()))
        crds = [c.name for c in checks if c.kind == "crd"]
        found = [
            _named(
                "CustomResourceDefinition",
                name,
                spec={"versions": [{"name": v, "served": s} for v, s in self.crds[name].items()]},
            )
            for name in crds
            if name in self.crds
        ]
        kubectl.on(*prefix, *get_crds(*crds)[1:], stdout=_printed(found, crds))
        for group_version, resources in self.apis.items():
            if resources is None:
                kubectl.on(
                    *prefix,
                    *get_api(group_version)[1:],
                    stderr="Error from server (NotFound): the server could not find the requested resource\n",
                    exit=1,
                )
            else:
                document = {
                    "kind": "APIResourceList",
                    "groupVersion": group_version,
                    "resources": [{"name": resource} for resource in resources],
                }
                kubectl.on(*prefix, *get_api(group_version)[1:], stdout=json.dumps(document))
        wanted = list(dict.fromkeys(c.name for c in checks if c.kind == "namespace"))
        namespaces = [
            _named("Namespace", name, status={"phase": self.namespaces[name]})
            for name in wanted
            if name in self.namespaces
        ]
        kubectl.on(*prefix, *get_namespaces(*wanted)[1:], stdout=_printed(namespaces, wanted))
        for check in checks:
            if check.kind == "secret":
                keys = self.secrets.get((check.namespace, check.name))
                printed = "" if keys is None else "found\n" + "".join(f"{key}\n" for key in sorted(keys))
                kubectl.on(*prefix, *get_secret(check.name, check.namespace)[1:], stdout=printed)
            elif check.kind == "eventbus":
                conditions = self.eventbuses.get((check.namespace, check.name))
                bus = (
                    None
                    if conditions is None
                    else _named("EventBus", check.name, status={"conditions": conditions})
                )
                kubectl.on(
                    *prefix,
                    *get_eventbus(check.name, check.namespace)[1:],
                    stdout="" if bus is None else json.dumps(bus),
                )


def _printed(found: list[dict[str, Any]], asked: list[str]) -> str:
    if not found:
        return ""
    if len(asked) == 1:
        return json.dumps(found[0])
    return json.dumps({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": found})


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    standins = install(tmp_path / "standins", ["kubectl"])
    for key, value in standins.environment().items():
        monkeypatch.setenv(key, value)
    return standins


def listed(settings: BundleSettings) -> list[str]:
    return [f"{check.where} {check.because()}" for check in verify.merge_checks(required_checks(settings))]


# The derivation: which checks each set of values needs.

DEFAULT_CHECKS = [
    "CustomResourceDefinition cronworkflows.argoproj.io (required by components.implementationDag)",
    "CustomResourceDefinition eventbus.argoproj.io (required by components.events)",
    "CustomResourceDefinition eventsources.argoproj.io (required by components.events)",
    "CustomResourceDefinition sensors.argoproj.io (required by components.implementationDag and "
    "components.events or components.events and components.pipeline)",
    "CustomResourceDefinition workflows.argoproj.io (required by every install)",
    "CustomResourceDefinition workflowtaskresults.argoproj.io (required by every install)",
    "CustomResourceDefinition workflowtemplates.argoproj.io (required by every install)",
    "CustomResourceDefinition coderuns.agents.platform (named by agentApiGroup, agentApiVersion; "
    "required by components.implementationDag)",
    "CustomResourceDefinition docsruns.agents.platform (named by agentApiGroup, agentApiVersion; "
    "required by components.implementationDag and components.docsStage)",
    "API admissionregistration.k8s.io/v1 (Kubernetes 1.30 or later; required by "
    "components.implementationDag)",
    "Namespace argo (named by namespace; required by every install)",
    "Namespace ingress-nginx (named by ingressNamespace; required by components.implementationDag)",
    "Namespace argo-events (named by events.namespace; required by components.events)",
    "Secret aphex-github in namespace argo (named by github.credentialsSecret, namespace; required by "
    "components.implementationDag or components.pipeline)",
    "Secret aphex-github-webhook in namespace argo-events (named by events.webhookSecretName, "
    "events.namespace; required by components.events)",
    "EventBus default in namespace argo-events (named by events.eventbusName, events.namespace; required by "
    "components.events)",
]


def test_the_default_values_need_exactly_these_checks() -> None:
    assert listed(BundleSettings()) == DEFAULT_CHECKS
    checks = {check.name: check for check in required_checks(BundleSettings())}
    assert checks["aphex-github"].one_of_keys == ("token", "app-id", "private-key")
    assert checks["aphex-github"].keys == ()
    assert checks["aphex-github-webhook"].keys == ("secret",)
    assert checks["coderuns.agents.platform"].version == "v1"
    assert checks[ADMISSION].resources == tuple(ADMISSION_RESOURCES)


def _where(lines: list[str]) -> list[str]:
    return [line.split(" (")[0] for line in lines]


DEFAULT_WHERE = _where(DEFAULT_CHECKS)


@pytest.mark.parametrize(
    ("components", "gone", "required_by"),
    [
        (
            {"implementationDag": False},
            [
                "CustomResourceDefinition cronworkflows.argoproj.io",
                "CustomResourceDefinition coderuns.agents.platform",
                "CustomResourceDefinition docsruns.agents.platform",
                "API admissionregistration.k8s.io/v1",
                "Namespace ingress-nginx",
            ],
            {
                "Secret aphex-github in namespace argo": "components.pipeline",
                "CustomResourceDefinition sensors.argoproj.io": "components.events and components.pipeline",
            },
        ),
        (
            {"docsStage": False},
            ["CustomResourceDefinition docsruns.agents.platform"],
            {},
        ),
        (
            {"events": False},
            [
                "CustomResourceDefinition eventbus.argoproj.io",
                "CustomResourceDefinition eventsources.argoproj.io",
                "CustomResourceDefinition sensors.argoproj.io",
                "Namespace argo-events",
                "Secret aphex-github-webhook in namespace argo-events",
                "EventBus default in namespace argo-events",
            ],
            {},
        ),
        (
            {"pipeline": False},
            [],
            {
                "Secret aphex-github in namespace argo": "components.implementationDag",
                "CustomResourceDefinition sensors.argoproj.io": (
                    "components.implementationDag and components.events"
                ),
            },
        ),
        (
            {"implementationDag": False, "pipeline": False},
            [
                "CustomResourceDefinition cronworkflows.argoproj.io",
                "CustomResourceDefinition sensors.argoproj.io",
                "CustomResourceDefinition coderuns.agents.platform",
                "CustomResourceDefinition docsruns.agents.platform",
                "API admissionregistration.k8s.io/v1",
                "Namespace ingress-nginx",
                "Secret aphex-github in namespace argo",
            ],
            {},
        ),
        (
            {"implementationDag": False, "events": False, "pipeline": False},
            [
                line
                for line in DEFAULT_WHERE
                if "every install" not in DEFAULT_CHECKS[DEFAULT_WHERE.index(line)]
            ],
            {},
        ),
    ],
)
def test_a_disabled_component_takes_its_checks_along(
    components: dict[str, bool], gone: list[str], required_by: dict[str, str]
) -> None:
    lines = listed(load_settings({"components": components}))
    assert sorted(_where(lines)) == sorted(w for w in DEFAULT_WHERE if w not in gone)
    for where, wanted in required_by.items():
        (line,) = [line for line in lines if line.startswith(where + " (")]
        assert line.endswith(f"required by {wanted})"), line


def test_with_every_component_off_only_argo_workflows_and_the_namespace_remain() -> None:
    settings = load_settings(
        {"components": {"implementationDag": False, "docsStage": False, "events": False, "pipeline": False}}
    )
    assert listed(settings) == [
        "CustomResourceDefinition workflows.argoproj.io (required by every install)",
        "CustomResourceDefinition workflowtaskresults.argoproj.io (required by every install)",
        "CustomResourceDefinition workflowtemplates.argoproj.io (required by every install)",
        "Namespace argo (named by namespace; required by every install)",
    ]


def test_the_checks_follow_the_values_that_name_them() -> None:
    settings = load_settings(
        {
            "namespace": "ci",
            "ingressNamespace": "traefik",
            "agentApiGroup": "agents.example.com",
            "agentApiVersion": "v2beta1",
            "github": {"credentialsSecret": "ci-github"},
            "events": {
                "namespace": "events",
                "webhookSecretName": "hook",
                "webhookSecretKey": "hmac",
                "eventbusName": "bus",
            },
        }
    )
    checks = required_checks(settings)
    where = [check.where for check in checks]
    assert where[7:] == [
        "CustomResourceDefinition coderuns.agents.example.com",
        "CustomResourceDefinition docsruns.agents.example.com",
        "API admissionregistration.k8s.io/v1",
        "Namespace ci",
        "Namespace traefik",
        "Namespace events",
        "Secret ci-github in namespace ci",
        "Secret hook in namespace events",
        "EventBus bus in namespace events",
    ]
    assert {c.version for c in checks if c.name.endswith("agents.example.com")} == {"v2beta1"}
    assert next(c for c in checks if c.name == "hook").keys == ("hmac",)


def test_values_that_name_one_namespace_twice_keep_both_reasons_and_check_it_once() -> None:
    # Derived in token space, the two values stay two checks; the run merges them.
    settings = load_settings({"events": {"namespace": "argo"}})
    checks = required_checks(settings)
    assert [c.required_by for c in checks if c.kind == "namespace" and c.name == "argo"] == [
        ("every install",),
        ("components.events",),
    ]
    merged = [c for c in verify.merge_checks(checks) if c.kind == "namespace"]
    assert [f"{c.where} {c.because()}" for c in merged] == [
        "Namespace argo (named by namespace; named by events.namespace; required by every install or "
        "components.events)",
        "Namespace ingress-nginx (named by ingressNamespace; required by components.implementationDag)",
    ]


# Running the checks against the recording kubectl stand-in.


def test_a_ready_cluster_passes_with_exactly_these_calls(
    kubectl: StandIns, capsys: pytest.CaptureFixture[str]
) -> None:
    Cluster().answer(kubectl)
    assert aphex(["verify"]) == 0
    assert kubectl.calls() == DEFAULT_CALLS
    out = capsys.readouterr().out
    assert out.startswith("cluster ready for aphex, 16 check(s) passed:\n")
    assert (
        "  ok: Secret aphex-github in namespace argo has one of the keys token, app-id, private-key "
        "(named by github.credentialsSecret, namespace; required by components.implementationDag or "
        "components.pipeline)\n"
    ) in out
    assert "  ok: EventBus default in namespace argo-events is ready" in out


def test_every_missing_secret_namespace_and_crd_is_reported_once(
    kubectl: StandIns, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = Cluster()
    del cluster.crds["sensors.argoproj.io"]
    cluster.crds["coderuns.agents.platform"] = {"v1alpha1": True, "v1": False}
    del cluster.namespaces["ingress-nginx"]
    del cluster.secrets[("argo", "aphex-github")]
    cluster.secrets[("argo-events", "aphex-github-webhook")] = ["token"]
    cluster.answer(kubectl)
    assert aphex(["verify"]) == 1
    assert kubectl.calls() == DEFAULT_CALLS
    assert capsys.readouterr().err == (
        "aphex verify: the cluster is not ready for aphex, 5 item(s) missing:\n"
        "  - CustomResourceDefinition sensors.argoproj.io is not installed (required by "
        "components.implementationDag and components.events or components.events and components.pipeline)\n"
        "  - CustomResourceDefinition coderuns.agents.platform does not serve version v1 (served: v1alpha1) "
        "(named by agentApiGroup, agentApiVersion; required by components.implementationDag)\n"
        "  - Namespace ingress-nginx does not exist (named by ingressNamespace; required by "
        "components.implementationDag)\n"
        "  - Secret aphex-github in namespace argo does not exist (named by github.credentialsSecret, "
        "namespace; required by components.implementationDag or components.pipeline)\n"
        "  - Secret aphex-github-webhook in namespace argo-events has no key secret (named by "
        "events.webhookSecretName, events.namespace; required by components.events)\n"
        "see docs/troubleshooting.md, section 'cluster-verify fails'\n"
    )


def test_a_credentials_secret_without_a_token_or_app_key_is_reported(kubectl: StandIns) -> None:
    cluster = Cluster()
    cluster.secrets[("argo", "aphex-github")] = ["password"]
    cluster.answer(kubectl)
    with pytest.raises(verify.ClusterNotReady) as raised:
        verify.check_cluster(required_checks(BundleSettings()))
    assert raised.value.missing == (
        "Secret aphex-github in namespace argo has none of the keys token, app-id, private-key (named by "
        "github.credentialsSecret, namespace; required by components.implementationDag or "
        "components.pipeline)",
    )


def test_what_lives_in_a_missing_namespace_is_not_looked_up(kubectl: StandIns) -> None:
    cluster = Cluster()
    del cluster.namespaces["argo-events"]
    cluster.answer(kubectl)
    with pytest.raises(verify.ClusterNotReady) as raised:
        verify.check_cluster(required_checks(BundleSettings()))
    assert [line.split(" (")[0] for line in raised.value.missing] == [
        "Namespace argo-events does not exist",
        "Secret aphex-github-webhook in namespace argo-events cannot be checked: the namespace does not "
        "exist",
        "EventBus default in namespace argo-events cannot be checked: the namespace does not exist",
    ]
    assert kubectl.calls() == DEFAULT_CALLS[:4]


def test_a_namespace_being_deleted_counts_as_missing(kubectl: StandIns) -> None:
    cluster = Cluster()
    cluster.namespaces["ingress-nginx"] = "Terminating"
    cluster.answer(kubectl)
    with pytest.raises(verify.ClusterNotReady) as raised:
        verify.check_cluster(required_checks(BundleSettings()))
    assert [line.split(" (")[0] for line in raised.value.missing] == [
        "Namespace ingress-nginx is being deleted"
    ]


def test_without_the_eventbus_crd_the_eventbus_is_not_looked_up(kubectl: StandIns) -> None:
    cluster = Cluster()
    del cluster.crds["eventbus.argoproj.io"]
    cluster.answer(kubectl)
    with pytest.raises(verify.ClusterNotReady) as raised:
        verify.check_cluster(required_checks(BundleSettings()))
    assert [line.split(" (")[0] for line in raised.value.missing] == [
        "CustomResourceDefinition eventbus.argoproj.io is not installed",
        "EventBus default in namespace argo-events cannot be checked without a served CRD "
        "eventbus.argoproj.io",
    ]
    assert kubectl.calls() == DEFAULT_CALLS[:-1]


def test_an_eventbus_that_is_not_deployed_counts_as_missing(kubectl: StandIns) -> None:
    cluster = Cluster()
    cluster.eventbuses[("argo-events", "default")] = [
        {"type": "Configured", "status": "True"},
        {"type": "Deployed", "status": "False", "reason": "JetStreamStatefulSetFailed"},
    ]
    cluster.answer(kubectl)
    with pytest.raises(verify.ClusterNotReady) as raised:
        verify.check_cluster(required_checks(BundleSettings()))
    assert raised.value.missing == (
        "EventBus default in namespace argo-events is not ready: condition Deployed is False "
        "(JetStreamStatefulSetFailed) (named by events.eventbusName, events.namespace; required by "
        "components.events)",
    )


def test_an_absent_eventbus_is_reported(kubectl: StandIns) -> None:
    cluster = Cluster()
    del cluster.eventbuses[("argo-events", "default")]
    cluster.answer(kubectl)
    with pytest.raises(verify.ClusterNotReady) as raised:
        verify.check_cluster(required_checks(BundleSettings()))
    assert [line.split(" (")[0] for line in raised.value.missing] == [
        "EventBus default in namespace argo-events does not exist"
    ]


def test_a_cluster_without_the_admission_api_is_reported(kubectl: StandIns) -> None:
    # What kubectl prints when the API server does not serve the group version (Kubernetes 1.29 or older
    # without the beta API enabled).
    Cluster(apis={ADMISSION: None}).answer(kubectl)
    with pytest.raises(verify.ClusterNotReady) as raised:
        verify.check_cluster(required_checks(BundleSettings()))
    assert raised.value.missing == (
        "API admissionregistration.k8s.io/v1 is not served (Kubernetes 1.30 or later; required by "
        "components.implementationDag)",
    )


def test_an_admission_api_without_policies_is_reported(kubectl: StandIns) -> None:
    Cluster(apis={ADMISSION: ["validatingwebhookconfigurations"]}).answer(kubectl)
    with pytest.raises(verify.ClusterNotReady) as raised:
        verify.check_cluster(required_checks(BundleSettings()))
    assert [line.split(" (")[0] for line in raised.value.missing] == [
        "API admissionregistration.k8s.io/v1 does not serve validatingadmissionpolicies",
        "API admissionregistration.k8s.io/v1 does not serve validatingadmissionpolicybindings",
    ]


def test_another_discovery_failure_is_an_error(kubectl: StandIns, capsys: pytest.CaptureFixture[str]) -> None:
    kubectl.on(*get_api(), stderr="Unable to connect to the server: dial tcp: i/o timeout\n", exit=1)
    Cluster().answer(kubectl)  # earlier rules win
    assert aphex(["verify"]) == 1
    assert "i/o timeout" in capsys.readouterr().err


def test_a_kubectl_failure_fails_with_its_stderr(
    kubectl: StandIns, capsys: pytest.CaptureFixture[str]
) -> None:
    kubectl.on(
        *get_crds(*ARGO_CRDS, *AGENT_CRDS),
        stderr="Error from server (Forbidden): customresourcedefinitions.apiextensions.k8s.io "
        '"workflows.argoproj.io" is forbidden\n',
        exit=1,
    )
    assert aphex(["verify"]) == 1
    assert "is forbidden" in capsys.readouterr().err
    assert kubectl.calls() == [get_crds(*ARGO_CRDS, *AGENT_CRDS)]


def test_output_that_is_not_json_is_an_error(kubectl: StandIns) -> None:
    kubectl.on(*get_crds(*ARGO_CRDS, *AGENT_CRDS), stdout="No resources found\n")
    with pytest.raises(verify.StepError, match="kubectl did not return JSON"):
        verify.check_cluster(required_checks(BundleSettings()))


def test_the_context_prefixes_every_call(kubectl: StandIns, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = ("kubectl", "--context", "staging")
    Cluster().answer(kubectl, prefix=prefix)
    assert aphex(["verify", "--context", "staging"]) == 0
    assert kubectl.calls() == [[*prefix, *call[1:]] for call in DEFAULT_CALLS]
    assert capsys.readouterr().out.startswith("cluster ready for aphex")


def test_the_values_file_and_release_choose_the_checks(
    kubectl: StandIns, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = tmp_path / "values.yaml"
    components = {"implementationDag": False, "pipeline": False}
    values.write_text(yaml.safe_dump({"components": components}))
    Cluster().answer(kubectl, load_settings({"components": components}))
    assert aphex(["verify", "--values", str(values), "--release", "team-b"]) == 0
    assert kubectl.calls() == [
        get_crds(*(name for name in ARGO_CRDS if name.split(".")[0] not in ("cronworkflows", "sensors"))),
        get_namespaces("argo", "argo-events"),
        get_secret("aphex-github-webhook", "argo-events"),
        get_eventbus(),
    ]
    assert capsys.readouterr().out.startswith("cluster ready for aphex, 9 check(s) passed:")


def test_list_prints_the_checks_and_calls_nothing(
    kubectl: StandIns, capsys: pytest.CaptureFixture[str]
) -> None:
    assert aphex(["verify", "--list"]) == 0
    assert capsys.readouterr().out.splitlines() == DEFAULT_CHECKS
    assert kubectl.calls() == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--release", "Team_B"], "aphex verify: release name 'Team_B': must be a DNS label"),
        (["--context", " "], "--context: must not be empty"),
        (["--values", "missing.yaml"], "cannot read values file missing.yaml"),
    ],
)
def test_unusable_input_exits_2_before_any_call(
    kubectl: StandIns, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert aphex(["verify", *arguments]) == 2
    assert message in capsys.readouterr().err
    assert kubectl.calls() == []


def test_a_values_file_that_is_not_a_mapping_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("- a\n")
    assert aphex(["verify", "--values", str(values)]) == 2
    assert "must be a mapping" in capsys.readouterr().err


# The pod step: the same checks through the runner boundary.


def test_through_the_runner_boundary(tmp_path: Path, kubectl: StandIns) -> None:
    cluster = Cluster()
    del cluster.secrets[("argo-events", "aphex-github-webhook")]
    cluster.answer(kubectl)
    checks = verify.checks_to_json(required_checks(BundleSettings()))
    result = run_step(
        "aphex.workflows.steps.cluster_verify.checks:verify_cluster", {"checks": checks}, tmp_path
    )
    assert result.returncode == 1, result.stderr
    assert (
        "1 item(s) missing:\n  - Secret aphex-github-webhook in namespace argo-events does not exist"
        in result.stderr
    )
    assert kubectl.calls() == DEFAULT_CALLS


def test_invalid_checks_exit_2_before_any_call(tmp_path: Path, kubectl: StandIns) -> None:
    bad = json.dumps(
        [{"kind": "secret", "name": "x;rm -rf /", "namespace": "argo", "requiredBy": ["every install"]}]
    )
    result = run_step("aphex.workflows.steps.cluster_verify.checks:verify_cluster", {"checks": bad}, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "invalid parameter checks[0].name: must be a secret name" in result.stderr
    assert kubectl.calls() == []


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"kind": "pod", "name": "x", "requiredBy": ["every install"]}, "checks[0].kind"),
        (
            {"kind": "crd", "name": "workflows.argoproj.io", "requiredBy": ["every install"]},
            "checks[0].version",
        ),
        ({"kind": "namespace", "name": "Argo", "requiredBy": ["every install"]}, "checks[0].name"),
        ({"kind": "secret", "name": "s", "requiredBy": ["every install"]}, "checks[0].namespace"),
        ({"kind": "namespace", "name": "argo"}, "checks[0].requiredBy"),
        ({"kind": "namespace", "name": "argo", "requiredBy": ["x"], "colour": "red"}, "checks[0]"),
        (
            {"kind": "secret", "name": "s", "namespace": "a", "keys": ["a b"], "requiredBy": ["x"]},
            "checks[0].keys",
        ),
    ],
)
def test_each_invalid_field_is_named(item: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        verify.checks_from_json(json.dumps([item]))
    assert raised.value.field == field


@given(st.sets(st.sampled_from(["implementationDag", "docsStage", "events", "pipeline"])))
def test_the_checks_survive_their_json(disabled: set[str]) -> None:
    checks = required_checks(load_settings({"components": {name: False for name in disabled}}))
    assert verify.checks_from_json(verify.checks_to_json(checks)) == checks


# The compiled template and its RBAC.


@pytest.fixture(scope="module")
def compiled() -> dict[str, Any]:
    return next(o for o in build_bundle(BundleSettings()) if o["metadata"]["name"] == "cluster-verify")


def test_the_template_passes_the_linter(compiled: dict[str, Any]) -> None:
    document = SourceDocument(file=str(object_path(compiled)), index=0, data=compiled)
    assert lint_documents([document]) == []


def test_the_template_runs_the_derived_checks(compiled: dict[str, Any]) -> None:
    (main,) = [t for t in compiled["spec"]["templates"] if t["name"] == "main"]
    (task,) = main["dag"]["tasks"]
    (argument,) = task["arguments"]["parameters"]
    assert argument["name"] == "checks"
    assert verify.checks_from_json(argument["value"]) == required_checks(BundleSettings())
    assert "arguments" not in compiled["spec"]  # nothing a submitter could widen


def test_the_template_is_hardened_and_runs_as_the_verifier(compiled: dict[str, Any]) -> None:
    spec = compiled["spec"]
    assert spec["serviceAccountName"] == "aphex-verifier"
    assert spec["securityContext"]["runAsNonRoot"] is True
    scripts = [entry for entry in spec["templates"] if "script" in entry]
    assert [entry["name"] for entry in scripts] == ["verify-cluster"]
    (step,) = scripts
    body = step["script"]
    assert step["serviceAccountName"] == "aphex-verifier"
    assert body["args"] == [
        "-m",
        "hera.workflows.runner",
        "-e",
        "aphex.workflows.steps.cluster_verify.checks:verify_cluster",
    ]
    context = body["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}


def test_another_instance_gets_its_own_names() -> None:
    settings = BundleSettings(instance="team-b")
    checks = required_checks(settings)
    compiled = manifest(cluster_verify_template(settings, checks))
    assert compiled["metadata"]["name"] == "team-b-cluster-verify"
    assert compiled["spec"]["serviceAccountName"] == f"team-b-{Account.VERIFIER}"
    names = {(obj["kind"], obj["metadata"]["name"]) for obj in verifier_rbac_objects(settings, checks)}
    assert ("ClusterRole", "team-b-argo-verifier") in names
    assert ("Role", "team-b-argo-verifier") in names  # in the events namespace


def _requests(check: verify.Check) -> list[tuple[str, str, str | None, str]]:
    """(group, resource, namespace, name) of the GETs kubectl makes for ``check``."""
    return {
        "crd": [("apiextensions.k8s.io", "customresourcedefinitions", None, check.name)],
        "namespace": [("", "namespaces", None, check.name)],
        "secret": [("", "secrets", check.namespace, check.name)],
        "eventbus": [("argoproj.io", "eventbus", check.namespace, check.name)],
        "api": [],  # discovery: system:discovery lets every authenticated user read it
    }[check.kind]


def _as_verifier(group: str, resource: str, namespace: str | None, name: str) -> Request:
    return Request(
        account="aphex-verifier",
        account_namespace="argo",
        verb="get",
        group=group,
        resource=resource,
        namespace=namespace,
        name=name,
    )


def _granted(rbac: list[dict[str, Any]]) -> set[tuple[str, str, str, str | None, str | None]]:
    """Every (verb, group, resource, namespace, name) the verifier's roles grant, expanded."""
    granted = set()
    for role in rbac:
        if role["kind"] not in ("Role", "ClusterRole"):
            continue
        for rule in role["rules"]:
            for verb in rule["verbs"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        for name in rule.get("resourceNames") or [None]:
                            granted.add((verb, group, resource, role["metadata"].get("namespace"), name))
    return granted


COMBINATIONS = [
    {"implementationDag": dag, "docsStage": docs, "events": events, "pipeline": pipeline}
    for dag in (True, False)
    for docs in (True, False)
    for events in (True, False)
    for pipeline in (True, False)
]


@pytest.mark.parametrize(
    "components", COMBINATIONS, ids=lambda c: "-".join(k for k, v in c.items() if v) or "none"
)
def test_the_verifier_may_make_exactly_the_calls_of_its_checks(components: dict[str, bool]) -> None:
    settings = load_settings({"components": components, "events": {"namespace": "events"}})
    rbac = [
        o
        for o in build_bundle(settings)
        if o["kind"] in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount")
        and "verifier" in o["metadata"]["name"]
    ]
    needed = {request for check in required_checks(settings) for request in _requests(check)}
    for needs in needed:
        request = _as_verifier(*needs)
        assert allowed(rbac, request), request
        assert not allowed(rbac, replace(request, verb="list", name=None)), request
        assert not allowed(rbac, replace(request, name="other")), request
    executor = (
        ("create", "argoproj.io", "workflowtaskresults", "argo", None),
        ("patch", "argoproj.io", "workflowtaskresults", "argo", None),
    )
    assert _granted(rbac) == {("get", g, r, ns, n) for g, r, ns, n in needed} | set(executor)
    rules = [rule for obj in rbac for rule in obj.get("rules", [])]
    assert all("*" not in values for rule in rules for values in rule.values())


def test_the_secret_keys_template_prints_key_names_only() -> None:
    assert verify.SECRET_KEYS_TEMPLATE == "{{range $key, $value := .data}}{{$key}}\n{{end}}"
    assert re.search(r"\$value\}\}", verify.SECRET_KEYS_TEMPLATE) is None


# The real kubectl against the Kubernetes API stand-in: the HTTP requests the checks make, and RBAC.


def _resources(group_version: str, resources: list[tuple[str, bool, str]]) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": ["get"]}
            for name, namespaced, kind in resources
        ],
    }


def _seed_discovery(standin: KubeStandIn) -> None:
    """What kubectl reads to map resource names to paths (legacy discovery: /api, /apis, each version)."""
    groups = {
        "apiextensions.k8s.io/v1": [("customresourcedefinitions", False, "CustomResourceDefinition")],
        "argoproj.io/v1alpha1": [("eventbus", True, "EventBus")],
        ADMISSION: [(name, False, name) for name in ADMISSION_RESOURCES],
    }
    standin.put("/api", {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
    standin.put(
        "/apis",
        {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": gv.split("/")[0],
                    "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                    "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]},
                }
                for gv in groups
            ],
        },
    )
    standin.put(
        "/api/v1", _resources("v1", [("namespaces", False, "Namespace"), ("secrets", True, "Secret")])
    )
    for group_version, resources in groups.items():
        standin.put(f"/apis/{group_version}", _resources(group_version, resources))


_RESOURCE_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[a-z0-9.-]+)/(?P<version>v[0-9a-z]+))"
    r"(?:/namespaces/(?P<namespace>[a-z0-9-]+))?/(?P<resource>[a-z]+)/(?P<name>[a-z0-9.-]+)$"
)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_the_real_kubectl_makes_exactly_the_requests_the_verifier_may_make(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = BundleSettings()
    checks = required_checks(settings)
    with kube_standin() as standin:
        standin.anonymous = True
        _seed_discovery(standin)
        for check in checks:
            if check.kind == "crd":
                versions = [{"name": check.version, "served": True}]
                path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{check.name}"
                standin.put(path, _named("CustomResourceDefinition", check.name, spec={"versions": versions}))
            elif check.kind == "namespace" and check.name != "ingress-nginx":
                standin.put(
                    f"/api/v1/namespaces/{check.name}",
                    _named("Namespace", check.name, status={"phase": "Active"}),
                )
            elif check.kind == "secret":
                data = {"token": "c2VjcmV0"} if check.one_of_keys else {"other": "eA=="}
                standin.put(
                    f"/api/v1/namespaces/{check.namespace}/secrets/{check.name}",
                    _named("Secret", check.name, data=data),
                )
            elif check.kind == "eventbus":
                path = f"/apis/argoproj.io/v1alpha1/namespaces/{check.namespace}/eventbus/{check.name}"
                standin.put(path, _named("EventBus", check.name, status={"conditions": []}))
        monkeypatch.setenv("KUBECONFIG", str(standin.kubeconfig(tmp_path / "kubeconfig")))
        monkeypatch.setenv("KUBECACHEDIR", str(tmp_path / "cache"))
        assert aphex(["verify"]) == 1
        requests = [(r.method, r.path) for r in standin.requests]
    err = capsys.readouterr().err
    assert [line.split(" (")[0] for line in err.splitlines() if line.startswith("  - ")] == [
        "  - Namespace ingress-nginx does not exist",
        "  - Secret aphex-github-webhook in namespace argo-events has no key secret",
    ]
    assert "c2VjcmV0" not in err  # a Secret's values never reach the report
    assert {method for method, _ in requests} == {"GET"}
    objects = [m for m in (_RESOURCE_PATH.match(path) for _, path in requests) if m]
    discovery = {path for _, path in requests if not _RESOURCE_PATH.match(path)}
    assert discovery <= {
        "/version",
        "/api",
        "/apis",
        "/api/v1",
        *(f"/apis/{gv}" for gv in ("apiextensions.k8s.io/v1", "argoproj.io/v1alpha1", ADMISSION)),
    }
    made = [(m["group"] or "", m["resource"], m["namespace"], m["name"]) for m in objects]
    assert sorted(set(made)) == sorted({request for check in checks for request in _requests(check)})
    rbac = [o for o in build_bundle(settings) if "verifier" in o["metadata"]["name"]]
    for needs in made:
        assert allowed(rbac, _as_verifier(*needs)), needs
