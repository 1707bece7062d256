"""The implementation DAG's workflow deadline and its stages' deadlines agree.

Argo fails a Workflow whose ``activeDeadlineSeconds`` passes, whatever its nodes are doing
(argo-workflows ``workflow/controller/operator.go``, operate / getWorkflowDeadline), and fails a node
whose template ``timeout`` or ``activeDeadlineSeconds`` passes. A workflow deadline shorter than its stages'
deadlines in a row would end runs whose every stage is within its own limit.
"""

import re
from typing import Any

import pytest

from aphex.dsl.deadlines import run_budget_seconds
from aphex.dsl.settings import SettingsError, load_settings
from aphex.workflows.bundle import build_bundle

_UNITS = {"s": 1, "m": 60, "h": 3600}


def _seconds(value: str | int) -> int:
    match = re.fullmatch(r"(\d+)([smh]?)", str(value))
    assert match, value
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


def _templates(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        template["name"]: template
        for obj in objects
        if obj["kind"] == "WorkflowTemplate"
        for template in obj["spec"]["templates"]
    }


def _stage_budget(objects: list[dict[str, Any]]) -> int:
    """Along the main DAG, which is a chain: each task's template timeout, or for an agent stage its
    validation step's timeout plus its resource's activeDeadlineSeconds (read from the compiled YAML)."""
    templates = _templates(objects)
    dag = next(o for o in objects if o["metadata"]["name"] == "implementation-dag")
    main = next(t for t in dag["spec"]["templates"] if t["name"] == "main")
    total = 0
    for task in main["dag"]["tasks"]:
        if "templateRef" in task:
            entry = templates[task["templateRef"]["template"]]
            steps = [step for group in entry["steps"] for step in group]
            for step in steps:
                template = templates[step["template"]]
                total += _seconds(template.get("timeout") or template["activeDeadlineSeconds"])
        else:
            total += _seconds(templates[task["template"]]["timeout"])
    return total


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"components": {"docsStage": False}},
        {"agentDeadlineSeconds": 600, "workflowDeadlineSeconds": 9000},
    ],
)
def test_the_workflow_deadline_covers_every_stage_deadline_in_a_row(values: dict[str, Any]) -> None:
    settings = load_settings(values)
    objects = build_bundle(settings)
    budget = _stage_budget(objects)
    assert budget == run_budget_seconds(
        agent_deadline_seconds=settings.agent_deadline_seconds, docs_stage=settings.components.docs_stage
    )
    dag = next(o for o in objects if o["metadata"]["name"] == "implementation-dag")
    assert budget <= dag["spec"]["activeDeadlineSeconds"] == settings.workflow_deadline_seconds


def test_a_deadline_shorter_than_the_stages_is_refused_naming_the_value() -> None:
    settings = load_settings({"agentDeadlineSeconds": 7200, "workflowDeadlineSeconds": 21600})
    with pytest.raises(SettingsError, match=r"^workflowDeadlineSeconds: 21600 is shorter than .* \(34500 s"):
        build_bundle(settings)
