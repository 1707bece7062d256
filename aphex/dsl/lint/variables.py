"""``{{...}}`` references resolved as Argo resolves them when it validates a template.

Mirrors argo-workflows ``workflow/validate/validate.go``, ``resolveAllVariables``: only tags that start
with ``item.``, ``steps.``, ``inputs.``, ``outputs.``, ``pod.``, ``workflow.`` or ``tasks.`` are checked
(``util/template``, ``Validate``, skips expression tags ``{{=...}}``); a tag resolves when it is a key of
the scope or of the workflow's globals, or matches one of the prefixes Argo lets through (``outputs.``,
``workflow.creationTimestamp``, ``workflow.scheduledTime``, ``workflow.duration``, ``tasks.name``,
``steps.name``, ``node.name``, ``workflow.parameters`` in a WorkflowTemplate, ``item.*`` with
``withParam``, ``workflow.outputs.*`` when a ``globalName`` is itself a parameter).
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aphex.dsl.argo_yaml import string_leaves

__all__ = ["TAG", "Scope", "is_parameter", "tags"]

TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_CHECKED_PREFIXES = ("item.", "steps.", "inputs.", "outputs.", "pod.", "workflow.", "tasks.")
_ALWAYS_PREFIXES = (
    "outputs.",
    "workflow.creationTimestamp",
    "workflow.scheduledTime",
    "workflow.duration",
    "tasks.name",
    "steps.name",
    "node.name",
)
_INPUT_PARAMETER = re.compile(r"\{\{\s*inputs\.parameters\.([-a-zA-Z0-9_]+)\s*\}\}")
_PARAMETER = re.compile(r"\{\{[-a-zA-Z0-9]+(\.[-a-zA-Z0-9_]+)*\}\}")


def is_parameter(text: str) -> bool:
    """Argo's ``isParameter``: the text holds a simple ``{{a.b.c}}`` reference."""
    return bool(_PARAMETER.search(text))


def tags(text: str) -> list[str]:
    """The tags of a string as Argo's template engine finds them (between ``{{`` and the next ``}}``)."""
    return TAG.findall(text) if "{{" in text else []


@dataclass
class Scope:
    """Keys that resolve at one place; ``any_item`` and the globals' wildcards as Argo's magic values."""

    keys: set[str] = field(default_factory=set)
    any_item: bool = False
    any_output_parameter: bool = False
    any_output_artifact: bool = False

    def copy(self) -> "Scope":
        return Scope(set(self.keys), self.any_item, self.any_output_parameter, self.any_output_artifact)

    def unresolved(self, tag: str, globals_: "Scope", template_validation: bool) -> bool:
        """Whether Argo reports ``failed to resolve {{tag}}`` here."""
        trimmed = tag.strip()
        if trimmed.startswith("=") or not trimmed.startswith(_CHECKED_PREFIXES):
            return False
        if trimmed in self.keys or trimmed in globals_.keys:
            return False
        if trimmed.startswith(_ALWAYS_PREFIXES):
            return False
        if (trimmed == "item" or trimmed.startswith("item.")) and self.any_item:
            return False
        if trimmed.startswith("workflow.outputs.parameters.") and (
            self.any_output_parameter or globals_.any_output_parameter
        ):
            return False
        if trimmed.startswith("workflow.outputs.artifacts.") and (
            self.any_output_artifact or globals_.any_output_artifact
        ):
            return False
        return not (template_validation and trimmed.startswith("workflow.parameters"))

    def substitute_inputs(self, text: str) -> str:
        """The text after Argo's ``ProcessArgs``: input parameters replaced by placeholders first."""
        if "inputs.parameters" not in text:
            return text
        return _INPUT_PARAMETER.sub(
            lambda m: (
                f"placeholder-{m.group(1)}" if f"inputs.parameters.{m.group(1)}" in self.keys else m.group(0)
            ),
            text,
        )

    def check(
        self, value: Any, path: str, globals_: "Scope", template_validation: bool
    ) -> Iterator[tuple[str, str]]:
        """``(field path, message)`` for every tag under ``value`` that does not resolve."""
        for where, text in string_leaves(value, path):
            for tag in tags(self.substitute_inputs(text)):
                if self.unresolved(tag, globals_, template_validation):
                    yield where, f"failed to resolve {{{{{tag}}}}}"
