"""Evaluation of DAG ``depends`` expressions and ``when`` conditions, as Argo's controller does.

``depends`` (https://argo-workflows.readthedocs.io/en/latest/enhanced-depends-logic/) is tokenised and
validated by :mod:`aphex.dsl.argo_yaml.depends`, the parser the linter uses too; here it is evaluated
against the phases of finished tasks. A bare ``task`` means
``(task.Succeeded || task.Skipped || task.Daemoned)``, widened by the task's ``continueOn``, exactly as Argo
expands it; ``dependencies: [a, b]`` is the conjunction of such terms.

``when`` (https://argo-workflows.readthedocs.io/en/latest/walk-through/conditionals/) is a govaluate
expression after ``{{...}}`` substitution; Argo turns govaluate variables (bare words) into strings, so
``Succeeded == Succeeded`` is true. Supported: ``== != < > <= >= =~ !~ && || !``, parentheses, quoted
strings, numbers, ``true``/``false`` and bare words. Anything else raises :class:`ExpressionError`.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from aphex.dsl.argo_yaml import RESULTS, DependsError, task_names
from aphex.dsl.argo_yaml import tokens as depends_tokens
from aphex.dsl.errors import InputError

__all__ = [
    "ExpressionError",
    "TaskOutcome",
    "check_when",
    "dependencies_expression",
    "depends_references",
    "evaluate_depends",
    "evaluate_when",
]


class ExpressionError(InputError):
    """An expression cannot be parsed or evaluated; the message says why."""


@dataclass(frozen=True, kw_only=True)
class TaskOutcome:
    """What a ``depends`` term can ask about one finished task."""

    phase: str
    continue_on_failed: bool = False
    continue_on_error: bool = False
    child_phases: tuple[str, ...] = ()


_PHASE_RESULT = {"Succeeded": "Succeeded", "Failed": "Failed", "Error": "Errored", "Skipped": "Skipped"}


def _result(outcome: TaskOutcome, result: str) -> bool:
    if result == "AnySucceeded":
        return any(phase == "Succeeded" for phase in outcome.child_phases)
    if result == "AllFailed":
        return bool(outcome.child_phases) and all(p in ("Failed", "Error") for p in outcome.child_phases)
    if result == "Daemoned":
        return False
    if result == "Omitted":
        return outcome.phase == "Omitted"
    return _PHASE_RESULT.get(outcome.phase) == result


def _bare(outcome: TaskOutcome) -> bool:
    allowed = {"Succeeded", "Skipped"}
    if outcome.continue_on_failed:
        allowed.add("Failed")
    if outcome.continue_on_error:
        allowed.add("Error")
    return outcome.phase in allowed


def depends_references(expression: str) -> list[str]:
    """Task names of a ``depends`` expression; raises :class:`ExpressionError` when it does not parse."""
    try:
        return task_names(expression)
    except DependsError as error:
        raise ExpressionError(f"invalid depends expression: {error}") from None


def dependencies_expression(names: Sequence[str]) -> str:
    """The ``depends`` equivalent of legacy ``dependencies`` (bare names joined by ``&&``)."""
    return " && ".join(names)


def evaluate_depends(expression: str, outcomes: Mapping[str, TaskOutcome]) -> bool:
    """Evaluate ``expression`` once every task it names has an outcome."""
    depends_references(expression)
    tokens = depends_tokens(expression)
    position = 0

    def term() -> bool:
        nonlocal position
        token = tokens[position]
        position += 1
        if token == "!":
            return not term()
        if token == "(":
            value = disjunction()
            position += 1  # ')' (the parser above has checked it)
            return value
        name, _, result = token.partition(".")
        if name not in outcomes:
            raise ExpressionError(f"task {name!r} has not finished")
        if result and result not in RESULTS:
            raise ExpressionError(f"unknown result {result!r}")
        return _result(outcomes[name], result) if result else _bare(outcomes[name])

    def conjunction() -> bool:
        nonlocal position
        value = term()
        while position < len(tokens) and tokens[position] == "&&":
            position += 1
            right = term()
            value = value and right
        return value

    def disjunction() -> bool:
        nonlocal position
        value = conjunction()
        while position < len(tokens) and tokens[position] == "||":
            position += 1
            right = conjunction()
            value = value or right
        return value

    return disjunction()


# --- when -----------------------------------------------------------------------------------------

_WHEN_TOKEN = re.compile(
    r"""\s*(?:
      (?P<op>&&|\|\||==|!=|<=|>=|=~|!~|<|>|!|\(|\))
    | (?P<string>'[^']*'|"[^"]*")
    | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_COMPARISONS = ("==", "!=", "<=", ">=", "<", ">", "=~", "!~")

Value = str | float | bool


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _when_tokens(expression: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    text = expression.rstrip()
    while position < len(text):
        match = _WHEN_TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ExpressionError(f"cannot evaluate {text[position:]!r} in {expression!r}")
        kind = str(match.lastgroup)
        tokens.append(_Token(kind, str(match.group(kind))))
        position = match.end()
    return tokens


def _compare(operator: str, left: Value, right: Value, expression: str) -> bool:
    if operator in ("=~", "!~"):
        if not isinstance(left, str) or not isinstance(right, str):
            raise ExpressionError(f"{operator} needs strings in {expression!r}")
        found = re.search(right, left) is not None
        return found if operator == "=~" else not found
    if operator == "==":
        return type(left) is type(right) and left == right
    if operator == "!=":
        return not (type(left) is type(right) and left == right)
    numeric = isinstance(left, float) and isinstance(right, float)
    if not numeric and not (isinstance(left, str) and isinstance(right, str)):
        raise ExpressionError(f"cannot compare {left!r} {operator} {right!r} in {expression!r}")
    checks: dict[str, Callable[[Value, Value], bool]] = {
        "<": lambda a, b: a < b,  # type: ignore[operator]
        ">": lambda a, b: a > b,  # type: ignore[operator]
        "<=": lambda a, b: a <= b,  # type: ignore[operator]
        ">=": lambda a, b: a >= b,  # type: ignore[operator]
    }
    return checks[operator](left, right)


def evaluate_when(expression: str, *, syntax_only: bool = False) -> bool:
    """Evaluate a substituted ``when``; raises :class:`ExpressionError` when it cannot.

    With ``syntax_only`` only the structure is checked (comparisons count as true).
    """
    tokens = _when_tokens(expression)
    if not tokens:
        raise ExpressionError("empty expression")
    position = 0

    def peek() -> _Token | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> _Token:
        nonlocal position
        if position >= len(tokens):
            raise ExpressionError(f"{expression!r} ends too early")
        token = tokens[position]
        position += 1
        return token

    def operand() -> Value:
        token = take()
        if token.kind == "op" and token.text == "!":
            return not boolean(operand())
        if token.kind == "op" and token.text == "(":
            value = disjunction()
            closing = take()
            if closing.text != ")":
                raise ExpressionError(f"missing ')' in {expression!r}")
            return value
        if token.kind == "string":
            return token.text[1:-1]
        if token.kind == "number":
            return float(token.text)
        if token.kind == "word":
            if token.text in ("true", "false"):
                return token.text == "true"
            return token.text
        raise ExpressionError(f"unexpected {token.text!r} in {expression!r}")

    def comparison() -> Value:
        left = operand()
        following = peek()
        if following is not None and following.kind == "op" and following.text in _COMPARISONS:
            take()
            right = operand()
            return True if syntax_only else _compare(following.text, left, right, expression)
        return left

    def boolean(value: Value) -> bool:
        if syntax_only:
            return True
        if not isinstance(value, bool):
            raise ExpressionError(f"expected a boolean, got {value!r} in {expression!r}")
        return value

    def conjunction() -> Value:
        value = comparison()
        while (following := peek()) is not None and following.text == "&&":
            take()
            right = comparison()
            value = boolean(value) and boolean(right)
        return value

    def disjunction() -> Value:
        value = conjunction()
        while (following := peek()) is not None and following.text == "||":
            take()
            right = conjunction()
            value = boolean(value) or boolean(right)
        return value

    result = disjunction()
    if position != len(tokens):
        raise ExpressionError(f"unexpected {tokens[position].text!r} in {expression!r}")
    return boolean(result)


_PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")


def check_when(expression: str) -> None:
    """Check before running that a ``when`` will be evaluable: placeholders stand in as bare words."""
    evaluate_when(_PLACEHOLDER.sub("x", expression), syntax_only=True)
