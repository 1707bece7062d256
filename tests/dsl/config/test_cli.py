"""``aphex config validate``: output lines, exit codes, unreadable input (aphex.dsl.config.cli)."""

from pathlib import Path

import pytest

from aphex.dsl.config.cli import main
from aphex.dsl.config.reading import MAX_DOCUMENT_BYTES

EXAMPLES = Path(__file__).parent / "examples"


def test_a_valid_file_prints_valid_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    target = EXAMPLES / "valid-govcloud.yaml"
    assert main(["validate", str(target)]) == 0
    assert capsys.readouterr().out == f"{target}: valid\n"


def test_problems_are_printed_one_per_line_prefixed_by_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    target = EXAMPLES / "invalid-account-integer.yaml"
    assert main(["validate", str(target)]) == 1
    assert capsys.readouterr().out == f"{target}: environments[1].account: must be 12 digits as a string\n"


def test_several_files_exit_with_the_worst_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    valid, invalid, missing = (
        EXAMPLES / "valid-minimal.yaml",
        EXAMPLES / "invalid-region.yaml",
        tmp_path / "x",
    )
    assert main(["validate", str(valid), str(invalid)]) == 1
    assert main(["validate", str(invalid), str(missing), str(valid)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"{valid}: valid"


def test_an_unreadable_file_exits_2_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2
    assert main(["validate", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"aphex config validate: {tmp_path / 'missing.yaml'}: cannot read: No such file or directory",
        f"aphex config validate: {tmp_path}: cannot read: Is a directory",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x7fELF\x02\x01\x01\x00\xff\xfe", "not UTF-8 text (invalid byte at offset 8)"),
        (b"key: [unclosed", "not valid YAML: line 2, column 1: did not find expected ',' or ']'"),
        (b"", "is empty; expected a mapping with version, build and environments"),
        (b"#" * (MAX_DOCUMENT_BYTES + 10), "is larger than 1024 KiB"),
    ],
)
def test_binary_broken_empty_or_huge_files_are_unusable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    """A file that is not a YAML document cannot be validated: exit 2, the reason on stderr (README.md,
    "Exit codes"), while a later valid file is still checked."""
    target = tmp_path / "aphex-config.yaml"
    target.write_bytes(content)
    valid = EXAMPLES / "valid-minimal.yaml"
    assert main(["validate", str(target), str(valid)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"aphex config validate: {target}: {message}\n"
    assert captured.out == f"{valid}: valid\n"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["validate"], ["check", "x"]):
        with pytest.raises(SystemExit) as raised:
            main(argv)
        assert raised.value.code == 2
    assert "usage: aphex config" in capsys.readouterr().err
