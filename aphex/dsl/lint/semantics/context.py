"""The state the semantic checks of one Argo object share: :class:`ObjectContext`."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aphex.dsl.lint.rules import Emit, Obj, as_list, as_map
from aphex.dsl.lint.semantics.catalog import Catalog, Mode, ObjectCheck
from aphex.dsl.lint.variables import Scope

__all__ = ["ObjectContext"]


@dataclass(kw_only=True)
class ObjectContext:
    """One object under check; its problems go to ``emit`` as ``(field path, message)``.

    ``spec`` is the workflow spec checked (a CronWorkflow's ``spec.workflowSpec``, at ``prefix``),
    ``templates`` its templates by name, ``referenced`` the WorkflowTemplate its ``workflowTemplateRef``
    names (when among the files given) and ``globals`` what every template may read (built by
    :func:`aphex.dsl.lint.semantics.arguments.build_globals`). ``check_object`` is the whole check of
    one object, for what a referenced object reports by itself.
    """

    obj: Obj
    catalog: Catalog
    emit: Emit
    mode: Mode
    check_object: ObjectCheck
    kind: str
    spec: Obj
    prefix: str
    template_validation: bool
    templates: dict[str, Obj]
    referenced: Obj | None
    globals: Scope = field(default_factory=Scope)
    checked_references: set[tuple[int, str]] = field(default_factory=set)

    @classmethod
    def of(
        cls, obj: Obj, catalog: Catalog, emit: Emit, mode: Mode, check_object: ObjectCheck
    ) -> "ObjectContext":
        """The context of ``obj``, with nothing checked yet."""
        kind = str(obj.get("kind"))
        spec = as_map(obj.get("spec"))
        prefix = "spec"
        if kind == "CronWorkflow":
            spec = as_map(spec.get("workflowSpec"))
            prefix = "spec.workflowSpec"
            mode = Mode.CREATE  # Argo's CronWorkflow validates its workflow with Opts{}
        templates: dict[str, Obj] = {}
        for template in as_list(spec.get("templates")):
            if isinstance(template, Mapping) and "name" in template:
                templates.setdefault(str(template["name"]), template)
        ref = as_map(spec.get("workflowTemplateRef"))
        return cls(
            obj=obj,
            catalog=catalog,
            emit=emit,
            mode=mode,
            check_object=check_object,
            kind=kind,
            spec=spec,
            prefix=prefix,
            template_validation=kind in ("WorkflowTemplate", "ClusterWorkflowTemplate"),
            templates=templates,
            referenced=catalog.owner(ref) if ref else None,
        )

    def for_object(self, obj: Obj, emit: Emit) -> "ObjectContext":
        """The context of another object of the same run (same catalog and mode), reporting to ``emit``."""
        return ObjectContext.of(obj, self.catalog, emit, self.mode, self.check_object)

    def check_variables(self, value: Any, path: str, scope: Scope) -> None:
        """Every ``{{...}}`` under ``value`` that neither ``scope`` nor the globals resolve."""
        for where, message in scope.check(value, path, self.globals, self.template_validation):
            self.emit(where, message)
