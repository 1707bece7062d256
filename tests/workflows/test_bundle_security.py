"""Security properties of the compiled bundle: hardened pods and no template injection sinks."""

import re
from collections.abc import Iterator
from typing import Any

import pytest

PLACEHOLDER = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")
RUNNER_SOURCE = "{{inputs.parameters}}"


def _pod_templates(
    templates: dict[str, dict[str, Any]],
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for name, template in templates.items():
        for entry in template["spec"]["templates"]:
            body = entry.get("script") or entry.get("container")
            if body is not None:
                yield f"{name}/{entry['name']}", entry, body


def test_every_pod_template_is_hardened(templates: dict[str, dict[str, Any]]) -> None:
    for where, entry, body in _pod_templates(templates):
        context = body["securityContext"]
        assert context["runAsNonRoot"] is True, where
        assert context["allowPrivilegeEscalation"] is False, where
        assert context["readOnlyRootFilesystem"] is True, where
        assert context["capabilities"] == {"drop": ["ALL"]}, where
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert set(body["resources"]["requests"]) >= {"cpu", "memory"}, where
        assert set(body["resources"]["limits"]) >= {"cpu", "memory"}, where
        assert body["image"], where
        assert not body["image"].startswith("python:"), where
        assert {"name": "scratch", "mountPath": "/tmp"} in body["volumeMounts"], where
        assert any(volume["name"] == "scratch" and "emptyDir" in volume for volume in entry["volumes"]), where


def test_every_workflow_template_sets_a_restricted_pod_security_context(
    templates: dict[str, dict[str, Any]],
) -> None:
    for name, template in templates.items():
        context = template["spec"]["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert template["spec"]["serviceAccountName"], name


def test_no_parameter_is_substituted_into_script_source_args_or_command(
    templates: dict[str, dict[str, Any]],
) -> None:
    for where, _entry, body in _pod_templates(templates):
        source = body.get("source")
        if source is not None:
            assert source == RUNNER_SOURCE, f"{where}: script source must be the runner's input list"
        for field in ("args", "command"):
            for item in body.get(field, []):
                assert "{{" not in item, f"{where}.{field}: {item}"
        for env in body.get("env", []):
            assert "{{" not in env.get("value", ""), f"{where}.env.{env['name']}"


def _resource_templates(templates: dict[str, dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, template in templates.items():
        for entry in template["spec"]["templates"]:
            if "resource" in entry:
                yield name, entry


def test_resource_manifests_only_use_inputs_that_come_from_a_validation_step(
    templates: dict[str, dict[str, Any]],
) -> None:
    resource_templates = list(_resource_templates(templates))
    assert {entry["name"] for _, entry in resource_templates} == {"create-coderun", "create-docsrun"}
    for owner, entry in resource_templates:
        used = set(PLACEHOLDER.findall(entry["resource"]["manifest"]))
        assert used - {"workflow.name"} <= {
            f"inputs.parameters.{p['name']}" for p in entry["inputs"]["parameters"]
        }
        callers = [
            step
            for template in templates[owner]["spec"]["templates"]
            for group in template.get("steps", [])
            for step in group
            if step.get("template") == entry["name"]
        ]
        assert callers, entry["name"]
        for step in callers:
            for argument in step["arguments"]["parameters"]:
                assert re.fullmatch(
                    r"\{\{steps\.validate\.outputs\.parameters\.[-a-z]+\}\}", argument["value"]
                )


def test_agent_stages_of_the_implementation_dag_take_only_validated_values(
    templates: dict[str, dict[str, Any]],
) -> None:
    main = next(t for t in templates["implementation-dag"]["spec"]["templates"] if t["name"] == "main")
    agent_tasks = [task for task in main["dag"]["tasks"] if "templateRef" in task]
    assert {task["name"] for task in agent_tasks} == {"implement", "clippy", "qa", "docs"}
    for task in agent_tasks:
        for argument in task["arguments"]["parameters"]:
            value = argument["value"]
            refs = PLACEHOLDER.findall(value)
            if refs:
                assert value == "{{" + refs[0] + "}}", (task["name"], value)
                # validated by set-params, or resolve-head's validated view of GitHub (the head branch)
                assert refs[0].startswith(
                    ("tasks.set-params.outputs.parameters.", "tasks.resolve-head.outputs.parameters.")
                ), (task["name"], value)
            else:
                assert re.fullmatch(r"[a-z.]+", value), (task["name"], value)


@pytest.mark.parametrize("forbidden", ["/merge", "merge_method", "auto-merge", "automerge"])
def test_nothing_in_the_bundle_mentions_a_merge(bundle: list[dict[str, Any]], forbidden: str) -> None:
    from aphex.dsl.bundle_writer import dump_yaml

    for obj in bundle:
        assert forbidden not in dump_yaml(obj).lower(), obj["metadata"]["name"]
