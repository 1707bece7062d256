"""The linter's corpora: valid workflows lint clean; each invalid one gives exactly its expected problems.

Every invalid case names, in a ``# argo:`` comment, the Argo test or function of
``workflow/validate`` it mirrors and the message Argo gives there.
"""

from pathlib import Path

import pytest

from aphex.dsl.lint import lint_paths

CORPUS = Path(__file__).parent / "corpus"
VALID = sorted((CORPUS / "valid").glob("*.yaml"))
INVALID = sorted((CORPUS / "invalid").glob("*.yaml"))


def test_the_corpora_are_broad() -> None:
    assert len(VALID) >= 12
    assert len(INVALID) >= 85


def test_the_valid_corpus_lints_clean() -> None:
    problems = lint_paths([CORPUS / "valid"])
    assert [str(p) for p in problems] == []


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_each_invalid_file_gives_exactly_its_expected_problems(path: Path) -> None:
    expected = [
        line.removeprefix("# expect: ")
        for line in path.read_text().splitlines()
        if line.startswith("# expect: ")
    ]
    assert expected, f"{path.name} has no '# expect:' line"
    assert path.read_text().startswith("# argo: "), f"{path.name} does not name the Argo rule it mirrors"
    found = [f"{p.field}: {p.message}" for p in lint_paths([path])]
    assert len(found) == len(expected), found
    for want, got in zip(sorted(expected), sorted(found), strict=True):
        assert got.startswith(want), (want, got)
