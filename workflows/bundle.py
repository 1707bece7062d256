"""Everything the aphex bundle installs on a cluster, built from one :class:`~dsl.settings.BundleSettings`.

The bundle is a list of :class:`~dsl.bundle.BundlePart`, each installed under a condition on the
``components`` toggles, so ``aphex compile`` and the Helm chart agree on what a toggle does.
"""

from typing import Any

from hera.workflows import WorkflowTemplate

from dsl.bundle import BundlePart
from dsl.manifest import manifest
from dsl.settings import BundleSettings
from workflows.admission import admission_objects
from workflows.agents import coderun_template, docsrun_template
from workflows.aphex_pipeline import pipeline_rbac
from workflows.events import (
    event_source_objects,
    implementation_trigger_objects,
    push_trigger_objects,
    sensor_rbac_objects,
)
from workflows.implementation_dag import check_deadlines, implementation_dag
from workflows.previews import (
    janitor_cron_workflow,
    preview_cleanup_template,
    preview_janitor_template,
)
from workflows.rbac import rbac_objects
from workflows.verify import cluster_verify_template, verifier_rbac_objects

__all__ = ["build_bundle", "bundle_parts", "template_to_dict"]


def template_to_dict(template: WorkflowTemplate) -> dict[str, Any]:
    """A Hera object as a plain mapping in Hera's human key order (apiVersion, kind, metadata, spec)."""
    return manifest(template)


def bundle_parts(settings: BundleSettings) -> list[BundlePart]:
    """The parts of the bundle for ``settings``; a part whose shape depends on a toggle is built for the
    toggle's value in ``settings`` and says so in its condition."""
    implementation = ("implementationDag", True)
    docs = ("docsStage", settings.components.docs_stage)
    dag = template_to_dict(implementation_dag(settings))
    parts = [
        BundlePart(condition=(implementation, docs), objects=[dag]),
        BundlePart(
            condition=(implementation,),
            objects=[
                template_to_dict(coderun_template(settings)),
                *rbac_objects(settings),
                *admission_objects(settings),
                template_to_dict(preview_cleanup_template(settings)),
                template_to_dict(preview_janitor_template(settings)),
                janitor_cron_workflow(settings),
            ],
        ),
    ]
    parts.append(
        BundlePart(
            condition=(),
            objects=[template_to_dict(cluster_verify_template(settings)), *verifier_rbac_objects(settings)],
        )
    )
    events = ("events", True)
    parts += [
        BundlePart(
            condition=(events,), objects=[*event_source_objects(settings), *sensor_rbac_objects(settings)]
        ),
        BundlePart(condition=(events, implementation), objects=implementation_trigger_objects(settings)),
    ]
    pipeline = ("pipeline", True)
    for index, entry in enumerate(settings.pipelines):
        parts += [
            BundlePart(condition=(pipeline,), objects=pipeline_rbac(entry, settings), element=index),
            BundlePart(
                condition=(pipeline, events), objects=push_trigger_objects(settings, entry), element=index
            ),
        ]
    if settings.components.docs_stage:
        parts.append(
            BundlePart(
                condition=(implementation, docs), objects=[template_to_dict(docsrun_template(settings))]
            )
        )
    return parts


def build_bundle(settings: BundleSettings) -> list[dict[str, Any]]:
    """All objects ``settings`` install, in a stable order; :class:`SettingsError` for settings whose
    objects would contradict each other (a workflow deadline shorter than its stages')."""
    components = settings.to_values()["components"]
    if components["implementationDag"]:
        check_deadlines(settings)
    return [obj for part in bundle_parts(settings) if part.applies(components) for obj in part.objects]
