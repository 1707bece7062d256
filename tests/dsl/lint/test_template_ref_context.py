"""A ``templateRef``'d template is validated in its caller's context, as Argo does.

argo-workflows workflow/validate/validate.go: ``validateTemplateHolder`` resolves the referenced template
and returns ``tctx.validateTemplate(...)`` with the caller's validation context, whose ``globalParams``
are the caller's ``spec.arguments``: a ``{{workflow.parameters.x}}`` the referenced WorkflowTemplate
declares, but the caller does not, fails to resolve in the caller. A Workflow with a
``workflowTemplateRef`` is validated the same way, each template of the WorkflowTemplate through a
``templateRef``, with the Workflow's arguments merged with the WorkflowTemplate's (``ValidateWorkflow``,
``util.MergeParameters``); a WorkflowTemplate alone may use ``workflow.parameters`` it does not declare,
since a submission may supply them (``resolveAllVariables`` under ``workflowTemplateValidation``).
"""

from typing import Any

from aphex.dsl.lint import SourceDocument, lint_documents

LIBRARY: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "WorkflowTemplate",
    "metadata": {"name": "lib"},
    "spec": {
        "arguments": {"parameters": [{"name": "x", "value": "1"}]},
        "templates": [
            {
                "name": "t",
                "container": {"image": "alpine:3.20", "command": ["echo", "{{workflow.parameters.x}}"]},
            }
        ],
    },
}


def _caller(arguments: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "entrypoint": "main",
        "templates": [
            {"name": "main", "steps": [[{"name": "call", "templateRef": {"name": "lib", "template": "t"}}]]}
        ],
    }
    if arguments is not None:
        spec["arguments"] = arguments
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "caller"},
        "spec": spec,
    }


def _problems(caller: dict[str, Any]) -> list[str]:
    documents = [
        SourceDocument(file="lib.yaml", index=0, data=LIBRARY),
        SourceDocument(file="caller.yaml", index=0, data=caller),
    ]
    return [str(problem) for problem in lint_documents(documents)]


def test_a_global_only_the_referenced_template_declares_fails_in_the_caller() -> None:
    assert _problems(_caller(None)) == [
        "caller.yaml: Workflow/caller: spec.templates[0].steps[0][0].templateRef: lib: "
        "spec.templates[0].container.command[1]: failed to resolve {{workflow.parameters.x}}"
    ]


def test_the_caller_declaring_it_resolves_it() -> None:
    assert _problems(_caller({"parameters": [{"name": "x", "value": "2"}]})) == []


def test_the_library_alone_is_clean() -> None:
    assert [str(p) for p in lint_documents([SourceDocument(file="lib.yaml", index=0, data=LIBRARY)])] == []


def _by_reference(library: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "by-ref"},
        "spec": {"entrypoint": "t", "workflowTemplateRef": {"name": library["metadata"]["name"]}},
    }


def _with_command(name: str, variable: str) -> dict[str, Any]:
    library: dict[str, Any] = {**LIBRARY, "metadata": {"name": name}}
    template = {**LIBRARY["spec"]["templates"][0]}
    template["container"] = {**template["container"], "command": ["echo", variable]}
    library["spec"] = {**LIBRARY["spec"], "templates": [template]}
    return library


def test_a_workflow_template_ref_gets_the_templates_arguments() -> None:
    documents = [
        SourceDocument(file="lib.yaml", index=0, data=LIBRARY),
        SourceDocument(file="run.yaml", index=0, data=_by_reference(LIBRARY)),
    ]
    assert [str(problem) for problem in lint_documents(documents)] == []


def test_a_global_nobody_declares_fails_in_the_workflow_not_in_the_template() -> None:
    library = _with_command("lib2", "{{workflow.parameters.y}}")
    alone = [SourceDocument(file="lib2.yaml", index=0, data=library)]
    assert [str(problem) for problem in lint_documents(alone)] == []
    documents = [*alone, SourceDocument(file="run.yaml", index=0, data=_by_reference(library))]
    assert [str(problem) for problem in lint_documents(documents)] == [
        "run.yaml: Workflow/by-ref: spec.workflowTemplateRef: lib2: "
        "spec.templates[0].container.command[1]: failed to resolve {{workflow.parameters.y}}"
    ]
