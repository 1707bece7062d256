"""The subset of expr-lang (https://expr-lang.org) Argo evaluates for ``retryStrategy.expression``.

argo-workflows workflow/controller/operator.go, processNodeRetries: after a failed attempt the expression
(already substituted, so ``{{inputs.parameters.x}}`` is text) is evaluated by util/expr/argoexpr
``EvalBool`` over ``env.GetFuncMap(buildRetryStrategyLocalScope(...))``: ``retries`` and
``lastRetry.{exitCode, status, duration, message}``, every value a **string** (``exitCode`` is ``"-1"``
when the attempt has none), plus ``asInt``/``asFloat`` (expr's ``int``/``float``). So
``lastRetry.exitCode != "2"`` compares strings and ``lastRetry.exitCode != 2`` is always true (expr's
``==`` is false across types); ``asInt(lastRetry.exitCode) == 2`` compares numbers.

Supported, with expr-lang's precedence (``or`` < ``and`` < comparisons < unary): ``|| or && and ! not``,
``== != < > <= >=``, ``in`` / ``not in`` a ``[...]`` list, ``matches`` / ``not matches`` (a regular
expression), parentheses, string literals (single or double quotes), integers, floats, ``true``,
``false``, ``nil``, the variables above and the functions ``asInt``, ``int``, ``asFloat``, ``float``,
``string``. Anything else raises :class:`ExprError` before the run (:func:`check_expression`); a value
error while evaluating (``asInt("x")``, ``"a" < 1``) raises :class:`ExprError`, which Argo reports as
``unable to evaluate expression '<expression>': <reason>`` and the retry node ends in Error.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aphex.dsl.errors import InputError

__all__ = ["RETRY_EXPRESSION_NAMES", "ExprError", "check_expression", "evaluate_bool"]

RETRY_EXPRESSION_NAMES = (
    "retries",
    "lastRetry.exitCode",
    "lastRetry.status",
    "lastRetry.duration",
    "lastRetry.message",
)


class ExprError(InputError):
    """The expression is outside the supported subset, or fails while evaluating."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+)
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\],.])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}
_COMPARISONS = ("==", "!=", "<", ">", "<=", ">=")
_KEYWORDS = {"and": "&&", "or": "||", "not": "!"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _tokens(expression: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(expression):
        if not expression[position:].strip():
            break
        match = _TOKEN.match(expression, position)
        if match is None:
            rest = expression[position:].strip()
            raise ExprError(f"unsupported syntax at {rest[:20]!r}")
        kind = str(match.lastgroup)
        tokens.append(_Token(kind, match.group(kind)))
        position = match.end()
    return tokens


def _unquote(text: str) -> str:
    body = text[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            following = body[index + 1]
            if following == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[index + 2 : index + 6]):
                out.append(chr(int(body[index + 2 : index + 6], 16)))
                index += 6
                continue
            if following not in _ESCAPES:
                raise ExprError(f"unsupported escape \\{following} in {text}")
            out.append(_ESCAPES[following])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _type_name(value: Any) -> str:
    if value is None:
        return "nil"
    return {bool: "bool", int: "int", float: "float64", str: "string", list: "[]interface {}"}.get(
        type(value), "map[string]interface {}"
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    """expr's ``==``: numbers compare by value whatever their type, other values only within a type."""
    if _number(left) and _number(right):
        return bool(left == right)
    return type(left) is type(right) and bool(left == right)


def _mismatch(operator: str, left: Any, right: Any) -> ExprError:
    types = f"{_type_name(left)} and {_type_name(right)}"
    return ExprError(f"invalid operation: {operator} (mismatched types {types})")


def _order(operator: str, left: Any, right: Any) -> bool:
    if not ((_number(left) and _number(right)) or (isinstance(left, str) and isinstance(right, str))):
        raise _mismatch(operator, left, right)
    checks: dict[str, Callable[[Any, Any], bool]] = {
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }
    return checks[operator](left, right)


def _as_int(value: Any) -> int:
    if _number(value):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value):
        return int(value)
    raise ExprError(f"invalid operation: int({value})")


def _as_float(value: Any) -> float:
    if _number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ExprError(f"invalid operation: float({value})")


def _as_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    return str(value)


_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "asInt": _as_int,
    "int": _as_int,
    "asFloat": _as_float,
    "float": _as_float,
    "string": _as_string,
}


class _Parser:
    """Recursive descent over the tokens; evaluates as it goes unless ``check_only``."""

    def __init__(
        self, expression: str, variables: Mapping[str, Any], names: Sequence[str], check_only: bool
    ) -> None:
        self.expression = expression
        self.tokens = _tokens(expression)
        self.position = 0
        self.variables = variables
        self.names = names
        self.check_only = check_only

    def peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def keyword(self) -> str | None:
        token = self.peek()
        if token is None:
            return None
        if token.kind == "name" and token.text in (*_KEYWORDS, "in", "matches"):
            return _KEYWORDS.get(token.text, token.text)
        return token.text if token.kind == "op" else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise ExprError("unexpected end of expression")
        self.position += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise ExprError(f"expected {text!r}, got {token.text!r}")

    def boolean(self, value: Any, operator: str) -> bool:
        if self.check_only:
            return True
        if not isinstance(value, bool):
            raise ExprError(f"invalid operation: {operator} (mismatched type {_type_name(value)})")
        return value

    def parse(self) -> Any:
        if not self.tokens:
            raise ExprError("empty expression")
        value = self.disjunction()
        if self.peek() is not None:
            raise ExprError(f"unexpected {self.take().text!r}")
        return value

    def disjunction(self) -> Any:
        value = self.conjunction()
        while self.keyword() == "||":
            self.take()
            if not self.check_only and self.boolean(value, "||"):
                self.skip(self.conjunction)
                value = True
            else:
                value = self.boolean(self.conjunction(), "||")
        return value

    def conjunction(self) -> Any:
        value = self.comparison()
        while self.keyword() == "&&":
            self.take()
            if not self.check_only and not self.boolean(value, "&&"):
                self.skip(self.comparison)
                value = False
            else:
                value = self.boolean(self.comparison(), "&&")
        return value

    def skip(self, rule: Callable[[], Any]) -> None:
        """Parse without evaluating (the short-circuited side of ``&&`` / ``||``)."""
        previous, self.check_only = self.check_only, True
        try:
            rule()
        finally:
            self.check_only = previous

    def comparison(self) -> Any:
        value = self.unary()
        while True:
            operator = self.keyword()
            negate = False
            current = self.peek()
            if current is not None and current.text == "not":
                following = self.tokens[self.position + 1] if self.position + 1 < len(self.tokens) else None
                if following is None or following.text not in ("in", "matches"):
                    return value
                self.take()
                negate, operator = True, following.text
            if operator not in (*_COMPARISONS, "in", "matches"):
                return value
            self.take()
            right = self.unary()
            if self.check_only:
                value = True
                continue
            value = self.compare(str(operator), value, right)
            if negate:
                value = not value

    def compare(self, operator: str, left: Any, right: Any) -> bool:
        if operator == "==":
            return _equal(left, right)
        if operator == "!=":
            return not _equal(left, right)
        if operator == "in":
            if not isinstance(right, list):
                raise _mismatch(operator, left, right)
            return any(_equal(left, item) for item in right)
        if operator == "matches":
            if not isinstance(left, str) or not isinstance(right, str):
                raise _mismatch(operator, left, right)
            try:
                return re.search(right, left) is not None
            except re.error as error:
                raise ExprError(f"matches: invalid regular expression {right!r}: {error}") from None
        return _order(operator, left, right)

    def unary(self) -> Any:
        if self.keyword() == "!":
            token = self.take()
            return not self.boolean(self.unary(), token.text)
        return self.primary()

    def primary(self) -> Any:
        token = self.take()
        if token.text == "(":
            value = self.disjunction()
            self.expect(")")
            return value
        if token.text == "[":
            items: list[Any] = []
            while self.keyword() != "]":
                items.append(self.disjunction())
                if self.keyword() != ",":
                    break
                self.take()
            self.expect("]")
            return items
        if token.kind == "number":
            return float(token.text) if any(c in token.text for c in ".eE") else int(token.text)
        if token.kind == "string":
            return _unquote(token.text)
        if token.kind != "name":
            raise ExprError(f"unexpected {token.text!r}")
        if token.text in ("true", "false"):
            return token.text == "true"
        if token.text == "nil":
            return None
        if token.text in _FUNCTIONS:
            self.expect("(")
            argument = self.disjunction()
            self.expect(")")
            return None if self.check_only else _FUNCTIONS[token.text](argument)
        path = token.text
        while self.keyword() == ".":
            self.take()
            member = self.take()
            if member.kind != "name":
                raise ExprError(f"unexpected {member.text!r} after {path}.")
            path += f".{member.text}"
        if path not in self.names:
            raise ExprError(f"unknown name {path} (known: {', '.join(self.names)})")
        return self.variables.get(path)


_PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")


def check_expression(expression: str, names: Sequence[str]) -> None:
    """Check before running that the expression is in the subset; ``{{...}}`` stands for a value."""
    _Parser(_PLACEHOLDER.sub("true", expression), {}, names, check_only=True).parse()


def evaluate_bool(expression: str, variables: Mapping[str, str]) -> bool:
    """Argo's ``EvalBool``: the (substituted) expression over ``variables``; must give a bool."""
    result = _Parser(expression, variables, list(variables), check_only=False).parse()
    if not isinstance(result, bool):
        raise ExprError(f"unable to cast expression result '{_as_string(result)}' to bool")
    return result
