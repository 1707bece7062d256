"""Everything the aphex bundle installs on a cluster, built from one :class:`~dsl.settings.BundleSettings`."""

from typing import Any

import yaml
from hera.workflows import WorkflowTemplate

from dsl.settings import BundleSettings
from workflows.agents import coderun_template, docsrun_template
from workflows.implementation_dag import implementation_dag
from workflows.rbac import rbac_objects

__all__ = ["build_bundle", "template_to_dict"]


def template_to_dict(template: WorkflowTemplate) -> dict[str, Any]:
    """A Hera object as a plain mapping in Hera's human key order (apiVersion, kind, metadata, spec)."""
    data: dict[str, Any] = yaml.safe_load(template.to_yaml())
    return data


def build_bundle(settings: BundleSettings) -> list[dict[str, Any]]:
    """All objects of the bundle, in a stable order."""
    templates = [implementation_dag(settings), coderun_template(settings), docsrun_template(settings)]
    return [*(template_to_dict(template) for template in templates), *rbac_objects(settings)]
