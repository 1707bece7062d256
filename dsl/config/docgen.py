"""The configuration reference in ``docs/configuration.md``, generated from the JSON Schema.

One Markdown table per object of ``aphex-config.schema.json`` (field, type, required, description,
constraints), in the order a reader meets them, between ``<!-- generated:config-reference:start -->`` and
``<!-- generated:config-reference:end -->``. ``python -m dsl.config.docgen docs/configuration.md``
rewrites the block; a test fails when it is stale.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from dsl.config.validate import config_schema

__all__ = ["END_MARKER", "START_MARKER", "render_reference", "update_reference"]

START_MARKER: Final = "<!-- generated:config-reference:start -->"
END_MARKER: Final = "<!-- generated:config-reference:end -->"
_BLOCK = re.compile(re.escape(START_MARKER) + r"\n.*?" + re.escape(END_MARKER), re.DOTALL)
_TYPES: Final = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "array": "list",
    "object": "mapping",
}


def _resolve(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    """``node`` with its ``$ref`` (``#/$defs/NAME``) merged in; the node's own keys win."""
    if "$ref" not in node:
        return node
    target = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return {**_resolve(schema, target), **{key: value for key, value in node.items() if key != "$ref"}}


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{_cell(text)}`"


def _type(schema: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    node = _resolve(schema, node)
    if "title" in node:
        return f"[{node['title']}](#{_anchor(node['title'])})"
    if node.get("type") == "array":
        return f"list of {_type(schema, node.get('items', {}))}"
    return _TYPES.get(str(node.get("type")), "any")


def _constraints(schema: Mapping[str, Any], node: Mapping[str, Any]) -> list[str]:
    node = _resolve(schema, node)
    if "title" in node:
        return []
    found: list[str] = []
    if "const" in node:
        found.append(f"exactly {_code(json.dumps(node['const']))}")
    if "pattern" in node and node["pattern"] != "\\S":
        found.append(f"matches {_code(node['pattern'])}")
    if "anyOf" in node:
        found.append("one of: " + "; ".join(_code(branch["pattern"]) for branch in node["anyOf"]))
    if node.get("type") == "string" and node.get("minLength", 0) > 1:
        found.append(f"at least {node['minLength']} characters")
    if node.get("type") == "string" and node.get("pattern") == "\\S":
        found.append("not blank")
    if "maxLength" in node:
        found.append(f"at most {node['maxLength']} characters")
    if node.get("minItems") == 1:
        found.append("at least one item")
    if node.get("uniqueItems"):
        found.append("no duplicates")
    if "minimum" in node and "maximum" in node:
        found.append(f"{node['minimum']} to {node['maximum']}")
    if "default" in node:
        found.append(f"default {_code(json.dumps(node['default']))}")
    for key in ("x-unique", "x-semantic"):
        if key in node:
            found.append(str(node[key]))
    if node.get("type") == "array":
        found += [f"each: {item}" for item in _constraints(schema, node.get("items", {}))]
    return found


def _definition(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object schema a property leads to (through ``$ref`` and list items), or the node itself."""
    while "$ref" in node or node.get("type") == "array":
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else node.get("items", {})
    return node


def _objects(schema: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(path where first met, object schema) for the root and every titled object, in reading order."""
    found: list[tuple[str, Mapping[str, Any]]] = []

    def visit(path: str, node: Mapping[str, Any]) -> None:
        if any(seen is node for _, seen in found):
            return
        found.append((path, node))
        for name, child in node.get("properties", {}).items():
            target = _definition(schema, child)
            if "title" in target:
                lists = _resolve(schema, child).get("type") == "array"
                where = f"{path}.{name}" if path else name
                visit(where + ("[]" if lists else ""), target)

    visit("", schema)
    return found


def render_reference(schema: Mapping[str, Any] | None = None) -> str:
    """The Markdown reference of every object of the schema (the schema of this package by default)."""
    schema = config_schema() if schema is None else schema
    sections: list[str] = []
    for path, node in _objects(schema):
        lines = [f"### {node['title']}", ""]
        if path:
            lines += [f"At `{path}`. {node['description']}", ""]
        else:
            lines += [str(node["description"]), ""]
        lines += ["| Field | Type | Required | Description | Constraints |", "|---|---|---|---|---|"]
        required = set(node.get("required", ()))
        for name, child in node["properties"].items():
            resolved = _resolve(schema, child)
            description = str(child.get("description") or resolved.get("description", ""))
            lines.append(
                f"| `{name}` | {_type(schema, child)} | {'yes' if name in required else 'no'} | "
                f"{_cell(description)} | {'; '.join(_constraints(schema, child))} |"
            )
        sections.append("\n".join(lines) + "\n")
    unknown = "Unknown fields are refused everywhere, with the closest known field suggested.\n"
    return "\n".join([unknown, *sections])


def update_reference(text: str, schema: Mapping[str, Any] | None = None) -> str:
    """``text`` with the block between the markers replaced by :func:`render_reference`."""
    if not _BLOCK.search(text):
        raise ValueError(f"no {START_MARKER} ... {END_MARKER} block")
    block = f"{START_MARKER}\n{render_reference(schema)}{END_MARKER}"
    return _BLOCK.sub(lambda _: block, text)


def main(argv: Sequence[str]) -> int:
    """Rewrite the generated reference in the given Markdown files."""
    for name in argv:
        path = Path(name)
        path.write_text(update_reference(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
