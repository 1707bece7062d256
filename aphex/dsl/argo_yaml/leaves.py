"""The string values of an Argo object with their field paths: where every ``{{...}}`` check starts."""

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["string_leaves"]


def string_leaves(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside ``value`` with its field path (``spec.templates[0].name``)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from string_leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_leaves(item, f"{path}[{index}]")
