"""The compiled Aphex delivery pipeline end to end with ``aphex run``, and its fault matrix.

Real: the WorkflowTemplate ``aphex compile --config --pipeline-outputs`` writes, the local interpreter,
every Hera runner step (validate, build, self-update, deploy, run-tests, record-workflow) in a subprocess,
git over ``file://``, boto3 against a moto server. Stand-ins: ``cdk`` (synth runs the app, deploy creates
the stack in moto), ``node``, ``kubectl`` (self-update's apply), the approval (resumed by the run option).
See :mod:`tests.dsl.run.pipeline_harness`.

Fault matrix: every task of the main DAG forced to fail (``Fault(node=...)``, the API form of ``--fail``).
Each case asserts: the tasks before it succeeded and those after it were omitted, the exit handler ran and
recorded the run in ``metadata/workflows/`` with every stage (phase and times of its node, read from the
Workflow the Kubernetes API stand-in serves) and a ``WorkflowCount`` metric of the run's status, nothing
is left in the local object store. This holds for ``validate`` too, although no step ever ran: the exit
handler takes nothing a step publishes (the self-update outcome comes from S3).
"""

import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pytest
import yaml

from aphex.dsl.run import Fault, RunResult
from aphex.dsl.run.nodes import timestamp
from tests.dsl.run.pipeline_harness import (
    PIPELINE,
    AwsState,
    PipelineEnvironment,
    app_config,
    main_dag_tasks,
    pipeline_environment,
)
from tests.workflows.steps.common.argo_nodes import STAGES

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # moto: AWS::S3::BucketPolicy unsupported

MAIN_TASKS = STAGES  # the compiled app's main DAG (staging with tests, production with an approval)


@dataclass(frozen=True)
class Outcome:
    result: RunResult
    aws: AwsState
    store: list[str]
    kubectl: list[list[str]]
    applied: str
    api_calls: list[tuple[str, str]]

    @property
    def phases(self) -> dict[str, str]:
        return {node.display_name: node.phase for node in self.result.nodes}

    def output(self, task: str, name: str) -> str:
        return next(
            node.parameters[name]
            for node in self.result.nodes
            if node.display_name == task and name in node.parameters
        )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineEnvironment]:
    with pipeline_environment(tmp_path_factory.mktemp("pipeline")) as environment:
        yield environment


OMITTED = "omitted: depends condition not met"


def recorded(outcome: Outcome) -> list[tuple[str, str | None, str]]:
    """(name, phase, message) of every stage of the run's record; the times are checked against the
    nodes by :func:`times_agree`."""
    (record,) = outcome.aws.records()
    assert record["unread"] == []
    assert times_agree(outcome.result, record["stages"])
    return [(stage["name"], stage["phase"], stage["message"]) for stage in record["stages"]]


def succeeded(outcome: Outcome, tasks: list[str]) -> list[tuple[str, str | None, str]]:
    """The record's rows of ``tasks`` that succeeded; self-update's message is its outcome."""
    return [
        (
            task,
            "Succeeded",
            outcome.output("self-update", "self-update-status") if task == "self-update" else "",
        )
        for task in tasks
    ]


def times_agree(result: RunResult, stages: list[dict[str, Any]]) -> bool:
    """Each stage's times are its node's, its duration their difference."""
    for stage in stages:
        node = next(n for n in result.nodes if n.name == f"{result.name}.{stage['name']}")
        started, finished = timestamp(node.started_at), timestamp(node.finished_at)
        assert (stage["started_at"], stage["finished_at"]) == (started, finished), stage
        assert (
            stage["duration_seconds"]
            == (
                datetime.fromisoformat(finished) - datetime.fromisoformat(started)  # type: ignore[arg-type]
            ).total_seconds()
        ), stage
    return True


def _run(env: PipelineEnvironment, faults: list[Fault], approvals: dict[str, str] | None = None) -> Outcome:
    env.reset()
    result = env.run(faults=faults, approvals=approvals)
    calls = env.kubectl.calls()
    return Outcome(
        result=result,
        aws=env.snapshot(),
        store=[str(path) for path in env.store_objects()],
        kubectl=calls,
        applied=env.kubectl.stdin_of("kubectl", "apply") if calls else "",
        api_calls=env.kube.calls(),
    )


@pytest.fixture(scope="module")
def success(env: PipelineEnvironment) -> Outcome:
    return _run(env, [])


def test_a_rejected_approval_stops_before_the_deploy(env: PipelineEnvironment) -> None:
    outcome = _run(env, [], approvals={"approve-production": "reject"})
    assert outcome.result.phase == "Failed"
    assert dict(outcome.result.by_display_name("approve-production").parameters) == {"decision": "reject"}
    assert outcome.phases["check-approval-production"] == "Failed"
    assert outcome.phases["deploy-production"] == "Omitted"
    assert not outcome.aws.production_stacks
    rejected = outcome.result.by_display_name("check-approval-production").message
    assert recorded(outcome) == [
        *succeeded(outcome, MAIN_TASKS[:6]),
        ("check-approval-production", "Failed", rejected),
        ("deploy-production", "Omitted", OMITTED),
    ]
    assert rejected


def test_an_environment_missing_from_the_commit_is_skipped_in_the_record(env: PipelineEnvironment) -> None:
    """The pushed commit's configuration drops production: its tasks' `when` is false (Skipped)."""
    config = app_config()
    config["environments"] = config["environments"][:1]
    original = env.repo
    sha = original.commit({"aphex-config.yaml": yaml.safe_dump(config)}, message="staging only")
    env.repo = replace(original, old=original.head, head=sha)
    try:
        outcome = _run(env, [])
    finally:
        env.repo = original
    assert outcome.result.phase == "Succeeded", outcome.result.message
    skipped = [
        (task, "Skipped", outcome.result.by_display_name(task).message)
        for task in ("approve-production", "check-approval-production", "deploy-production")
    ]
    assert recorded(outcome) == [*succeeded(outcome, MAIN_TASKS[:5]), *skipped]
    assert all(
        message.startswith("when '") and message.endswith("' evaluated false") for *_, message in skipped
    )
    assert not outcome.aws.production_stacks


def test_the_matrix_covers_every_task_of_the_compiled_main_dag(env: PipelineEnvironment) -> None:
    assert main_dag_tasks(env.pipeline) == MAIN_TASKS


# --- success path -------------------------------------------------------------------------------------


def test_every_stage_succeeds_and_the_approval_is_resumed(success: Outcome) -> None:
    assert success.result.phase == "Succeeded", success.result.message
    phases = success.phases
    for task in MAIN_TASKS:
        assert phases[task] == "Succeeded", task
    approval = next(node for node in success.result.nodes if node.display_name == "approve-production")
    assert approval.type == "Suspend"
    # Resumed by the run option as `argo resume` does (ResumeWorkflow): Succeeded, no message locally.
    assert (approval.phase, approval.message) == ("Succeeded", "")
    assert phases[f"{success.result.name}.onExit"] == "Succeeded"
    assert phases["record"] == "Succeeded"
    assert success.store == []


def test_build_artifacts_are_stored_under_the_commit(env: PipelineEnvironment, success: Outcome) -> None:
    objects = success.aws.objects
    archive = objects[f"{env.sha}/artifacts.tar.gz"]
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        names = set(tar.getnames())
        metadata = json.loads(tar.extractfile("metadata.json").read())  # type: ignore[union-attr]
        built = tar.extractfile("artifacts/build.txt").read()  # type: ignore[union-attr]
    assert {"artifacts/app.py", "artifacts/cdk.json", "artifacts/aphex-config.yaml"} <= names
    assert not [name for name in names if "/.git/" in name or name.endswith("/.git")]
    assert built == b"built\n"  # the build command ran in the checkout of the commit
    assert metadata["commit_sha"] == env.sha
    assert metadata["succeeded"] is True
    assert json.loads(objects[f"{env.sha}/metadata.json"])["commit_sha"] == env.sha
    assert f"{env.sha}/build-error.log" not in objects


def test_stacks_are_deployed_in_both_accounts_with_their_outputs(
    env: PipelineEnvironment, success: Outcome
) -> None:
    for stacks in (success.aws.staging_stacks, success.aws.production_stacks):
        assert {"Network", "Api"} <= set(stacks)
        assert stacks["Network"]["VpcId"] == "vpc-123"
        assert stacks["Api"]["Url"] == "https://api.example.com"
        assert stacks["Network"]["Version"] == "v2"  # the pushed commit's VERSION, not the older one
        assert stacks["Network"]["status"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    deployed = json.loads(success.output("deploy-staging", "stack-outputs"))
    assert deployed["Network"]["VpcId"] == "vpc-123"
    deploys = [call for call in env.cdk.calls() if call[:2] == ["cdk", "deploy"]]
    assert sorted(call[2] for call in deploys) == ["Api", "Api", "Network", "Network"]
    # Staging with the pipeline's own identity; production through its role (a session's credentials).
    tokens = [e["env"]["AWS_SESSION_TOKEN"] for e in env.cdk.entries() if e["argv"][:2] == ["cdk", "deploy"]]
    assert [bool(token) for token in tokens] == [False, False, True, True]


def test_test_results_are_stored(env: PipelineEnvironment, success: Outcome) -> None:
    prefix = f"{env.sha}/tests/staging"
    results = json.loads(success.aws.objects[f"{prefix}/results.json"])
    assert (results["tests"], results["failures"]) == (2, 0)
    assert results["commit_sha"] == env.sha
    assert b"<testsuite" in success.aws.objects[f"{prefix}/results.xml"]
    assert [key for key in success.aws.objects if key.startswith(f"{prefix}/logs/")]
    assert not [key for key in success.aws.objects if "/tests/production" in key]  # production has none


def test_the_exit_handler_records_metadata_and_the_workflow_count(
    env: PipelineEnvironment, success: Outcome
) -> None:
    (record,) = success.aws.records()
    assert record["status"] == "Succeeded"
    assert record["name"] == success.result.name
    assert record["namespace"] == "aphex"
    assert (record["commit_sha"], record["branch"]) == (env.sha, "refs/heads/main")
    assert record["failures"] == []
    status = success.output("self-update", "self-update-status")
    assert status.startswith("succeeded: "), status
    assert recorded(success) == [
        (task, "Succeeded", status if task == "self-update" else "") for task in MAIN_TASKS
    ]
    # What the record read: its own run's Workflow, once, under the monitor account's one verb.
    workflow = f"/apis/argoproj.io/v1alpha1/namespaces/aphex/workflows/{success.result.name}"
    assert success.api_calls == [("GET", workflow)]
    assert success.aws.self_update_outcomes() == [{"status": "Succeeded", "message": status}]
    assert success.aws.workflow_count("Succeeded") == 1.0
    assert success.aws.workflow_count("Failed") == 0.0


def test_self_update_deployed_the_pipeline_stack_and_applied_the_template(success: Outcome) -> None:
    assert f"aphex-{PIPELINE}" in success.aws.staging_stacks
    assert [call[:2] for call in success.kubectl] == [["kubectl", "apply"]]
    document = yaml.safe_load(success.applied)
    (main,) = [t for t in document["spec"]["templates"] if t["name"] == "main"]
    assert [task["name"] for task in main["dag"]["tasks"]] == MAIN_TASKS


# --- fault matrix -------------------------------------------------------------------------------------


@pytest.mark.parametrize("node", MAIN_TASKS)
def test_fault(env: PipelineEnvironment, node: str) -> None:
    outcome = _run(env, [Fault(node=node)])
    result, phases = outcome.result, outcome.phases
    position = MAIN_TASKS.index(node)
    continues = node == "self-update"  # by design, a self-update failure never fails the run
    status = "Succeeded" if continues else "Failed"

    assert result.phase == status, result.message
    assert phases[node] == "Failed"
    for before in MAIN_TASKS[:position]:
        assert phases[before] == "Succeeded", before
    for after in MAIN_TASKS[position + 1 :]:
        assert phases[after] == ("Succeeded" if continues else "Omitted"), after

    # The exit handler ran and recorded the failure.
    assert phases[f"{result.name}.onExit"] == "Succeeded"
    assert phases["record"] == "Succeeded"
    (record,) = outcome.aws.records()
    assert record["status"] == status
    assert record["name"] == result.name
    # Every stage: the forced one Failed with the forced attempt's message (after Argo's "No more retries
    # left" on a retry node, operator.go, processNodeRetries), the others as their nodes ended.
    message = record["stages"][position]["message"]
    assert message.endswith(f"failed by --fail {node}"), message
    assert message in (f"failed by --fail {node}", f"No more retries left: failed by --fail {node}")
    outcome_message = outcome.output("self-update", "self-update-status") if position > 2 else ""
    assert recorded(outcome) == [
        *[
            (task, "Succeeded", outcome_message if task == "self-update" else "")
            for task in MAIN_TASKS[:position]
        ],
        (node, "Failed", message),
        *[
            (task, "Succeeded", "") if continues else (task, "Omitted", OMITTED)
            for task in MAIN_TASKS[position + 1 :]
        ],
    ]
    # Argo's workflow.failures: every failed node (the task, its attempts, the DAG when it failed).
    assert node in [failure["displayName"] for failure in record["failures"]]
    assert outcome.aws.workflow_count(status) == 1.0
    assert outcome.aws.workflow_count("Succeeded" if status == "Failed" else "Failed") == 0.0
    # The self-update outcome comes from S3 when the step ran, and is absent otherwise.
    ran = position > MAIN_TASKS.index("self-update")
    assert len(outcome.aws.self_update_outcomes()) == int(ran)

    # What ran is what the position allows; nothing is left in the local object store.
    built = f"{env.sha}/artifacts.tar.gz" in outcome.aws.objects
    assert built == (position > MAIN_TASKS.index("build"))
    assert bool(outcome.aws.staging_stacks.keys() & {"Network", "Api"}) == (
        continues or position > MAIN_TASKS.index("deploy-staging")
    )
    assert bool(outcome.aws.production_stacks) == continues
    assert (f"aphex-{PIPELINE}" in outcome.aws.staging_stacks) == (position > MAIN_TASKS.index("self-update"))
    assert outcome.store == []
