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

from collections.abc import Sequence
from enum import IntEnum
from typing import Final

__all__ = ["FAILED", "INVALID_INPUT", "RETRY_UNLESS_INVALID_INPUT", "ExitCode", "UnusableInput"]


class ExitCode(IntEnum):
    """The exit status of an ``aphex`` subcommand."""

    OK = 0
    PROBLEMS = 1
    UNUSABLE_INPUT = 2


class UnusableInput(Exception):
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
