"""Repository commands: run in their own session with a scrubbed environment, output to a log file.

The commands a repository defines (build, hooks, tests) get :func:`command_environment`: ``PATH``, locale,
proxy and certificate variables, ``HOME`` and ``TMPDIR`` on the scratch volume, ``CI=true`` and what the
stage adds, and nothing else; the pod's AWS, Kubernetes and GitHub credentials are not passed on.
"""

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from aphex.workflows.steps.common.process import StepError

__all__ = [
    "PASSED_THROUGH",
    "ShellResult",
    "command_environment",
    "iso_timestamp",
    "run_logged",
    "run_shell",
    "utc_now",
]

PASSED_THROUGH: Final = (
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
)
"""Variables a repository's commands inherit from the pod; everything else is dropped."""


@dataclass(frozen=True, kw_only=True)
class ShellResult:
    """One command's outcome; ``exit_code`` is None when it was killed at its timeout."""

    command: str
    exit_code: int | None
    timed_out: bool
    started_at: str
    finished_at: str
    duration_seconds: float
    log: Path

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0

    def output(self) -> str:
        """The command's combined stdout and stderr."""
        return self.log.read_text(encoding="utf-8", errors="replace")


def utc_now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def iso_timestamp(moment: datetime) -> str:
    """``moment`` as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def command_environment(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a repository command: :data:`PASSED_THROUGH` variables, ``HOME``/``TMPDIR``
    under ``home``, ``CI=true`` and ``extra``; never the pod's credentials."""
    env = {key: os.environ[key] for key in PASSED_THROUGH if key in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env.update({"HOME": str(home), "TMPDIR": str(home / "tmp"), "CI": "true"})
    env.update(extra or {})
    return env


def run_shell(command: str, *, cwd: Path, env: Mapping[str, str], timeout: float, log: Path) -> ShellResult:
    """Run ``bash -c command`` in ``cwd`` with exactly ``env``; stdout and stderr go to ``log``."""
    return run_logged(["bash", "-c", command], cwd=cwd, env=env, timeout=timeout, log=log, label=command)


def run_logged(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    log: Path,
    label: str | None = None,
) -> ShellResult:
    """Run ``argv`` in ``cwd`` with exactly ``env``, stdout and stderr into ``log``; never raises on failure.

    The process runs in its own session, so the whole process group is killed at the timeout (a build
    tool's children cannot keep it alive). ``label`` is what the result calls the command.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    started = utc_now()
    clock = time.monotonic()
    timed_out = False
    with log.open("wb") as sink:
        try:
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise StepError(f"`{argv[0]}` is not installed in this image") from None
        try:
            code: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            code = None
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    duration = round(time.monotonic() - clock, 3)
    if timed_out:
        with log.open("a", encoding="utf-8") as sink:
            sink.write(f"\n[aphex] killed after {timeout:g} s (timeout)\n")
    return ShellResult(
        command=label if label is not None else " ".join(argv),
        exit_code=code,
        timed_out=timed_out,
        started_at=iso_timestamp(started),
        finished_at=iso_timestamp(utc_now()),
        duration_seconds=duration,
        log=log,
    )
