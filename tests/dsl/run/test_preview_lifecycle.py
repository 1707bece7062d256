"""How a kept preview ends, run with ``aphex run`` on the compiled bundle: ``preview-cleanup`` (what the
``pr-closed`` Sensor submits) and ``preview-janitor`` (what the CronWorkflow of the same name runs).

``aphex run`` runs Workflows and WorkflowTemplates, not CronWorkflows; the CronWorkflow's whole
``workflowSpec`` is a ``workflowTemplateRef`` to ``preview-janitor`` (checked here), which the controller
submits as a Workflow on each schedule (argo-workflows ``workflow/cron/operator.go``, run), so the
template is what runs here. Each test first runs the implementation DAG for pull request 42 of the demo
(examples/demo/harness.py), which deploys the preview with the helm and Kubernetes API stand-ins and keeps
it with an ``aphex.dev/expires-at`` annotation; the removal then goes through the same stand-ins.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from aphex.dsl.names import helm_release_name, preview_namespace
from examples.demo.harness import OWNER, PR, REPO, DemoEnvironment, demo_environment

NAMESPACE = preview_namespace(OWNER, REPO, PR)
NAMESPACE_PATH = f"/api/v1/namespaces/{NAMESPACE}"
RELEASE = helm_release_name(REPO, PR)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoEnvironment]:
    with demo_environment(tmp_path_factory.mktemp("lifecycle")) as environment:
        yield environment


def _kept_preview(env: DemoEnvironment) -> str:
    """Run the implementation DAG for the demo's pull request; return the preview's expiry."""
    env.reset()
    result = env.run()
    assert result.phase == "Succeeded", result.message
    annotations = env.cluster.api.objects[NAMESPACE_PATH]["metadata"]["annotations"]
    assert RELEASE in {key.split("/", 1)[1] for key in env.cluster.state()["releases"]}
    expires: str = annotations["aphex.dev/expires-at"]
    return expires


def _phases(env: DemoEnvironment, template: str, parameters: dict[str, str]) -> tuple[str, dict[str, str]]:
    result = env.run(template=template, parameters=parameters)
    workflow = f"{template}-demo{env.runs}"
    phases = {node.name.removeprefix(workflow).removeprefix("."): node.phase for node in result.nodes}
    return result.phase, phases


def _removal_calls(env: DemoEnvironment) -> list[list[str]]:
    return [call for call in env.cluster.calls() if call[:2] in (["helm", "uninstall"], ["helm", "list"])]


def test_closing_the_pull_request_removes_its_preview(env: DemoEnvironment) -> None:
    _kept_preview(env)
    calls_before = len(env.cluster.calls())
    phase, phases = _phases(env, "preview-cleanup", {"owner": OWNER, "repo": REPO, "pr": str(PR)})
    assert (phase, phases) == (
        "Succeeded",
        {"": "Succeeded", "cleanup": "Succeeded", "cleanup(0)": "Succeeded"},
    )
    assert env.cluster.calls()[calls_before:] == [
        ["helm", "uninstall", RELEASE, "--namespace", NAMESPACE, "--ignore-not-found", "--wait",
         "--timeout", "5m"],
        ["helm", "list", "--namespace", NAMESPACE, "--short", "--all"],
    ]  # fmt: skip
    assert NAMESPACE_PATH not in env.cluster.api.objects
    assert env.cluster.state() == {"namespaces": {}, "releases": {}}


def test_the_janitor_leaves_a_preview_before_its_expiry_and_removes_it_after(env: DemoEnvironment) -> None:
    expires = _kept_preview(env)
    calls_before = len(env.cluster.calls())
    phase, phases = _phases(env, "preview-janitor", {})
    assert (phase, phases) == (
        "Succeeded",
        {"": "Succeeded", "expire-previews": "Succeeded", "expire-previews(0)": "Succeeded"},
    )
    assert env.cluster.calls()[calls_before:] == []
    assert (
        env.cluster.api.objects[NAMESPACE_PATH]["metadata"]["annotations"]["aphex.dev/expires-at"] == expires
    )

    # Time passes: the expiry keep-preview wrote is now behind us.
    metadata = env.cluster.api.objects[NAMESPACE_PATH]["metadata"]
    metadata["annotations"]["aphex.dev/expires-at"] = "2020-01-01T00:00:00Z"
    dry_phase, _ = _phases(env, "preview-janitor", {"dry-run": "true"})
    assert dry_phase == "Succeeded"
    assert NAMESPACE_PATH in env.cluster.api.objects
    assert env.cluster.calls()[calls_before:] == []

    phase, phases = _phases(env, "preview-janitor", {})
    assert phase == "Succeeded"
    assert phases["expire-previews"] == "Succeeded"
    listing = ["helm", "list", "--namespace", NAMESPACE, "--short", "--all"]
    assert _removal_calls(env)[-3:] == [
        listing,
        ["helm", "uninstall", RELEASE, "--namespace", NAMESPACE, "--ignore-not-found", "--wait",
         "--timeout", "5m"],
        listing,
    ]  # fmt: skip
    assert NAMESPACE_PATH not in env.cluster.api.objects
    assert env.cluster.state() == {"namespaces": {}, "releases": {}}


def test_the_cron_workflow_runs_exactly_the_janitor_template(env: DemoEnvironment) -> None:
    (cron,) = [
        yaml.safe_load(path.read_text()) for path in sorted(Path(env.bundle, "cronworkflow").glob("*.yaml"))
    ]
    assert cron["metadata"]["name"] == "preview-janitor"
    assert cron["spec"]["workflowSpec"] == {"workflowTemplateRef": {"name": "preview-janitor"}}
    assert (cron["spec"]["concurrencyPolicy"], cron["spec"]["schedules"]) == ("Forbid", ["17 * * * *"])
