"""docs/configuration.md stays true to the schema: the generated reference is current, the example valid."""

import re
from pathlib import Path
from typing import Any

import pytest

from aphex.dsl.config import load_config, validate_text
from aphex.dsl.config.cli import main
from aphex.dsl.config.schema import config_schema
from tools.config_docgen import END_MARKER, START_MARKER, render_reference, update_reference

PAGE = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def test_the_generated_reference_is_current() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert START_MARKER in text
    assert END_MARKER in text
    assert update_reference(text) == text, (
        "docs/configuration.md is stale: run `python -m tools.config_docgen docs/configuration.md`"
    )


def test_the_documented_example_is_a_valid_configuration() -> None:
    text = PAGE.read_text(encoding="utf-8")
    (example,) = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    assert validate_text(example) == []
    config = load_config(example)
    assert [env.name for env in config.environments] == ["staging", "production"]
    assert config.environment("staging").stack_waves() == [["Network"], ["Database"], ["Api"]]


def _objects(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [schema, *(node for node in schema["$defs"].values() if node.get("type") == "object")]


def test_every_object_and_field_of_the_schema_is_in_the_reference() -> None:
    reference = render_reference()
    for node in _objects(config_schema()):
        assert f"### {node['title']}\n" in reference
        section = reference.split(f"### {node['title']}\n", 1)[1].split("\n### ", 1)[0]
        for name in node["properties"]:
            assert f"| `{name}` |" in section, (node["title"], name)
        for name in node.get("required", ()):
            assert re.search(rf"\| `{name}` \| [^|]+ \| yes \|", section), (node["title"], name)


def test_the_reference_escapes_pipes_in_patterns_and_links_object_types() -> None:
    reference = render_reference()
    assert "`^(?:(?:us\\|eu\\|ap" in reference
    assert "| `environments` | list of [Environment](#environment) | yes |" in reference
    assert "| `cdkContext` | [CDK context](#cdk-context) | no |" in reference
    for line in reference.splitlines():
        if line.startswith("| `"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 6, line


def test_update_reference_needs_the_markers() -> None:
    with pytest.raises(ValueError, match=f"^no {re.escape(START_MARKER)} "):
        update_reference("# no markers here\n")
    assert update_reference(f"a\n{START_MARKER}\nold\n{END_MARKER}\nb\n").startswith(
        f"a\n{START_MARKER}\nUnknown"
    )


def test_the_documented_validate_output_is_what_the_command_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = PAGE.read_text(encoding="utf-8")
    (example,) = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    (console,) = re.findall(r"```console\n(.*?)```", text, re.DOTALL)
    broken = example.replace('account: "222222222222"', "account: 222222222222")
    head, _, tail = broken.rpartition("    stacks:\n")  # the production environment's stacks
    (tmp_path / "broken.yaml").write_text(f"{head}    stackz:\n{tail}", encoding="utf-8")
    (tmp_path / "aphex-config.yaml").write_text(example, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "aphex-config.yaml"]) == 0
    assert main(["validate", "broken.yaml"]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed == [line for line in console.splitlines() if not line.startswith("$ ")]
