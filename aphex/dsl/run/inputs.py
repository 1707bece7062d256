"""A template invocation: what it is given (the node it becomes and its arguments), its inputs resolved from
the arguments, ``value``, ``default`` and ``enum``, and the ``inputs.*`` variables they give its body."""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aphex.dsl.run.handlers import PathMap
from aphex.dsl.run.loader import Resolved
from aphex.dsl.run.nodes import Node, RunError
from aphex.dsl.run.substitution import substitute

__all__ = ["Inputs", "Invocation", "input_variables", "resolve_inputs"]


@dataclass(frozen=True, kw_only=True)
class Invocation:
    """One run of a template: the node it becomes (``name``, shown as ``display``, under ``parent``), the
    task or step it runs for (what ``--fail`` names) and its arguments (artifacts as host paths)."""

    name: str
    display: str
    parent: Node | None
    task: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    artifacts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """The parameters (in declaration order) and the artifacts (by name, a host path) of one invocation."""

    parameters: tuple[tuple[str, str], ...]
    artifacts: Mapping[str, str]


def resolve_inputs(resolved: Resolved, call: Invocation, variables: Mapping[str, str]) -> Inputs:
    """The inputs ``resolved`` declares, from the arguments of ``call``, else the declared ``value`` or
    ``default`` (substituted with ``variables``); raises :class:`RunError` naming the input."""
    parameters, artifacts = call.parameters, call.artifacts
    declared = resolved.template.get("inputs") or {}
    values: list[tuple[str, str]] = []
    for parameter in declared.get("parameters", []) or []:
        name = str(parameter.get("name"))
        if name in parameters:
            value = parameters[name]
        elif "value" in parameter:
            value = substitute(str(parameter["value"]), variables, f"inputs.parameters.{name}")
        elif "default" in parameter:
            value = substitute(str(parameter["default"]), variables, f"inputs.parameters.{name}")
        else:
            raise RunError(f"{resolved.path}.inputs.parameters.{name}: no value given")
        enum = parameter.get("enum")
        if enum is not None and value not in [str(option) for option in enum]:
            raise RunError(f"{resolved.path}.inputs.parameters.{name}: {value!r} is not one of {enum}")
        values.append((name, value))
    placed: dict[str, str] = {}
    for artifact in declared.get("artifacts", []) or []:
        name = str(artifact.get("name"))
        if name in artifacts:
            placed[name] = artifacts[name]
        elif not artifact.get("raw") and not artifact.get("optional"):
            raise RunError(f"{resolved.path}.inputs.artifacts.{name}: no artifact given")
    return Inputs(parameters=tuple(values), artifacts=placed)


def input_variables(template: Mapping[str, Any], inputs: Inputs, paths: PathMap | None) -> dict[str, str]:
    """``inputs.parameters.*``, ``inputs.parameters`` and, with the node's ``paths``, the host path of
    each input artifact."""
    variables = {f"inputs.parameters.{name}": value for name, value in inputs.parameters}
    variables["inputs.parameters"] = json.dumps([{"name": n, "value": v} for n, v in inputs.parameters])
    for artifact in (template.get("inputs") or {}).get("artifacts", []) or []:
        if artifact.get("path") and paths is not None:
            variables[f"inputs.artifacts.{artifact['name']}.path"] = str(paths.host(str(artifact["path"])))
    return variables
