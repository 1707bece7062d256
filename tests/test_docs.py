"""The docs stay true to the code: generated diagrams and check tables are current and every parameter
is documented."""

import re
from pathlib import Path
from typing import Any

from tools.docsgen import check_table, documented_objects, render_check_tables, render_generated_blocks

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_generated_diagrams_are_current() -> None:
    objects = documented_objects()
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        assert render_generated_blocks(text, objects) == text, f"{page.name} is stale: run `make docs`"


def test_generated_check_tables_are_current() -> None:
    table = check_table()
    pages = [
        page
        for page in sorted(DOCS.glob("*.md"))
        if "(tools/docsgen.py): aphex verify checks -->" in page.read_text()
    ]
    assert [page.name for page in pages] == ["install.md"]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert render_check_tables(text, table) == text, f"{page.name} is stale: run `make docs`"


def test_every_parameter_of_the_implementation_dag_is_documented(
    templates: dict[str, dict[str, Any]],
) -> None:
    text = (DOCS / "implementation-dag.md").read_text(encoding="utf-8")
    for parameter in templates["implementation-dag"]["spec"]["arguments"]["parameters"]:
        assert f"`{parameter['name']}`" in text, parameter["name"]


def test_every_test_named_in_argo_behaviours_exists() -> None:
    """docs/argo-behaviours.md names, per Argo behaviour, the tests that state it: they must exist."""
    text = (DOCS / "argo-behaviours.md").read_text(encoding="utf-8")
    references = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)
    assert len(references) >= 15
    for path, name in references:
        source = (DOCS.parent / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"{path}::{name}"
