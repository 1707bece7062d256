"""The generated Aphex pipeline: linted, shaped by structure only, hardened, least privilege."""

import itertools
import json
import os
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aphex.cli import _lint_objects, main
from aphex.dsl.bundle_writer import dump_yaml
from aphex.dsl.config import config_from_document, load_config
from aphex.dsl.config.cloudformation import workflow_template_name
from aphex.dsl.config.model import AphexConfig
from aphex.dsl.config.resources import PipelineResources
from aphex.dsl.graph import mermaid
from aphex.dsl.settings import BundleSettings, load_settings
from aphex.workflows.aphex_pipeline.pipeline import (
    IRSA_ANNOTATION,
    NAME,
    pipeline_rbac,
    pipeline_template,
)
from tests.rbac_eval import Request, allowed

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "aphex-config.yaml"
GOLDEN = Path(__file__).parent / "golden"
VALUES = ROOT / "examples" / "cluster-values.yaml"
NS = "argo"
PLACEHOLDER = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")


def entry(name: str = "shop-delivery") -> dict[str, Any]:
    """The example's ``pipelines`` entry (the stack's outputs), renamed to ``name``."""
    (values,) = yaml.safe_load(VALUES.read_text(encoding="utf-8"))["pipelines"]
    return {**values, "name": name}


def resources() -> PipelineResources:
    return PipelineResources.from_cluster_pipeline(load_settings({"pipelines": [entry()]}).pipelines[0])


def compiled(config: AphexConfig, bundle_settings: BundleSettings | None = None) -> list[dict[str, Any]]:
    """The pipeline's WorkflowTemplate, then the accounts the bundle installs for its entry."""
    settings = bundle_settings or BundleSettings()
    values = settings.to_values()
    cluster = load_settings(
        {**values, "pipelines": [entry(workflow_template_name(config))]}, release=settings.instance
    )
    return [pipeline_template(config, cluster), *pipeline_rbac(cluster.pipelines[0], cluster)]


@pytest.fixture(scope="module")
def example() -> AphexConfig:
    return load_config(EXAMPLE)


@pytest.fixture(scope="module")
def objects(example: AphexConfig) -> list[dict[str, Any]]:
    return compiled(example)


@pytest.fixture(scope="module")
def template(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return objects[0]


def tasks_of(template: dict[str, Any], dag: str = "main") -> dict[str, dict[str, Any]]:
    (entry,) = [t for t in template["spec"]["templates"] if t["name"] == dag]
    return {task["name"]: task for task in entry["dag"]["tasks"]}


def upstream(task: dict[str, Any]) -> set[str]:
    return set(re.findall(r"([a-z0-9-]+)(?:\.[A-Za-z]+)?", task.get("depends", "")))


def env_config(environments: list[dict[str, Any]], commands: list[str] | None = None) -> AphexConfig:
    return config_from_document(
        {"version": "1.0", "build": {"commands": commands or ["make"]}, "environments": environments}
    )


def test_the_example_passes_the_linter(objects: list[dict[str, Any]]) -> None:
    assert _lint_objects(objects) == []


def test_the_linter_would_catch_a_broken_dependency(objects: list[dict[str, Any]]) -> None:
    broken = json.loads(json.dumps(objects[0]))
    tasks_of(broken)["build"]["depends"] = "nowhere"
    assert any("nowhere" in problem for problem in _lint_objects([broken]))


def test_rbac_objects_are_valid_kubernetes(objects: list[dict[str, Any]]) -> None:
    core = objects[1:]
    assert {o["kind"] for o in core} == {"ServiceAccount", "Role", "RoleBinding"}
    for obj in core:
        kubernetes_validate.validate(obj, "1.31.0", strict=True)


def test_the_parameters_are_those_the_push_sensor_passes(template: dict[str, Any]) -> None:
    parameters = template["spec"]["arguments"]["parameters"]
    assert [p["name"] for p in parameters] == ["commit-sha", "branch", "repo-url", "repo-name", "pusher"]
    assert all(p["description"] for p in parameters)
    assert "value" not in parameters[0]


def test_the_stages_run_in_order_with_approval_and_tests(template: dict[str, Any]) -> None:
    """Seed property 24: stage outputs propagate (deploy's stack-outputs reach the tests)."""
    tasks = tasks_of(template)
    assert list(tasks) == [
        "validate", "build", "self-update",
        "deploy-staging", "tests-staging",
        "approve-production", "check-approval-production", "deploy-production", "tests-production",
        "deploy-dr",
    ]  # fmt: skip
    assert tasks["build"]["depends"] == "validate"
    assert tasks["self-update"]["depends"] == "build"
    assert upstream(tasks["deploy-staging"]) == {"self-update"}
    # Explicit phases: a bare name would also pass a Skipped task (argo-workflows
    # workflow/common/ancestry.go, expandDependency); Skipped here only means "not in this commit's config".
    assert tasks["tests-staging"]["depends"] == "deploy-staging.Succeeded || deploy-staging.Skipped"
    assert tasks["approve-production"]["depends"] == "tests-staging.Succeeded || tests-staging.Skipped"
    assert tasks["check-approval-production"]["depends"] == (
        "approve-production.Succeeded || approve-production.Skipped"
    )
    assert tasks["deploy-production"]["depends"] == (
        "check-approval-production.Succeeded || check-approval-production.Skipped"
    )
    assert tasks["deploy-dr"]["depends"] == "tests-production.Succeeded || tests-production.Skipped"
    stack_outputs = {a["name"]: a["value"] for a in tasks["tests-production"]["arguments"]["parameters"]}
    assert stack_outputs["stack_outputs"] == "{{tasks.deploy-production.outputs.parameters.stack-outputs}}"


def test_the_approval_is_argos_suspend_with_a_duration_and_a_supplied_decision(
    template: dict[str, Any],
) -> None:
    """No ``timeout`` on a suspend: Argo's validation refuses it (argo-workflows
    workflow/validate/validate.go, validateTemplate: "Suspend template doesn't support timeout field");
    the duration elapses into the output's default (workflow/controller/operator.go, executeSuspend)."""
    (approval,) = [t for t in template["spec"]["templates"] if "suspend" in t]
    assert "timeout" not in approval
    assert approval["suspend"] == {"duration": "86400s"}
    (output,) = approval["outputs"]["parameters"]
    assert output["name"] == "decision"
    assert output["valueFrom"] == {"supplied": {}, "default": "reject"}
    (form,) = approval["inputs"]["parameters"]
    assert (form["default"], form["enum"]) == ("reject", ["approve", "reject"])
    check = tasks_of(template)["check-approval-production"]
    arguments = {a["name"]: a["value"] for a in check["arguments"]["parameters"]}
    assert arguments["decision"] == "{{tasks.approve-production.outputs.parameters.decision}}"
    assert check["when"] == tasks_of(template)["approve-production"]["when"]


def test_queued_pushes_deadline_ttl_and_pod_gc(template: dict[str, Any]) -> None:
    spec = template["spec"]
    assert spec["synchronization"] == {"mutexes": [{"name": "aphex-pipeline-shop-delivery"}]}
    assert spec["activeDeadlineSeconds"] == BundleSettings().workflow_deadline_seconds + 86400
    assert spec["ttlStrategy"]["secondsAfterSuccess"] > 0
    assert spec["podGC"] == {"strategy": "OnPodSuccess"}
    retried = {t["name"]: t["retryStrategy"] for t in spec["templates"] if "retryStrategy" in t}
    for name in ("validate", "self-update", "record-workflow"):
        assert retried[name]["retryPolicy"] == "Always", name
        assert retried[name]["backoff"], name
    for name in ("build", "deploy", "run-tests"):
        assert retried[name]["retryPolicy"] == "OnError", name


def test_the_exit_handler_records_the_run(template: dict[str, Any]) -> None:
    assert template["spec"]["onExit"] == "exit-handler"
    (record,) = tasks_of(template, "exit-handler").values()
    arguments = {a["name"]: a["value"] for a in record["arguments"]["parameters"]}
    assert arguments["workflow_id"] == "{{workflow.uid}}"
    assert arguments["status"] == "{{workflow.status}}"
    assert arguments["failures"] == "{{workflow.failures}}"
    assert arguments["started_at"] == "{{workflow.creationTimestamp}}"
    assert arguments["commit_sha"] == "{{workflow.parameters.commit-sha}}"
    assert "node_statuses" not in arguments
    assert arguments["bucket"] == resources().artifact_bucket
    assert json.loads(arguments["sns_topics"]) == ["arn:aws:sns:us-east-1:222222222222:deployments"]
    assert arguments["argo_ui"] == BundleSettings().argo_ui_url
    # Every task of the main DAG, in order: the record reads each one's node (`<workflow>.<task>`).
    assert arguments["workflow_name"] == "{{workflow.name}}"
    assert arguments["namespace"] == "{{workflow.namespace}}"
    assert json.loads(arguments["stages"]) == list(tasks_of(template))
    (recorder,) = [t for t in template["spec"]["templates"] if t["name"] == "record-workflow"]
    (volume,) = [v for v in recorder["volumes"] if v["name"] == "slack-webhook"]
    assert volume["secret"]["secretName"] == "shop-slack"
    assert volume["secret"]["items"] == [{"key": "webhook-url", "path": "webhook-url"}]
    assert arguments["slack_webhook_file"] == "/etc/aphex/slack/webhook-url"


def test_the_exit_handler_takes_nothing_a_step_may_not_have_published(template: dict[str, Any]) -> None:
    """A global output of a step that never ran cannot be resolved: the exit handler would end in Error."""
    (exit_handler,) = [t for t in template["spec"]["templates"] if t["name"] == "exit-handler"]
    (recorder,) = [t for t in template["spec"]["templates"] if t["name"] == "record-workflow"]
    for part in (exit_handler, recorder):
        text = json.dumps(part)
        assert "{{workflow.outputs" not in text, part["name"]
        assert "{{tasks." not in text, part["name"]
        assert "{{steps." not in text, part["name"]


def test_self_update_writes_its_outcome_where_the_exit_handler_reads_it(template: dict[str, Any]) -> None:
    arguments = {a["name"]: a["value"] for a in tasks_of(template)["self-update"]["arguments"]["parameters"]}
    assert arguments["bucket"] == resources().artifact_bucket
    assert arguments["workflow_id"] == "{{workflow.uid}}"
    (record,) = tasks_of(template, "exit-handler").values()
    recorded = {a["name"]: a["value"] for a in record["arguments"]["parameters"]}
    assert (recorded["bucket"], recorded["workflow_id"]) == (arguments["bucket"], arguments["workflow_id"])


def test_without_slack_there_is_no_secret_volume() -> None:
    config = env_config([{"name": "a", "region": "eu-west-1", "account": "123456789012",
                          "stacks": [{"name": "S", "path": "."}]}])  # fmt: skip
    template = compiled(config)[0]
    for entry in template["spec"]["templates"]:
        assert all("secret" not in v for v in entry.get("volumes", [])), entry["name"]


def test_every_pod_is_hardened_and_runs_only_the_runner(template: dict[str, Any]) -> None:
    pods = [t for t in template["spec"]["templates"] if "script" in t]
    assert len(pods) == 7
    for entry in pods:
        body = entry["script"]
        context = body["securityContext"]
        assert context["runAsNonRoot"] is True, entry["name"]
        assert context["readOnlyRootFilesystem"] is True, entry["name"]
        assert context["allowPrivilegeEscalation"] is False, entry["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, entry["name"]
        assert body["source"] == "{{inputs.parameters}}", entry["name"]
        assert body["resources"]["limits"]["memory"], entry["name"]
        assert not body["image"].startswith("python:"), entry["name"]
        for field in ("args", "command"):
            assert all("{{" not in item for item in body.get(field, [])), entry["name"]
        assert all("{{" not in env.get("value", "") for env in body.get("env", [])), entry["name"]
        assert entry["serviceAccountName"].startswith("aphex-shop-delivery-"), entry["name"]
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True


def test_stages_run_under_their_own_accounts(template: dict[str, Any]) -> None:
    accounts = {
        t["name"]: t.get("serviceAccountName") for t in template["spec"]["templates"] if "script" in t
    }
    assert accounts == {
        "validate": "aphex-shop-delivery-deploy",
        "build": "aphex-shop-delivery-build",
        "self-update": "aphex-shop-delivery-self-update",
        "deploy": "aphex-shop-delivery-deploy",
        "run-tests": "aphex-shop-delivery-build",
        "record-workflow": "aphex-shop-delivery-monitor",
        "check-approval": "aphex-shop-delivery-monitor",  # computes only: it calls nothing
    }


def test_no_configured_command_or_stack_name_is_in_the_template(
    example: AphexConfig, template: dict[str, Any]
) -> None:
    text = dump_yaml(template)
    values = list(example.build.commands)
    for environment in example.environments:
        values += [*environment.hooks.pre_deploy, *environment.hooks.post_deploy]
        values += list(environment.tests.commands if environment.tests else [])
        values += [stack.name for stack in environment.stacks]
    for value in values:
        assert not re.search(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", text), value


COMMAND = st.tuples(
    st.text(alphabet=st.sampled_from(list("abc {}$()'\"`;|&\\-_=")), max_size=30),
    st.sampled_from(["{{workflow.name}}", "$(cat /etc/passwd)", "'; rm -rf / '", '"{{inputs.parameters}}"']),
).map(lambda parts: f"echo {parts[0]}{parts[1]}")
STACK = st.from_regex(r"\AZq[A-Za-z0-9]{6,20}\Z", fullmatch=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    build=st.lists(COMMAND, min_size=1, max_size=3),
    hooks=st.lists(COMMAND, min_size=1, max_size=2),
    tests=st.lists(COMMAND, min_size=1, max_size=2),
    stacks=st.lists(STACK, min_size=1, max_size=4, unique=True),
)
def test_random_commands_and_stacks_never_reach_the_template(
    build: list[str], hooks: list[str], tests: list[str], stacks: list[str]
) -> None:
    config = env_config(
        [
            {
                "name": "prod",
                "region": "eu-west-1",
                "account": "123456789012",
                "stacks": [{"name": s, "path": "."} for s in stacks],
                "hooks": {"preDeploy": hooks, "postDeploy": hooks},
                "tests": {"commands": tests},
            }
        ],
        commands=build,
    )
    text = "".join(dump_yaml(obj) for obj in compiled(config))
    for value in [*build, *hooks, *tests, *stacks]:
        assert value not in text


@settings(max_examples=25, deadline=None)
@given(
    names=st.lists(
        st.from_regex(r"\A[a-z][a-z0-9]{0,10}\Z", fullmatch=True), min_size=1, max_size=8, unique=True
    ),
    flags=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=8, max_size=8),
)
def test_n_environments_give_n_stages_in_order(names: list[str], flags: list[tuple[bool, bool]]) -> None:
    """Seed property 6: N environments give N environment stages, in order."""
    environments = []
    for name, (approval, tests) in zip(names, flags, strict=False):
        environment: dict[str, Any] = {
            "name": name, "region": "eu-west-1", "account": "123456789012",
            "stacks": [{"name": "S", "path": "."}],
        }  # fmt: skip
        if approval:
            environment["approval"] = {"required": True}
        if tests:
            environment["tests"] = {"commands": ["t"]}
        environments.append(environment)
    template = compiled(env_config(environments))[0]
    tasks = tasks_of(template)
    deploys = [name for name in tasks if name.startswith("deploy-")]
    assert deploys == [f"deploy-{name}" for name in names]
    assert _lint_objects([template]) == []
    # Each stage waits for the whole previous stage: a chain from validate to the last task.
    order = list(tasks)
    for before, after in itertools.pairwise(order):
        assert upstream(tasks[after]) == {before}, (before, after)


def test_waves_reach_the_deploy_step_at_run_time_only(example: AphexConfig, template: dict[str, Any]) -> None:
    tasks = tasks_of(template)
    arguments = {a["name"]: a["value"] for a in tasks["deploy-staging"]["arguments"]["parameters"]}
    assert arguments["stacks"] == "{{tasks.validate.outputs.parameters.staging_stacks}}"
    assert arguments["environment"] == "staging"
    assert example.environment("staging").stack_waves() == [["Network", "Dashboards"], ["Database"], ["Api"]]


def rbac(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["apiVersion"].startswith("rbac.authorization.k8s.io/")]


def request(account: str, verb: str, group: str, resource: str, **extra: Any) -> Request:
    return Request(
        account=f"aphex-shop-delivery-{account}",
        account_namespace=NS,
        verb=verb,
        group=group,
        resource=resource,
        namespace=extra.pop("namespace", NS),
        **extra,
    )


def test_only_self_update_may_patch_its_own_template(objects: list[dict[str, Any]]) -> None:
    rules = rbac(objects)
    for verb in ("get", "patch"):
        assert allowed(
            rules, request("self-update", verb, "argoproj.io", "workflowtemplates", name="shop-delivery")
        )
    assert not allowed(
        rules, request("self-update", "patch", "argoproj.io", "workflowtemplates", name="implementation-dag")
    )
    for account in ("build", "deploy", "monitor"):
        for verb in ("patch", "update", "create", "get"):
            assert not allowed(
                rules, request(account, verb, "argoproj.io", "workflowtemplates", name="shop-delivery")
            ), (account, verb)


def test_only_the_monitor_may_get_workflows_and_do_nothing_else_with_them(
    objects: list[dict[str, Any]],
) -> None:
    """The record reads its run's Workflow by name (generated, so no resourceNames): get, nothing more."""
    rules = rbac(objects)
    run = "shop-delivery-x7k2p"
    assert allowed(rules, request("monitor", "get", "argoproj.io", "workflows", name=run))
    assert allowed(rules, request("monitor", "get", "argoproj.io", "workflows", name="implementation-dag-1"))
    for verb in ("list", "watch", "create", "update", "patch", "delete", "deletecollection"):
        assert not allowed(rules, request("monitor", verb, "argoproj.io", "workflows", name=run)), verb
    for resource in ("workflows/status", "workflowtemplates", "cronworkflows", "workfloweventbindings"):
        assert not allowed(rules, request("monitor", "get", "argoproj.io", resource, name=run)), resource
    assert not allowed(
        rules, request("monitor", "get", "argoproj.io", "workflows", namespace="other", name=run)
    )
    assert not allowed(rules, request("monitor", "get", "", "pods", name=run))
    assert not allowed(rules, request("monitor", "get", "argoproj.io.evil", "workflows", name=run))
    for account in ("build", "deploy", "self-update"):
        assert not allowed(rules, request(account, "get", "argoproj.io", "workflows", name=run)), account
    (role,) = [
        o for o in rules if o["kind"] == "Role" and o["metadata"]["name"] == "aphex-shop-delivery-monitor"
    ]
    assert role["rules"] == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]},
        {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["get"]},
    ]


def test_every_account_may_report_outputs_and_nothing_else(objects: list[dict[str, Any]]) -> None:
    rules = rbac(objects)
    for account in ("build", "deploy", "monitor", "self-update"):
        assert allowed(rules, request(account, "create", "argoproj.io", "workflowtaskresults"))
        assert not allowed(rules, request(account, "get", "", "secrets", namespace="kube-system", name="x"))
        assert not allowed(rules, request(account, "get", "", "secrets", name="shop-slack"))
        for verb in ("bind", "escalate", "create"):
            assert not allowed(
                rules,
                request(account, verb, "rbac.authorization.k8s.io", "clusterroles", name="cluster-admin"),
            )
            assert not allowed(rules, request(account, "create", "rbac.authorization.k8s.io", "rolebindings"))


def test_service_accounts_carry_their_irsa_roles(objects: list[dict[str, Any]]) -> None:
    accounts = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ServiceAccount"}
    arns = entry()["roleArns"]
    assert {name: a["metadata"]["annotations"][IRSA_ANNOTATION] for name, a in accounts.items()} == {
        "aphex-shop-delivery-build": arns["build"],
        "aphex-shop-delivery-deploy": arns["deploy"],
        "aphex-shop-delivery-monitor": arns["monitor"],
        "aphex-shop-delivery-self-update": arns["selfUpdate"],
    }


def test_another_instance_prefixes_every_name() -> None:
    config = load_config(EXAMPLE)
    objects = compiled(config, BundleSettings(instance="blue", namespace="ci"))
    template = objects[0]
    assert template["metadata"] == {**template["metadata"], "name": "blue-shop-delivery", "namespace": "ci"}
    assert template["spec"]["synchronization"] == {"mutexes": [{"name": "aphex-pipeline-blue-shop-delivery"}]}
    names = {o["metadata"]["name"] for o in objects[1:]}
    assert all(name.startswith("blue-shop-delivery-") for name in names)
    self_update = next(
        o for o in objects if o["kind"] == "Role" and o["metadata"]["name"].endswith("-self-update")
    )
    assert self_update["rules"][-1]["resourceNames"] == ["blue-shop-delivery"]


def test_the_name_defaults_to_aphex_pipeline() -> None:
    config = env_config([{"name": "a", "region": "eu-west-1", "account": "123456789012",
                          "stacks": [{"name": "S", "path": "."}]}])  # fmt: skip
    assert compiled(config)[0]["metadata"]["name"] == NAME == "aphex-pipeline"


def test_compiling_twice_gives_identical_bytes(example: AphexConfig) -> None:
    first = "".join(dump_yaml(o) for o in compiled(example))
    second = "".join(dump_yaml(o) for o in compiled(load_config(EXAMPLE)))
    assert first == second


@pytest.mark.golden
def test_the_example_matches_its_golden_file(objects: list[dict[str, Any]]) -> None:
    text = "---\n".join(dump_yaml(obj) for obj in objects)
    golden = GOLDEN / "shop-delivery.yaml"
    if os.environ.get("APHEX_UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert golden.read_text(encoding="utf-8") == text, "run with APHEX_UPDATE_GOLDEN=1 and review the diff"


def test_the_documented_diagram_is_current(template: dict[str, Any]) -> None:
    doc = (ROOT / "docs" / "aphex-pipeline.md").read_text(encoding="utf-8")
    assert f"```mermaid\n{mermaid(template)}```" in doc


def test_aphex_compile_adds_the_pipeline(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    assert main(["compile", "--config", str(EXAMPLE), "--values", str(VALUES), "--out", str(out)]) == 0
    written = yaml.safe_load((out / "workflowtemplate" / "shop-delivery.yaml").read_text(encoding="utf-8"))
    assert written == compiled(load_config(EXAMPLE))[0]
    assert (out / "serviceaccount" / "aphex-shop-delivery-self-update.yaml").is_file()
    assert (out / "sensor" / "aphex-argo-push-shop-delivery.yaml").is_file()
    assert (out / "workflowtemplate" / "implementation-dag.yaml").is_file()


def test_pipeline_only_writes_just_the_template_for_the_release(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    args = [
        "compile",
        "--release",
        "blue",
        "--values",
        str(VALUES),
        "--config",
        str(EXAMPLE),
        "--pipeline-only",
    ]
    assert main([*args, "--out", str(out)]) == 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.yaml")) == [
        "workflowtemplate/blue-shop-delivery.yaml"
    ]
    template_file = out / "workflowtemplate" / "blue-shop-delivery.yaml"
    written = yaml.safe_load(template_file.read_text(encoding="utf-8"))
    assert written == compiled(load_config(EXAMPLE), BundleSettings(instance="blue"))[0]
    (update,) = [t for t in written["spec"]["templates"] if t["name"] == "self-update"]
    assert update["serviceAccountName"] == "blue-shop-delivery-self-update"


def test_aphex_compile_writes_nothing_for_a_bad_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "aphex-config.yaml"
    bad.write_text('version: "1.0"\nbuild: {commands: [make]}\nenvironments: []\n', encoding="utf-8")
    out = tmp_path / "dist"
    assert main(["compile", "--config", str(bad), "--values", str(VALUES), "--out", str(out)]) == 2
    assert not out.exists()
    # Without its pipelines entry, the pipeline has no accounts to run under: refused, naming the entry.
    assert main(["compile", "--config", str(EXAMPLE), "--out", str(out)]) == 2
    assert "pipelines: no entry named 'shop-delivery'" in capsys.readouterr().err
    assert not out.exists()
    assert main(["compile", "--pipeline-only", "--out", str(out)]) == 2
    assert not out.exists()


def test_the_steps_that_clone_get_the_github_credentials_and_no_other_does(template: dict[str, Any]) -> None:
    """validate, build and self-update clone the (possibly private) repository: they get the credentials
    Secret's keys, each optional; the steps that do not clone never see them."""
    secrets = {}
    for spec in template["spec"]["templates"]:
        env = (spec.get("script") or spec.get("container") or {}).get("env") or []
        secrets[spec["name"]] = {
            item["name"]: (
                item["valueFrom"]["secretKeyRef"]["key"],
                item["valueFrom"]["secretKeyRef"]["optional"],
            )
            for item in env
            if "secretKeyRef" in item.get("valueFrom", {}) and item["name"].startswith("GITHUB_")
        }
    expected = {
        "GITHUB_TOKEN": ("token", True),
        "GITHUB_APP_ID": ("app-id", True),
        "GITHUB_APP_PRIVATE_KEY": ("private-key", True),
    }
    assert {name for name, found in secrets.items() if found} == {"validate", "build", "self-update"}
    for name in ("validate", "build", "self-update"):
        assert secrets[name] == expected
