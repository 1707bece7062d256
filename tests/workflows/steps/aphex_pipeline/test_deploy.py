"""Environment deployments: the recording ``cdk`` stand-in deploys into moto's CloudFormation."""

import itertools
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto.cloudformation.models import Event, cloudformation_backends

from aphex.dsl.config import load_config
from aphex.dsl.config.cloudformation import PipelineRole, pipeline_resources_template
from aphex.workflows.steps.aphex_pipeline import build
from aphex.workflows.steps.aphex_pipeline import deploy as cdk_deploy
from aphex.workflows.steps.common import aws
from tests.workflows.steps.conftest import (
    PIPELINE_ACCOUNT,
    AppRepo,
    AwsCalls,
    CdkStandIn,
    make_repo,
    reset_moto,
    role_statements,
)

BUCKET = "aphex-artifacts"
STACKS = {
    "Network": {"outputs": {"VpcId": "vpc-0abc"}},
    "Database": {"outputs": {"Endpoint": "db.internal:5432"}},
    "Api": {"outputs": {"Url": "https://api.example.com/"}},
}


def built(repo: AppRepo, commit: str) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    build.build(repo_url=repo.url, commit_sha=commit, branch="main", bucket=BUCKET)


def deploy(evidence: Path, commit: str, waves: list[list[str]], **overrides: Any) -> str:
    args: dict[str, Any] = {
        "environment": "prod",
        "account": PIPELINE_ACCOUNT,
        "region": "us-east-1",
        "pipeline_account": PIPELINE_ACCOUNT,
        "bucket": BUCKET,
        "commit_sha": commit,
        "stacks": json.dumps(waves),
        "workflow_name": "aphex-pipeline-x1",
        "evidence": evidence,
    }
    args.update(overrides)
    return cdk_deploy.deploy_stacks(**args)


def cloudformation_outputs(name: str, session: Any = None) -> dict[str, str]:
    client = (session or boto3).client("cloudformation", region_name="us-east-1")
    stack = client.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


@pytest.fixture
def repo(tmp_path: Path) -> AppRepo:
    return make_repo(tmp_path / "repo", STACKS)


def test_stacks_are_synthesized_just_before_each_deploy_with_exact_calls(
    moto: str, repo: AppRepo, cdk: CdkStandIn, tmp_path: Path
) -> None:
    built(repo, repo.old)
    evidence = tmp_path / "evidence"
    context = {"stage": "prod", "@aws-cdk/core:stackRelativeExports": "true"}
    out = deploy(evidence, repo.old, [["Network"], ["Database", "Api"]], context=json.dumps(context))
    calls = cdk.calls()
    work = Path(calls[0][-1]).parent.parent
    ctx = ["-c", "@aws-cdk/core:stackRelativeExports=true", "-c", "stage=prod"]
    expected = []
    for stack in ["Network", "Database", "Api"]:
        assembly = str(work / "assemblies" / stack)
        expected += [
            ["cdk", "synth", stack, "--app", "python3 app.py", *ctx, "-o", assembly],
            ["cdk", "deploy", stack, "--require-approval", "never", "--app", assembly,
             "--outputs-file", str(evidence / "cdk-outputs" / f"{stack}.json")],
        ]  # fmt: skip
    # Network first; Database and Api (one wave, no dependency between them) in parallel after it.
    assert sorted(map(tuple, calls)) == sorted(map(tuple, expected))
    assert calls[:2] == expected[:2]
    for stack in ["Database", "Api"]:
        synth_at = next(i for i, call in enumerate(calls) if call[1:3] == ["synth", stack])
        deploy_at = next(i for i, call in enumerate(calls) if call[1:3] == ["deploy", stack])
        assert synth_at < deploy_at
    assert all(Path(entry["cwd"]) == work / "artifacts" / "artifacts" for entry in cdk.entries())
    outputs = json.loads(out)
    assert outputs == {name: cloudformation_outputs(name) for name in STACKS}
    assert outputs["Network"]["VpcId"] == "vpc-0abc"
    assert outputs["Api"]["Version"] == "v1"  # the commit's code, not the branch head's (v2)
    assert json.loads(outputs["Api"]["Context"]) == context
    assert json.loads((evidence / "outputs.json").read_text()) == outputs
    env = cdk.entries()[0]["env"]
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert (env["AWS_REGION"], env["AWS_DEFAULT_REGION"], env["CDK_DEFAULT_REGION"]) == ("us-east-1",) * 3
    assert env["CDK_DEFAULT_ACCOUNT"] == PIPELINE_ACCOUNT
    assert env["APHEX_STACK_OUTPUTS"] == str(evidence / "outputs.json")
    timeline = json.loads((evidence / "timeline.json").read_text())
    assert [run["stack"] for run in timeline] == ["Network", "Database", "Api"]
    for later in timeline[1:]:
        assert timeline[0]["deploy_finished_at"] <= later["synth_started_at"]
    for run in timeline:
        assert run["synth_finished_at"] <= run["deploy_started_at"]
    metrics = boto3.client("cloudwatch").list_metrics(Namespace="AphexPipeline", MetricName="DeploymentCount")
    dimensions = sorted(
        tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in metrics["Metrics"]
    )
    assert dimensions == sorted(
        (("Environment", "prod"), ("StackName", name), ("Status", "Succeeded")) for name in STACKS
    )


def test_another_account_is_deployed_with_the_assumed_roles_credentials(
    moto: str, repo: AppRepo, cdk: CdkStandIn, tmp_path: Path
) -> None:
    built(repo, repo.head)
    out = deploy(tmp_path / "evidence", repo.head, [["Network"]], account="222233334444", role="Deployer")
    env = cdk.entries()[0]["env"]
    assert env["AWS_ACCESS_KEY_ID"] != "testing"
    assert env["AWS_SESSION_TOKEN"]
    assert env["CDK_DEFAULT_ACCOUNT"] == "222233334444"
    target = boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
        region_name="us-east-1",
    )
    identity = target.client("sts").get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::222233334444:assumed-role/Deployer/aphex-pipeline-x1"
    assert json.loads(out) == {"Network": cloudformation_outputs("Network", target)}
    assert json.loads(out)["Network"]["Version"] == "v2"
    with pytest.raises(boto3.client("cloudformation").exceptions.ClientError):
        boto3.client("cloudformation").describe_stacks(StackName="Network")  # not in the pipeline account


def record_failure(stack: str) -> None:
    """Give ``stack`` in moto a history: an old failure, then a new operation whose resource failed."""
    boto3.client("cloudformation").create_stack(
        StackName=stack, TemplateBody=json.dumps({"Resources": {"W": {"Type": "AWS::SQS::Queue"}}})
    )
    record = cloudformation_backends[PIPELINE_ACCOUNT]["us-east-1"].get_stack(stack)

    def event(logical: str, kind: str, status: str, reason: str | None = None) -> None:
        record.events.append(
            Event(
                stack_id=record.stack_id,
                stack_name=stack,
                logical_resource_id=logical,
                physical_resource_id="",
                resource_type=kind,
                resource_status=status,
                resource_status_reason=reason,
                resource_properties=None,
            )
        )

    event("OldQueue", "AWS::SQS::Queue", "UPDATE_FAILED", "an old failure")
    event(stack, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS", "User Initiated")
    event("Table", "AWS::DynamoDB::Table", "UPDATE_IN_PROGRESS")
    event(
        "Table", "AWS::DynamoDB::Table", "UPDATE_FAILED", "Resource handler returned message: quota exceeded"
    )
    event(stack, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_COMPLETE")


def test_a_failing_stack_stops_the_environment_with_its_cloudformation_failures(
    moto: str, tmp_path: Path, cdk: CdkStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    stacks = {"Network": {}, "Database": {"fail": True}, "Api": {}}
    repo = make_repo(tmp_path / "repo", stacks)
    built(repo, repo.head)
    record_failure("Database")
    evidence = tmp_path / "evidence"
    with pytest.raises(SystemExit) as caught:
        deploy(evidence, repo.head, [["Network"], ["Database"], ["Api"]])
    assert caught.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "stack Database failed to deploy to prod: Table (AWS::DynamoDB::Table) UPDATE_FAILED: "
        "Resource handler returned message: quota exceeded"
    )
    assert [c[:3] for c in cdk.calls()] == [
        ["cdk", "synth", "Network"],
        ["cdk", "deploy", "Network"],
        ["cdk", "synth", "Database"],
        ["cdk", "deploy", "Database"],
    ]
    failure = json.loads((evidence / "failure-Database.json").read_text())
    assert [e["logicalResourceId"] for e in failure["events"]] == ["Table"]
    assert failure["exitCode"] == 1
    assert "UPDATE_ROLLBACK_COMPLETE" in (evidence / "logs" / "Database-deploy.log").read_text()
    assert json.loads((evidence / "outputs.json").read_text()) == {
        "Network": cloudformation_outputs("Network")
    }
    stats = boto3.client("cloudwatch").get_metric_statistics(
        Namespace="AphexPipeline",
        MetricName="DeploymentCount",
        Dimensions=[
            {"Name": "StackName", "Value": "Database"},
            {"Name": "Status", "Value": "Failed"},
            {"Name": "Environment", "Value": "prod"},
        ],
        StartTime=datetime(2000, 1, 1),
        EndTime=datetime(2100, 1, 1),
        Period=60,
        Statistics=["Sum"],
    )
    assert sum(p["Sum"] for p in stats["Datapoints"]) == 1


def test_a_stack_without_events_is_reported_as_such(moto: str) -> None:
    events = cdk_deploy.failure_events(boto3.client("cloudformation"), "Missing")
    assert len(events) == 1
    assert "no events for Missing" in events[0]["error"]


def test_hooks_run_around_the_stacks_and_see_the_outputs(
    moto: str, repo: AppRepo, cdk: CdkStandIn, tmp_path: Path
) -> None:
    built(repo, repo.head)
    evidence = tmp_path / "evidence"
    pre = ['cp "$APHEX_STACK_OUTPUTS" "$(dirname "$APHEX_STACK_OUTPUTS")/pre-saw.json"']
    post = ['cp "$APHEX_STACK_OUTPUTS" "$(dirname "$APHEX_STACK_OUTPUTS")/post-saw.json"', "test -f VERSION"]
    out = deploy(evidence, repo.head, [["Api"]], pre_deploy=json.dumps(pre), post_deploy=json.dumps(post))
    assert json.loads((evidence / "pre-saw.json").read_text()) == {}
    assert json.loads((evidence / "post-saw.json").read_text()) == json.loads(out)


def test_a_failing_pre_deploy_hook_deploys_nothing(
    moto: str, repo: AppRepo, cdk: CdkStandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built(repo, repo.head)
    with pytest.raises(SystemExit):
        deploy(tmp_path / "e", repo.head, [["Api"]], pre_deploy=json.dumps(["echo no >&2; exit 4"]))
    assert capsys.readouterr().err.startswith("pre-deploy hook 1 `echo no >&2; exit 4` exited 4: no")
    assert cdk.calls() == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"stacks": "[]"}, "invalid parameter stacks:"),
        ({"stacks": '[["A"], []]'}, "invalid parameter stacks[1]:"),
        ({"stacks": '[["A", "A"]]'}, "invalid parameter stacks[0]:"),
        ({"stacks": '[["A; rm -rf /"]]'}, "invalid parameter stacks[0]:"),
        ({"stacks": '{"A": 1}'}, "invalid parameter stacks:"),
        ({"context": '{"a=b": "x"}'}, "invalid parameter context.a=b:"),
        ({"context": '{"k": "line\\nbreak"}'}, "invalid parameter context.k:"),
        ({"context": '{"k": 1}'}, "invalid parameter context.k:"),
        ({"context": '["k"]'}, "invalid parameter context:"),
        ({"pre_deploy": '"make"'}, "invalid parameter pre-deploy:"),
        ({"environment": "Prod"}, "invalid parameter environment:"),
        ({"account": "1234"}, "invalid parameter account:"),
        ({"region": "mars"}, "invalid parameter region:"),
        ({"role": "a b"}, "invalid parameter role:"),
    ],
)
def test_bad_parameters_are_named_before_anything_runs(
    moto: str,
    repo: AppRepo,
    cdk: CdkStandIn,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    overrides: dict[str, str],
    message: str,
) -> None:
    built(repo, repo.head)
    waves = json.loads(overrides.pop("stacks", '[["Api"]]'))
    with pytest.raises(SystemExit):
        deploy(tmp_path / "e", repo.head, waves, **overrides)
    assert capsys.readouterr().err.startswith(message)
    assert cdk.calls() == []


def test_missing_artifacts_are_named(
    moto: str, cdk: CdkStandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    with pytest.raises(SystemExit):
        deploy(tmp_path / "e", "d" * 40, [["Api"]])
    assert capsys.readouterr().err.startswith(f"commit-sha: no artifacts at s3://{BUCKET}/{'d' * 40}/")


@pytest.fixture(scope="module")
def pool_repo(tmp_path_factory: pytest.TempPathFactory) -> AppRepo:
    return make_repo(tmp_path_factory.mktemp("pool"), STACKS)


# Properties 9, 10, 11, 23 and 25: for any waves of the configured stacks, each stack is synthesized
# (N stacks -> N syntheses) from the commit's own code immediately before its deployment, the stacks
# deploy in the configured order, and the outputs are CloudFormation's.
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    order=st.permutations(sorted(STACKS)).flatmap(
        lambda names: st.integers(1, len(names)).map(lambda size: names[:size])
    ),
    split=st.integers(1, 2),
    old=st.booleans(),
)
def test_properties_9_10_11_23_25_deployment_order_syntheses_outputs(
    moto: str,
    pool_repo: AppRepo,
    cdk: CdkStandIn,
    tmp_path_factory: pytest.TempPathFactory,
    order: list[str],
    split: int,
    old: bool,
) -> None:
    reset_moto(moto)
    cdk.clear()
    commit = pool_repo.old if old else pool_repo.head
    built(pool_repo, commit)
    waves = [order[:split], order[split:]] if order[split:] else [order]
    evidence = tmp_path_factory.mktemp("evidence")
    outputs = json.loads(deploy(evidence, commit, waves))
    entries = cdk.entries()
    synths = [e["argv"][2] for e in entries if e["argv"][1] == "synth"]
    deploys = [e["argv"][2] for e in entries if e["argv"][1] == "deploy"]
    # Property 9: waves deploy in order (a wave's stacks in parallel), every wave after the one before.
    assert sorted(deploys) == sorted(order)
    position = {(e["argv"][1], e["argv"][2]): i for i, e in enumerate(entries)}
    for before, after in itertools.pairwise(waves):
        assert max(position["deploy", s] for s in before) < min(position["synth", s] for s in after)
    assert sorted(synths) == sorted(order)
    assert len(synths) == len(order)
    assert outputs == {name: cloudformation_outputs(name) for name in order}  # property 11
    for stack in order:  # property 23: each stack is synthesized just before its own deploy
        assert position["synth", stack] < position["deploy", stack]
        assert entries[position["synth", stack]]["time"] <= entries[position["deploy", stack]]["time"]
    assert {o["Version"] for o in outputs.values()} == {"v1" if old else "v2"}  # property 25


def test_every_stack_starts_with_fresh_credentials_of_the_role(
    moto: str, repo: AppRepo, cdk: CdkStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sessions of 900 s (STS's minimum) are always inside botocore's refresh window: each stack's CDK
    process must get a newly assumed set, all of them the environment's role."""
    monkeypatch.setattr(aws, "ROLE_SESSION_SECONDS", 900)
    built(repo, repo.head)
    deploy(
        tmp_path / "evidence",
        repo.head,
        [["Network"], ["Database", "Api"]],
        account="222233334444",
        role="Deployer",
        pre_deploy=json.dumps(["true"]),
    )
    deploys = [entry["env"] for entry in cdk.entries() if entry["argv"][1] == "deploy"]
    assert len({env["AWS_ACCESS_KEY_ID"] for env in deploys}) == 3
    for env in deploys:
        target = boto3.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=env["AWS_SESSION_TOKEN"],
            region_name="us-east-1",
        )
        identity = target.client("sts").get_caller_identity()
        assert identity["Arn"] == "arn:aws:sts::222233334444:assumed-role/Deployer/aphex-pipeline-x1"


DEPLOY_CONFIG = load_config(
    json.dumps({
        "version": "1.0",
        "build": {"commands": ["make"]},
        "environments": [
            {"name": "prod", "region": "us-east-1", "account": PIPELINE_ACCOUNT,
             "stacks": [{"name": name, "path": "."} for name in STACKS]},
            {"name": "other", "region": "us-east-1", "account": "222233334444", "role": "Deployer",
             "stacks": [{"name": "Network", "path": "."}]},
        ],
    })
)  # fmt: skip


def deploy_role_statements(config: Any = DEPLOY_CONFIG) -> list[dict[str, Any]]:
    template = pipeline_resources_template(config, pipeline_name="shop", namespace="argo")
    variables = {"ArtifactBucket.Arn": f"arn:aws:s3:::{BUCKET}"}
    return role_statements(template, PipelineRole.DEPLOY.logical_id, variables)


@pytest.mark.parametrize(("account", "role"), [(PIPELINE_ACCOUNT, ""), ("222233334444", "Deployer")])
def test_every_call_of_the_deploy_step_is_allowed_by_the_deploy_role(
    moto: str, repo: AppRepo, cdk: CdkStandIn, tmp_path: Path, aws_calls: AwsCalls, account: str, role: str
) -> None:
    """The deploy step's own calls (pipeline credentials: the deploy role) against the generated policy:
    artifacts, AssumeRole, stack outputs and events, metrics. Calls with the environment's assumed
    credentials are the environment role's, which the application team owns."""
    built(repo, repo.head)
    aws_calls.calls.clear()
    deploy(tmp_path / "evidence", repo.head, [["Network"]], account=account, role=role)
    made = {(call.service, call.operation) for call in aws_calls.made_with("testing")}
    assert ("cloudwatch", "PutMetricData") in made
    assert ("s3", "GetObject") in made
    assert (("sts", "AssumeRole") in made) == bool(role)
    assert aws_calls.denied(deploy_role_statements()) == []
    # The check has teeth: without the metrics statement the same calls are refused.
    without_metrics = [s for s in deploy_role_statements() if s["Sid"] != "PipelineMetrics"]
    assert aws_calls.denied(without_metrics) == [
        "cloudwatch:PutMetricData on * {'cloudwatch:namespace': 'AphexPipeline'}"
    ]


def test_a_stack_outside_the_configuration_is_refused_by_the_deploy_role(
    moto: str, repo: AppRepo, cdk: CdkStandIn, tmp_path: Path, aws_calls: AwsCalls
) -> None:
    built(repo, repo.head)
    aws_calls.calls.clear()
    deploy(tmp_path / "evidence", repo.head, [["Api"]], account=PIPELINE_ACCOUNT, region="us-east-1")
    only_network = load_config(
        json.dumps({
            "version": "1.0",
            "build": {"commands": ["make"]},
            "environments": [{"name": "prod", "region": "us-east-1", "account": PIPELINE_ACCOUNT,
                              "stacks": [{"name": "Network", "path": "."}]}],
        })
    )  # fmt: skip
    denied = aws_calls.denied(deploy_role_statements(only_network))
    assert denied == [
        f"cloudformation:DescribeStacks on arn:aws:cloudformation:us-east-1:{PIPELINE_ACCOUNT}:"
        "stack/Api/00000000-0000-0000-0000-000000000000 {}"
    ]
