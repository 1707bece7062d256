"""``aphex lint PATH...``: one line per problem, exit 1 when any, 2 on unreadable input."""

import sys
from collections.abc import Sequence
from pathlib import Path

from dsl.lint import UnreadableInput, lint_paths

__all__ = ["main"]


def main(argv: Sequence[str]) -> int:
    """Lint the given files and directories."""
    if not argv:
        print("aphex lint: give one or more files or directories", file=sys.stderr)
        return 2
    try:
        problems = lint_paths([Path(arg) for arg in argv])
    except UnreadableInput as error:
        print(f"aphex lint: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    return 1 if problems else 0
