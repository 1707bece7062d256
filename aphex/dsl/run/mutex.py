"""``synchronization.mutexes`` for local runs: one lock file per mutex in a directory shared by every
local run on the machine, so a second run holding the same mutex name waits, as in Argo
(https://argo-workflows.readthedocs.io/en/latest/synchronization/). Locks are ``flock`` locks: they
are released when the holder ends, even when it is killed. :class:`Mutexes` takes the mutexes a workflow
or a template names in its ``synchronization``.
"""

import fcntl
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from aphex.dsl.run.nodes import timestamp
from aphex.dsl.run.substitution import substitute

__all__ = ["FileMutex", "Mutexes"]


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


@dataclass(frozen=True, kw_only=True)
class Mutexes:
    """The mutexes of one namespace; ``emit`` gets the progress line of a holder that has to wait."""

    directory: Path
    namespace: str
    emit: Callable[[str], None]

    def mutex(self, name: str, holder: str) -> FileMutex:
        """The file lock of the mutex ``name`` (shared by every local run on this machine)."""
        return FileMutex(
            self.directory,
            f"{self.namespace}/Mutex/{name}",
            on_wait=lambda: self.emit(f"{timestamp(time.time())} waiting   {holder} for mutex {name}"),
        )

    @contextmanager
    def hold(
        self, mutexes: Sequence[Mapping[str, Any]], variables: Mapping[str, str], holder: str, where: str
    ) -> Iterator[None]:
        """Take ``mutexes`` (a ``synchronization.mutexes`` list found at ``where``) in order, names
        substituted with ``variables``, and release them when done."""
        with ExitStack() as stack:
            for index, mutex in enumerate(mutexes):
                name = substitute(str(mutex.get("name")), variables, f"{where}.mutexes[{index}].name")
                stack.enter_context(self.mutex(name, holder))
            yield
