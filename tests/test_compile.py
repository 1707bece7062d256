"""``aphex compile``: one file per object, byte-identical across runs and hash seeds, golden files."""

import filecmp
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aphex.cli import main

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*.yaml"))}


def test_compile_writes_one_file_per_object(tmp_path: Path) -> None:
    assert main(["compile", "--out", str(tmp_path / "dist")]) == 0
    files = _tree(tmp_path / "dist")
    assert "workflowtemplate/implementation-dag.yaml" in files
    assert "workflowtemplate/coderun-template.yaml" in files
    assert "workflowtemplate/docsrun-template.yaml" in files
    assert "serviceaccount/aphex-preview-deployer.yaml" in files


def test_compile_replaces_stale_output_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    assert main(["compile", "--out", str(out)]) == 0
    (out / "stale").mkdir(parents=True)
    (out / "stale" / "old.yaml").write_text("kind: Old\n")
    assert main(["compile", "--out", str(out)]) == 0
    assert not (out / "stale").exists()


@pytest.mark.parametrize("seed", ["0", "4242"])
def test_output_is_byte_identical_across_hash_seeds(tmp_path: Path, seed: str) -> None:
    reference = tmp_path / "reference"
    assert main(["compile", "--out", str(reference)]) == 0
    out = tmp_path / f"seed-{seed}"
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-m", "aphex.cli", "compile", "--out", str(out)],
        check=True,
        env=env,
        capture_output=True,
    )
    assert _tree(out) == _tree(reference)


def test_bad_values_are_rejected_by_path_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("github:\n  apiUrl: 'not a url'\n")
    out = tmp_path / "dist"
    assert main(["compile", "--values", str(values), "--out", str(out)]) == 2
    assert "github.apiUrl" in capsys.readouterr().err
    assert not out.exists()


def test_unknown_values_key_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("agents:\n  implemntation: Rex\n")
    assert main(["compile", "--values", str(values), "--out", str(tmp_path / "d")]) == 2
    assert capsys.readouterr().err == (
        f"aphex compile: {values}: agents.implemntation: unknown field (did you mean implementation?)\n"
    )


@pytest.mark.golden
def test_compiled_bundle_matches_golden_files(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    assert main(["compile", "--out", str(out)]) == 0
    if os.environ.get("APHEX_UPDATE_GOLDEN") == "1":
        subprocess.run(["rm", "-rf", str(GOLDEN)], check=True)
        subprocess.run(["cp", "-r", str(out), str(GOLDEN)], check=True)
    comparison = filecmp.dircmp(out, GOLDEN)
    assert _tree(out) == _tree(GOLDEN), (
        "compiled output differs from tests/golden; if intended, run `make golden` and review the diff "
        f"({comparison.diff_files or comparison.left_only or comparison.right_only})"
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == "aphex 0.1.0"
