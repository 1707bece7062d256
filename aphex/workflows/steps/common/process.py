"""Running ``git``, ``helm`` and ``kubectl`` from steps: argument lists only, failures with context.

Commands never pass through a shell; every value on a command line was validated before. A failing
command raises :class:`CommandError` with the command (secrets redacted) and the tail of its stderr.
"""

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aphex.dsl.errors import ExecutionError

__all__ = ["CommandError", "StepError", "run"]

_STDERR_TAIL: Final = 2000


class StepError(ExecutionError):
    """A step cannot do its work; the message says why in one line a person can act on."""


class CommandError(StepError):
    """An external command failed."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        tail = stderr.strip()[-_STDERR_TAIL:]
        super().__init__(f"`{' '.join(argv)}` exited {returncode}: {tail}")


@dataclass(frozen=True, kw_only=True)
class Completed:
    """The output of a successful command."""

    stdout: str
    stderr: str


def run(
    argv: Sequence[str],
    *,
    stdin: str | None = None,
    cwd: Path | None = None,
    redact: Sequence[str] = (),
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> Completed:
    """Run ``argv``; raise :class:`CommandError` when it fails. ``redact`` hides values in errors;
    ``env`` adds variables to this process's environment for the command."""
    try:
        result = subprocess.run(
            list(argv),
            input=stdin,
            cwd=cwd,
            env=None if env is None else {**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except FileNotFoundError:
        raise StepError(f"`{argv[0]}` is not installed in this image") from None
    except subprocess.TimeoutExpired:
        raise StepError(f"`{_redacted(argv, redact)[0]}` did not finish within {timeout} s") from None
    if result.returncode != 0:
        stderr = result.stderr
        for secret in redact:
            stderr = stderr.replace(secret, "***")
        raise CommandError(_redacted(argv, redact), result.returncode, stderr)
    return Completed(stdout=result.stdout, stderr=result.stderr)


def _redacted(argv: Sequence[str], redact: Sequence[str]) -> list[str]:
    out = []
    for arg in argv:
        for secret in redact:
            arg = arg.replace(secret, "***")
        out.append(arg)
    return out
