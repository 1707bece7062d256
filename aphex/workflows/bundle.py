"""Everything the aphex bundle installs on a cluster, built from one
:class:`~aphex.dsl.settings.BundleSettings`.

The bundle is a list of :class:`~aphex.dsl.bundle_writer.BundlePart`, each installed under a condition on the
``components`` toggles, so ``aphex compile`` and the Helm chart agree on what a toggle does. Each part
names its :class:`Component`, the folder of its templates in the chart.
"""

import enum
import functools
import itertools
from typing import Any, Final

from aphex.dsl.bundle_writer import BundlePart, Condition
from aphex.dsl.manifest import manifest
from aphex.dsl.settings import BundleSettings
from aphex.workflows.aphex_pipeline.pipeline import pipeline_rbac, pipeline_steps_read
from aphex.workflows.cluster_verify.prerequisites import (
    Symbolic,
    found_checks,
    merge_found,
    required_by_toggles,
    symbolic,
)
from aphex.workflows.cluster_verify.template import cluster_verify_template, verifier_rbac_objects
from aphex.workflows.events import (
    event_source_objects,
    implementation_trigger_objects,
    push_trigger_objects,
    sensor_rbac_objects,
)
from aphex.workflows.implementation_dag.admission import admission_objects
from aphex.workflows.implementation_dag.agents import coderun_template, docsrun_template
from aphex.workflows.implementation_dag.dag import check_deadlines, implementation_dag
from aphex.workflows.implementation_dag.previews import (
    janitor_cron_workflow,
    preview_cleanup_template,
    preview_janitor_template,
)
from aphex.workflows.implementation_dag.rbac import rbac_objects
from aphex.workflows.steps.cluster_verify.checks import Check

__all__ = [
    "SHAPE_TOGGLES",
    "Combination",
    "Component",
    "build_bundle",
    "bundle_parts",
    "component_parts",
    "required_checks",
    "token_parts",
]


class Component(enum.StrEnum):
    """What a part of the bundle belongs to; the chart groups its templates in a folder of this name, as
    the Argo community charts group theirs by component (argo-helm charts/argo-workflows/templates/
    controller/, server/)."""

    IMPLEMENTATION = "implementation"
    """The implementation DAG, the agent templates, their RBAC, previews and the admission policy."""
    PIPELINE = "pipeline"
    """The Aphex pipelines' ServiceAccounts, RBAC and push Sensors, one set per ``pipelines`` entry."""
    EVENTS = "events"
    """The GitHub EventSource, the implementation Sensors and the Sensors' RBAC."""
    VERIFY = "verify"
    """``cluster-verify`` and its RBAC."""


def bundle_parts(settings: BundleSettings) -> list[BundlePart]:
    """The parts of the bundle for ``settings``; a part whose shape depends on a toggle is built for the
    toggle's value in ``settings`` and says so in its condition. ``cluster-verify`` checks what the
    other parts need, so its objects name the toggles their content depends on."""
    parts = component_parts(settings)
    return [*parts[:2], *_verify_parts(settings), *parts[2:]]


def component_parts(settings: BundleSettings) -> list[BundlePart]:
    """The parts of the enabled components: everything but ``cluster-verify`` and its RBAC."""
    implementation = ("implementationDag", True)
    docs = ("docsStage", settings.components.docs_stage)
    dag = manifest(implementation_dag(settings))
    parts = [
        BundlePart(component=Component.IMPLEMENTATION, condition=(implementation, docs), objects=[dag]),
        BundlePart(
            component=Component.IMPLEMENTATION,
            condition=(implementation,),
            objects=[
                manifest(coderun_template(settings)),
                *rbac_objects(settings),
                *admission_objects(settings),
                manifest(preview_cleanup_template(settings)),
                manifest(preview_janitor_template(settings)),
                janitor_cron_workflow(settings),
            ],
        ),
    ]
    events = ("events", True)
    parts += [
        BundlePart(
            component=Component.EVENTS,
            condition=(events,),
            objects=[*event_source_objects(settings), *sensor_rbac_objects(settings)],
        ),
        BundlePart(
            component=Component.EVENTS,
            condition=(events, implementation),
            objects=implementation_trigger_objects(settings),
        ),
    ]
    pipeline = ("pipeline", True)
    for index, entry in enumerate(settings.pipelines):
        parts += [
            BundlePart(
                component=Component.PIPELINE,
                condition=(pipeline,),
                objects=pipeline_rbac(entry, settings),
                element=index,
            ),
            BundlePart(
                component=Component.PIPELINE,
                condition=(pipeline, events),
                objects=push_trigger_objects(settings, entry),
                element=index,
            ),
        ]
    if settings.components.docs_stage:
        parts.append(
            BundlePart(
                component=Component.IMPLEMENTATION,
                condition=(implementation, docs),
                objects=[manifest(docsrun_template(settings))],
            )
        )
    return parts


Combination = tuple[tuple[str, bool], ...]
"""Component toggles (camelCase) and their values, in the order of the values."""


def _combinations(components: Combination) -> list[Combination]:
    names = [name for name, _ in components]
    return [
        tuple(zip(names, values, strict=True))
        for values in itertools.product([True, False], repeat=len(names))
    ]


def _components(settings: BundleSettings) -> Combination:
    return tuple(settings.to_values()["components"].items())


SHAPE_TOGGLES: Final = frozenset({"docsStage"})
"""The component toggles that change what a part holds, not only whether it is installed: the
implementation DAG offers the docs stage only with ``docsStage``. Every other toggle only selects parts,
so the parts of any combination are those of the combination with the same shape toggles and every other
toggle on, less the parts whose condition it fails (tests/workflows/test_bundle.py pins this for every
combination)."""


def _shape(components: Combination) -> Combination:
    return tuple((name, value if name in SHAPE_TOGGLES else True) for name, value in components)


def _token_settings(components: Combination) -> Symbolic:
    """The token settings for these toggles; by :data:`SHAPE_TOGGLES`, those of their shape."""
    return symbolic(_shape(components))


@functools.cache
def _token_parts(shape: Combination) -> tuple[tuple[BundlePart, tuple[Check, ...]], ...]:
    """Every part in token space for these shape toggles (every other toggle on), with what it needs:
    the components' parts, the verifier's own, and what the steps of the pipelines (compiled apart
    from the bundle) read."""
    tokens = symbolic(shape)
    own = BundlePart(
        component=Component.VERIFY,
        condition=(),
        objects=[
            manifest(cluster_verify_template(tokens.settings, [])),
            *verifier_rbac_objects(tokens.settings, []),
        ],
    )
    pipelines = BundlePart(
        component=Component.PIPELINE,
        condition=(("pipeline", True),),
        objects=[pipeline_steps_read(tokens.settings)],
    )
    every = (*component_parts(tokens.settings), own, pipelines)
    return tuple((part, found_checks(part, tokens.tokens)) for part in every)


def token_parts(components: Combination) -> list[BundlePart]:
    """The parts these toggles install, in token space (see
    :mod:`aphex.workflows.cluster_verify.prerequisites`)."""
    return [part for part, _ in _token_parts(_shape(components)) if part.applies(dict(components))]


@functools.cache
def _derived(components: Combination) -> tuple[Check, ...]:
    """The checks of these toggles, derived from the bundle of the token settings."""
    findings = [
        (part.condition, found)
        for part, found in _token_parts(_shape(components))
        if part.applies(dict(components))
    ]
    order = [name for name, _ in components]
    return tuple(merge_found(findings, _token_settings(components).tokens, order))


@functools.cache
def _symbolic_checks(components: Combination) -> tuple[Check, ...]:
    """The checks of these toggles in token space, each required by the toggles that bring it."""
    derived = {combination: _derived(combination) for combination in _combinations(components)}
    return tuple(required_by_toggles(dict(components), derived))


def required_checks(settings: BundleSettings) -> list[Check]:
    """What the cluster must hold for the components ``settings`` enable (``cluster-verify``'s checks)."""
    components = _components(settings)
    checks: tuple[Check, ...] = _token_settings(components).real(_symbolic_checks(components), settings)
    return list(checks)


@functools.cache
def _verify_objects(components: Combination) -> tuple[dict[str, Any], ...]:
    """``cluster-verify`` and its RBAC for these toggles, in token space."""
    tokens = _token_settings(components)
    checks = _symbolic_checks(components)
    template = manifest(cluster_verify_template(tokens.settings, checks))
    return (template, *verifier_rbac_objects(tokens.settings, checks))


def _identity(obj: dict[str, Any]) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace", "")


@functools.cache
def _verify_conditions(components: Combination) -> tuple[Condition, ...]:
    """For each of :func:`_verify_objects`, the toggles it depends on, as a decision tree over the
    toggles in order: a toggle is named unless, given the toggles named before it, the object (or its
    absence) is the same for both of its values. Different copies of one object therefore always
    differ in a toggle both name, so the chart never installs two of them."""
    combinations = _combinations(components)

    def variant(combination: Combination, identity: tuple[str, str, str]) -> dict[str, Any] | None:
        return next((o for o in _verify_objects(combination) if _identity(o) == identity), None)

    def flipped(combination: Combination, name: str) -> Combination:
        return tuple((toggle, value != (toggle == name)) for toggle, value in combination)

    conditions = []
    for obj in _verify_objects(components):
        condition: list[tuple[str, bool]] = []
        for name, value in components:
            agreeing = [c for c in combinations if set(condition) <= set(c)]
            if any(variant(c, _identity(obj)) != variant(flipped(c, name), _identity(obj)) for c in agreeing):
                condition.append((name, value))
        conditions.append(tuple(condition))
    return tuple(conditions)


def _verify_parts(settings: BundleSettings) -> list[BundlePart]:
    """``cluster-verify`` and its RBAC for the toggles of ``settings``, each object in a part naming the
    toggles it depends on. The checks and the RBAC are built in token space and then given the values,
    so that the Roles follow the values that name namespaces, not their spelling; the template is built
    from ``settings`` (its image may have a digest, which has no token)."""
    components = _components(settings)
    tokens = _token_settings(components)
    template = manifest(cluster_verify_template(settings, required_checks(settings)))
    rbac = tokens.real(list(_verify_objects(components)[1:]), settings)
    return [
        BundlePart(component=Component.VERIFY, condition=condition, objects=[obj])
        for condition, obj in zip(_verify_conditions(components), [template, *rbac], strict=True)
    ]


def build_bundle(settings: BundleSettings) -> list[dict[str, Any]]:
    """All objects ``settings`` install, in a stable order; :class:`SettingsError` for settings whose
    objects would contradict each other (a workflow deadline shorter than its stages')."""
    components = settings.to_values()["components"]
    if components["implementationDag"]:
        check_deadlines(settings)
    return [obj for part in bundle_parts(settings) if part.applies(components) for obj in part.objects]
