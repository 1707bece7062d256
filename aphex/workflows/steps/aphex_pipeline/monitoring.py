"""Monitoring of pipeline runs: workflow metadata in S3, CloudWatch metrics, SNS and Slack notifications.

:func:`record_workflow` runs in the workflow's exit handler (Argo "exit handler",
https://argo-workflows.readthedocs.io/en/latest/walk-through/exit-handlers/). It takes only values Argo
sets in every run (a global output, ``globalName``, of a step that never ran cannot be resolved and would
end the exit handler in Error): the run's status, ``{{workflow.failures}}`` (decoded by
:func:`aphex.workflows.steps.common.argo_values.workflow_failures`) and the main DAG's task names, compiled
into the template. It reads

- the run's Workflow through the Kubernetes API (``get`` on ``workflows``, the monitor account's only
  Kubernetes right besides the executor's): every stage's phase, start, end and duration
  (:mod:`aphex.workflows.steps.aphex_pipeline.run_stages`);
- the self-update outcome, which that step writes to ``s3://<bucket>/metadata/workflows/<id>/self-update.json``
  (:func:`store_self_update`, ``{"message": ..., "status": "Succeeded" | "Failed"}``; absent when the step
  never ran): the step itself always succeeds, so its outcome is the stage's phase and message, unless
  its pod failed;

then it

- writes ``s3://<bucket>/metadata/workflows/<id>.json`` (id, name, commit, branch, start and finish
  times, duration, status, every stage in the DAG's order, Argo's failed nodes, what could not be read,
  the Argo UI link);
- puts ``WorkflowCount`` and ``WorkflowDuration`` (dimension ``Status``) into the CloudWatch namespace
  ``AphexPipeline``; the deploy step puts ``DeploymentCount`` and ``DeploymentDuration`` (dimensions
  ``StackName``, ``Status``, ``Environment``) through :func:`deployment_metrics`;
- publishes to every SNS topic and posts to the Slack webhook whose URL is read from a mounted Secret
  file (the URL is never printed). Slack answers 5xx and connection errors are retried.

What it cannot read (the Workflow: API refused or unreachable, nodes offloaded; the self-update outcome)
does not stop it: the record is written with what is known (without the Workflow, the stages' phases
come from ``workflow.failures`` and the outcome, the others have none), ``unread`` names each gap, the
notification says so, and the step succeeds. What it cannot deliver fails it: every channel is
attempted, then the step fails when any of them failed.
"""

import dataclasses
import json
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

import requests
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]
from hera.workflows import Parameter

from aphex.dsl.config.cloudformation import PipelineRole
from aphex.dsl.names import InvalidValue, validate_commit_sha
from aphex.dsl.stage import NETWORK_RETRY, ResourceClass, Stage
from aphex.workflows.steps.aphex_pipeline.run_stages import (
    Phase,
    StageOutcome,
    read_workflow,
    stage_names,
    stages_from_failures,
    stages_from_nodes,
    status_nodes,
)
from aphex.workflows.steps.common.argo_values import workflow_failures
from aphex.workflows.steps.common.aws import pod_session, validate_bucket
from aphex.workflows.steps.common.exits import fail
from aphex.workflows.steps.common.git import validate_branch
from aphex.workflows.steps.common.kubernetes_api import Cluster, connect
from aphex.workflows.steps.common.process import StepError

__all__ = [
    "NAMESPACE",
    "SELF_UPDATE_STAGE",
    "STAGE",
    "Deployment",
    "NotificationError",
    "Phase",
    "StageOutcome",
    "WorkflowRecord",
    "argo_link",
    "deployment_metrics",
    "notify_slack",
    "notify_sns",
    "put_metrics",
    "read_self_update",
    "record_workflow",
    "run_stages",
    "self_update_key",
    "store_record",
    "store_self_update",
    "workflow_metrics",
]

NAMESPACE: Final = "AphexPipeline"
SELF_UPDATE_STAGE: Final = "self-update"
_MISSING: Final = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED: Final = frozenset({"AccessDenied", "403", "Forbidden"})
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,127}$")
_K8S_NAME = re.compile(r"^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$")
_TOPIC = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):[0-9]{12}:[A-Za-z0-9_-]{1,256}(?:\.fifo)?$")
_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[A-Za-z0-9._~%/-]*)?$")
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})


class NotificationError(StepError):
    """A notification channel could not be reached."""


@dataclass(frozen=True, kw_only=True)
class Deployment:
    """One stack deployment, as the deploy step reports it."""

    stack: str
    environment: str
    status: str
    duration_seconds: float


@dataclass(frozen=True, kw_only=True)
class WorkflowRecord:
    """The metadata of one workflow run (stored as ``metadata/workflows/<id>.json``)."""

    id: str
    name: str
    namespace: str
    commit_sha: str
    branch: str
    started_at: str
    finished_at: str
    duration_seconds: float
    status: Phase
    stages: list[dict[str, Any]]
    """Every task of the main DAG in order
    (:class:`aphex.workflows.steps.aphex_pipeline.run_stages.StageOutcome`)."""
    failures: list[dict[str, Any]] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    """What the record could not read, each with the reason (empty: the record is complete)."""
    argo_url: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def argo_link(argo_ui: str, namespace: str, name: str) -> str:
    """The Argo UI page of a workflow: ``<argo-ui>/workflows/<namespace>/<name>`` (empty without a UI)."""
    if not argo_ui:
        return ""
    return f"{argo_ui.rstrip('/')}/workflows/{namespace}/{name}"


def run_stages(stages: Sequence[StageOutcome], self_update: Mapping[str, str] | None) -> list[StageOutcome]:
    """``stages`` with the self-update outcome applied to the ``self-update`` stage: the step always
    succeeds, so its outcome gives the phase and message, unless the pod itself failed (Argo's phase
    wins) or the stage was never reached."""
    if self_update is None:
        return list(stages)
    applied = []
    for stage in stages:
        if stage.name == SELF_UPDATE_STAGE and stage.phase in (None, Phase.SUCCEEDED.value):
            stage = dataclasses.replace(stage, phase=self_update["status"], message=self_update["message"])
        applied.append(stage)
    return applied


def _workflow_id(value: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidValue("workflow-id", value, "must be a workflow uid or name")
    return value


def self_update_key(workflow_id: str) -> str:
    """Where the self-update step leaves the run's outcome: ``metadata/workflows/<id>/self-update.json``."""
    return f"metadata/workflows/{_workflow_id(workflow_id)}/self-update.json"


def store_self_update(s3: Any, *, bucket: str, workflow_id: str, succeeded: bool, message: str) -> str:
    """Write the outcome ``{"message": ..., "status": "Succeeded" | "Failed"}``; return its URI."""
    key = self_update_key(workflow_id)
    phase = Phase.SUCCEEDED if succeeded else Phase.FAILED
    s3.put_object(
        Bucket=validate_bucket(bucket),
        Key=key,
        Body=json.dumps({"message": message, "status": phase.value}, sort_keys=True).encode(),
        ContentType="application/json",
    )
    return f"s3://{bucket}/{key}"


def _absent(s3: Any, bucket: str, key: str, error: ClientError) -> bool:
    """Whether ``error`` of a ``GetObject`` means the key does not exist.

    S3 answers 404 when the caller may list the key's prefix, 403 otherwise; should a 403 come although the
    monitor role may list ``metadata/workflows/``, listing exactly the key (which that grant allows) decides.
    """
    code = str(error.response.get("Error", {}).get("Code", ""))
    if code in _MISSING:
        return True
    if code not in _DENIED:
        return False
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents") or []
    return all(item.get("Key") != key for item in listed)


def read_self_update(s3: Any, *, bucket: str, workflow_id: str) -> dict[str, str] | None:
    """The outcome ``{"status": ..., "message": ...}`` the self-update step wrote; None when it wrote none.

    Raises :class:`StepError` naming the object when it cannot be read or does not hold an outcome.
    """
    key = self_update_key(workflow_id)
    where = f"self-update outcome s3://{validate_bucket(bucket)}/{key}"
    try:
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            if _absent(s3, bucket, key, error):
                return None
            raise
    except (BotoCoreError, ClientError) as error:
        raise StepError(f"{where}: {error}") from None
    try:
        outcome = json.loads(body)
    except ValueError:
        outcome = None
    if (
        not isinstance(outcome, dict)
        or outcome.get("status") not in Phase.__members__.values()
        or not isinstance(outcome.get("message"), str)
    ):
        raise StepError(f'{where}: must be JSON {{"status": <Argo phase>, "message": <text>}}')
    return {"status": outcome["status"], "message": outcome["message"]}


def store_record(s3: Any, *, bucket: str, record: WorkflowRecord) -> str:
    """Write the record to ``metadata/workflows/<id>.json``; return its URI."""
    key = f"metadata/workflows/{record.id}.json"
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=record.to_json().encode(),
        ContentType="application/json",
        Metadata={"commit-sha": record.commit_sha, "status": record.status.value},
    )
    return f"s3://{bucket}/{key}"


def workflow_metrics(record: WorkflowRecord, timestamp: datetime) -> list[dict[str, Any]]:
    """``WorkflowCount`` and ``WorkflowDuration`` of one run."""
    dimensions = [{"Name": "Status", "Value": record.status.value}]
    return [
        {"MetricName": "WorkflowCount", "Dimensions": dimensions, "Value": 1.0, "Unit": "Count",
         "Timestamp": timestamp},
        {"MetricName": "WorkflowDuration", "Dimensions": dimensions, "Value": record.duration_seconds,
         "Unit": "Seconds", "Timestamp": timestamp},
    ]  # fmt: skip


def deployment_metrics(deployments: Sequence[Deployment], timestamp: datetime) -> list[dict[str, Any]]:
    """``DeploymentCount`` and ``DeploymentDuration`` per stack deployment."""
    data = []
    for deployment in deployments:
        dimensions = [
            {"Name": "StackName", "Value": deployment.stack},
            {"Name": "Status", "Value": deployment.status},
            {"Name": "Environment", "Value": deployment.environment},
        ]
        data.append(
            {"MetricName": "DeploymentCount", "Dimensions": dimensions, "Value": 1.0, "Unit": "Count",
             "Timestamp": timestamp}
        )  # fmt: skip
        data.append(
            {"MetricName": "DeploymentDuration", "Dimensions": dimensions,
             "Value": deployment.duration_seconds, "Unit": "Seconds", "Timestamp": timestamp}
        )  # fmt: skip
    return data


def put_metrics(cloudwatch: Any, data: Sequence[Mapping[str, Any]]) -> None:
    """``PutMetricData`` into :data:`NAMESPACE`, at most 20 data points per call."""
    for start in range(0, len(data), 20):
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=list(data[start : start + 20]))


def _subject(record: WorkflowRecord) -> str:
    subject = f"Aphex {record.status.value}: {record.name} ({record.commit_sha[:7]})"
    return subject[:100]


def _message(record: WorkflowRecord) -> str:
    lines = [
        f"Workflow {record.name} {record.status.value.lower()}",
        f"Branch: {record.branch}",
        f"Commit: {record.commit_sha}",
        f"Duration: {record.duration_seconds:.0f} s",
    ]
    for stage in record.stages:
        duration = stage["duration_seconds"]
        took = f", {duration:.0f} s" if duration is not None else ""
        detail = f" ({stage['message']})" if stage["message"] else ""
        lines.append(f"- {stage['name']}: {stage['phase'] or 'unknown'}{took}{detail}")
    for gap in record.unread:
        lines.append(f"Not read: {gap}")
    if record.argo_url:
        lines.append(f"Argo: {record.argo_url}")
    return "\n".join(lines)


def notify_sns(sns_for_region: Callable[[str], Any], topics: Sequence[str], record: WorkflowRecord) -> None:
    """Publish the run's status to every topic (each through the client of the topic's region)."""
    for topic in topics:
        match = _TOPIC.match(topic)
        if not match:
            raise InvalidValue("sns-topics", topic, "must be an SNS topic ARN")
        sns_for_region(match.group(1)).publish(
            TopicArn=topic,
            Subject=_subject(record),
            Message=_message(record),
            MessageAttributes={
                "status": {"DataType": "String", "StringValue": record.status.value},
                "commit": {"DataType": "String", "StringValue": record.commit_sha},
            },
        )


def _webhook_url(secret_file: Path) -> str:
    try:
        url = secret_file.read_text(encoding="utf-8").strip()
    except OSError:
        raise InvalidValue("slack-webhook-file", str(secret_file), "cannot be read") from None
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)
    if not secure or not parts.hostname:
        # The value is a secret: name the file, never the content.
        raise InvalidValue(
            "slack-webhook-file",
            str(secret_file),
            "must hold an https:// webhook URL (http only to loopback)",
        )
    return url


def notify_slack(
    secret_file: Path,
    record: WorkflowRecord,
    *,
    attempts: int = 4,
    sleep: Callable[[float], None] | None = None,
    timeout: float = 10.0,
) -> int:
    """POST the run's status to the Slack webhook in ``secret_file``; retry 5xx and connection errors.

    Returns the number of attempts it took. Errors never contain the URL.
    """
    url = _webhook_url(secret_file)
    emoji = ":white_check_mark:" if record.status is Phase.SUCCEEDED else ":x:"
    link = f" <{record.argo_url}|Argo>" if record.argo_url else ""
    payload = {"text": f"{emoji} *{_subject(record)}*{link}\n{_message(record)}"}
    problem = ""
    for attempt in range(1, attempts + 1):
        try:
            response = requests.post(url, json=payload, timeout=timeout)
        except requests.RequestException as error:
            problem = f"{type(error).__name__}"
        else:
            if response.status_code < 400:
                return attempt
            problem = f"HTTP {response.status_code}"
            if response.status_code < 500:
                break
        if attempt < attempts:
            (sleep or time.sleep)(min(2.0 ** (attempt - 1), 30.0))
    raise NotificationError(f"slack: the webhook did not accept the notification ({problem})")


def _json(value: str, field: str, kind: type) -> Any:
    try:
        data = json.loads(value or ("[]" if kind is list else "{}"))
    except json.JSONDecodeError:
        raise InvalidValue(field, value, "must be JSON") from None
    if not isinstance(data, kind):
        raise InvalidValue(field, value, f"must be a JSON {kind.__name__}")
    return data


def _timestamp(value: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidValue(
            field, value, "must be an ISO 8601 timestamp such as 2026-01-31T12:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _now() -> datetime:
    """The clock (a seam for tests)."""
    return datetime.now(UTC)


def _boto_session() -> Any:
    return pod_session()


def _cluster() -> Cluster:
    """The Kubernetes API with the pod's ServiceAccount (a seam for tests)."""
    return connect(field_manager="aphex-record")


def _stages_of_run(
    *, workflow_name: str, namespace: str, names: Sequence[str], failures: Sequence[Mapping[str, Any]]
) -> tuple[list[StageOutcome], str]:
    """Every stage from the run's Workflow; without it (the reason is returned), from ``failures``."""
    where = f"workflow {namespace}/{workflow_name}"
    try:
        workflow = read_workflow(_cluster(), namespace=namespace, name=workflow_name)
        return stages_from_nodes(workflow_name, names, status_nodes(workflow)), ""
    except StepError as error:
        return stages_from_failures(names, failures), f"{where}: {error}"


def record_workflow(
    workflow_id: str,
    workflow_name: str,
    namespace: str,
    commit_sha: str,
    branch: str,
    status: str,
    started_at: str,
    bucket: str,
    finished_at: str = "",
    failures: str = "[]",
    stages: str = "[]",
    sns_topics: str = "[]",
    slack_webhook_file: str = "",
    argo_ui: str = "",
) -> Annotated[str, Parameter(name="metadata-uri")]:
    """Runner entrypoint (exit handler): record the run, emit metrics, notify; outputs the record's URI."""
    try:
        return _record_workflow(
            workflow_id=workflow_id,
            workflow_name=workflow_name,
            namespace=namespace,
            commit_sha=commit_sha,
            branch=branch,
            status=status,
            started_at=started_at,
            finished_at=finished_at,
            bucket=bucket,
            failures=failures,
            stages=stages,
            sns_topics=sns_topics,
            slack_webhook_file=slack_webhook_file,
            argo_ui=argo_ui,
            session=_boto_session(),
        )
    except (InvalidValue, StepError) as error:
        raise fail(error) from None


STAGE: Final = Stage(
    entrypoint=record_workflow,
    name="record-workflow",
    resources=ResourceClass.LIGHT,
    timeout="15m",
    retry=NETWORK_RETRY,
    account=PipelineRole.MONITOR.value,
)


def _record_workflow(
    *,
    workflow_id: str,
    workflow_name: str,
    namespace: str,
    commit_sha: str,
    branch: str,
    status: str,
    started_at: str,
    finished_at: str,
    bucket: str,
    failures: str,
    stages: str,
    sns_topics: str,
    slack_webhook_file: str,
    argo_ui: str,
    session: Any,
) -> str:
    _workflow_id(workflow_id)
    if not _K8S_NAME.match(workflow_name):
        raise InvalidValue("workflow-name", workflow_name, "must be a workflow name")
    if not _K8S_NAME.match(namespace):
        raise InvalidValue("namespace", namespace, "must be a namespace name")
    validate_commit_sha(commit_sha, "commit-sha", allow_empty=False)
    validate_branch(branch)
    validate_bucket(bucket)
    try:
        phase = Phase(status)
    except ValueError:
        raise InvalidValue("status", status, "must be an Argo workflow phase such as Succeeded") from None
    if argo_ui and not _URL.match(argo_ui):
        raise InvalidValue("argo-ui", argo_ui, "must be an http(s) URL")
    failed_nodes = workflow_failures(failures, "failures")
    names = stage_names(stages)
    topics = _json(sns_topics, "sns-topics", list)
    for topic in topics:
        if not isinstance(topic, str) or not _TOPIC.match(topic):
            raise InvalidValue("sns-topics", topic, "must be an SNS topic ARN")
    started = _timestamp(started_at, "started-at")
    finished = _timestamp(finished_at, "finished-at") if finished_at else _now()
    s3 = session.client("s3")
    unread = []
    known, gap = _stages_of_run(
        workflow_name=workflow_name, namespace=namespace, names=names, failures=failed_nodes
    )
    if gap:
        unread.append(gap)
    try:
        outcome = read_self_update(s3, bucket=bucket, workflow_id=workflow_id)
    except StepError as error:
        unread.append(str(error))
        outcome = None
    record = WorkflowRecord(
        id=workflow_id,
        name=workflow_name,
        namespace=namespace,
        commit_sha=commit_sha,
        branch=branch,
        started_at=started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        finished_at=finished.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        duration_seconds=round(max(0.0, (finished - started).total_seconds()), 3),
        status=phase,
        stages=[stage.to_dict() for stage in run_stages(known, outcome)],
        failures=failed_nodes,
        unread=unread,
        argo_url=argo_link(argo_ui, namespace, workflow_name),
    )
    uri = store_record(s3, bucket=bucket, record=record)
    put_metrics(session.client("cloudwatch"), workflow_metrics(record, finished))
    for gap in unread:
        print(f"not read: {gap}", file=sys.stderr)
    problems = []
    try:
        notify_sns(lambda region: session.client("sns", region_name=region), topics, record)
    except (BotoCoreError, ClientError) as error:
        problems.append(f"sns: {error}")
    if slack_webhook_file:
        try:
            notify_slack(Path(slack_webhook_file), record)
        except (NotificationError, InvalidValue) as error:
            problems.append(str(error))
    print(f"recorded {workflow_name} ({phase.value}) at {uri}")
    if problems:
        raise StepError("recorded, not delivered: " + "; ".join(problems))
    return uri
