"""Workflow records in moto's S3, metrics in its CloudWatch, SNS (read back through SQS), Slack over HTTP.

The self-update outcome the record reads is a real object in moto's S3, written with
:func:`monitoring.store_self_update` as the self-update step writes it (present, absent or malformed).
The run's Workflow is served by the Kubernetes API stand-in over real HTTP (``tests/standins/kube_api.py``)
with the nodes Argo's controller keeps in ``status.nodes`` when the exit handler runs
(:mod:`tests.workflows.steps.common.argo_nodes`).
"""

import base64
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aphex.dsl.config import load_config
from aphex.dsl.config.cloudformation import pipeline_resources_template
from aphex.workflows.steps.aphex_pipeline import monitoring
from aphex.workflows.steps.aphex_pipeline.monitoring import Deployment, Phase
from aphex.workflows.steps.common import kubernetes_api
from tests.standins.kube_api import KubeStandIn, kube_standin
from tests.standins.servers import refused_url, reply, serve
from tests.workflows.steps.common.argo_nodes import STAGES, run_nodes, workflow_object
from tests.workflows.steps.conftest import AwsCalls, reset_moto, role_statements

BUCKET = "aphex-artifacts"
SHA = "a" * 40
WORKFLOW_ID = "6f1c2d3e-0000-4000-8000-000000000001"
OUTCOME_KEY = f"metadata/workflows/{WORKFLOW_ID}/self-update.json"
RECORD_KEY = f"metadata/workflows/{WORKFLOW_ID}.json"
FAST = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WORKFLOW = "aphex-pipeline-x7k2p"
WORKFLOW_PATH = f"/apis/argoproj.io/v1alpha1/namespaces/argo/workflows/{WORKFLOW}"
FAILURES = [
    {"displayName": "deploy-production", "message": "stack Api failed", "templateName": "deploy",
     "phase": "Failed", "podName": "aphex-x-deploy-1", "finishedAt": "2026-05-01T10:09:00Z"},
]  # fmt: skip
FAILED_DEPLOY = {
    "validate": ("Succeeded", 0, 20, ""),
    "build": ("Succeeded", 21, 140, ""),
    "self-update": ("Succeeded", 141, 200, ""),
    "deploy-staging": ("Succeeded", 201, 380, ""),
    "tests-staging": ("Skipped", 381, 381, "when 'false == true' evaluated false"),
    "approve-production": ("Succeeded", 382, 450, ""),
    "check-approval-production": ("Succeeded", 451, 455, ""),
    "deploy-production": ("Failed", 456, 540, "stack Api failed"),
}
"""Task -> (phase, start and end in seconds after 10:00, message): a run whose production deploy failed."""


def stage(
    name: str, phase: str | None, start: int | None, end: int | None, message: str = ""
) -> dict[str, Any]:
    """A stage of the record, times as seconds after 2026-05-01T10:00:00Z."""

    def at(seconds: int | None) -> str | None:
        return None if seconds is None else f"2026-05-01T10:{seconds // 60:02d}:{seconds % 60:02d}Z"

    duration = None if start is None or end is None else float(end - start)
    return {"name": name, "phase": phase, "started_at": at(start), "finished_at": at(end),
            "duration_seconds": duration, "message": message}  # fmt: skip


@pytest.fixture(autouse=True)
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeStandIn]:
    """The API server, holding the run's Workflow as the controller left it when the exit handler started."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(kubernetes_api, "_sleep", lambda seconds: None)
    with kube_standin() as standin:
        monkeypatch.setenv("KUBECONFIG", str(standin.kubeconfig(tmp_path / "kubeconfig")))
        standin.put(WORKFLOW_PATH, workflow_object(WORKFLOW, run_nodes(WORKFLOW, FAILED_DEPLOY)))
        yield standin


def topic_with_queue(name: str, region: str = "us-east-1") -> tuple[str, str]:
    """An SNS topic with an SQS queue subscribed (raw delivery off: the queue gets the SNS envelope)."""
    sns = boto3.client("sns", region_name=region)
    sqs = boto3.client("sqs", region_name=region)
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=f"{name}-q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


def messages(queue: str, region: str = "us-east-1") -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=region)
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in received.get("Messages", [])]


class Slack:
    """A webhook stand-in: answers the queued statuses in turn, records bodies."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length", "0"))
        self.bodies.append(json.loads(request.rfile.read(length)))
        reply(request, self.statuses.pop(0) if self.statuses else 200)


def record_args(tmp_path: Path, **overrides: str) -> dict[str, str]:
    args = {
        "workflow_id": WORKFLOW_ID,
        "workflow_name": WORKFLOW,
        "namespace": "argo",
        "commit_sha": SHA,
        "branch": "refs/heads/main",
        "status": "Failed",
        "started_at": "2026-05-01T10:00:00Z",
        "finished_at": "2026-05-01T10:10:30Z",
        "bucket": BUCKET,
        "failures": json.dumps(FAILURES),
        "stages": json.dumps(STAGES),
        "argo_ui": "https://argo.example.com/",
    }
    args.update(overrides)
    return args


def stored(key: str = RECORD_KEY) -> Any:
    return json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_a_run_is_recorded_measured_and_notified(
    moto: str,
    kube: KubeStandIn,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    monitoring.store_self_update(
        boto3.client("s3"), bucket=BUCKET, workflow_id=WORKFLOW_ID, succeeded=True, message="succeeded: x"
    )
    topic, queue = topic_with_queue("aphex-events")
    other_topic, other_queue = topic_with_queue("aphex-ops", region="eu-west-1")
    delays: list[float] = []
    monkeypatch.setattr(monitoring.time, "sleep", delays.append)
    slack = Slack([502, 200])
    with serve(slack) as url:
        secret = tmp_path / "slack-url"
        secret.write_text(f"{url}/services/T000/B000/XXXX\n")
        uri = monitoring.record_workflow(
            **record_args(tmp_path),
            sns_topics=json.dumps([topic, other_topic]),
            slack_webhook_file=str(secret),
        )
    link = "https://argo.example.com/workflows/argo/aphex-pipeline-x7k2p"
    assert uri == f"s3://{BUCKET}/{RECORD_KEY}"
    assert stored() == {
        "id": WORKFLOW_ID,
        "name": "aphex-pipeline-x7k2p",
        "namespace": "argo",
        "commit_sha": SHA,
        "branch": "refs/heads/main",
        "started_at": "2026-05-01T10:00:00Z",
        "finished_at": "2026-05-01T10:10:30Z",
        "duration_seconds": 630.0,
        "status": "Failed",
        "stages": [
            stage("validate", "Succeeded", 0, 20),
            stage("build", "Succeeded", 21, 140),
            stage("self-update", "Succeeded", 141, 200, "succeeded: x"),
            stage("deploy-staging", "Succeeded", 201, 380),
            stage("tests-staging", "Skipped", 381, 381, "when 'false == true' evaluated false"),
            stage("approve-production", "Succeeded", 382, 450),
            stage("check-approval-production", "Succeeded", 451, 455),
            stage("deploy-production", "Failed", 456, 540, "stack Api failed"),
        ],
        "failures": FAILURES,
        "unread": [],
        "argo_url": link,
    }
    assert kube.calls() == [("GET", WORKFLOW_PATH)]
    cloudwatch = boto3.client("cloudwatch")
    window = {
        "StartTime": datetime(2026, 5, 1, 10, tzinfo=UTC),
        "EndTime": datetime(2026, 5, 1, 11, tzinfo=UTC),
    }
    for name, expected in [("WorkflowCount", 1.0), ("WorkflowDuration", 630.0)]:
        stats = cloudwatch.get_metric_statistics(
            Namespace="AphexPipeline", MetricName=name, Dimensions=[{"Name": "Status", "Value": "Failed"}],
            Period=3600, Statistics=["Sum"], **window,
        )  # fmt: skip
        assert [p["Sum"] for p in stats["Datapoints"]] == [expected]
    for queue_url, region, arn in [(queue, "us-east-1", topic), (other_queue, "eu-west-1", other_topic)]:
        [envelope] = messages(queue_url, region)
        assert envelope["TopicArn"] == arn
        assert envelope["Subject"] == "Aphex Failed: aphex-pipeline-x7k2p (aaaaaaa)"
        assert f"Argo: {link}" in envelope["Message"]
        assert envelope["Message"] == "\n".join(
            [
                "Workflow aphex-pipeline-x7k2p failed",
                "Branch: refs/heads/main",
                f"Commit: {SHA}",
                "Duration: 630 s",
                "- validate: Succeeded, 20 s",
                "- build: Succeeded, 119 s",
                "- self-update: Succeeded, 59 s (succeeded: x)",
                "- deploy-staging: Succeeded, 179 s",
                "- tests-staging: Skipped, 0 s (when 'false == true' evaluated false)",
                "- approve-production: Succeeded, 68 s",
                "- check-approval-production: Succeeded, 4 s",
                "- deploy-production: Failed, 84 s (stack Api failed)",
                f"Argo: {link}",
            ]
        )
        assert envelope["MessageAttributes"]["status"]["Value"] == "Failed"
    assert len(slack.bodies) == 2  # 502, then 200
    assert delays == [1.0]
    assert f"<{link}|Argo>" in slack.bodies[1]["text"]
    captured = capsys.readouterr()
    assert "/services/T000" not in captured.out + captured.err


def test_slack_failures_fail_the_step_after_the_record_and_never_show_the_url(
    moto: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    monkeypatch.setattr(monitoring.time, "sleep", lambda _: None)
    slack = Slack([503, 503, 503, 503, 503])
    with serve(slack) as url:
        secret = tmp_path / "slack-url"
        secret.write_text(f"{url}/services/SECRET-PATH")
        with pytest.raises(SystemExit):
            monitoring.record_workflow(
                **record_args(tmp_path, status="Succeeded"), slack_webhook_file=str(secret)
            )
    assert len(slack.bodies) == 4
    err = capsys.readouterr().err
    assert err.strip() == (
        "recorded, not delivered: slack: the webhook did not accept the notification (HTTP 503)"
    )
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [RECORD_KEY]


OMITTED = "omitted: depends condition not met"
GREEN = {
    **FAILED_DEPLOY,
    "tests-staging": ("Succeeded", 381, 400, ""),
    "approve-production": ("Succeeded", 401, 450, ""),
    "check-approval-production": ("Succeeded", 451, 455, ""),
    "deploy-production": ("Succeeded", 456, 540, ""),
}
REJECTED = {
    **GREEN,
    "check-approval-production": ("Failed", 451, 455, "main: Error (exit code 1)"),
    "deploy-production": ("Omitted", 456, 456, OMITTED),
}
NO_PRODUCTION = {  # production is not in the pushed commit's configuration: `when` is false
    **GREEN,
    "approve-production": ("Skipped", 401, 401, "when 'false == true' evaluated false"),
    "check-approval-production": ("Skipped", 402, 402, "when 'false == true' evaluated false"),
    "deploy-production": ("Skipped", 403, 403, "when 'false == true' evaluated false"),
}
EARLY = {  # validate failed: every later task is Omitted in the same reconciliation
    "validate": ("Failed", 0, 20, "main: Error (exit code 2)"),
    **{task: ("Omitted", 21, 21, OMITTED) for task in STAGES[1:]},
}


@pytest.mark.parametrize(
    ("tasks", "status", "expected"),
    [
        pytest.param(GREEN, "Succeeded", [
            stage("validate", "Succeeded", 0, 20), stage("build", "Succeeded", 21, 140),
            stage("self-update", "Succeeded", 141, 200), stage("deploy-staging", "Succeeded", 201, 380),
            stage("tests-staging", "Succeeded", 381, 400), stage("approve-production", "Succeeded", 401, 450),
            stage("check-approval-production", "Succeeded", 451, 455),
            stage("deploy-production", "Succeeded", 456, 540),
        ], id="all-green"),
        pytest.param(REJECTED, "Failed", [
            stage("validate", "Succeeded", 0, 20), stage("build", "Succeeded", 21, 140),
            stage("self-update", "Succeeded", 141, 200), stage("deploy-staging", "Succeeded", 201, 380),
            stage("tests-staging", "Succeeded", 381, 400), stage("approve-production", "Succeeded", 401, 450),
            stage("check-approval-production", "Failed", 451, 455, "main: Error (exit code 1)"),
            stage("deploy-production", "Omitted", 456, 456, OMITTED),
        ], id="rejected-approval"),
        pytest.param(NO_PRODUCTION, "Succeeded", [
            stage("validate", "Succeeded", 0, 20), stage("build", "Succeeded", 21, 140),
            stage("self-update", "Succeeded", 141, 200), stage("deploy-staging", "Succeeded", 201, 380),
            stage("tests-staging", "Succeeded", 381, 400),
            stage("approve-production", "Skipped", 401, 401, "when 'false == true' evaluated false"),
            stage("check-approval-production", "Skipped", 402, 402, "when 'false == true' evaluated false"),
            stage("deploy-production", "Skipped", 403, 403, "when 'false == true' evaluated false"),
        ], id="environment-not-configured"),
        pytest.param(EARLY, "Failed", [
            stage("validate", "Failed", 0, 20, "main: Error (exit code 2)"),
            *[stage(task, "Omitted", 21, 21, OMITTED) for task in STAGES[1:]],
        ], id="validate-failed"),
    ],
)  # fmt: skip
def test_the_record_lists_every_stage_with_its_phase_and_duration(
    moto: str,
    kube: KubeStandIn,
    tasks: dict[str, tuple[str, int, int, str]],
    status: str,
    expected: list[dict[str, Any]],
) -> None:
    """Without a self-update outcome (validate failed: the step never ran) the stage is the node's."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    kube.put(WORKFLOW_PATH, workflow_object(WORKFLOW, run_nodes(WORKFLOW, tasks)))
    monitoring.record_workflow(**record_args(Path(), status=status))
    record = stored()
    assert record["stages"] == expected
    assert record["unread"] == []


def test_a_stage_the_run_never_reached_has_no_phase(moto: str, kube: KubeStandIn) -> None:
    """Stopped during build (argo stop): the later tasks have no node yet when the exit handler runs."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    tasks = {
        "validate": FAILED_DEPLOY["validate"],
        "build": ("Failed", 21, 60, "Stopped with strategy 'Stop'"),
    }
    kube.put(WORKFLOW_PATH, workflow_object(WORKFLOW, run_nodes(WORKFLOW, tasks)))
    monitoring.record_workflow(**record_args(Path()))
    unreached = {"name": "", "phase": None, "started_at": None, "finished_at": None, "duration_seconds": None,
                 "message": "no node: the run ended before this stage"}  # fmt: skip
    assert stored()["stages"] == [
        stage("validate", "Succeeded", 0, 20),
        stage("build", "Failed", 21, 60, "Stopped with strategy 'Stop'"),
        *[{**unreached, "name": task} for task in STAGES[2:]],
    ]


def test_a_retried_stage_shows_why_its_last_attempt_failed(moto: str, kube: KubeStandIn) -> None:
    """processNodeRetries: a Retry node out of attempts says only "No more retries left"."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    nodes = run_nodes(WORKFLOW, {**FAILED_DEPLOY, "deploy-production": ("Failed", 456, 540, "")})
    (retry,) = [node for node in nodes.values() if node["name"] == f"{WORKFLOW}.deploy-production"]
    retry["message"] = "No more retries left"
    nodes[retry["children"][-1]]["message"] = "main: Error (exit code 1)"
    kube.put(WORKFLOW_PATH, workflow_object(WORKFLOW, nodes))
    monitoring.record_workflow(**record_args(Path()))
    assert stored()["stages"][-1] == stage(
        "deploy-production", "Failed", 456, 540, "No more retries left: main: Error (exit code 1)"
    )


def test_nodes_the_controller_compressed_are_read(moto: str, kube: KubeStandIn) -> None:
    """A Workflow over the size limit keeps its nodes as base64 of gzip in status.compressedNodes
    (workflow/packer/packer.go, compressWorkflow; util/file/fileutil.go, CompressEncodeString)."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    packed = base64.b64encode(gzip.compress(json.dumps(run_nodes(WORKFLOW, GREEN)).encode())).decode()
    kube.put(WORKFLOW_PATH, workflow_object(WORKFLOW, {}, phase="Running", compressedNodes=packed))
    monitoring.record_workflow(**record_args(Path(), status="Succeeded", failures="null"))
    assert [s["phase"] for s in stored()["stages"]] == ["Succeeded"] * len(STAGES)


@pytest.mark.parametrize(
    ("answer", "gap"),
    [
        (403, f'workflow argo/{WORKFLOW}: get workflows.argoproj.io: HTTP 403: workflows.argoproj.io '
              f'"{WORKFLOW}" is forbidden'),
        ("offloaded", f"workflow argo/{WORKFLOW}: status.nodes are offloaded to the workflow controller's "
                      "database (offloadNodeStatusVersion fnv:1234); only the Argo Server reads them"),
        ("zstd", f"workflow argo/{WORKFLOW}: status.compressedNodes: not gzip (the controller's compression "
                 "algorithm is set to another one); the nodes cannot be read"),
    ],
)  # fmt: skip
def test_without_the_workflow_the_record_keeps_what_it_knows_and_names_the_gap(
    moto: str, kube: KubeStandIn, capsys: pytest.CaptureFixture[str], answer: int | str, gap: str
) -> None:
    """The step succeeds: the record and notifications go out, the stages' phases from workflow.failures
    and the self-update outcome, every other stage without a phase, ``unread`` naming the gap."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    monitoring.store_self_update(
        boto3.client("s3"), bucket=BUCKET, workflow_id=WORKFLOW_ID, succeeded=True, message="succeeded: x"
    )
    if answer == 403:
        kube.fail_next("GET", "/workflows/", 403, f'workflows.argoproj.io "{WORKFLOW}" is forbidden')
    elif answer == "offloaded":
        kube.put(WORKFLOW_PATH, workflow_object(WORKFLOW, {}, offloadNodeStatusVersion="fnv:1234"))
    else:
        packed = base64.b64encode(b"\x28\xb5\x2f\xfd" + b"zstd frame").decode()
        kube.put(WORKFLOW_PATH, workflow_object(WORKFLOW, {}, compressedNodes=packed))
    topic, queue = topic_with_queue("aphex-events")
    uri = monitoring.record_workflow(**record_args(Path()), sns_topics=json.dumps([topic]))
    assert uri == f"s3://{BUCKET}/{RECORD_KEY}"
    record = stored()
    unknown = {
        "phase": None,
        "started_at": None,
        "finished_at": None,
        "duration_seconds": None,
        "message": "",
    }
    assert record["stages"] == [
        *[{**unknown, "name": task} for task in STAGES[:2]],
        {**unknown, "name": "self-update", "phase": "Succeeded", "message": "succeeded: x"},
        *[{**unknown, "name": task} for task in STAGES[3:-1]],
        {**unknown, "name": "deploy-production", "phase": "Failed", "finished_at": "2026-05-01T10:09:00Z",
         "message": "stack Api failed"},
    ]  # fmt: skip
    assert record["unread"] == [gap]
    [envelope] = messages(queue)
    assert f"Not read: {gap}" in envelope["Message"].splitlines()
    assert "- validate: unknown" in envelope["Message"].splitlines()
    assert capsys.readouterr().err.strip() == f"not read: {gap}"


@pytest.mark.parametrize("succeeded", [True, False])
def test_the_self_update_outcome_is_the_stage_and_a_failed_pod_wins(
    moto: str, kube: KubeStandIn, succeeded: bool
) -> None:
    """The step always exits 0 (its node Succeeded): its outcome is the stage's phase and message."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    uri = monitoring.store_self_update(
        boto3.client("s3"), bucket=BUCKET, workflow_id=WORKFLOW_ID, succeeded=succeeded, message="line"
    )
    assert uri == f"s3://{BUCKET}/{OUTCOME_KEY}"
    status = "Succeeded" if succeeded else "Failed"
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=OUTCOME_KEY)["Body"].read()
    assert body == json.dumps({"message": "line", "status": status}).encode()  # sorted keys
    kube.put(WORKFLOW_PATH, workflow_object(WORKFLOW, run_nodes(WORKFLOW, GREEN)))
    monitoring.record_workflow(**record_args(Path(), status="Succeeded", failures="null"))
    assert stored()["stages"][2] == stage("self-update", status, 141, 200, "line")
    # The pod itself failed after writing (OOM, node deleted): Argo's phase and message win.
    error = {**GREEN, "self-update": ("Error", 141, 200, "pod deleted")}
    kube.put(WORKFLOW_PATH, workflow_object(WORKFLOW, run_nodes(WORKFLOW, error)))
    monitoring.record_workflow(**record_args(Path(), status="Succeeded", failures="null"))
    assert stored()["stages"][2] == stage("self-update", "Error", 141, 200, "pod deleted")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'["Succeeded"]',
        b'{"status": "Great", "message": "x"}',
        b'{"status": "Succeeded"}',
        b'{"status": "Succeeded", "message": 3}',
    ],
)
def test_a_malformed_self_update_outcome_is_named_and_the_run_still_recorded(
    moto: str, capsys: pytest.CaptureFixture[str], body: bytes
) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    boto3.client("s3").put_object(Bucket=BUCKET, Key=OUTCOME_KEY, Body=body)
    monitoring.record_workflow(**record_args(Path()))
    gap = (
        f"self-update outcome s3://{BUCKET}/{OUTCOME_KEY}: "
        'must be JSON {"status": <Argo phase>, "message": <text>}'
    )
    assert capsys.readouterr().err.strip() == f"not read: {gap}"
    record = stored()
    assert record["status"] == "Failed"
    assert record["unread"] == [gap]
    assert record["stages"][2] == stage("self-update", "Succeeded", 141, 200)  # the node's, no message


class DeniedS3:
    """moto's S3 client, except that ``GetObject`` of the outcome answers ``code``."""

    def __init__(self, code: str) -> None:
        self.s3 = boto3.client("s3")
        self.code = code

    def get_object(self, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "GetObject")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s3, name)


class Session:
    """A boto3 session whose S3 client is ``s3``."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3
        self.session = boto3.Session()

    def client(self, name: str, **kwargs: Any) -> Any:
        return self.s3 if name == "s3" else self.session.client(name, **kwargs)


def test_an_unreadable_self_update_outcome_is_named_and_the_run_still_recorded(
    moto: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    monkeypatch.setattr(monitoring, "_boto_session", lambda: Session(DeniedS3("InternalError")))
    monitoring.record_workflow(**record_args(Path()))
    err = capsys.readouterr().err
    assert err.startswith(f"not read: self-update outcome s3://{BUCKET}/{OUTCOME_KEY}: "), err
    assert "InternalError" in err
    (gap,) = stored()["unread"]
    assert err.strip() == f"not read: {gap}"
    assert stored()["status"] == "Failed"


def test_a_denied_read_of_a_missing_outcome_is_absent_and_of_a_present_one_a_problem(moto: str) -> None:
    """Should S3 answer 403 for a missing key, the listing the monitor role may do decides."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    read = {"bucket": BUCKET, "workflow_id": WORKFLOW_ID}
    assert monitoring.read_self_update(DeniedS3("AccessDenied"), **read) is None
    assert monitoring.read_self_update(DeniedS3("NoSuchKey"), **read) is None
    boto3.client("s3").put_object(Bucket=BUCKET, Key=OUTCOME_KEY, Body=b"{}")
    with pytest.raises(monitoring.StepError, match=r"AccessDenied"):
        monitoring.read_self_update(DeniedS3("AccessDenied"), **read)


def test_slack_client_errors_are_not_retried_and_refused_connections_are(tmp_path: Path) -> None:
    record = make_record(Phase.SUCCEEDED, {})
    slack = Slack([404])
    with serve(slack) as url:
        (tmp_path / "u").write_text(url)
        with pytest.raises(monitoring.NotificationError, match=r"HTTP 404"):
            monitoring.notify_slack(tmp_path / "u", record, sleep=lambda _: None)
    assert len(slack.bodies) == 1
    (tmp_path / "u").write_text(refused_url())
    slept: list[float] = []
    with pytest.raises(monitoring.NotificationError, match=r"\(ConnectionError\)$"):
        monitoring.notify_slack(tmp_path / "u", record, sleep=slept.append, attempts=3)
    assert slept == [1.0, 2.0]


def test_a_plain_http_webhook_outside_loopback_is_refused(tmp_path: Path) -> None:
    (tmp_path / "u").write_text("http://hooks.example.com/services/x")
    with pytest.raises(monitoring.InvalidValue) as caught:
        monitoring.notify_slack(tmp_path / "u", make_record(Phase.FAILED, {}))
    assert caught.value.field == "slack-webhook-file"
    assert "hooks.example.com" not in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"status": "Done"}, "invalid parameter status:"),
        ({"commit_sha": "abc"}, "invalid parameter commit-sha:"),
        ({"failures": "{}"}, "invalid parameter failures:"),
        ({"sns_topics": '["arn:aws:sqs:us-east-1:123456789012:q"]'}, "invalid parameter sns-topics:"),
        ({"started_at": "yesterday"}, "invalid parameter started-at:"),
        ({"argo_ui": "javascript:alert(1)"}, "invalid parameter argo-ui:"),
        ({"workflow_id": "../x"}, "invalid parameter workflow-id:"),
        ({"stages": '{"validate": 1}'}, "invalid parameter stages:"),
        ({"stages": '["validate", "$(id)"]'}, "invalid parameter stages:"),
    ],
)
def test_bad_parameters_are_named(
    moto: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(SystemExit):
        monitoring.record_workflow(**record_args(tmp_path, **overrides))
    assert capsys.readouterr().err.startswith(message)


def make_record(status: Phase, stages: dict[str, str], record_id: str = "run-1") -> monitoring.WorkflowRecord:
    return monitoring.WorkflowRecord(
        id=record_id, name="aphex-x", namespace="argo", commit_sha=SHA, branch="main",
        started_at="2026-05-01T10:00:00Z", finished_at="2026-05-01T10:01:00Z", duration_seconds=60.0,
        status=status,
        stages=[monitoring.StageOutcome(name=name, phase=phase).to_dict() for name, phase in stages.items()],
        argo_url=monitoring.argo_link("https://argo.example.com", "argo", "aphex-x"),
    )  # fmt: skip


PHASES = st.sampled_from(list(Phase))
STAGE_PHASES = st.dictionaries(st.from_regex(r"\A[a-z][a-z0-9-]{0,12}\Z"), PHASES.map(str), max_size=4)


# Property 16: the workflow's metadata is recorded and reads back unchanged.
@FAST
@given(status=PHASES, stages=STAGE_PHASES, record_id=st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,20}\Z"))
def test_property_16_workflow_metadata_recorded(
    moto: str, status: Phase, stages: dict[str, str], record_id: str
) -> None:
    reset_moto(moto)
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    record = make_record(status, stages, record_id)
    monitoring.store_record(boto3.client("s3"), bucket=BUCKET, record=record)
    body = (
        boto3.client("s3")
        .get_object(Bucket=BUCKET, Key=f"metadata/workflows/{record_id}.json")["Body"]
        .read()
    )
    stored = json.loads(body)
    assert stored["status"] == status.value
    assert [(stage["name"], stage["phase"]) for stage in stored["stages"]] == list(stages.items())
    assert (stored["id"], stored["commit_sha"]) == (record_id, SHA)


# Property 17: each deployment emits DeploymentCount and DeploymentDuration with its dimensions.
@FAST
@given(
    deployments=st.lists(
        st.builds(
            Deployment,
            stack=st.from_regex(r"\A[A-Z][a-zA-Z0-9]{0,10}\Z"),
            environment=st.sampled_from(["dev", "staging", "prod"]),
            status=st.sampled_from(["Succeeded", "Failed"]),
            duration_seconds=st.integers(0, 3600).map(float),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_property_17_deployment_metrics_emitted(moto: str, deployments: list[Deployment]) -> None:
    reset_moto(moto)
    moment = datetime.now(UTC).replace(microsecond=0)
    monitoring.put_metrics(boto3.client("cloudwatch"), monitoring.deployment_metrics(deployments, moment))
    cloudwatch = boto3.client("cloudwatch")
    expected: dict[tuple[str, str, str], list[float]] = {}
    for d in deployments:
        expected.setdefault((d.stack, d.status, d.environment), []).append(d.duration_seconds)
    for (stack, status, environment), durations in expected.items():
        dimensions = [{"Name": "StackName", "Value": stack}, {"Name": "Status", "Value": status},
                      {"Name": "Environment", "Value": environment}]  # fmt: skip
        for name, total in [
            ("DeploymentCount", float(len(durations))),
            ("DeploymentDuration", sum(durations)),
        ]:
            stats = cloudwatch.get_metric_statistics(
                Namespace="AphexPipeline", MetricName=name, Dimensions=dimensions, Period=60,
                StartTime=moment - timedelta(minutes=2), EndTime=moment + timedelta(minutes=2),
                Statistics=["Sum"],
            )  # fmt: skip
            assert sum(p["Sum"] for p in stats["Datapoints"]) == total


# Property 18: every configured topic receives the notification.
@FAST
@given(count=st.integers(1, 3), status=st.sampled_from([Phase.SUCCEEDED, Phase.FAILED, Phase.ERROR]))
def test_property_18_notifications_delivered(moto: str, count: int, status: Phase) -> None:
    reset_moto(moto)
    pairs = [topic_with_queue(f"topic-{i}") for i in range(count)]
    record = make_record(status, {"build": "Succeeded"})
    monitoring.notify_sns(
        lambda region: boto3.client("sns", region_name=region), [t for t, _ in pairs], record
    )
    for topic, queue in pairs:
        [envelope] = messages(queue)
        assert envelope["TopicArn"] == topic
        assert envelope["Subject"].startswith(f"Aphex {status.value}: ")
        assert "Argo: https://argo.example.com/workflows/argo/aphex-x" in envelope["Message"]


@pytest.mark.parametrize("encrypted", [False, True], ids=["sse-s3", "sse-kms"])
@pytest.mark.parametrize("outcome", [True, False])
def test_every_call_of_the_record_step_is_allowed_by_the_monitor_role(
    moto: str, aws_calls: AwsCalls, outcome: bool, encrypted: bool
) -> None:
    """The record (present or missing self-update outcome: GetObject, then ListBucket on the prefix),
    metrics and SNS under the generated monitor policy of a config naming the topic; with
    ``pipeline.artifactKmsKeyArn``, on a bucket whose default encryption is that key (as the template sets
    it), also the KMS calls S3 makes with the monitor's rights."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    key = None
    if encrypted:
        key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
        (rule,) = sse_kms_template(key)["Resources"]["ArtifactBucket"]["Properties"]["BucketEncryption"][
            "ServerSideEncryptionConfiguration"
        ]
        default = rule["ServerSideEncryptionByDefault"]
        boto3.client("s3").put_bucket_encryption(
            Bucket=BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}]
            },
        )
    if outcome:
        monitoring.store_self_update(
            boto3.client("s3"), bucket=BUCKET, workflow_id=WORKFLOW_ID, succeeded=True, message="ok"
        )
    topic, _ = topic_with_queue("aphex-events")
    aws_calls.calls.clear()
    monitoring.record_workflow(**record_args(Path()), sns_topics=json.dumps([topic]))
    made = {(call.service, call.operation) for call in aws_calls.made_with("testing")}
    assert {
        ("s3", "GetObject"),
        ("s3", "PutObject"),
        ("cloudwatch", "PutMetricData"),
        ("sns", "Publish"),
    } <= made
    stored_record = boto3.client("s3").head_object(Bucket=BUCKET, Key=RECORD_KEY)
    assert stored_record.get("SSEKMSKeyId") == key  # no header sent: the bucket's default applies
    template = sse_kms_template(key, topic)
    statements = role_statements(template, "MonitorRole", {"ArtifactBucket.Arn": f"arn:aws:s3:::{BUCKET}"})
    assert aws_calls.denied(statements, bucket_key=key) == []
    without_topics = [s for s in statements if s["Sid"] != "Notifications"]
    assert aws_calls.denied(without_topics, bucket_key=key) == [f"sns:Publish on {topic} {{}}"]
    if key:
        without_key = [s for s in statements if s["Sid"] != "ArtifactKey"]
        writes = [c for c in aws_calls.made_with("testing") if c.operation == "PutObject"]
        reads = [c for c in aws_calls.made_with("testing") if c.operation == "GetObject"]
        assert writes
        assert reads
        expected = [f"kms:GenerateDataKey on {key} {{}}"] * len(writes) + [
            f"kms:Decrypt on {key} {{}}"
        ] * len(reads)
        assert sorted(aws_calls.denied(without_key, bucket_key=key)) == sorted(expected)


def sse_kms_template(key: str | None, topic: str = "arn:aws:sns:us-east-1:123456789012:t") -> dict[str, Any]:
    """The pipeline stack of a config naming ``topic`` and, when given, ``pipeline.artifactKmsKeyArn``."""
    document: dict[str, Any] = {
        "version": "1.0", "build": {"commands": ["make"]},
        "environments": [{"name": "dev", "region": "us-east-1", "account": "123456789012",
                          "stacks": [{"name": "App", "path": "."}]}],
        "notifications": {"snsTopicArns": [topic]},
    }  # fmt: skip
    if key:
        document["pipeline"] = {"artifactKmsKeyArn": key}
    return pipeline_resources_template(
        load_config(json.dumps(document)), pipeline_name="shop", namespace="argo"
    )
