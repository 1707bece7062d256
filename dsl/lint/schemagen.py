"""Generate the linter's structural schema from Hera's models of the Argo API (a development tool).

Hera's pydantic models are generated from Argo Workflows' OpenAPI specification, Kubernetes types
included. This module walks them from ``Workflow``, ``WorkflowTemplate``, ``ClusterWorkflowTemplate`` and
``CronWorkflow`` and writes a compact JSON description (field names as written in YAML, and their types)
that the linter loads without importing Hera. ``python -m dsl.lint.schemagen`` rewrites
``dsl/lint/argo_schema.json``; a test fails when the committed file differs from a fresh generation.
"""

import enum
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, RootModel

__all__ = ["SCHEMA_PATH", "generate"]

SCHEMA_PATH = Path(__file__).with_name("argo_schema.json")
_PREFIX = "hera.workflows.models."
_ROOTS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")


def _name(model: type[BaseModel]) -> str:
    return f"{model.__module__.removeprefix(_PREFIX)}.{model.__name__}"


class _Walker:
    def __init__(self) -> None:
        self.types: dict[str, dict[str, Any]] = {}

    def type_of(self, annotation: Any) -> Any:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Annotated:
            return self.type_of(args[0])
        if origin in (typing.Union, types.UnionType):
            options = [self.type_of(arg) for arg in args if arg is not type(None)]
            unique = list(dict.fromkeys(json.dumps(option, sort_keys=True) for option in options))
            decoded = [json.loads(option) for option in unique]
            return decoded[0] if len(decoded) == 1 else {"union": decoded}
        if origin is list:
            return {"list": self.type_of(args[0])}
        if origin is dict:
            return {"map": self.type_of(args[1])}
        if origin is typing.Literal:
            return {"enum": [str(arg) for arg in args]}
        if annotation is Any or annotation is object:
            return "any"
        if isinstance(annotation, type):
            if issubclass(annotation, bool):
                return "boolean"
            if issubclass(annotation, int):
                return "integer"
            if issubclass(annotation, float):
                return "number"
            if issubclass(annotation, str) and not issubclass(annotation, enum.Enum):
                return "string"
            if issubclass(annotation, enum.Enum):
                return {"enum": sorted(str(member.value) for member in annotation)}
            if issubclass(annotation, RootModel):
                return self.type_of(annotation.model_fields["root"].annotation)
            if issubclass(annotation, BaseModel):
                return {"ref": self.model(annotation)}
        return "string"  # datetimes and other scalar wrappers are written as strings in YAML

    def model(self, model: type[BaseModel]) -> str:
        name = _name(model)
        if name in self.types:
            return name
        self.types[name] = {}
        fields: dict[str, Any] = {}
        for field_name, info in model.model_fields.items():
            fields[info.alias or field_name] = self.type_of(info.annotation)
        self.types[name] = dict(sorted(fields.items()))
        return name


def generate() -> dict[str, Any]:
    """The schema: root kinds mapped to type names, and every reachable type's fields."""
    from hera.workflows import models

    walker = _Walker()
    roots = {kind: walker.model(getattr(models, kind)) for kind in _ROOTS}
    return {"roots": roots, "types": dict(sorted(walker.types.items()))}


def render() -> str:
    """The schema as the JSON text that is committed."""
    return json.dumps(generate(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(render(), encoding="utf-8")
    sys.exit(0)
