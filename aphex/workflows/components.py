"""The parts of the bundle each component installs, and the toggles that select them.

The bundle is a list of :class:`~aphex.dsl.bundle_writer.BundlePart`, each installed under a condition on the
``components`` toggles, so ``aphex compile`` and the Helm chart agree on what a toggle does. Each part
names its :class:`Component`, the folder of its templates in the chart. ``cluster-verify`` and its RBAC
are derived from these parts (:mod:`aphex.workflows.verify_parts`).
"""

import enum
import itertools
from typing import Final

from aphex.dsl.bundle_writer import BundlePart
from aphex.dsl.manifest import manifest
from aphex.dsl.settings import BundleSettings
from aphex.workflows.aphex_pipeline.pipeline import pipeline_rbac
from aphex.workflows.events import (
    event_source_objects,
    implementation_trigger_objects,
    push_trigger_objects,
    sensor_rbac_objects,
)
from aphex.workflows.implementation_dag.admission import admission_objects
from aphex.workflows.implementation_dag.agents import coderun_template, docsrun_template
from aphex.workflows.implementation_dag.dag import implementation_dag
from aphex.workflows.implementation_dag.previews import (
    janitor_cron_workflow,
    preview_cleanup_template,
    preview_janitor_template,
)
from aphex.workflows.implementation_dag.rbac import rbac_objects

__all__ = [
    "SHAPE_TOGGLES",
    "Combination",
    "Component",
    "combinations",
    "component_parts",
    "shape",
    "toggles",
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


def combinations(components: Combination) -> list[Combination]:
    """Every combination of the values of these toggles, in a stable order (all on first)."""
    names = [name for name, _ in components]
    return [
        tuple(zip(names, values, strict=True))
        for values in itertools.product([True, False], repeat=len(names))
    ]


def toggles(settings: BundleSettings) -> Combination:
    """The component toggles of ``settings``."""
    return tuple(settings.to_values()["components"].items())


SHAPE_TOGGLES: Final = frozenset({"docsStage"})
"""The component toggles that change what a part holds, not only whether it is installed: the
implementation DAG offers the docs stage only with ``docsStage``. Every other toggle only selects parts,
so the parts of any combination are those of the combination with the same shape toggles and every other
toggle on, less the parts whose condition it fails (tests/workflows/test_components.py pins this for every
combination)."""


def shape(components: Combination) -> Combination:
    """These toggles with every one outside :data:`SHAPE_TOGGLES` on."""
    return tuple((name, value if name in SHAPE_TOGGLES else True) for name, value in components)
