"""The JSON Schema of ``aphex-config.yaml`` and the problems it finds.

The schema, ``aphex-config.schema.json`` next to this module (JSON Schema draft 2020-12), is the single
source of the format; the reference in ``docs/configuration.md`` is generated from it. Patterns follow
ECMA-262 where Python's ``re`` differs, and a keyword with an ``x-message`` reports that message.
"""

import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from typing import Any, Final

from jsonschema import Draft202012Validator, ValidationError, validators

from aphex.dsl.config.credentials import secret_kind
from aphex.dsl.config.problems import ConfigProblem, path_key
from aphex.dsl.schema_problems import problems_of, unknown_key_message

__all__ = ["config_schema", "schema_problems", "schema_regex"]

_CUSTOM_MESSAGE_KEYWORDS: Final = frozenset(
    {"type", "pattern", "minLength", "maxLength", "const", "enum", "anyOf", "oneOf", "minItems"}
)


@functools.cache
def _schema_text() -> str:
    return (
        resources.files("aphex.dsl.config").joinpath("aphex-config.schema.json").read_text(encoding="utf-8")
    )


def config_schema() -> dict[str, Any]:
    """The JSON Schema of ``aphex-config.yaml`` (draft 2020-12); a fresh copy on every call."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


@functools.cache
def schema_regex(pattern: str) -> re.Pattern[str]:
    """A schema pattern with ECMA-262 semantics where Python's differ: ``$`` only at the very end.

    Python's ``$`` also matches before a final newline, so ``^[0-9]{12}$`` would accept
    ``"123456789012\\n"`` (a YAML block scalar); ``\\Z`` does not.
    """
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


def _pattern(
    validator: Any, pattern: str, instance: object, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not schema_regex(pattern).search(instance):
        yield ValidationError(f"does not match {pattern!r}")


@functools.cache
def _validator() -> Any:
    # jsonschema's validators.extend is untyped; it returns a Draft202012Validator subclass.
    strict = validators.extend(Draft202012Validator, {"pattern": _pattern})  # type: ignore[no-untyped-call]
    return strict(config_schema())


def _unknown_field(key: object, known: Sequence[str]) -> str:
    return unknown_key_message(key if isinstance(key, str) and secret_kind(key) is None else None, known)


def _custom_message(error: ValidationError) -> str | None:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator in _CUSTOM_MESSAGE_KEYWORDS and "x-message" in schema:
        return str(schema["x-message"])
    return None


def schema_problems(data: object) -> Iterator[ConfigProblem]:
    """Every place ``data`` breaks the schema, named by its path."""
    for problem in problems_of(
        _validator().iter_errors(data), key=path_key, unknown=_unknown_field, message=_custom_message
    ):
        yield ConfigProblem(path=problem.path, message=problem.message)
