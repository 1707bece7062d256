"""``aphex config validate FILE...``: check aphex-config.yaml files and name each bad field by its path.

Output: ``FILE: path: message``, one line per problem, or ``FILE: valid``. Exit status
(:mod:`aphex.dsl.exit_codes`): 0 when every file is valid, 1 when any has problems, 2 when a file cannot
be read or is not a YAML document (binary, broken YAML, empty, too large), reported on stderr; every file is
checked and the worst status wins.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from aphex.dsl.config.reading import parse_text, read_config_file
from aphex.dsl.config.validate import validate_document
from aphex.dsl.exit_codes import ExitCode, refuse

__all__ = ["main"]

_COMMAND = "aphex config validate"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aphex config", description="Work with aphex-config.yaml files.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check aphex-config.yaml files against the schema")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE", help="aphex-config.yaml files")
    return parser


def _validate(files: Sequence[Path]) -> int:
    status = ExitCode.OK
    for file in files:
        try:
            content = read_config_file(file)
        except OSError as error:
            status = refuse(_COMMAND, f"{file}: cannot read: {error.strerror or type(error).__name__}")
            continue
        data, unreadable = parse_text(content)
        if unreadable:
            status = refuse(_COMMAND, [f"{file}: {problem.message}" for problem in unreadable])
            continue
        problems = validate_document(data)
        for problem in problems:
            print(f"{file}: {problem}")
        if problems:
            status = max(status, ExitCode.PROBLEMS)
        else:
            print(f"{file}: valid")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``aphex config`` with the arguments after ``config`` (``["validate", FILE, ...]``)."""
    args = _parser().parse_args(argv)
    files: list[Path] = args.files
    return _validate(files)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
