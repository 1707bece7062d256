"""The derivation of the cluster checks from bundle parts: each rule on small parts, then its limits."""

from typing import Any

import pytest

from aphex.dsl.bundle_writer import BundlePart
from aphex.workflows.cluster_verify.prerequisites import PrerequisiteError, derive_checks, symbolic
from aphex.workflows.components import Component

ORDER = ["implementationDag", "docsStage", "events", "pipeline"]
TOKENS = {"ns0z": "namespace", "ev1z": "events.namespace", "gr2z.x": "agentApiGroup"}


def _lines(parts: list[BundlePart]) -> list[str]:
    return [f"{c.where} {c.because()}" for c in derive_checks(parts, TOKENS, ORDER)]


def _template(namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": "t", "namespace": namespace},
        "spec": spec,
    }


def test_a_template_needs_its_crds_its_namespace_and_the_secrets_it_reads() -> None:
    container = {
        "env": [
            {"name": "A", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token", "optional": True}}},
            {
                "name": "B",
                "valueFrom": {"secretKeyRef": {"name": "creds", "key": "app-id", "optional": True}},
            },
        ],
        "volumes": [
            {"name": "hook", "secret": {"secretName": "slack", "items": [{"key": "url", "path": "u"}]}}
        ],
    }
    part = BundlePart(
        component=Component.EVENTS,
        condition=(("events", True),),
        objects=[_template("ns0z", templates=[container])],
    )
    assert _lines([part]) == [
        "CustomResourceDefinition workflows.argoproj.io (required by components.events)",
        "CustomResourceDefinition workflowtaskresults.argoproj.io (required by components.events)",
        "CustomResourceDefinition workflowtemplates.argoproj.io (required by components.events)",
        "Namespace ns0z (named by namespace; required by components.events)",
        "Secret creds in namespace ns0z (named by namespace; required by components.events)",
        "Secret slack in namespace ns0z (named by namespace; required by components.events)",
    ]
    secrets = [c for c in derive_checks([part], TOKENS, ORDER) if c.kind == "secret"]
    assert [(c.keys, c.one_of_keys) for c in secrets] == [((), ("token", "app-id")), (("url",), ())]


def test_what_an_object_creates_needs_its_crd_too() -> None:
    manifest = "apiVersion: gr2z.x/v1\nkind: CodeRun\nmetadata:\n  name: '{{workflow.name}}'\n"
    sensor = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Sensor",
        "metadata": {"name": "s", "namespace": "ev1z"},
        "spec": {
            "triggers": [
                {"template": {"k8s": {"source": {"resource": _template("ns0z") | {"kind": "Workflow"}}}}}
            ]
        },
    }
    parts = [
        BundlePart(
            component=Component.IMPLEMENTATION,
            condition=(("implementationDag", True),),
            objects=[_template("ns0z", templates=[{"resource": {"action": "create", "manifest": manifest}}])],
        ),
        BundlePart(component=Component.EVENTS, condition=(("events", True),), objects=[sensor]),
    ]
    lines = _lines(parts)
    assert (
        "CustomResourceDefinition coderuns.gr2z.x (named by agentApiGroup; required by "
        "components.implementationDag)"
    ) in lines
    assert (
        "Namespace ns0z (named by namespace; required by components.implementationDag or components.events)"
        in lines
    )
    assert (
        "EventBus default in namespace ev1z (named by events.namespace; required by components.events)"
        in lines
    )
    assert "CustomResourceDefinition eventbus.argoproj.io (required by components.events)" in lines
    assert "CustomResourceDefinition sensors.argoproj.io (required by components.events)" in lines
    assert (
        "CustomResourceDefinition workflows.argoproj.io (required by components.implementationDag or "
        "components.events)"
    ) in lines


def test_a_new_kind_or_api_is_refused_until_it_is_described() -> None:
    unknown_kind = {"apiVersion": "gr2z.x/v1", "kind": "Widget", "metadata": {"name": "w"}}
    with pytest.raises(PrerequisiteError, match=r"kind Widget .*CUSTOM_RESOURCE_PLURALS"):
        derive_checks(
            [BundlePart(component=Component.VERIFY, condition=(), objects=[unknown_kind])], TOKENS, ORDER
        )
    beta = {"apiVersion": "resource.k8s.io/v1beta1", "kind": "ResourceClaim", "metadata": {"name": "c"}}
    with pytest.raises(PrerequisiteError, match="NEWER_APIS or ALWAYS_SERVED"):
        derive_checks([BundlePart(component=Component.VERIFY, condition=(), objects=[beta])], TOKENS, ORDER)


def test_tokens_are_replaced_by_the_values_they_stand_for() -> None:
    from aphex.dsl.settings import load_settings

    tokens = symbolic(
        (("implementationDag", True), ("docsStage", True), ("events", True), ("pipeline", True))
    )
    namespace = next(token for token, path in tokens.tokens.items() if path == "namespace")
    settings = load_settings({"namespace": "team-a"})
    assert tokens.real({"a": [f"x-{namespace}-y"]}, settings) == {"a": ["x-team-a-y"]}
    entry = next(token for token, path in tokens.tokens.items() if path == "pipelines.[].name")
    with pytest.raises(PrerequisiteError, match="pipelines"):
        tokens.real(entry, settings)
