"""Parsing of DAG ``depends`` expressions (Argo's "enhanced depends logic").

Grammar: ``expr := term (('&&' | '||') term)*``; ``term := '!' term | '(' expr ')' | TASK ['.' RESULT]``
with RESULT one of Succeeded, Failed, Errored, Skipped, Omitted, Daemoned, AnySucceeded, AllFailed. See
https://argo-workflows.readthedocs.io/en/latest/enhanced-depends-logic/.
"""

import re

__all__ = ["RESULTS", "DependsError", "task_names"]

RESULTS = frozenset(
    {"Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"}
)
_TOKEN = re.compile(r"\s*(?:(&&|\|\|)|(!)|(\()|(\))|([A-Za-z0-9][-A-Za-z0-9_]*(?:\.[A-Za-z]+)?))")


class DependsError(ValueError):
    """The expression does not parse."""


def _tokens(expression: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = expression.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise DependsError(f"unexpected {text[position:]!r}")
        tokens.append(next(group for group in match.groups() if group))
        position = match.end()
    return tokens


def task_names(expression: str) -> list[str]:
    """The task names an expression refers to, in order; raises :class:`DependsError` when invalid."""
    tokens = _tokens(expression)
    names: list[str] = []
    position = 0

    def term() -> None:
        nonlocal position
        if position >= len(tokens):
            raise DependsError("expression ends too early")
        token = tokens[position]
        position += 1
        if token == "!":
            term()
        elif token == "(":
            expr()
            if position >= len(tokens) or tokens[position] != ")":
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
        while position < len(tokens) and tokens[position] in ("&&", "||"):
            position += 1
            term()

    expr()
    if position != len(tokens):
        raise DependsError(f"unexpected {tokens[position]!r}")
    return names
