"""The hardened YAML loader (aphex.dsl.yaml_input), alone and behind every subcommand that reads YAML."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aphex.dsl.yaml_input import DEFAULT_MAX_NODES, YamlInputError, load_yaml, load_yaml_documents

ROOT = Path(__file__).resolve().parents[2]


def alias_bomb(levels: int = 9) -> str:
    """Ten values, then ``levels`` lists of ten aliases of the previous list: 10**(levels+1) values."""
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (alias_bomb(), f"has more than {DEFAULT_MAX_NODES} values (counting YAML aliases expanded)"),
        ("a: &a [*a]\n", "line 1, column 4: an alias refers to the node that contains it"),
        ("a: 1\na: 2\n", "not valid YAML: line 2, column 1: duplicate key 'a'"),
        (
            "a: !!python/object/apply:os.system [echo]\n",
            "not valid YAML: line 1, column 4: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object/apply:os.system'",
        ),
        (
            "a: !vault x\n",
            "not valid YAML: line 1, column 4: could not determine a constructor for the tag '!vault'",
        ),
        ("[" * 150 + "]" * 150, "line 1, column 101: nests deeper than 100 levels"),
        (b"a: \xff\n", "not UTF-8 text (invalid byte at offset 3)"),
        ("a: 1\n---\nb: 2\n", "not valid YAML: line 2, column 1: but found another document"),
        ("a: " + "9" * 5000, "not valid YAML: a number is too large"),
    ],
)
def test_hostile_or_broken_documents_are_refused_with_the_file_and_place(
    text: str | bytes, reason: str
) -> None:
    with pytest.raises(YamlInputError) as raised:
        load_yaml(text, source="values.yaml")
    assert (raised.value.source, raised.value.reason) == ("values.yaml", reason)
    assert str(raised.value) == f"values.yaml: {reason}"


def test_files_over_the_size_limit_are_refused_before_parsing() -> None:
    with pytest.raises(YamlInputError, match=r"^big\.yaml: is larger than 1 KiB$"):
        load_yaml("a: [" + "1, " * 1000 + "]", source="big.yaml", max_bytes=1024)


def test_documents_within_the_limits_read_as_plain_yaml() -> None:
    text = "base: &base {region: eu-west-1}\nprod:\n  <<: *base\n  name: prod\n"
    assert load_yaml(text, source="f") == {
        "base": {"region": "eu-west-1"},
        "prod": {"region": "eu-west-1", "name": "prod"},
    }
    assert load_yaml(b"\xef\xbb\xbfa: 1\n", source="f") == {"a": 1}
    assert load_yaml("# nothing\n", source="f") is None
    assert load_yaml_documents("a: 1\n---\n---\nb: 2\n", source="f") == [{"a": 1}, None, {"b": 2}]


def test_the_expanded_count_is_exact_at_the_limit() -> None:
    # The mapping, its 2 keys, and the list (itself and 10 values) counted once for each of its 2 uses.
    text = 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]\nb: *a\n'
    assert load_yaml(text, source="f", max_nodes=1 + 2 + 2 * 11)
    with pytest.raises(YamlInputError, match="has more than 24 values"):
        load_yaml(text, source="f", max_nodes=24)


# Every subcommand that reads a YAML input, with the bomb in that input: a clear error naming the file,
# never a hang (the timeout only turns a hang into a failure; it is no speed goal).
ENTRY_POINTS = [
    (["lint", "{bomb}"], 2),
    (["run", "{bomb}"], 2),
    (["compile", "--values", "{bomb}", "--out", "{out}"], 2),
    (["compile", "--config", "{bomb}", "--values", "{values}", "--out", "{out}"], 2),
    (["config", "validate", "{bomb}"], 2),  # not a YAML document it can check (README.md, "Exit codes")
    (["pipeline", "stack", "--config", "{bomb}", "--release", "r", "--out", "{out}/s.json"], 2),
    (
        [
            "pipeline",
            "stack",
            "--config",
            "{config}",
            "--values",
            "{bomb}",
            "--release",
            "r",
            "--out",
            "{out}/s.json",
        ],
        2,
    ),
    (["pipeline", "self-update-stack", "--config", "{bomb}", "--release", "r", "--out", "{out}/s.json"], 2),
    (
        [
            "pipeline",
            "self-update-stack",
            "--config",
            "{config}",
            "--values",
            "{bomb}",
            "--release",
            "r",
            "--out",
            "{out}/s.json",
        ],
        2,
    ),
]


@pytest.mark.parametrize(
    ("command", "exit_code"), ENTRY_POINTS, ids=lambda v: " ".join(v) if isinstance(v, list) else str(v)
)
def test_every_entry_point_refuses_an_alias_bomb(tmp_path: Path, command: list[str], exit_code: int) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())
    config = tmp_path / "aphex-config.yaml"
    shutil.copy(ROOT / "examples" / "aphex-config.yaml", config)
    places = {"bomb": str(bomb), "out": str(tmp_path / "out"), "config": str(config)}
    places["values"] = str(ROOT / "examples" / "cluster-values.yaml")
    argv = [part.format(**places) for part in command]
    result = subprocess.run(
        [sys.executable, "-m", "aphex.cli", *argv], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == exit_code, result.stderr
    output = result.stdout + result.stderr
    assert str(bomb) in output
    assert "values (counting YAML aliases expanded)" in output
    assert "Traceback" not in output
    assert not (tmp_path / "out").exists()
