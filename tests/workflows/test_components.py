"""The components' parts: the shape toggles the cluster-verify check derivation relies on."""

import itertools

import pytest

from aphex.dsl.bundle_writer import BundlePart
from aphex.dsl.manifest import manifest
from aphex.dsl.settings import BundleSettings
from aphex.workflows.aphex_pipeline.pipeline import pipeline_steps_read
from aphex.workflows.cluster_verify.prerequisites import symbolic
from aphex.workflows.cluster_verify.template import cluster_verify_template, verifier_rbac_objects
from aphex.workflows.components import SHAPE_TOGGLES, Combination, Component, component_parts
from aphex.workflows.verify_parts import token_parts

TOGGLES = tuple(BundleSettings().to_values()["components"])
COMBINATIONS = [
    tuple(zip(TOGGLES, values, strict=True))
    for values in itertools.product([True, False], repeat=len(TOGGLES))
]


def _contents(parts: list[BundlePart]) -> list[object]:
    return [(part.component, part.condition, part.element, part.objects) for part in parts]


@pytest.mark.parametrize("components", COMBINATIONS, ids=lambda c: "-".join(f"{n}={v}" for n, v in c))
def test_only_the_shape_toggles_change_what_a_part_holds(components: Combination) -> None:
    """Built from token settings with exactly these toggles, the parts that apply are the derivation's
    parts (built with every toggle outside SHAPE_TOGGLES on), object for object."""
    settings = symbolic(components).settings
    own = BundlePart(
        component=Component.VERIFY,
        condition=(),
        objects=[manifest(cluster_verify_template(settings, [])), *verifier_rbac_objects(settings, [])],
    )
    steps = BundlePart(
        component=Component.PIPELINE,
        condition=(("pipeline", True),),
        objects=[pipeline_steps_read(settings)],
    )
    built = [part for part in [*component_parts(settings), own, steps] if part.applies(dict(components))]
    assert _contents(token_parts(components)) == _contents(built)


def test_the_docs_stage_is_a_shape_toggle() -> None:
    """The implementation DAG offers the docs stage only with docsStage: were it missing from
    SHAPE_TOGGLES, the derivation would read one DAG for both."""
    assert "docsStage" in SHAPE_TOGGLES
    on = dict.fromkeys(TOGGLES, True)
    dags = [
        component_parts(symbolic(tuple(values.items())).settings)[0].objects
        for values in (on, {**on, "docsStage": False})
    ]
    assert dags[0] != dags[1]
