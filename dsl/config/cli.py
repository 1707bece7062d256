"""``aphex config validate FILE...``: check aphex-config.yaml files and name each bad field by its path.

Output: ``FILE: path: message``, one line per problem, or ``FILE: valid``. Exit status 0 when every
file is valid, 1 when any has problems, 2 when a file cannot be read (nothing else is an error: broken
YAML or binary content is a problem of the file).
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dsl.config.validate import read_config_file, validate_text

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aphex config", description="Work with aphex-config.yaml files.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check aphex-config.yaml files against the schema")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE", help="aphex-config.yaml files")
    return parser


def _validate(files: Sequence[Path]) -> int:
    status = 0
    for file in files:
        try:
            content = read_config_file(file)
        except OSError as error:
            reason = error.strerror or type(error).__name__
            print(f"aphex config validate: cannot read {file}: {reason}", file=sys.stderr)
            status = 2
            continue
        problems = validate_text(content)
        for problem in problems:
            print(f"{file}: {problem}")
        if problems:
            status = max(status, 1)
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
