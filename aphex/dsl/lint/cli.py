"""``aphex lint PATH...``: one line per problem, exit 1 when any, 2 on input that cannot be read or is not
YAML (:mod:`aphex.dsl.exit_codes`)."""

from collections.abc import Sequence
from pathlib import Path

from aphex.dsl.exit_codes import ExitCode, refuse
from aphex.dsl.lint import UnreadableInput, lint_paths

__all__ = ["main"]


def main(argv: Sequence[str]) -> int:
    """Lint the given files and directories."""
    if not argv:
        return refuse("aphex lint", "give one or more files or directories")
    try:
        problems = lint_paths([Path(arg) for arg in argv])
    except UnreadableInput as error:
        return refuse("aphex lint", str(error))
    for problem in problems:
        print(problem)
    return ExitCode.PROBLEMS if problems else ExitCode.OK
