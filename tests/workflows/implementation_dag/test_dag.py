"""Shape of the compiled implementation-dag WorkflowTemplate."""

from typing import Any

import pytest


@pytest.fixture
def dag(templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return templates["implementation-dag"]


def _template(dag: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in dag["spec"]["templates"] if t["name"] == name)


def test_parameters_have_descriptions_and_required_ones_no_value(dag: dict[str, Any]) -> None:
    parameters = {p["name"]: p for p in dag["spec"]["arguments"]["parameters"]}
    for name in ("owner", "repo"):
        assert "value" not in parameters[name]
    # One of pr and issue is required; set-params refuses a run with neither or both.
    assert parameters["pr"]["value"] == parameters["issue"]["value"] == ""
    assert parameters["domain"]["value"] == "preview.example.com"
    assert parameters["chartPath"]["value"] == "charts/app"
    assert parameters["valuesFile"]["value"] == "values-preview.yaml"
    assert parameters["min-success-ratio"]["value"] == "0.95"
    assert parameters["max-p95-ms"]["value"] == "1200"
    assert parameters["rex-app"]["value"] == "5DLabs-Rex"
    assert parameters["docs-stage"]["enum"] == ["true", "false"]
    assert all(p.get("description") for p in parameters.values())


def test_stages_run_in_order(dag: dict[str, Any]) -> None:
    tasks = {task["name"]: task for task in _template(dag, "main")["dag"]["tasks"]}
    assert [name for name in tasks] == [
        "set-params",
        "implement",
        "clippy",
        "qa",
        "resolve-head",
        "deploy",
        "acceptance",
        "docs",
    ]
    # Every dependency names the phase it needs: a bare name is also satisfied by a Skipped task
    # (argo-workflows workflow/common/ancestry.go, expandDependency), which let an issue run reach QA.
    assert tasks["implement"]["depends"] == "set-params.Succeeded"
    assert tasks["clippy"]["depends"] == "implement.Succeeded"
    # An issue run stops after the implementation agent opened its pull request.
    assert tasks["clippy"]["when"] == "{{tasks.set-params.outputs.parameters.mode}} == pr"
    issue_arguments = {p["name"]: p["value"] for p in tasks["implement"]["arguments"]["parameters"]}
    assert issue_arguments["issue"] == "{{tasks.set-params.outputs.parameters.issue}}"
    assert tasks["qa"]["depends"] == "clippy.Succeeded"
    assert tasks["resolve-head"]["depends"] == "qa.Succeeded"
    assert tasks["deploy"]["depends"] == "resolve-head.Succeeded"
    assert tasks["acceptance"]["depends"] == "deploy.Succeeded"
    assert tasks["docs"]["depends"] == "acceptance.Succeeded"
    deploy = {p["name"]: p["value"] for p in tasks["deploy"]["arguments"]["parameters"]}
    assert deploy["commit"] == "{{tasks.resolve-head.outputs.parameters.commit}}"
    assert deploy["image_tag"] == "{{tasks.resolve-head.outputs.parameters.image-tag}}"
    docs = {p["name"]: p["value"] for p in tasks["docs"]["arguments"]["parameters"]}
    assert docs["source-branch"] == "{{tasks.resolve-head.outputs.parameters.branch}}"
    assert tasks["docs"]["when"] == "{{tasks.set-params.outputs.parameters.docs-stage}} == true"
    for name in ("implement", "clippy", "qa"):
        assert tasks[name]["templateRef"] == {"name": "coderun-template", "template": "coderun-main"}
    apps = {
        name: next(p["value"] for p in tasks[name]["arguments"]["parameters"] if p["name"] == "github-app")
        for name in ("implement", "clippy", "qa")
    }
    assert apps == {
        "implement": "{{tasks.set-params.outputs.parameters.rex-app}}",
        "clippy": "{{tasks.set-params.outputs.parameters.clippy-app}}",
        "qa": "{{tasks.set-params.outputs.parameters.qa-app}}",
    }


def test_exit_handler_cleans_up_on_failure_and_approves_only_on_success(dag: dict[str, Any]) -> None:
    assert dag["spec"]["onExit"] == "exit-handler"
    tasks = {task["name"]: task for task in _template(dag, "exit-handler")["dag"]["tasks"]}
    assert tasks["cleanup"]["when"] == "{{workflow.status}} != Succeeded"
    assert tasks["keep-preview"]["when"] == "{{workflow.status}} == Succeeded"
    assert tasks["publish-success"]["depends"] == "keep-preview.Succeeded"
    # An issue run has no preview: keep-preview then outputs an empty expiry and nothing is approved.
    assert tasks["publish-success"]["when"] == "'{{tasks.keep-preview.outputs.parameters.expires-at}}' != ''"
    assert tasks["publish-failure"]["template"] == "publish-failure"
    assert tasks["publish-failure"]["when"] == "{{workflow.status}} != Succeeded"
    assert "cleanup.Skipped" in tasks["publish-failure"]["depends"]
    for task in tasks.values():
        for argument in task.get("arguments", {}).get("parameters", []):
            assert "{{inputs." not in argument["value"]


def test_runs_for_one_pull_request_never_overlap(dag: dict[str, Any]) -> None:
    spec = dag["spec"]
    assert spec["synchronization"] == {
        "mutexes": [
            {
                "name": "implementation-dag-{{workflow.parameters.owner}}-{{workflow.parameters.repo}}"
                "-pr{{workflow.parameters.pr}}-issue{{workflow.parameters.issue}}"
            }
        ]
    }
    assert spec["activeDeadlineSeconds"] > 0
    assert spec["ttlStrategy"]["secondsAfterSuccess"] > 0
    assert spec["podGC"] == {"strategy": "OnPodSuccess"}


def test_network_bound_steps_retry_with_backoff(dag: dict[str, Any]) -> None:
    for name in ("deploy", "cleanup-preview", "keep-preview", "publish-success", "publish-failure"):
        strategy = _template(dag, name)["retryStrategy"]
        assert strategy["limit"] >= 1
        assert strategy["backoff"]["factor"] >= 2


def test_workflow_outputs_are_published_globally(dag: dict[str, Any]) -> None:
    global_names = {
        output.get("globalName")
        for template in dag["spec"]["templates"]
        for output in template.get("outputs", {}).get("parameters", [])
    }
    assert {
        "preview-namespace",
        "preview-release",
        "preview-host",
        "preview-urls",
        "deployed-sha",
        "acceptance-summary",
    } <= global_names


def test_deploy_runs_under_the_deployer_account_and_others_do_not(dag: dict[str, Any]) -> None:
    accounts = {t["name"]: t.get("serviceAccountName") for t in dag["spec"]["templates"] if "script" in t}
    assert accounts["deploy"] == "aphex-preview-deployer"
    assert accounts["cleanup-preview"] == "aphex-preview-deployer"
    assert accounts["set-params"] is None
    assert accounts["acceptance"] is None
    assert dag["spec"]["serviceAccountName"] == "aphex-steps"
