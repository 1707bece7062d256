"""What a local run refuses, checked before anything runs.

Every template reachable from the entrypoint and the exit handlers is inspected; a field whose meaning
the local runner does not reproduce is reported with its path (``WorkflowTemplate/x:
spec.templates[2].podSpecPatch: ...``) rather than silently ignored. Leaf templates also need a handler
(runner, stand-in, host command with ``--allow-host-commands``, resource, suspend).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aphex.dsl.argo_yaml import string_leaves
from aphex.dsl.run.expressions import ExpressionError, check_when, depends_references
from aphex.dsl.run.exprlang import RETRY_EXPRESSION_NAMES, ExprError, check_expression
from aphex.dsl.run.handlers import HandlerRegistry
from aphex.dsl.run.loader import Library, Resolved, Selection
from aphex.dsl.run.substitution import has_expression_tag

__all__ = ["Checked", "check", "unsupported"]

_REFUSED_TYPES = ("data", "http", "containerSet", "plugin")
_REFUSED_FIELDS = {
    "podSpecPatch": "podSpecPatch is not applied locally",
    "daemon": "daemon templates are not supported locally",
    "memoize": "memoization is not supported locally",
    "sidecars": "sidecars are not run locally",
    "initContainers": "init containers are not run locally",
    "hooks": "lifecycle hooks are not supported locally",
}
_SPEC_REFUSED = {
    "hooks": "lifecycle hooks are not supported locally",
    "templateDefaults": "templateDefaults are not applied locally",
    "podSpecPatch": "podSpecPatch is not applied locally",
}
_ARTIFACT_SOURCES = (
    "s3",
    "git",
    "http",
    "gcs",
    "oss",
    "azure",
    "hdfs",
    "artifactory",
    "huggingFace",
    "plugin",
)
_FIELD_REFS = {"metadata.namespace", "metadata.name", "spec.serviceAccountName"}
_JSON_PATH = re.compile(r"^\{\.[A-Za-z0-9_.\[\]-]+\}$")


class _Checker:
    def __init__(self, library: Library, registry: HandlerRegistry) -> None:
        self.library = library
        self.registry = registry
        self.problems: list[str] = []
        self.seen: set[tuple[int, int]] = set()
        self.names: set[str] = set()

    def emit(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def template(self, resolved: Resolved) -> None:
        key = (id(resolved.owner), resolved.index if resolved.index >= 0 else id(resolved.template))
        if key in self.seen:
            return
        self.seen.add(key)
        template, path = resolved.template, resolved.path
        for kind in _REFUSED_TYPES:
            if template.get(kind) is not None:
                self.emit(f"{path}.{kind}", f"{kind} templates are not supported locally")
                return
        for name, message in _REFUSED_FIELDS.items():
            if template.get(name):
                self.emit(f"{path}.{name}", message)
        for where, text in string_leaves(template, path):
            if has_expression_tag(text):
                self.emit(where, "expression tags {{=...}} are not evaluated locally")
        sync = template.get("synchronization") or {}
        if sync.get("semaphores") or sync.get("semaphore") or sync.get("mutex"):
            self.emit(f"{path}.synchronization", "only synchronization.mutexes are supported locally")
        self.retry(template.get("retryStrategy") or {}, f"{path}.retryStrategy")
        self.io(template, path)
        if template.get("resource") is not None:
            resource = template["resource"]
            if resource.get("action") not in ("create", "apply"):
                self.emit(
                    f"{path}.resource.action",
                    f"{resource.get('action')!r}: only create and apply run locally",
                )
            if resource.get("manifestFrom"):
                self.emit(f"{path}.resource.manifestFrom", "only inline manifests are supported locally")
        for kind in ("container", "script"):
            body = template.get(kind)
            if body is None:
                continue
            if body.get("envFrom"):
                self.emit(f"{path}.{kind}.envFrom", "envFrom is not supported locally")
            for index, variable in enumerate(body.get("env", []) or []):
                source = variable.get("valueFrom") or {}
                where = f"{path}.{kind}.env[{index}].valueFrom"
                if source and not ({"secretKeyRef", "fieldRef"} & set(source)):
                    self.emit(where, "only secretKeyRef and fieldRef are supported locally")
                ref = (source.get("fieldRef") or {}).get("fieldPath")
                if ref is not None and ref not in _FIELD_REFS:
                    self.emit(f"{where}.fieldRef", f"{ref} is not available locally")
            if self.registry.find(template) is None:
                self.emit(
                    f"{path}.{kind}",
                    f"nothing runs template {template.get('name')!r} locally: "
                    f"{self.registry.hint or 'pass --allow-host-commands or --standin'}",
                )
        if template.get("dag") is not None:
            self.dag(resolved)
        if template.get("steps") is not None:
            for group_index, group in enumerate(template.get("steps") or []):
                for index, step in enumerate(group or []):
                    self.node(resolved, step, f"{path}.steps[{group_index}][{index}]")

    def retry(self, retry: Mapping[str, Any], path: str) -> None:
        if retry.get("expression"):
            try:
                check_expression(str(retry["expression"]), RETRY_EXPRESSION_NAMES)
            except ExprError as error:
                self.emit(f"{path}.expression", str(error))
        if retry.get("retryPolicy") not in (None, "Always", "OnFailure", "OnError"):
            self.emit(f"{path}.retryPolicy", f"{retry['retryPolicy']} is not supported locally")

    def io(self, template: Mapping[str, Any], path: str) -> None:
        inputs = template.get("inputs") or {}
        for index, parameter in enumerate(inputs.get("parameters", []) or []):
            if parameter.get("valueFrom"):
                self.emit(f"{path}.inputs.parameters[{index}].valueFrom", "not supported locally")
        for index, artifact in enumerate(inputs.get("artifacts", []) or []):
            for source in _ARTIFACT_SOURCES:
                if artifact.get(source):
                    self.emit(
                        f"{path}.inputs.artifacts[{index}].{source}",
                        "only from and raw artifacts run locally",
                    )
        outputs = template.get("outputs") or {}
        for index, parameter in enumerate(outputs.get("parameters", []) or []):
            value_from = parameter.get("valueFrom") or {}
            where = f"{path}.outputs.parameters[{index}].valueFrom"
            for key in ("expression", "jqFilter", "event", "configMapKeyRef"):
                if value_from.get(key):
                    self.emit(f"{where}.{key}", "not supported locally")
            if value_from.get("jsonPath") and not _JSON_PATH.match(str(value_from["jsonPath"])):
                self.emit(f"{where}.jsonPath", "only {.field.path} jsonPaths are supported locally")
        for index, artifact in enumerate(outputs.get("artifacts", []) or []):
            if artifact.get("fromExpression"):
                self.emit(f"{path}.outputs.artifacts[{index}].fromExpression", "not supported locally")

    def dag(self, resolved: Resolved) -> None:
        path = f"{resolved.path}.dag"
        for index, task in enumerate(resolved.template["dag"].get("tasks", []) or []):
            where = f"{path}.tasks[{index}]"
            if task.get("depends") is not None:
                try:
                    depends_references(str(task["depends"]))
                except ExpressionError as error:
                    self.emit(f"{where}.depends", str(error))
                if re.search(r"\.Daemoned\b", str(task["depends"])):
                    self.emit(f"{where}.depends", "Daemoned: daemon tasks are not supported locally")
            self.node(resolved, task, where)

    def node(self, owner: Resolved, node: Mapping[str, Any], where: str) -> None:
        self.names.add(str(node.get("name")))
        if node.get("hooks"):
            self.emit(f"{where}.hooks", "lifecycle hooks are not supported locally")
        if node.get("when") is not None:
            try:
                check_when(str(node["when"]))
            except ExpressionError as error:
                self.emit(f"{where}.when", str(error))
        for where_text, text in string_leaves(dict(node), where):
            if has_expression_tag(text):
                self.emit(where_text, "expression tags {{=...}} are not evaluated locally")
        target = self.library.node_template(owner.owner, node)
        if target is None:
            self.emit(where, "template not found among the files given")
        else:
            self.template(target)
        if node.get("onExit"):
            self.names.add(f"{node.get('name')}.onExit")
            handler = self.library.local(owner.owner, str(node["onExit"]))
            if handler is None:
                self.emit(f"{where}.onExit", f"template {node['onExit']!r} not found")
            else:
                self.template(handler)


@dataclass(frozen=True, kw_only=True)
class Checked:
    """The outcome of :func:`check`: problems (each starting with its field path) and the names of every
    task and step reachable from the entrypoint and exit handlers."""

    problems: list[str]
    node_names: frozenset[str]


def unsupported(library: Library, selection: Selection, registry: HandlerRegistry) -> list[str]:
    """Every problem that stops a local run, each starting with its field path."""
    return check(library, selection, registry).problems


def check(library: Library, selection: Selection, registry: HandlerRegistry) -> Checked:
    """Walk what the run would execute: what it refuses, and the task and step names it has."""
    checker = _Checker(library, registry)
    meta = selection.obj.get("metadata", {}) or {}
    label = f"{selection.obj.get('kind')}/{meta.get('name') or meta.get('generateName')}"
    spec = selection.spec
    for key, message in _SPEC_REFUSED.items():
        if spec.get(key):
            checker.emit(f"{label}: spec.{key}", message)
    sync = spec.get("synchronization") or {}
    if sync.get("semaphores") or sync.get("semaphore") or sync.get("mutex"):
        checker.emit(f"{label}: spec.synchronization", "only synchronization.mutexes are supported locally")
    for where, text in string_leaves(
        {"arguments": spec.get("arguments"), "synchronization": sync}, f"{label}: spec"
    ):
        if has_expression_tag(text):
            checker.emit(where, "expression tags {{=...}} are not evaluated locally")
    checker.retry(spec.get("retryStrategy") or {}, f"{label}: spec.retryStrategy")
    for name in (selection.entrypoint, spec.get("onExit")):
        if name:
            resolved = library.local(selection.obj, str(name))
            if resolved is None:
                checker.emit(f"{label}: spec.onExit", f"template {name!r} not found")
            else:
                checker.template(resolved)
    return Checked(problems=checker.problems, node_names=frozenset(checker.names))
