"""Everything the aphex bundle installs on a cluster, built from one
:class:`~aphex.dsl.settings.BundleSettings`: the components' parts (:mod:`aphex.workflows.components`)
and ``cluster-verify``'s (:mod:`aphex.workflows.verify_parts`).
"""

from typing import Any

from aphex.dsl.bundle_writer import BundlePart
from aphex.dsl.settings import BundleSettings
from aphex.workflows.components import component_parts
from aphex.workflows.implementation_dag.dag import check_deadlines
from aphex.workflows.verify_parts import verify_parts

__all__ = ["build_bundle", "bundle_parts"]


def bundle_parts(settings: BundleSettings) -> list[BundlePart]:
    """The parts of the bundle for ``settings``; a part whose shape depends on a toggle is built for the
    toggle's value in ``settings`` and says so in its condition. ``cluster-verify`` checks what the
    other parts need, so its objects name the toggles their content depends on."""
    parts = component_parts(settings)
    return [*parts[:2], *verify_parts(settings), *parts[2:]]


def build_bundle(settings: BundleSettings) -> list[dict[str, Any]]:
    """All objects ``settings`` install, in a stable order; :class:`SettingsError` for settings whose
    objects would contradict each other (a workflow deadline shorter than its stages')."""
    components = settings.to_values()["components"]
    if components["implementationDag"]:
        check_deadlines(settings)
    return [obj for part in bundle_parts(settings) if part.applies(components) for obj in part.objects]
