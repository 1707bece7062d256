"""JSON Schema violations as one line each: the path of the key, the rule it breaks and the limit.

One formatter for both documents aphex validates with a schema: the values of ``aphex compile --values``
(:mod:`aphex.dsl.values_schema`) and ``aphex-config.yaml`` (:mod:`aphex.dsl.config.validate`). A problem reads
``pipelines[0].name: must be at most 19 characters long``; an unknown key suggests the closest allowed key
at its level (``did you mean namespace?``), and a missing one is reported at its own path.
"""

import difflib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from jsonschema.exceptions import ValidationError

__all__ = [
    "PathPart",
    "PathProblem",
    "format_path",
    "problems_of",
    "rule_message",
    "unknown_key_message",
]

PathPart = str | int
"""A mapping key (``str``) or a list index (``int``)."""

_MAX_SHOWN: Final = 64
_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_TYPE_NAMES: Final = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "empty",
}


def _never(_: str) -> bool:
    return False


def format_path(
    path: Sequence[PathPart], *, hidden: Callable[[str], bool] = _never, root: str = "(document)"
) -> str:
    """``environments[1].stacks[0].name``; keys that are not identifiers in brackets, ``hidden`` keys
    (a secret used as a key) as ``[<redacted>]``, and ``root`` for the document as a whole."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif hidden(part):
            out += "[<redacted>]"
        elif _IDENTIFIER.match(part):
            out += f".{part}" if out else part
        else:
            shown = part if len(part) <= _MAX_SHOWN else part[:_MAX_SHOWN] + "..."
            out += f"[{json.dumps(shown)}]"
    return out or root


@dataclass(frozen=True, kw_only=True)
class PathProblem:
    """One finding: where (``environments[1].account``) and what rule it breaks."""

    path: tuple[PathPart, ...]
    message: str

    @property
    def location(self) -> str:
        """The path as written in messages; ``(document)`` for the document as a whole."""
        return format_path(self.path)

    def sort_key(self) -> tuple[tuple[tuple[int, int, str], ...], str]:
        """Document order: list indices numerically, keys alphabetically, then the message."""
        parts = tuple((0, part, "") if isinstance(part, int) else (1, 0, part) for part in self.path)
        return parts, self.message

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


def rule_message(validator: str, expected: Any) -> str:
    """The rule of schema keyword ``validator`` with its limit ``expected``, as a requirement."""
    if validator == "type":
        names = [expected] if isinstance(expected, str) else list(expected)
        return "must be " + " or ".join(_TYPE_NAMES.get(name, name) for name in names)
    if validator == "minItems":
        return "must not be empty" if expected == 1 else f"must have at least {expected} items"
    if validator == "maxItems":
        return f"must have at most {expected} items"
    if validator == "minLength":
        return "must not be empty" if expected == 1 else f"must be at least {expected} characters long"
    if validator == "maxLength":
        return f"must be at most {expected} characters long"
    if validator == "minimum":
        return f"must be at least {expected}"
    if validator == "maximum":
        return f"must be at most {expected}"
    if validator == "uniqueItems":
        return "must not list the same item twice"
    if validator == "const":
        return f"must be {json.dumps(expected)}"
    if validator == "enum":
        return "must be one of " + ", ".join(json.dumps(item) for item in expected)
    if validator == "pattern":
        return f"must match {expected}"
    return f"does not satisfy the schema rule {validator!r}"


def unknown_key_message(key: str | None, known: Sequence[str]) -> str:
    """An unknown key, with the closest allowed key (case-insensitively) or else the allowed keys;
    ``key`` None when it must not be compared (a secret)."""
    if key is not None:
        lowered = {name.lower(): name for name in known}
        close = difflib.get_close_matches(key.lower(), sorted(lowered), n=1, cutoff=0.6)
        if close:
            return f"unknown field (did you mean {lowered[close[0]]}?)"
    return f"unknown field (allowed: {', '.join(sorted(known))})" if known else "unknown field"


def _own_key(key: object) -> str:
    """A mapping key as a path part (YAML allows non-string keys; JSON paths do not)."""
    if isinstance(key, str):
        return key
    return json.dumps(key) if key is None or isinstance(key, bool) else repr(key)


def _unknown(key: object, known: Sequence[str]) -> str:
    return unknown_key_message(key if isinstance(key, str) else None, known)


def _rule_only(_: ValidationError) -> str | None:
    return None


def problems_of(
    errors: Iterable[ValidationError],
    *,
    key: Callable[[object], str] = _own_key,
    unknown: Callable[[object, Sequence[str]], str] = _unknown,
    message: Callable[[ValidationError], str | None] = _rule_only,
) -> Iterator[PathProblem]:
    """One problem per violation: ``required`` and ``additionalProperties`` at the path of each missing or
    unknown key. ``key`` turns a mapping key into a path part, ``unknown`` words an unknown key, and
    ``message`` may word an error itself (None: :func:`rule_message`)."""
    for error in errors:
        path = tuple(part if isinstance(part, int) else key(part) for part in error.absolute_path)
        schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
        instance = error.instance
        expected: Any = error.validator_value
        if error.validator == "required" and isinstance(instance, Mapping):
            for name in expected:
                if name not in instance:
                    yield PathProblem(path=(*path, name), message="is required")
        elif error.validator == "additionalProperties" and isinstance(instance, Mapping):
            known = list(schema.get("properties", {}))
            for name in instance:
                if name not in known:
                    yield PathProblem(path=(*path, key(name)), message=unknown(name, known))
        else:
            worded = message(error) or rule_message(str(error.validator), expected)
            yield PathProblem(path=path, message=worded)
