"""``synchronization.mutexes`` for local runs: one lock file per mutex in a directory shared by every
local run on the machine, so a second run holding the same mutex name waits, as in Argo
(https://argo-workflows.readthedocs.io/en/latest/synchronization/). Locks are ``flock`` locks: they
are released when the holder ends, even when it is killed.
"""

import fcntl
import os
import re
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

__all__ = ["FileMutex"]


class FileMutex:
    """An exclusive lock named ``key`` under ``directory``; ``on_wait`` is called once before blocking."""

    def __init__(self, directory: Path, key: str, on_wait: Callable[[], None] | None = None) -> None:
        self.path = directory / (re.sub(r"[^A-Za-z0-9_.-]", "_", key) + ".lock")
        self.on_wait = on_wait
        self._fd: int | None = None

    def __enter__(self) -> "FileMutex":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if self.on_wait is not None:
                self.on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
