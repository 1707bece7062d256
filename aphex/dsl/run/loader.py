"""Loading compiled Argo YAML for a local run: Workflows and (Cluster)WorkflowTemplates.

Files and directories are read with the linter's loader (:func:`aphex.dsl.lint.load_paths`); ``templateRef``
and ``workflowTemplateRef`` resolve among the objects given, as in ``aphex lint``. :func:`select` picks the
object to run: the named Workflow or WorkflowTemplate, or the only Workflow.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aphex.dsl.errors import InputError
from aphex.dsl.lint import SourceDocument, UnreadableInput, load_paths

__all__ = ["Library", "LoadError", "Resolved", "Selection", "load", "select"]

Obj = Mapping[str, Any]


class LoadError(InputError):
    """The input cannot be used: unreadable, or the object or template to run does not exist."""


@dataclass(frozen=True, kw_only=True)
class Resolved:
    """A template and the object that holds it (local ``template:`` references resolve in ``owner``)."""

    owner: Obj
    template: Obj
    index: int

    @property
    def name(self) -> str:
        return str(self.template.get("name", "inline"))

    @property
    def path(self) -> str:
        """Where the template is, for messages: ``Kind/name: spec.templates[i]``."""
        meta = self.owner.get("metadata", {}) or {}
        label = f"{self.owner.get('kind')}/{meta.get('name') or meta.get('generateName')}"
        where = f"spec.templates[{self.index}]" if self.index >= 0 else "inline"
        return f"{label}: {where}"


@dataclass(kw_only=True)
class Library:
    """Every Argo object given, by kind and name."""

    workflows: list[Obj] = field(default_factory=list)
    namespaced: dict[str, Obj] = field(default_factory=dict)
    cluster: dict[str, Obj] = field(default_factory=dict)

    def local(self, owner: Obj, name: str) -> Resolved | None:
        """The template ``name`` of ``owner``."""
        for index, template in enumerate((owner.get("spec", {}) or {}).get("templates", []) or []):
            if isinstance(template, Mapping) and template.get("name") == name:
                return Resolved(owner=owner, template=template, index=index)
        return None

    def reference(self, ref: Obj) -> Resolved | None:
        """The template a ``templateRef`` points at."""
        pool = self.cluster if ref.get("clusterScope") else self.namespaced
        owner = pool.get(str(ref.get("name")))
        return None if owner is None else self.local(owner, str(ref.get("template")))

    def node_template(self, owner: Obj, node: Obj) -> Resolved | None:
        """The template a DAG task or step runs (``template``, ``templateRef`` or ``inline``)."""
        if node.get("templateRef"):
            return self.reference(node["templateRef"])
        if node.get("inline"):
            return Resolved(owner=owner, template=node["inline"], index=-1)
        return self.local(owner, str(node.get("template")))


@dataclass(frozen=True, kw_only=True)
class Selection:
    """What to run: the object, its effective spec and the entrypoint."""

    obj: Obj
    spec: Obj
    entrypoint: str


def load(paths: Sequence[Path]) -> Library:
    """Read every Argo object of the given files and directories."""
    try:
        documents: list[SourceDocument] = load_paths(paths)
    except UnreadableInput as error:
        raise LoadError(str(error)) from None
    library = Library()
    for document in documents:
        data = document.data
        if not isinstance(data, Mapping) or not str(data.get("apiVersion", "")).startswith("argoproj.io/"):
            continue
        name = str((data.get("metadata") or {}).get("name") or "")
        kind = data.get("kind")
        if kind == "Workflow":
            library.workflows.append(data)
        elif kind == "WorkflowTemplate":
            library.namespaced.setdefault(name, data)
        elif kind == "ClusterWorkflowTemplate":
            library.cluster.setdefault(name, data)
    return library


def _effective_spec(library: Library, obj: Obj) -> Obj:
    spec = dict(obj.get("spec", {}) or {})
    ref = spec.get("workflowTemplateRef")
    if not ref:
        return spec
    pool = library.cluster if ref.get("clusterScope") else library.namespaced
    target = pool.get(str(ref.get("name")))
    if target is None:
        raise LoadError(
            f"spec.workflowTemplateRef: template {ref.get('name')!r} not found among the files given"
        )
    merged = dict(target.get("spec", {}) or {})
    own = {p.get("name"): p for p in (spec.get("arguments", {}) or {}).get("parameters", []) or []}
    parameters = [
        {**p, **own.pop(p.get("name"), {})}
        for p in (merged.get("arguments", {}) or {}).get("parameters", []) or []
    ]
    merged["arguments"] = {"parameters": parameters + list(own.values())}
    for key, value in spec.items():
        if key not in ("workflowTemplateRef", "arguments"):
            merged[key] = value
    return merged


def select(library: Library, template: str | None, entrypoint: str | None) -> Selection:
    """The object named ``template`` (a WorkflowTemplate or Workflow) or the only Workflow."""
    obj: Obj | None
    if template is not None:
        obj = library.namespaced.get(template) or library.cluster.get(template)
        if obj is None:
            obj = next(
                (w for w in library.workflows if (w.get("metadata") or {}).get("name") == template), None
            )
        if obj is None:
            known = sorted({*library.namespaced, *library.cluster}) + [
                str((w.get("metadata") or {}).get("name")) for w in library.workflows
            ]
            raise LoadError(f"--template: no object named {template!r} (have: {', '.join(known) or 'none'})")
    elif len(library.workflows) == 1:
        obj = library.workflows[0]
    else:
        names = sorted(library.namespaced) or ["none"]
        raise LoadError(
            f"--template: give the name of the object to run ({len(library.workflows)} Workflows; "
            f"WorkflowTemplates: {', '.join(names)})"
        )
    if obj.get("kind") == "Workflow" and (obj.get("spec") or {}).get("workflowTemplateRef"):
        spec = _effective_spec(library, obj)
        owner: Obj = {**obj, "spec": spec}
    else:
        spec = obj.get("spec", {}) or {}
        owner = obj
    name = entrypoint or spec.get("entrypoint")
    if not name:
        raise LoadError("spec.entrypoint: the object has no entrypoint; pass --entrypoint")
    if library.local(owner, str(name)) is None:
        raise LoadError(f"{'--entrypoint' if entrypoint else 'spec.entrypoint'}: no template {name!r}")
    return Selection(obj=owner, spec=spec, entrypoint=str(name))
