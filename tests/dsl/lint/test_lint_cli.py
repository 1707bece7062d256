"""``aphex lint`` behaviour: inputs, exit codes, output lines, speed-critical import hygiene, properties."""

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from aphex.cli import main
from aphex.dsl.lint import SourceDocument, lint_documents
from aphex.dsl.lint.structure import schema

ROOT = Path(__file__).resolve().parents[3]
CORPUS = Path(__file__).parent / "corpus"


def test_clean_input_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(CORPUS / "valid")]) == 0
    assert capsys.readouterr().out == ""


def test_problems_exit_1_with_one_line_each_starting_with_the_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = CORPUS / "invalid" / "cycle.yaml"
    assert main(["lint", str(target)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{target}: Workflow/bad: spec.templates[0].dag: dependency cycle detected: a->b->a"]


@pytest.mark.parametrize("content", ["key: [unclosed", "\tbad: indentation"])
def test_unparseable_yaml_exits_2_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(content)
    assert main(["lint", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"aphex lint: {path}: not valid YAML")
    assert "Traceback" not in err


def test_a_missing_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_directories_are_searched_recursively_and_other_kinds_skipped(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (nested / "x.yml").write_text((CORPUS / "invalid" / "cycle.yaml").read_text())
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nbogus: field\n")
    assert main(["lint", str(tmp_path)]) == 1


def test_linting_does_not_import_hera() -> None:
    code = (
        "import sys; from aphex.cli import main; "
        f"code = main(['lint', {str(CORPUS / 'valid')!r}]); "
        "assert not [m for m in sys.modules if m.startswith('hera')], 'hera imported'; sys.exit(code)"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""}
    )


def _refresh_tool() -> Any:
    spec = importlib.util.spec_from_file_location(
        "refresh_argo_schema", ROOT / "tools" / "refresh_argo_schema.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_vendored_schema_is_argos_for_the_supported_version_and_closed() -> None:
    vendored = schema()
    assert vendored["argoVersion"] == "v4.1.2"
    assert vendored["sourceCommit"] == "16a52d67daf2f4a8a76fa8bec02a76a46aa46257"
    assert vendored["roots"]["CronWorkflow"] == "io.argoproj.workflow.v1alpha1.CronWorkflow"
    tool = _refresh_tool()
    for definition in vendored["definitions"].values():
        assert tool._references(definition) <= set(vendored["definitions"])


def test_the_vendored_schema_is_what_the_refresh_script_writes() -> None:
    """Pruning the vendored file again changes nothing: it holds exactly the reachable definitions."""
    tool = _refresh_tool()
    vendored = schema()
    again = tool.prune(vendored, vendored["argoVersion"], vendored["sourceCommit"])
    text = (ROOT / "aphex" / "dsl" / "lint" / "argo_schema.json").read_text(encoding="utf-8")
    assert tool.render(again) == text


def test_compile_refuses_to_write_an_invalid_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aphex.workflows import bundle

    real = bundle.build_bundle

    def broken(settings: Any) -> list[dict[str, Any]]:
        objects = real(settings)
        objects[0]["spec"]["onExit"] = "missing-handler"
        return objects

    monkeypatch.setattr(bundle, "build_bundle", broken)
    out = tmp_path / "dist"
    assert main(["compile", "--out", str(out)]) == 1
    assert "spec.onExit: template name 'missing-handler' undefined" in capsys.readouterr().out
    assert not out.exists()


def _dag(edges: list[tuple[int, int]], size: int) -> dict[str, Any]:
    tasks = []
    for node in range(size):
        parents = sorted({f"t{a}" for a, b in edges if b == node})
        task: dict[str, Any] = {"name": f"t{node}", "template": "work"}
        if parents:
            task["depends"] = " && ".join(parents)
        tasks.append(task)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "generated"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {"name": "main", "dag": {"tasks": tasks}},
                {"name": "work", "container": {"image": "alpine:3.20"}},
            ],
        },
    }


@given(
    size=st.integers(min_value=2, max_value=12),
    pairs=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=30),
)
def test_acyclic_dags_lint_clean_and_a_back_edge_is_a_cycle(size: int, pairs: list[tuple[int, int]]) -> None:
    forward = sorted({(min(a, b), max(a, b)) for a, b in pairs if a != b and a < size and b < size})
    workflow = _dag(forward, size)
    assert lint_documents([SourceDocument(file="g.yaml", index=0, data=workflow)]) == []
    if forward:
        a, b = forward[0]
        cyclic = _dag([*forward, (b, a)], size)
        messages = [p.message for p in lint_documents([SourceDocument(file="g.yaml", index=0, data=cyclic)])]
        assert any(m.startswith("dependency cycle") for m in messages), messages


def test_round_trip_of_the_compiled_bundle_is_clean(bundle: list[dict[str, Any]]) -> None:
    documents = [
        SourceDocument(file=f"{i}.yaml", index=0, data=yaml.safe_load(yaml.safe_dump(o)))
        for i, o in enumerate(bundle)
    ]
    assert lint_documents(documents) == []
