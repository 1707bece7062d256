"""Validation of ``aphex-config.yaml``: the JSON Schema (:mod:`.schema`), then the rules a schema cannot
express (:mod:`.rules`).

Every finding is a :class:`ConfigProblem` naming the field by its path
(``environments[1].account: must be 12 digits as a string``); malformed input of any kind (broken YAML,
binary junk, huge numbers, alias bombs) becomes a problem, never an exception. A problem never repeats a
value that looks like a secret.
"""

from typing import Final

from aphex.dsl.config.credentials import MAX_INT_BITS
from aphex.dsl.config.problems import ConfigProblem, PathPart, children
from aphex.dsl.config.reading import parse_text
from aphex.dsl.config.rules import credential_problems, semantic_problems
from aphex.dsl.config.schema import schema_problems

__all__ = ["MAX_DEPTH", "validate_document", "validate_text"]

MAX_DEPTH: Final = 64
"""Deepest nesting :func:`validate_document` accepts, reported at the path where it is exceeded; checked
without recursion before the schema validator, which recurses, walks the document (parsed or built in
Python). A configuration nests about six levels."""


def _shape_problems(data: object) -> list[ConfigProblem]:
    """Depth and number magnitude, checked iteratively before anything recurses into ``data``."""
    problems: list[ConfigProblem] = []
    stack: list[tuple[tuple[PathPart, ...], object]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_DEPTH:
            return [ConfigProblem(path=path[:MAX_DEPTH], message=f"nests deeper than {MAX_DEPTH} levels")]
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
            problems.append(ConfigProblem(path=path, message="is a number too large for any field"))
        stack.extend(((*path, part), child) for part, _, child in children(value))
    return problems


def validate_document(data: object) -> list[ConfigProblem]:
    """Every problem of a parsed document, sorted in document order; ``[]`` when it is valid."""
    problems = _shape_problems(data)
    if not problems:
        problems = [*schema_problems(data), *credential_problems(data), *semantic_problems(data)]
    return sorted(set(problems), key=ConfigProblem.sort_key)


def validate_text(text: str | bytes) -> list[ConfigProblem]:
    """Every problem of a configuration given as YAML text."""
    data, problems = parse_text(text)
    return problems or validate_document(data)
