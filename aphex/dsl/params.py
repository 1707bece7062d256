"""Workflow parameters that explain themselves in the Argo UI submit form.

Every parameter carries a description; a closed set of values carries an ``enum`` so the form offers a
drop-down and Argo rejects anything else at submission. See
https://argo-workflows.readthedocs.io/en/latest/fields/#parameter.
"""

from collections.abc import Sequence

from hera.workflows import Parameter

from aphex.dsl.errors import DefinitionError

__all__ = ["ParameterDefinitionError", "workflow_parameter", "workflow_parameter_ref"]


class ParameterDefinitionError(DefinitionError):
    """A parameter was defined without what the submit form needs."""


def workflow_parameter(
    name: str,
    *,
    description: str,
    default: str | None = None,
    enum: Sequence[str] | None = None,
) -> Parameter:
    """A workflow argument; ``default=None`` makes it required at submission."""
    if not description.strip():
        raise ParameterDefinitionError(f"parameter {name}: a description is required")
    if enum is not None:
        if not enum:
            raise ParameterDefinitionError(f"parameter {name}: enum must not be empty")
        if default is not None and default not in enum:
            raise ParameterDefinitionError(
                f"parameter {name}: default {default!r} is not in enum {list(enum)}"
            )
    parameter = Parameter(name=name, description=description, enum=list(enum) if enum is not None else None)
    if default is not None:  # Hera writes value: 'null' when given None; a required parameter has no value
        parameter.value = default
    return parameter


def workflow_parameter_ref(name: str) -> str:
    """The Argo expression of the workflow parameter ``name``: ``{{workflow.parameters.<name>}}``."""
    return "{{workflow.parameters." + name + "}}"
