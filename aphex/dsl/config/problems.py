"""Findings in ``aphex-config.yaml``: :class:`ConfigProblem` names the field by its path, :class:`ConfigError`
carries every finding, and :func:`children` walks a parsed document in the order its paths are reported.
"""

import json
from collections.abc import Iterator, Mapping, Sequence

from aphex.dsl.config.credentials import secret_kind, shown
from aphex.dsl.errors import InputError
from aphex.dsl.schema_problems import PathPart, PathProblem
from aphex.dsl.schema_problems import format_path as schema_path

__all__ = ["ConfigError", "ConfigProblem", "PathPart", "children", "format_path", "path_key"]


class ConfigProblem(PathProblem):
    """One finding of ``aphex-config.yaml``; a key that looks like a secret is redacted in its path."""

    @property
    def location(self) -> str:
        """The path as written in messages; ``(document)`` for the document as a whole."""
        return format_path(self.path)


class ConfigError(InputError):
    """A configuration is invalid; ``problems`` holds every finding, ``str()`` one per line."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def format_path(path: Sequence[PathPart]) -> str:
    """``environments[1].stacks[0].name``; keys that are not identifiers in brackets, secrets redacted."""
    return schema_path(path, hidden=lambda part: secret_kind(part) is not None)


def path_key(key: object) -> str:
    """A mapping key as a path part (YAML allows non-string keys; this format does not)."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return json.dumps(key)
    return shown(key)


def children(value: object) -> Iterator[tuple[PathPart, object, object]]:
    """(path part, original key, child) of a container, in a deterministic order."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield path_key(key), key, child
    elif isinstance(value, list | tuple):
        for index, child in enumerate(value):
            yield index, None, child
    elif isinstance(value, set | frozenset):
        for index, child in enumerate(sorted(value, key=lambda item: (type(item).__name__, shown(item)))):
            yield index, None, child
