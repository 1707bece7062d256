"""Semantic checks following Argo's own validation (``workflow/validate/validate.go``) rule by rule.

One function here per function of Argo's validator, read top-down:

- :mod:`~aphex.dsl.lint.semantics.objects`: ``Workflow``/``WorkflowTemplate``/``CronWorkflow``, the entry
  point :func:`check_object`;
- :mod:`~aphex.dsl.lint.semantics.object_fields`: the object's name and ``CronWorkflow``'s own rules;
- :mod:`~aphex.dsl.lint.semantics.arguments`: ``MergeParameters``, the global variables, ``ProcessArgs``
  and ``validateDAGTaskArgumentDependency``;
- :mod:`~aphex.dsl.lint.semantics.templates`: ``validateTemplate``, ``validateLeaf``,
  ``validateTemplateHolder`` and ``validateHooks``;
- :mod:`~aphex.dsl.lint.semantics.steps_dag`: ``validateSteps``, ``validateDAG``, ``addItemsToScope`` and
  ``addOutputsToScope``;
- :mod:`~aphex.dsl.lint.semantics.catalog`, :mod:`~aphex.dsl.lint.semantics.context` and
  :mod:`~aphex.dsl.lint.semantics.template_types`: what these share.

The rules that need no scope (``validateOutputs``, ``validateArgumentsValues``,
``validateWorkflowFieldNames``...) are in :mod:`aphex.dsl.lint.rules`, ``resolveAllVariables`` in
:mod:`aphex.dsl.lint.variables`. Argo stops at the first error; this reports every one it finds.
:class:`Mode` chooses what Argo's ``Opts`` choose: ``argo lint`` (arguments may lack values), creation (a
Workflow's arguments need values) or submission (every argument needs a value). Docs: docs/lint.md lists
what is mirrored and what is not.
"""

from aphex.dsl.lint.semantics.catalog import Catalog, Mode
from aphex.dsl.lint.semantics.objects import check_object

__all__ = ["Catalog", "Mode", "check_object"]
