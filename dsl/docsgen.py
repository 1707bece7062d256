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

__all__ = ["render_generated_blocks"]

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


def main(argv: Sequence[str]) -> int:
    """Rewrite the generated blocks of the given Markdown files."""
    from dsl.settings import BundleSettings
    from workflows.bundle import build_bundle

    objects = {obj["metadata"]["name"]: obj for obj in build_bundle(BundleSettings()) if "spec" in obj}
    for name in argv:
        path = Path(name)
        path.write_text(render_generated_blocks(path.read_text(encoding="utf-8"), objects), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
