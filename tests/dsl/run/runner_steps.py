"""Hera runner entrypoints the corpus runs in a subprocess (``python -m hera.workflows.runner``)."""

import os
from typing import Annotated

from hera.workflows import Parameter

__all__ = ["greet"]


def greet(
    name: str, times: int
) -> tuple[Annotated[str, Parameter(name="greeting")], Annotated[str, Parameter(name="context")]]:
    """Greet ``name`` ``times`` times; report the environment the runner saw."""
    if times < 1:
        raise SystemExit(f"times must be positive, got {times}")
    context = ",".join(
        f"{key}={os.environ.get(key, '')}" for key in ("GREETING_STYLE", "API_TOKEN", "POD_NAMESPACE", "SA")
    )
    return " ".join([f"hello {name}"] * times), context
