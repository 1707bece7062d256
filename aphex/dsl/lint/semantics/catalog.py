"""What a lint run shares between objects: the validation :class:`Mode` and the :class:`Catalog`.

The catalog holds every WorkflowTemplate and ClusterWorkflowTemplate of the files given, so that a
``templateRef`` or ``workflowTemplateRef`` resolves among them, and remembers what each object reports by
itself (a reference reports only what its caller's context adds to that).
"""

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aphex.dsl.lint.rules import Emit, Obj, as_list, as_map

__all__ = ["Catalog", "Mode", "ObjectCheck", "Problems"]

Problems = set[tuple[str, str]]
"""``(field path, message)`` pairs."""


class Mode(enum.Enum):
    """Which of Argo's validation contexts to mirror (its ``validate.Opts``)."""

    LINT = "lint"  # argo lint: Opts{Lint: true}
    CREATE = "create"  # creating an object: Opts{}
    SUBMIT = "submit"  # submitting a workflow from a template: Opts{Submit: true}


ObjectCheck = Callable[[Obj, "Catalog", Emit, Mode], None]
"""Every semantic check of one object (:func:`aphex.dsl.lint.semantics.objects.check_object`)."""


@dataclass
class Catalog:
    """Every WorkflowTemplate and ClusterWorkflowTemplate of the files given, for ``templateRef``."""

    namespaced: dict[str, Obj] = field(default_factory=dict)
    cluster: dict[str, Obj] = field(default_factory=dict)
    own_problems: dict[int, Problems] = field(default_factory=dict)

    def problems_alone(self, owner: Obj, mode: Mode, check: ObjectCheck) -> Problems:
        """What ``check`` reports of ``owner`` by itself (computed once per object)."""
        if id(owner) not in self.own_problems:
            found: Problems = set()
            self.own_problems[id(owner)] = found
            check(owner, self, lambda f, m: found.add((f, m)), mode)
        return self.own_problems[id(owner)]

    def owner(self, ref: Obj) -> Obj | None:
        """The template object a ``templateRef`` or ``workflowTemplateRef`` names, when given."""
        pool = self.cluster if ref.get("clusterScope") else self.namespaced
        return pool.get(str(ref.get("name")))

    def resolve(self, ref: Obj) -> tuple[Obj | None, Obj | None]:
        """(template object, template) for a ``templateRef``; None where not found."""
        owner = self.owner(ref)
        if owner is None:
            return None, None
        for template in as_list(as_map(owner.get("spec")).get("templates")):
            if isinstance(template, Mapping) and template.get("name") == ref.get("template"):
                return owner, template
        return owner, None
