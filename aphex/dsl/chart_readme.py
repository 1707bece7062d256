"""The chart's ``README.md``: how to install it and every value, as helm-docs writes it for Argo's charts.

The values table (key, type, default, description) is generated from the values schema and the default
settings, so it cannot drift from ``values.yaml`` or ``values.schema.json``.
"""

import json
from collections.abc import Mapping
from typing import Any, Final

from aphex.dsl.settings import BundleSettings, default_values
from aphex.dsl.values_schema import VALUES_SCHEMA, value_leaves

__all__ = ["chart_readme"]

_TYPES: Final = {"string": "string", "integer": "int", "boolean": "bool", "array": "list", "object": "map"}


def _default(values: Mapping[str, Any], path: tuple[str, ...]) -> str:
    node: Any = values
    for part in path:
        if part == "[]":
            return ""
        node = node[part]
    return f"`{json.dumps(node)}`"


def _required(path: tuple[str, ...]) -> bool:
    """Whether the value at ``path`` must be given when its section is (top-level values never must)."""
    node: Mapping[str, Any] = VALUES_SCHEMA
    required = False
    for part in path:
        if part == "[]":
            node = node["items"]
            continue
        required = part in node.get("required", ())
        node = node["properties"][part]
    return required


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _rows() -> list[str]:
    values = default_values()
    rows: list[str] = []
    for path, schema in value_leaves(VALUES_SCHEMA):
        if "[]" in path and not any(row.startswith(f"| `{path[0]}` |") for row in rows):
            section = VALUES_SCHEMA["properties"][path[0]]  # a list of sections: its own row first
            rows.append(
                f"| `{path[0]}` | list | {_default(values, path[:1])} | {_cell(section['description'])} |"
            )
        key = ".".join(path).replace(".[]", "[]")
        description = _cell(str(schema.get("description", "")))
        if _required(path):
            description += " (required)"
        rows.append(f"| `{key}` | {_TYPES[schema['type']]} | {_default(values, path)} | {description} |")
    return rows


def chart_readme(
    name: str, description: str, defaults: BundleSettings, kube_version: str, generated: str
) -> str:
    """The README of chart ``name`` with every value of the schema and its default; ``generated`` is the
    comment under its title that says what wrote it."""
    version = defaults.version
    lines = [
        f"# {name}",
        "",
        generated,
        "",
        f"![Version: {version}](https://img.shields.io/badge/Version-{version}-informational?style=flat-square)",
        f"![AppVersion: {version}](https://img.shields.io/badge/AppVersion-{version}-informational?style=flat-square)",
        "",
        f"Kubernetes: `{kube_version}`",
        "",
        f"{description}.",
        "",
        "## Installing the chart",
        "",
        "```sh",
        f"helm install {name} helm/{name} -n argo -f my-values.yaml",
        "```",
        "",
        "The release name is the instance every object name derives from (a DNS label of at most 30",
        "characters); several releases never share an object. The objects go into the release namespace",
        "(`-n`) unless the `namespace` value names another. `values.schema.json` refuses an invalid value",
        "naming it. See docs/install.md for the prerequisites and docs/aphex-pipeline.md for pipelines.",
        "",
        "## Values",
        "",
        "| Key | Type | Default | Description |",
        "|-----|------|---------|-------------|",
        *_rows(),
        "",
    ]
    return "\n".join(lines)
