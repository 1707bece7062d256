"""Exit codes: one contract for every ``aphex`` subcommand and every pod step.

The ``aphex`` command line (README.md, "Exit codes"):

- :attr:`ExitCode.OK` (0): the command did what was asked and found nothing wrong;
- :attr:`ExitCode.PROBLEMS` (1): the command ran and found problems in what it was asked to check or run:
  lint findings, configuration errors, a run that did not end Succeeded, a cluster that lacks a
  prerequisite or cannot be reached (the cluster is what ``aphex verify`` checks);
- :attr:`ExitCode.UNUSABLE_INPUT` (2): the command could not start because its input or usage is unusable:
  a missing option, a file that cannot be read or is not YAML, an invalid values key or value, an unknown
  node; nothing is written. argparse's usage errors exit 2 as well.

Pod steps use the same numbers. Argo retries a failed step as its ``retryStrategy`` says;
``retryStrategy.expression`` is evaluated after each failed attempt with ``lastRetry.exitCode`` bound to the
attempt's exit code **as a string**, and a false result stops retrying (argo-workflows
``workflow/controller/operator.go``: ``buildRetryStrategyLocalScope`` binds it, ``processNodeRetries``
evaluates it). A step that rejects its input exits with :data:`INVALID_INPUT`: another attempt would reject
the same input, so it is never retried, while any other failure keeps its backoff.
"""

import sys
import textwrap
from collections.abc import Sequence
from enum import IntEnum
from typing import Final

from aphex.dsl.errors import InputError

__all__ = [
    "FAILED",
    "INVALID_INPUT",
    "MEANINGS",
    "RETRY_UNLESS_INVALID_INPUT",
    "ExitCode",
    "UnusableInput",
    "contract_text",
    "refuse",
]


class ExitCode(IntEnum):
    """The exit status of an ``aphex`` subcommand."""

    OK = 0
    PROBLEMS = 1
    UNUSABLE_INPUT = 2


MEANINGS: Final[dict[ExitCode, str]] = {
    ExitCode.OK: "done; nothing wrong found",
    ExitCode.PROBLEMS: (
        "problems found in what you asked to check or run: lint findings, aphex-config.yaml errors, a run "
        "that did not end Succeeded, a cluster that lacks a prerequisite or cannot be reached"
    ),
    ExitCode.UNUSABLE_INPUT: (
        "unusable input or usage, nothing done: a missing or unknown option, a file that cannot be read "
        "or is not YAML, an invalid values key or value, an unknown node or workflow, an output "
        "directory aphex may not replace"
    ),
}
"""What each exit code means: the ``aphex --help`` epilog and README.md's table say exactly this."""


def contract_text() -> str:
    """The exit-code contract as ``aphex --help`` prints it, one code per line."""
    lines = ["exit codes (every subcommand):"]
    for code, meaning in MEANINGS.items():
        lines += textwrap.wrap(
            meaning, width=100, initial_indent=f"  {int(code)}  ", subsequent_indent="     "
        )
    return "\n".join(lines) + "\n"


class UnusableInput(InputError):
    """Input or usage a command cannot work with; every line names what is wrong (exit 2)."""

    def __init__(self, lines: str | Sequence[str]) -> None:
        self.lines = (lines,) if isinstance(lines, str) else tuple(lines)
        super().__init__("\n".join(self.lines))


FAILED: Final = int(ExitCode.PROBLEMS)
"""The step's work failed; a retry may help (network, a busy API, a flaky cluster)."""
INVALID_INPUT: Final = int(ExitCode.UNUSABLE_INPUT)
"""The step's input is invalid (a parameter, a configuration value): retrying cannot fix it."""
RETRY_UNLESS_INVALID_INPUT: Final = f'lastRetry.exitCode != "{INVALID_INPUT}"'
"""``retryStrategy.expression`` of every retried step: keep retrying unless the input was rejected."""


def refuse(command: str, lines: str | Sequence[str]) -> ExitCode:
    """Print why ``command`` (``aphex compile``) cannot use its input, one line each on stderr; exit 2."""
    for line in UnusableInput(lines).lines:
        print(f"{command}: {line}", file=sys.stderr)
    return ExitCode.UNUSABLE_INPUT
