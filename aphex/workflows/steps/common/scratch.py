"""Scratch space of a step: fresh directories on the pod's scratch volume.

The templates mount an emptyDir at :data:`aphex.dsl.security.SCRATCH_PATH` and name it in ``APHEX_SCRATCH``
(the root filesystem is read-only); outside a pod the system temp directory serves.
"""

import os
import tempfile
from pathlib import Path

__all__ = ["scratch"]


def scratch(prefix: str) -> Path:
    """A fresh directory on the scratch volume (``APHEX_SCRATCH``, else the system temp directory)."""
    base = Path(os.environ.get("APHEX_SCRATCH") or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))
