"""The offline Argo linter: ``aphex lint`` and the gate every compiled object passes before it is written.

Mirrors Argo Workflows' own validation (``argo lint --offline``) in Python without a cluster and without
importing Hera: strict structure against Argo's API schema (:mod:`aphex.dsl.lint.structure`) and the semantic
rules of ``workflow/validate`` (:mod:`aphex.dsl.lint.semantics`). Objects of other kinds are skipped.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aphex.dsl.errors import InputError
from aphex.dsl.lint.rules import metric_conflict, metric_declarations
from aphex.dsl.lint.semantics import Catalog, Mode, check_object
from aphex.dsl.lint.structure import check_structure, root_schema
from aphex.dsl.yaml_input import YamlInputError, load_yaml_documents

__all__ = [
    "ARGO_KINDS",
    "Mode",
    "Problem",
    "SourceDocument",
    "UnreadableInput",
    "lint_documents",
    "lint_paths",
    "load_paths",
]

ARGO_KINDS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")


class UnreadableInput(InputError):
    """A path cannot be read or parsed as YAML."""


@dataclass(frozen=True, kw_only=True)
class SourceDocument:
    """One YAML document and where it came from."""

    file: str
    index: int
    data: Any


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One finding: file, object, field path and a message a person can act on."""

    file: str
    obj: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.obj}: {self.field}: {self.message}"


def _files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise UnreadableInput(f"{path}: no such file or directory")
    return files


def load_paths(paths: Sequence[Path]) -> list[SourceDocument]:
    """Every YAML document of the given files and directories (recursively, sorted)."""
    documents: list[SourceDocument] = []
    for file in _files(paths):
        try:
            loaded = load_yaml_documents(file.read_bytes(), source=str(file))
        except OSError as error:
            raise UnreadableInput(f"{file}: cannot read: {error.strerror or error}") from None
        except YamlInputError as error:
            raise UnreadableInput(str(error)) from None
        documents += [
            SourceDocument(file=str(file), index=i, data=d) for i, d in enumerate(loaded) if d is not None
        ]
    return documents


def _is_argo(data: Any) -> bool:
    return (
        isinstance(data, Mapping)
        and data.get("kind") in ARGO_KINDS
        and str(data.get("apiVersion", "")).startswith("argoproj.io/")
    )


def _label(data: Mapping[str, Any]) -> str:
    meta = data.get("metadata") or {}
    name = meta.get("name") or meta.get("generateName") or "<unnamed>"
    return f"{data.get('kind')}/{name}"


def _collector(found: list[tuple[str, str]]) -> Callable[[str, str], None]:
    def emit(field: str, message: str) -> None:
        found.append((field, message))

    return emit


def lint_documents(documents: Sequence[SourceDocument], *, mode: Mode = Mode.LINT) -> list[Problem]:
    """Lint every Argo object among ``documents``; references resolve among them.

    ``mode`` mirrors Argo's validation options: :attr:`Mode.LINT` (``argo lint``, the default) lets
    workflow arguments lack values, :attr:`Mode.CREATE` and :attr:`Mode.SUBMIT` do not.
    """
    argo = [document for document in documents if _is_argo(document.data)]
    catalog = Catalog()
    for document in argo:
        name = str((document.data.get("metadata") or {}).get("name"))
        if document.data["kind"] == "WorkflowTemplate":
            catalog.namespaced.setdefault(name, document.data)
        elif document.data["kind"] == "ClusterWorkflowTemplate":
            catalog.cluster.setdefault(name, document.data)
    problems: list[Problem] = []
    for document in argo:
        found: list[tuple[str, str]] = []
        found += check_structure(document.data, root_schema(document.data["kind"]), "")
        if not found:  # semantic checks assume the structure is sound
            check_object(document.data, catalog, _collector(found), mode)
        label = _label(document.data)
        problems += [Problem(file=document.file, obj=label, field=f, message=m) for f, m in found]
    return problems + _metric_conflicts(argo)


def _metric_conflicts(argo: Sequence[SourceDocument]) -> list[Problem]:
    """Metrics declared again with another help or kind among the objects: one controller emits them all
    and refuses every declaration after the first (:func:`aphex.dsl.lint.rules.metric_conflict`)."""
    first: dict[str, tuple[str, str]] = {}
    problems: list[Problem] = []
    for document in argo:
        for field, name, kind, help_text in metric_declarations(document.data):
            message = metric_conflict(first.setdefault(name, (kind, help_text)), name, kind, help_text)
            if message:
                problems.append(
                    Problem(file=document.file, obj=_label(document.data), field=field, message=message)
                )
    return problems


def lint_paths(paths: Sequence[Path]) -> list[Problem]:
    """Lint files and directories."""
    return lint_documents(load_paths(paths))
