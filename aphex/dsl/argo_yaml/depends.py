"""Parsing of DAG ``depends`` expressions (Argo's "enhanced depends logic").

Grammar: ``expr := term (('&&' | '||') term)*``; ``term := '!' term | '(' expr ')' | TASK ['.' RESULT]``
with RESULT one of Succeeded, Failed, Errored, Skipped, Omitted, Daemoned, AnySucceeded, AllFailed. See
https://argo-workflows.readthedocs.io/en/latest/enhanced-depends-logic/.
"""

import re

from aphex.dsl.errors import InputError

__all__ = ["RESULTS", "DependsError", "task_names", "tokens"]

RESULTS = frozenset(
    {"Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"}
)
_TOKEN = re.compile(r"\s*(?:(&&|\|\|)|(!)|(\()|(\))|([A-Za-z0-9][-A-Za-z0-9_]*(?:\.[A-Za-z]+)?))")


class DependsError(InputError):
    """The expression does not parse."""


def tokens(expression: str) -> list[str]:
    """The tokens of a ``depends`` expression: task[.Result], ``!``, ``&&``, ``||``, parentheses."""
    found: list[str] = []
    position = 0
    text = expression.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise DependsError(f"unexpected {text[position:]!r}")
        found.append(next(group for group in match.groups() if group))
        position = match.end()
    return found


def task_names(expression: str) -> list[str]:
    """The task names an expression refers to, in order; raises :class:`DependsError` when invalid."""
    parts = tokens(expression)
    names: list[str] = []
    position = 0

    def term() -> None:
        nonlocal position
        if position >= len(parts):
            raise DependsError("expression ends too early")
        token = parts[position]
        position += 1
        if token == "!":
            term()
        elif token == "(":
            expr()
            if position >= len(parts) or parts[position] != ")":
                raise DependsError("missing ')'")
            position += 1
        elif token in ("&&", "||", ")"):
            raise DependsError(f"unexpected {token!r}")
        else:
            name, _, result = token.partition(".")
            if result and result not in RESULTS:
                raise DependsError(f"unknown result {result!r} (one of {', '.join(sorted(RESULTS))})")
            names.append(name)

    def expr() -> None:
        nonlocal position
        term()
        while position < len(parts) and parts[position] in ("&&", "||"):
            position += 1
            term()

    expr()
    if position != len(parts):
        raise DependsError(f"unexpected {parts[position]!r}")
    return names
