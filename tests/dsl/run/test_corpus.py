"""Every corpus workflow runs through ``aphex run`` and ends with the node phases and outputs its
header expects (phase by display name, output parameters, result, message fragments, global outputs)."""

import json
from pathlib import Path
from typing import Any

import pytest

from aphex.cli import main
from tests.dsl.run.corpus_harness import read_case

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS.glob("*.yaml"))


def _check_node(name: str, node: dict[str, Any], expected: Any) -> None:
    if isinstance(expected, str):
        expected = {"phase": expected}
    assert node["phase"] == expected["phase"], f"{name}: {node['phase']} ({node['message']})"
    for key, value in (expected.get("parameters") or {}).items():
        assert node["outputs"]["parameters"].get(key) == value, f"{name}.outputs.parameters.{key}"
    if "result" in expected:
        assert node["outputs"].get("result") == expected["result"], f"{name}.outputs.result"
    if "message" in expected:
        assert expected["message"] in node["message"], f"{name}.message: {node['message']!r}"
    if "logTail" in expected:
        assert expected["logTail"] in node["logTail"], f"{name}.logTail: {node['logTail']!r}"


def test_corpus_is_large_enough() -> None:
    assert len(FILES) >= 15


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_corpus(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = read_case(path)
    report_file = tmp_path / "report.json"
    code = main(
        [
            "run",
            str(path),
            "--workdir",
            str(tmp_path / "work"),
            "--lock-dir",
            str(tmp_path / "locks"),
            "--report",
            str(report_file),
            *case.args,
        ]
    )
    output = capsys.readouterr()
    expect = case.expect
    wanted_exit = expect.get("exit", 0 if expect["phase"] == "Succeeded" else 1)
    assert code == wanted_exit, output.out + output.err
    report = json.loads(report_file.read_text())
    workflow = report["workflow"]
    assert workflow["phase"] == expect["phase"], workflow["message"]
    ids = [node["id"] for node in report["nodes"]]
    assert len(ids) == len(set(ids)), "node ids are unique"
    assert ids[0] == workflow["name"], "the root node's id is the workflow name"
    nodes: dict[str, dict[str, Any]] = {}
    for node in report["nodes"]:
        nodes.setdefault(node["displayName"], node)
    for name, expected in (expect.get("nodes") or {}).items():
        assert name in nodes, f"no node {name!r} (have {sorted(nodes)})"
        _check_node(name, nodes[name], expected)
    for name in expect.get("absent", []):
        assert name not in nodes, f"node {name!r} should not have run"
    for key, value in (expect.get("outputs") or {}).items():
        assert workflow["outputs"]["parameters"].get(key) == value, f"workflow.outputs.parameters.{key}"
    if "stored" in expect:
        store = tmp_path / "work" / "store"
        stored = sorted(p.stem for p in store.rglob("*.json")) if store.exists() else []
        assert len(stored) == expect["stored"], stored
