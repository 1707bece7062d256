"""Argo's template types: which a template sets, which of them run a pod, and how Argo names them."""

from aphex.dsl.lint.rules import Obj

__all__ = ["ARGO_TYPE_NAMES", "POD_TYPES", "TEMPLATE_TYPES", "single_type", "template_types"]

TEMPLATE_TYPES = (
    "container",
    "containerSet",
    "steps",
    "script",
    "resource",
    "dag",
    "suspend",
    "data",
    "http",
    "plugin",
)
POD_TYPES = {"container", "containerSet", "script", "resource", "data"}
ARGO_TYPE_NAMES = {
    "container": "Container",
    "containerSet": "ContainerSet",
    "steps": "Steps",
    "script": "Script",
    "resource": "Resource",
    "dag": "DAG",
    "suspend": "Suspend",
    "data": "Data",
    "http": "HTTP",
    "plugin": "Plugin",
}
"""Template.GetType() as Argo prints it in messages (pkg/apis/workflow/v1alpha1/workflow_types.go)."""


def template_types(template: Obj) -> list[str]:
    """Every type field the template sets, in Argo's order."""
    return [kind for kind in TEMPLATE_TYPES if template.get(kind) is not None]


def single_type(template: Obj | None) -> str:
    """The template's type, or ``""`` when it sets none or several (or there is no template)."""
    kinds = template_types(template) if template is not None else []
    return kinds[0] if len(kinds) == 1 else ""
