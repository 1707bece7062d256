"""Strict structure: every field known and of the right type, checked against Argo's API schema.

The schema (``argo_schema.json``) is generated from Hera's models of the Argo v4 OpenAPI specification,
Kubernetes types included (see :mod:`dsl.lint.schemagen`). Unknown fields and wrong types are reported
with their path, as ``argo lint`` does with strict parsing. Scalars given where Argo expects a string are
accepted (Argo reads parameter values and many strings from numbers and booleans too).
"""

import difflib
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["check_structure", "schema"]

_SCHEMA_PATH = Path(__file__).with_name("argo_schema.json")


@cache
def schema() -> dict[str, Any]:
    """The committed schema."""
    data: dict[str, Any] = json.loads(_SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


def _type_name(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    if "ref" in spec:
        return "object"
    if "list" in spec:
        return "list"
    if "map" in spec:
        return "map"
    if "enum" in spec:
        return "string"
    return " or ".join(_type_name(option) for option in spec["union"])


def _matches(value: Any, spec: Any) -> bool:
    """Whether ``value`` has the shape of ``spec`` at the top level (used to pick a union member)."""
    if spec == "any":
        return True
    if spec == "string":
        return isinstance(value, str | int | float | bool)
    if spec == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if spec == "boolean":
        return isinstance(value, bool)
    if "ref" in spec or "map" in spec:
        return isinstance(value, dict)
    if "list" in spec:
        return isinstance(value, list)
    if "enum" in spec:
        return isinstance(value, str)
    return any(_matches(value, option) for option in spec["union"])


def check_structure(value: Any, spec: Any, path: str) -> Iterator[tuple[str, str]]:
    """Yield ``(field path, message)`` for every structural problem under ``value``."""
    if value is None:
        return
    if isinstance(spec, dict) and "union" in spec:
        for option in spec["union"]:
            if _matches(value, option):
                yield from check_structure(value, option, path)
                return
        yield path, f"expected {_type_name(spec)}, got {type(value).__name__}"
        return
    if not _matches(value, spec):
        yield path, f"expected {_type_name(spec)}, got {type(value).__name__}"
        return
    if isinstance(spec, str):
        return
    if "list" in spec:
        for index, item in enumerate(value):
            yield from check_structure(item, spec["list"], f"{path}[{index}]")
    elif "map" in spec:
        for key, item in value.items():
            yield from check_structure(item, spec["map"], f"{path}.{key}")
    elif "ref" in spec:
        fields = schema()["types"][spec["ref"]]
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in fields:
                close = difflib.get_close_matches(str(key), list(fields), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                yield where, f"unknown field{hint}"
                continue
            yield from check_structure(item, fields[key], where)
