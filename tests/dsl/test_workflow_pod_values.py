"""The ``workflowPods``, ``previewQuota`` and ``previewLifetimeHours`` values reach every emitted object.

What Argo does with the spec-level fields: argo-workflows workflow/controller/workflowpod.go,
addSchedulingConstraints copies the WorkflowSpec's ``nodeSelector`` and ``tolerations`` into every pod
whose template sets none (no aphex template does), and the pod builder in the same file sets
``imagePullSecrets`` from the WorkflowSpec on every pod; a workflow started from a WorkflowTemplate runs
with the template's spec (workflowTemplateRef).
"""

import json
from pathlib import Path
from typing import Any

import pytest

from dsl.config.validate import load_config
from dsl.settings import SettingsError, load_settings
from workflows.aphex_pipeline import pipeline_template
from workflows.bundle import build_bundle
from workflows.steps.preview import QUOTA_FIXED

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ARN = "arn:aws:iam::123456789012:role/"

NODE_SELECTOR = {"kubernetes.io/arch": "arm64", "pool": "ci"}
TOLERATIONS = [
    {"key": "dedicated", "operator": "Equal", "value": "ci", "effect": "NoSchedule"},
    {"key": "spot", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]
PULL_SECRETS = [{"name": "registry-a"}, {"name": "registry-b"}]


def _class(cpu: tuple[str, str], memory: tuple[str, str], storage: tuple[str, str]) -> dict[str, Any]:
    return {
        "requests": {"cpu": cpu[0], "memory": memory[0], "ephemeralStorage": storage[0]},
        "limits": {"cpu": cpu[1], "memory": memory[1], "ephemeralStorage": storage[1]},
    }


RESOURCES = {
    "light": _class(("75m", "750m"), ("100Mi", "300Mi"), ("32Mi", "2Gi")),
    "standard": _class(("0.5", "1.5"), ("512Mi", "2Gi"), ("128Mi", "6Gi")),
    "heavy": _class(("1", "3.25"), ("2Gi", "6000Mi"), ("2Gi", "20Gi")),
}
VALUES: dict[str, Any] = {
    "workflowPods": {
        "resources": RESOURCES,
        "nodeSelector": NODE_SELECTOR,
        "tolerations": TOLERATIONS,
        "imagePullSecrets": PULL_SECRETS,
    },
    "previewQuota": {
        "pods": 50,
        "requests": {"cpu": "3500m", "memory": "6Gi"},
        "limits": {"cpu": "7", "memory": "12Gi"},
    },
    "previewLifetimeHours": 72,
    "pipelines": [
        {
            "name": "shop-delivery",
            "repository": "shop",
            "artifactBucket": "shop-delivery-artifacts",
            "roleArns": {
                "build": ARN + "b",
                "deploy": ARN + "d",
                "monitor": ARN + "m",
                "selfUpdate": ARN + "s",
            },
        }
    ],
}
"""Every new value away from its default."""

STEP_CLASS = {
    # implementation-dag
    "set-params": "light",
    "resolve-head": "light",
    "deploy": "standard",
    "acceptance": "standard",
    "cleanup-preview": "standard",
    "keep-preview": "light",
    "stop-agents": "light",
    "publish-success": "light",
    "publish-failure": "light",
    # agents, previews, verification
    "validate-coderun": "light",
    "validate-docsrun": "light",
    "cleanup": "standard",
    "expire-previews": "standard",
    "verify-cluster": "light",
}
"""The class of every step of the bundle (the Aphex pipeline's are checked by class count below)."""


def _kubernetes(resources: dict[str, Any]) -> dict[str, Any]:
    def side(quantities: dict[str, str]) -> dict[str, str]:
        return {
            "cpu": quantities["cpu"],
            "memory": quantities["memory"],
            "ephemeral-storage": quantities["ephemeralStorage"],
        }

    return {"requests": side(resources["requests"]), "limits": side(resources["limits"])}


def _workflow_templates(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "WorkflowTemplate"]


@pytest.fixture(scope="module")
def compiled() -> list[dict[str, Any]]:
    settings = load_settings(VALUES)
    return [*build_bundle(settings), pipeline_template(load_config(EXAMPLES / "aphex-config.yaml"), settings)]


def test_every_workflow_template_places_its_pods_as_the_values_say(compiled: list[dict[str, Any]]) -> None:
    templates = _workflow_templates(compiled)
    assert len(templates) == 7  # six of the bundle and the Aphex pipeline
    for template in templates:
        spec = template["spec"]
        assert spec["nodeSelector"] == NODE_SELECTOR, template["metadata"]["name"]
        assert spec["tolerations"] == TOLERATIONS, template["metadata"]["name"]
        assert spec["imagePullSecrets"] == PULL_SECRETS, template["metadata"]["name"]
        # A template-level field would win over the spec's (addSchedulingConstraints): there is none.
        for step in spec["templates"]:
            assert "nodeSelector" not in step, step["name"]
            assert "tolerations" not in step, step["name"]


def test_every_container_gets_the_resources_of_its_class(compiled: list[dict[str, Any]]) -> None:
    by_class = {name: _kubernetes(resources) for name, resources in RESOURCES.items()}
    seen: dict[str, int] = {"light": 0, "standard": 0, "heavy": 0}
    for template in _workflow_templates(compiled):
        pipeline = template["metadata"]["name"] == "shop-delivery"
        for step in template["spec"]["templates"]:
            container = step.get("script") or step.get("container")
            if container is None:
                continue
            (kind,) = [name for name, resources in by_class.items() if resources == container["resources"]]
            seen[kind] += 1
            if not pipeline:
                assert kind == STEP_CLASS[step["name"]], step["name"]
    assert seen["heavy"] == 3  # the pipeline's build, deploy and test steps
    assert seen["light"] > 0
    assert seen["standard"] > 0


def test_the_deploy_step_receives_the_quota_and_keep_preview_the_lifetime(
    compiled: list[dict[str, Any]],
) -> None:
    (dag,) = [o for o in compiled if o["metadata"]["name"] == "implementation-dag"]
    tasks = {task["name"]: task for t in dag["spec"]["templates"] if "dag" in t for task in t["dag"]["tasks"]}
    deploy = {p["name"]: p["value"] for p in tasks["deploy"]["arguments"]["parameters"]}
    assert json.loads(deploy["quota"]) == {
        "pods": "50",
        "requests.cpu": "3500m",
        "requests.memory": "6Gi",
        "limits.cpu": "7",
        "limits.memory": "12Gi",
    }
    keep = {p["name"]: p["value"] for p in tasks["keep-preview"]["arguments"]["parameters"]}
    assert keep["ttl_hours"] == "72"


def test_the_admission_policy_admits_exactly_the_configured_quota(compiled: list[dict[str, Any]]) -> None:
    (policy,) = [o for o in compiled if o["kind"] == "ValidatingAdmissionPolicy"]
    (guarded,) = [v for v in policy["spec"]["validations"] if "ResourceQuota" in v["message"]]
    hard = {
        "limits.cpu": "7",
        "limits.memory": "12Gi",
        "pods": "50",
        "requests.cpu": "3500m",
        "requests.memory": "6Gi",
        **QUOTA_FIXED,
    }
    literal = json.dumps({"hard": hard}, sort_keys=True, separators=(", ", ": "))
    assert f"object.spec == {literal}" in guarded["expression"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"workflowPods": {"resources": {"light": {"requests": {"cpu": "600m"}}}}},
            "workflowPods.resources.light.requests.cpu: 600m is more than "
            "workflowPods.resources.light.limits.cpu 500m",
        ),
        (
            {"workflowPods": {"resources": {"heavy": {"limits": {"memory": "1000Mi"}}}}},
            "workflowPods.resources.heavy.requests.memory: 1Gi is more than "
            "workflowPods.resources.heavy.limits.memory 1000Mi",
        ),
        (
            {"previewQuota": {"requests": {"memory": "9Gi"}}},
            "previewQuota.requests.memory: 9Gi is more than previewQuota.limits.memory 8Gi",
        ),
        (
            {"workflowPods": {"resources": {"light": {"limits": {"cpu": "1.2345"}}}}},
            "workflowPods.resources.light.limits.cpu",
        ),
        (
            {"workflowPods": {"resources": {"light": {"limits": {"memory": "1.5Gi"}}}}},
            "workflowPods.resources.light.limits.memory",
        ),
        ({"previewQuota": {"pods": 0}}, "previewQuota.pods: 0 is less than the minimum of 1"),
        ({"previewLifetimeHours": 721}, "previewLifetimeHours: 721 is greater than the maximum of 720"),
        ({"workflowPods": {"nodeSelector": {"bad key!": "x"}}}, "workflowPods.nodeSelector"),
        (
            {"workflowPods": {"tolerations": [{"operator": "Exists", "value": "x"}]}},
            "workflowPods.tolerations[0].value",
        ),
        (
            {"workflowPods": {"tolerations": [{"key": "a", "tolerationSeconds": 5}]}},
            "workflowPods.tolerations[0]",
        ),
        (
            {"workflowPods": {"imagePullSecrets": [{"name": "Bad_Name"}]}},
            "workflowPods.imagePullSecrets[0].name",
        ),
    ],
)
def test_invalid_values_are_refused_naming_the_field(values: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(values)
    assert message in str(refused.value)
