"""Argo's ``{{...}}`` variable substitution (https://argo-workflows.readthedocs.io/en/latest/variables/).

Substitution is textual, as in Argo: every ``{{name}}`` whose name is known is replaced by its value; a
name with one of Argo's variable prefixes (``inputs.``, ``outputs.``, ``workflow.``, ``tasks.``,
``steps.``, ``item``, ``pod.``, ``retries``) that is not known raises :class:`UnresolvedVariable`, as the
controller fails a node it cannot resolve; other text in braces is left alone.
"""

import re
from collections.abc import Mapping
from typing import Any

from aphex.dsl.errors import AphexError

__all__ = ["PLACEHOLDER", "UnresolvedVariable", "has_expression_tag", "substitute", "substitute_tree"]

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_PREFIXES = ("inputs.", "outputs.", "workflow.", "tasks.", "steps.", "item", "pod.", "retries", "lastRetry")


class UnresolvedVariable(AphexError, KeyError):
    """A ``{{...}}`` reference has no value where it is used."""

    def __init__(self, name: str, where: str) -> None:
        super().__init__(name)
        self.name = name
        self.where = where

    def __str__(self) -> str:
        where = f"{self.where}: " if self.where else ""
        return f"{where}unable to resolve {{{{{self.name}}}}}"


def has_expression_tag(text: str) -> bool:
    """Whether ``text`` holds an expr-lang tag ``{{=...}}``, which this runner does not evaluate."""
    return any(match.group(1).startswith("=") for match in PLACEHOLDER.finditer(text))


def substitute(text: str, variables: Mapping[str, str], where: str = "") -> str:
    """Replace every ``{{name}}`` of ``text``; ``where`` names the field in errors."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables:
            return variables[name]
        if name.startswith(_PREFIXES):
            raise UnresolvedVariable(name, where)
        return match.group(0)

    return PLACEHOLDER.sub(replace, text)


def substitute_tree(value: Any, variables: Mapping[str, str], where: str = "") -> Any:
    """:func:`substitute` every string inside mappings and lists (keys are left as they are)."""
    if isinstance(value, str):
        return substitute(value, variables, where)
    if isinstance(value, Mapping):
        return {key: substitute_tree(item, variables, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [substitute_tree(item, variables, f"{where}[{index}]") for index, item in enumerate(value)]
    return value
