"""Strict structure: every field known and of the right type, checked against Argo's own JSON schema.

The schema (``argo_schema.json``) is Argo Workflows' published ``api/jsonschema/schema.json`` for the
supported release, Kubernetes types included, pruned to the definitions reachable from the kinds we lint
(``tools/refresh_argo_schema.py`` writes it and records the version and source commit). Unknown fields
and wrong types are reported with their path, as ``argo lint`` reports them with strict parsing. Scalars
given where Argo expects a string are accepted (Argo reads parameter values, quantities and int-or-string
fields from numbers and booleans too); ``null`` is an absent field, as in Go.
"""

import difflib
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["check_structure", "root_schema", "schema"]

_SCHEMA_PATH = Path(__file__).with_name("argo_schema.json")
_REF_PREFIX = "#/definitions/"


@cache
def schema() -> dict[str, Any]:
    """The committed schema: ``argoVersion``, ``sourceCommit``, ``roots`` and ``definitions``."""
    data: dict[str, Any] = json.loads(_SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


def root_schema(kind: str) -> dict[str, Any]:
    """The schema node of one linted kind."""
    return {"$ref": _REF_PREFIX + schema()["roots"][kind]}


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema()["definitions"][node["$ref"].removeprefix(_REF_PREFIX)]
    return node


def _matches(value: Any, expected: str) -> bool:
    if expected == "string":
        return isinstance(value, str | int | float | bool)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    return True


_NAMES = {
    "object": "object",
    "array": "list",
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
}


def check_structure(value: Any, node: dict[str, Any], path: str) -> Iterator[tuple[str, str]]:
    """Yield ``(field path, message)`` for every structural problem under ``value``."""
    if value is None:
        return
    node = _resolve(node)
    expected = node.get("type")
    if isinstance(expected, str) and not _matches(value, expected):
        yield path, f"expected {_NAMES.get(expected, expected)}, got {type(value).__name__}"
        return
    if "const" in node and value != node["const"]:
        yield path, f"must be {node['const']!r}"
        return
    if isinstance(value, list):
        items = node.get("items")
        if items is not None:
            for index, item in enumerate(value):
                yield from check_structure(item, items, f"{path}[{index}]")
    elif isinstance(value, dict):
        fields = node.get("properties")
        extra = node.get("additionalProperties")
        if fields is not None:
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                if key in fields:
                    yield from check_structure(item, fields[key], where)
                elif isinstance(extra, dict):
                    yield from check_structure(item, extra, where)
                else:
                    close = difflib.get_close_matches(str(key), list(fields), n=1)
                    hint = f" (did you mean {close[0]}?)" if close else ""
                    yield where, f"unknown field{hint}"
        elif isinstance(extra, dict):
            for key, item in value.items():
                yield from check_structure(item, extra, f"{path}.{key}" if path else str(key))
