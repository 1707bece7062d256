"""The ``workflowPods``, ``previewQuota`` and ``previewLifetimeHours`` values reach every emitted object.

What Argo does with the spec-level fields: argo-workflows workflow/controller/workflowpod.go,
addSchedulingConstraints copies the WorkflowSpec's ``nodeSelector`` and ``tolerations`` into every pod
whose template sets none (no aphex template does), and the pod builder in the same file sets
``imagePullSecrets`` from the WorkflowSpec on every pod; a workflow started from a WorkflowTemplate runs
with the template's spec (workflowTemplateRef).
"""

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any, Final

import pytest

from aphex.dsl.config import load_config
from aphex.dsl.names import LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN
from aphex.dsl.quantities import CPU_PATTERN, STORAGE_PATTERN
from aphex.dsl.settings import (
    BundleSettings,
    SettingsError,
    load_settings,
    settings_document,
    settings_from_document,
)
from aphex.workflows.aphex_pipeline.pipeline import pipeline_template
from aphex.workflows.bundle import build_bundle
from aphex.workflows.steps.implementation_dag.preview import QUOTA_FIXED

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
PIPELINES: Final = [
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
]
"""The example configuration's pipeline (examples/aphex-config.yaml), so its template is compiled too."""
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
    "pipelines": PIPELINES,
}
"""Every new value away from its default."""

QUOTA_ENTRIES: Final = {
    "pods": "50",
    "requests.cpu": "3500m",
    "requests.memory": "6Gi",
    "limits.cpu": "7",
    "limits.memory": "12Gi",
}
"""The deploy step's ``quota`` argument for :data:`VALUES`
(:func:`aphex.workflows.steps.implementation_dag.preview.preview_quota`)."""
DEFAULT_QUOTA_ENTRIES: Final = {
    "pods": "20",
    "requests.cpu": "2",
    "requests.memory": "4Gi",
    "limits.cpu": "4",
    "limits.memory": "8Gi",
}
DEFAULT_RESOURCES: Final = {
    "light": _class(("50m", "500m"), ("128Mi", "256Mi"), ("64Mi", "1Gi")),
    "standard": _class(("250m", "1"), ("256Mi", "1Gi"), ("64Mi", "4Gi")),
    "heavy": _class(("500m", "2"), ("1Gi", "4Gi"), ("1Gi", "10Gi")),
}
"""What the steps had before these values existed (the documented defaults)."""

STEP_CLASS: Final = {
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
    "expire-previews": "standard",
    "verify-cluster": "light",
    # the Aphex pipeline
    "validate": "standard",
    "build": "heavy",
    "self-update": "standard",
    "deploy-stage": "heavy",
    "run-tests": "heavy",
    "record-workflow": "light",
    "check-approval": "light",
}
"""The class of every step of the bundle and of the Aphex pipeline, by template name."""


def _kubernetes(resources: dict[str, Any]) -> dict[str, Any]:
    def side(quantities: dict[str, str]) -> dict[str, str]:
        return {
            "cpu": quantities["cpu"],
            "memory": quantities["memory"],
            "ephemeral-storage": quantities["ephemeralStorage"],
        }

    return {"requests": side(resources["requests"]), "limits": side(resources["limits"])}


def _compile(values: dict[str, Any]) -> list[dict[str, Any]]:
    """``aphex compile --values`` and the example pipeline's template (``--config``)."""
    settings = load_settings(values)
    return [*build_bundle(settings), pipeline_template(load_config(EXAMPLES / "aphex-config.yaml"), settings)]


def _identity(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def _containers(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(step template name, container) of every step of a WorkflowTemplate that runs a container."""
    steps = template["spec"]["templates"]
    return [
        (step["name"], step.get("script") or step["container"])
        for step in steps
        if {"script", "container"} & set(step)
    ]


def _tasks(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        task["name"]: task for t in template["spec"]["templates"] if "dag" in t for task in t["dag"]["tasks"]
    }


def _argument(task: dict[str, Any], name: str) -> str:
    (value,) = [p["value"] for p in task["arguments"]["parameters"] if p["name"] == name]
    return str(value)


def _quota_literal(entries: dict[str, str]) -> str:
    """The quota spec as the admission policy's CEL compares it
    (aphex/workflows/implementation_dag/admission.py, _cel)."""
    return json.dumps({"hard": {**entries, **QUOTA_FIXED}}, sort_keys=True, separators=(", ", ": "))


def _document(values: dict[str, Any]) -> str:
    """The settings the Aphex pipeline's self-update step receives
    (aphex/workflows/aphex_pipeline/pipeline.py): the values with the pipeline's own ``pipelines`` entry
    only."""
    return json.dumps(settings_document(_own_entry_only(load_settings(values))), sort_keys=True)


def _own_entry_only(settings: BundleSettings) -> BundleSettings:
    own = tuple(entry for entry in settings.pipelines if entry.name == "shop-delivery")
    return dataclasses.replace(settings, pipelines=own)


def _expected(defaults: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects compiled with default values, changed exactly as :data:`VALUES` says and nowhere else."""
    default_document, document = _document({"pipelines": PIPELINES}), _document(VALUES)
    by_default = {json.dumps(_kubernetes(r), sort_keys=True): name for name, r in DEFAULT_RESOURCES.items()}
    expected = copy.deepcopy(defaults)
    for obj in expected:
        if obj["kind"] == "WorkflowTemplate":
            spec = obj["spec"]
            spec["nodeSelector"] = NODE_SELECTOR
            spec["tolerations"] = TOLERATIONS
            spec["imagePullSecrets"] = PULL_SECRETS
            for _, container in _containers(obj):
                step_class = by_default[json.dumps(container["resources"], sort_keys=True)]
                container["resources"] = _kubernetes(RESOURCES[step_class])
        if _identity(obj) == ("WorkflowTemplate", "implementation-dag"):
            tasks = _tasks(obj)
            for parameter in tasks["deploy"]["arguments"]["parameters"]:
                if parameter["name"] == "quota":
                    assert json.loads(parameter["value"]) == DEFAULT_QUOTA_ENTRIES
                    parameter["value"] = json.dumps(QUOTA_ENTRIES)
            for parameter in tasks["keep-preview"]["arguments"]["parameters"]:
                if parameter["name"] == "ttl_hours":
                    assert parameter["value"] == "24"  # the lifetime before it was a value
                    parameter["value"] = "72"
        if _identity(obj) == ("WorkflowTemplate", "shop-delivery"):
            for task in _tasks(obj).values():
                for parameter in task.get("arguments", {}).get("parameters", []):
                    if parameter["value"] == default_document:
                        parameter["value"] = document
        if obj["kind"] == "ValidatingAdmissionPolicy":
            for validation in obj["spec"]["validations"]:
                validation["expression"] = validation["expression"].replace(
                    _quota_literal(DEFAULT_QUOTA_ENTRIES), _quota_literal(QUOTA_ENTRIES)
                )
    return expected


@pytest.fixture(scope="module")
def defaults() -> list[dict[str, Any]]:
    return _compile({"pipelines": PIPELINES})


@pytest.fixture(scope="module")
def compiled() -> list[dict[str, Any]]:
    return _compile(VALUES)


def test_the_defaults_are_the_documented_ones(defaults: list[dict[str, Any]]) -> None:
    assert load_settings({}).to_values()["workflowPods"] == {
        "resources": DEFAULT_RESOURCES,
        "nodeSelector": {},
        "tolerations": [],
        "imagePullSecrets": [],
    }
    for template in [o for o in defaults if o["kind"] == "WorkflowTemplate"]:
        assert not {"nodeSelector", "tolerations", "imagePullSecrets"} & set(template["spec"])


def test_the_values_change_exactly_their_fields_of_every_compiled_object(
    defaults: list[dict[str, Any]], compiled: list[dict[str, Any]]
) -> None:
    expected = {_identity(obj): obj for obj in _expected(defaults)}
    actual = {_identity(obj): obj for obj in compiled}
    assert sorted(actual) == sorted(expected)
    for identity, obj in expected.items():
        assert actual[identity] == obj, identity
    # The replacements above all happened: each value reached its objects.
    (policy,) = [o for o in compiled if o["kind"] == "ValidatingAdmissionPolicy"]
    assert any(_quota_literal(QUOTA_ENTRIES) in v["expression"] for v in policy["spec"]["validations"])
    (dag,) = [o for o in compiled if _identity(o) == ("WorkflowTemplate", "implementation-dag")]
    assert json.loads(_argument(_tasks(dag)["deploy"], "quota")) == QUOTA_ENTRIES
    assert _argument(_tasks(dag)["keep-preview"], "ttl_hours") == "72"
    (pipeline,) = [o for o in compiled if _identity(o) == ("WorkflowTemplate", "shop-delivery")]
    assert json.dumps(pipeline).count(json.dumps(_document(VALUES))[1:-1]) == 1
    # What self-update receives gives back the same settings (it recompiles the pipeline with them).
    document = json.loads(_document(VALUES))
    assert settings_from_document(document) == _own_entry_only(load_settings(VALUES))


def test_every_workflow_template_places_its_pods_as_the_values_say(compiled: list[dict[str, Any]]) -> None:
    templates = [o for o in compiled if o["kind"] == "WorkflowTemplate"]
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
    seen = set()
    for template in [o for o in compiled if o["kind"] == "WorkflowTemplate"]:
        for name, container in _containers(template):
            step = (
                "deploy-stage"
                if template["metadata"]["name"].endswith("shop-delivery") and name == "deploy"
                else name
            )
            assert container["resources"] == _kubernetes(RESOURCES[STEP_CLASS[step]]), step
            seen.add(step)
    assert seen == set(STEP_CLASS)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"workflowPods": {"resources": {"light": {"requests": {"cpu": "600m"}}}}},
            "workflowPods.resources.light.requests.cpu: must be at most "
            "workflowPods.resources.light.limits.cpu (500m)",
        ),
        (
            {"workflowPods": {"resources": {"heavy": {"limits": {"memory": "1000Mi"}}}}},
            "workflowPods.resources.heavy.requests.memory: must be at most "
            "workflowPods.resources.heavy.limits.memory (1000Mi)",
        ),
        (
            {"previewQuota": {"requests": {"memory": "9Gi"}}},
            "previewQuota.requests.memory: must be at most previewQuota.limits.memory (8Gi)",
        ),
        (
            {"workflowPods": {"resources": {"light": {"limits": {"cpu": "1.2345"}}}}},
            "workflowPods.resources.light.limits.cpu: must match " + CPU_PATTERN,
        ),
        (
            {"workflowPods": {"resources": {"light": {"limits": {"memory": "1.5Gi"}}}}},
            "workflowPods.resources.light.limits.memory: must match " + STORAGE_PATTERN,
        ),
        ({"previewQuota": {"pods": 0}}, "previewQuota.pods: must be at least 1"),
        ({"previewLifetimeHours": 721}, "previewLifetimeHours: must be at most 720"),
        ({"previewLifetimeHours": 0}, "previewLifetimeHours: must be at least 1"),
        (
            {"workflowPods": {"nodeSelector": {"pool": "not valid!"}}},
            "workflowPods.nodeSelector.pool: must match " + LABEL_VALUE_PATTERN,
        ),
        (
            {"workflowPods": {"tolerations": [{"operator": "Exists", "value": "x"}]}},
            'workflowPods.tolerations[0].value: must be ""',
        ),
        (
            {"workflowPods": {"tolerations": [{"key": "a", "tolerationSeconds": 5}]}},
            "workflowPods.tolerations[0].effect: is required",
        ),
        (
            {"workflowPods": {"imagePullSecrets": [{"name": "registry"}, {"name": "registry"}]}},
            "workflowPods.imagePullSecrets: must not list the same item twice",
        ),
        (
            {"workflowPods": {"nodeSelctor": {}}},
            "workflowPods.nodeSelctor: unknown field (did you mean nodeSelector?)",
        ),
    ],
)
def test_invalid_values_are_refused_naming_the_field(values: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(values)
    assert str(refused.value) == message


def test_a_bad_node_selector_key_is_named() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"workflowPods": {"nodeSelector": {"bad key!": "x"}}})
    assert str(refused.value) == 'workflowPods.nodeSelector: key "bad key!" must match ' + LABEL_KEY_PATTERN
