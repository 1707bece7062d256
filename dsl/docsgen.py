"""Generated blocks in the docs: Mermaid diagrams of the compiled DAGs.

A Markdown file marks a block with ``<!-- BEGIN GENERATED: aphex graph NAME -->`` and
``<!-- END GENERATED -->``; :func:`render_generated_blocks` fills each block from the compiled object
``NAME``. ``python -m dsl.docsgen FILE...`` rewrites the files; a test fails when they are stale.
"""

import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dsl.graph import mermaid

__all__ = ["documented_objects", "render_generated_blocks"]

_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: aphex graph (?P<name>[-a-z0-9]+) -->\n)(?P<body>.*?)(<!-- END GENERATED -->)",
    re.DOTALL,
)


def render_generated_blocks(text: str, objects: Mapping[str, Mapping[str, Any]]) -> str:
    """``text`` with every generated block replaced by the diagram of its object."""

    def fill(match: re.Match[str]) -> str:
        diagram = mermaid(objects[match.group("name")])
        return f"{match.group(1)}```mermaid\n{diagram}```\n{match.group(4)}"

    return _BLOCK.sub(fill, text)


def documented_objects() -> dict[str, Mapping[str, Any]]:
    """Every object a diagram in docs/ shows: the default bundle and the example application's pipeline
    (``examples/aphex-config.yaml`` with the example cluster's entry)."""
    import yaml

    from dsl.config import load_config
    from dsl.settings import BundleSettings, load_settings
    from workflows.aphex_pipeline import pipeline_template
    from workflows.bundle import build_bundle

    objects: dict[str, Mapping[str, Any]] = {
        obj["metadata"]["name"]: obj for obj in build_bundle(BundleSettings()) if "spec" in obj
    }
    examples = Path(__file__).resolve().parents[1] / "examples"
    cluster = load_settings(yaml.safe_load((examples / "cluster-values.yaml").read_text(encoding="utf-8")))
    example = pipeline_template(load_config(examples / "aphex-config.yaml"), cluster)
    objects[example["metadata"]["name"]] = example
    return objects


def main(argv: Sequence[str]) -> int:
    """Rewrite the generated blocks of the given Markdown files."""
    objects = documented_objects()
    for name in argv:
        path = Path(name)
        path.write_text(render_generated_blocks(path.read_text(encoding="utf-8"), objects), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
