"""Workflow records in moto's S3, metrics in its CloudWatch, SNS (read back through SQS), Slack over HTTP.

The self-update outcome the record reads is a real object in moto's S3, written with
:func:`monitoring.store_self_update` as the self-update step writes it (present, absent or malformed).
"""

import json
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl.config.cloudformation import pipeline_resources_template
from dsl.config.validate import load_config
from tests.pipeline_steps.conftest import AwsCalls, reset_moto, role_statements
from tests.steps.servers import refused_url, reply, serve
from workflows.steps import monitoring
from workflows.steps.monitoring import Deployment, Phase

BUCKET = "aphex-artifacts"
SHA = "a" * 40
WORKFLOW_ID = "6f1c2d3e-0000-4000-8000-000000000001"
OUTCOME_KEY = f"metadata/workflows/{WORKFLOW_ID}/self-update.json"
RECORD_KEY = f"metadata/workflows/{WORKFLOW_ID}.json"
FAST = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FAILURES = [
    {"displayName": "deploy-prod", "message": "stack Api failed", "templateName": "deploy", "phase": "Failed",
     "podName": "aphex-x-deploy-1", "finishedAt": "2026-05-01T10:09:00Z"},
]  # fmt: skip


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
        "workflow_name": "aphex-pipeline-x7k2p",
        "namespace": "argo",
        "commit_sha": SHA,
        "branch": "refs/heads/main",
        "status": "Failed",
        "started_at": "2026-05-01T10:00:00Z",
        "finished_at": "2026-05-01T10:10:30Z",
        "bucket": BUCKET,
        "failures": json.dumps(FAILURES),
        "argo_ui": "https://argo.example.com/",
    }
    args.update(overrides)
    return args


def stored(key: str = RECORD_KEY) -> Any:
    return json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_a_run_is_recorded_measured_and_notified(
    moto: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
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
        "stages": {
            "deploy-prod": {"status": "Failed", "message": "stack Api failed"},
            "self-update": {"status": "Succeeded", "message": "succeeded: x"},
        },
        "failures": FAILURES,
        "argo_url": link,
    }
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
        assert "- deploy-prod: Failed (stack Api failed)" in envelope["Message"]
        assert "- self-update: Succeeded (succeeded: x)" in envelope["Message"]
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
        "recorded with problems: slack: the webhook did not accept the notification (HTTP 503)"
    )
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [RECORD_KEY]


def test_without_a_self_update_outcome_the_record_has_no_self_update_stage(moto: str) -> None:
    """The run ended before self-update (validate failed, its pod never ran): nothing to read, no error."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    failures = [{"displayName": "validate", "phase": "Failed", "message": "OOMKilled"}]
    monitoring.record_workflow(**record_args(Path(), failures=json.dumps(failures)))
    assert stored()["stages"] == {"validate": {"status": "Failed", "message": "OOMKilled"}}


@pytest.mark.parametrize("succeeded", [True, False])
def test_the_self_update_outcome_is_recorded_and_a_failed_pod_wins(moto: str, succeeded: bool) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    uri = monitoring.store_self_update(
        boto3.client("s3"), bucket=BUCKET, workflow_id=WORKFLOW_ID, succeeded=succeeded, message="line"
    )
    assert uri == f"s3://{BUCKET}/{OUTCOME_KEY}"
    status = "Succeeded" if succeeded else "Failed"
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=OUTCOME_KEY)["Body"].read()
    assert body == json.dumps({"message": "line", "status": status}).encode()  # sorted keys
    monitoring.record_workflow(**record_args(Path(), status="Succeeded", failures="[]"))
    assert stored()["stages"] == {"self-update": {"status": status, "message": "line"}}
    # The pod itself failed after writing (OOM, forced failure): Argo's failure overlays the outcome.
    pod = [{"displayName": "self-update", "phase": "Error", "message": "pod deleted"}]
    monitoring.record_workflow(**record_args(Path(), status="Succeeded", failures=json.dumps(pod)))
    assert stored()["stages"] == {"self-update": {"status": "Error", "message": "pod deleted"}}


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
def test_a_malformed_self_update_outcome_is_a_problem_and_the_run_still_recorded(
    moto: str, capsys: pytest.CaptureFixture[str], body: bytes
) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    boto3.client("s3").put_object(Bucket=BUCKET, Key=OUTCOME_KEY, Body=body)
    with pytest.raises(SystemExit):
        monitoring.record_workflow(**record_args(Path()))
    assert capsys.readouterr().err.strip() == (
        f"recorded with problems: self-update outcome s3://{BUCKET}/{OUTCOME_KEY}: "
        'must be JSON {"status": <Argo phase>, "message": <text>}'
    )
    record = stored()
    assert record["status"] == "Failed"
    assert record["stages"] == {"deploy-prod": {"status": "Failed", "message": "stack Api failed"}}


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


def test_an_unreadable_self_update_outcome_is_a_problem_and_the_run_still_recorded(
    moto: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    monkeypatch.setattr(monitoring, "_boto_session", lambda: Session(DeniedS3("InternalError")))
    with pytest.raises(SystemExit):
        monitoring.record_workflow(**record_args(Path()))
    err = capsys.readouterr().err
    assert err.startswith(f"recorded with problems: self-update outcome s3://{BUCKET}/{OUTCOME_KEY}: "), err
    assert "InternalError" in err
    assert stored()["status"] == "Failed"


def test_a_denied_read_of_a_missing_outcome_is_absent_and_of_a_present_one_a_problem(moto: str) -> None:
    """Should S3 answer 403 for a missing key, the listing the monitor role may do decides."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    read = {"bucket": BUCKET, "workflow_id": WORKFLOW_ID}
    assert monitoring.read_self_update(DeniedS3("AccessDenied"), **read) == {}
    assert monitoring.read_self_update(DeniedS3("NoSuchKey"), **read) == {}
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
        status=status, stages=monitoring.stage_statuses({k: {"status": v} for k, v in stages.items()}, []),
        argo_url=monitoring.argo_link("https://argo.example.com", "argo", "aphex-x"),
    )  # fmt: skip


PHASES = st.sampled_from(list(Phase))
STAGES = st.dictionaries(st.from_regex(r"\A[a-z][a-z0-9-]{0,12}\Z"), PHASES.map(str), max_size=4)


# Property 16: the workflow's metadata is recorded and reads back unchanged.
@FAST
@given(status=PHASES, stages=STAGES, record_id=st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,20}\Z"))
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
    assert {k: v["status"] for k, v in stored["stages"].items()} == stages
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


@pytest.mark.parametrize("outcome", [True, False])
def test_every_call_of_the_record_step_is_allowed_by_the_monitor_role(
    moto: str, aws_calls: AwsCalls, outcome: bool
) -> None:
    """The record (present or missing self-update outcome: GetObject, then ListBucket on the prefix),
    metrics and SNS under the generated monitor policy of a config naming the topic."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
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
    config = load_config(
        json.dumps({"version": "1.0", "build": {"commands": ["make"]},
                    "environments": [{"name": "dev", "region": "us-east-1", "account": "123456789012",
                                      "stacks": [{"name": "App", "path": "."}]}],
                    "notifications": {"snsTopicArns": [topic]}})
    )  # fmt: skip
    template = pipeline_resources_template(config, pipeline_name="shop", namespace="argo")
    statements = role_statements(template, "MonitorRole", {"ArtifactBucket.Arn": f"arn:aws:s3:::{BUCKET}"})
    assert aws_calls.denied(statements) == []
    without_topics = [s for s in statements if s["Sid"] != "Notifications"]
    assert aws_calls.denied(without_topics) == [f"sns:Publish on {topic} {{}}"]
