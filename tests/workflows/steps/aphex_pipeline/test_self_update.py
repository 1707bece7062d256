"""The validate and self-update steps against real git, a moto server and a recording kubectl."""

import dataclasses
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
import yaml
from moto.server import ThreadedMotoServer

from aphex.dsl.config.resources import PipelineResources
from aphex.dsl.settings import load_settings, settings_document
from aphex.workflows.steps.aphex_pipeline import self_update
from aphex.workflows.steps.aphex_pipeline import validate as pipeline_validate
from tests.runner import run_step
from tests.standins.commands import StandIns, install

PIPELINE_ACCOUNT = "123456789012"
EXPORT = "AphexCluster-OIDCProviderArn"
PROVIDER = f"arn:aws:iam::{PIPELINE_ACCOUNT}:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"


def config_text(environments: list[str], tests: bool = True) -> str:
    document: dict[str, Any] = {
        "version": "1.0",
        "build": {"commands": ["echo '{{workflow.name}}' $(id)"]},
        "environments": [
            {
                "name": name,
                "region": "eu-west-1",
                "account": PIPELINE_ACCOUNT if index == 0 else "222233334444",
                **({} if index == 0 else {"role": "aphex-deploy"}),
                "stacks": [
                    {"name": "Network", "path": "infra"},
                    {"name": "Api", "path": "infra", "dependsOn": ["Network"]},
                    {"name": "Jobs", "path": "infra"},
                ],
                "hooks": {"preDeploy": ["echo pre"]},
                **({"tests": {"commands": ["echo test"], "timeoutSeconds": 60}} if tests else {}),
                "cdkContext": {"required": ["zone"]},
            }
            for index, name in enumerate(environments)
        ],
        "pipeline": {"name": "shop"},
    }
    return yaml.safe_dump(document)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


class Repo:
    def __init__(self, root: Path) -> None:
        self.work = root / "work"
        self.work.mkdir(parents=True)
        self.bare = root / "remote.git"
        git("init", "--quiet", "--initial-branch=main", cwd=self.work)
        git("config", "user.email", "dev@example.com", cwd=self.work)
        git("config", "user.name", "dev", cwd=self.work)
        git("init", "--quiet", "--bare", str(self.bare), cwd=root)
        git("remote", "add", "origin", str(self.bare), cwd=self.work)
        self.url = f"file://{self.bare}"

    def commit(self, files: dict[str, str]) -> str:
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", ".", cwd=self.work)
        git("commit", "--quiet", "-m", "change", cwd=self.work)
        git("push", "--quiet", "origin", "HEAD:main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto(moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    for key, value in {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "APHEX_SCRATCH": str(tmp_path / "scratch"),
    }.items():
        monkeypatch.setenv(key, value)
    return moto_url


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


CDK_JSON = json.dumps({"app": "python3 app.py", "context": {"zone": "Z123"}})


def run_validation(repo: Repo, sha: str, plan: Path, environments: list[str], **extra: Any) -> str:
    return pipeline_validate.run_validation(
        commit_sha=sha,
        branch="refs/heads/main",
        repo_url=repo.url,
        repo_name="octo/shop",
        pusher="octocat",
        environments=json.dumps(environments),
        plan_directory=plan,
        pipeline_session=boto3.Session(),
        which=extra.pop("which", lambda tool: f"/usr/bin/{tool}"),
        **extra,
    )


def test_validate_writes_each_environments_plan_from_the_commit(
    moto: str, repo: Repo, tmp_path: Path
) -> None:
    sha = repo.commit({"aphex-config.yaml": config_text(["staging", "prod"]), "infra/cdk.json": CDK_JSON})
    plan = tmp_path / "plan"
    account = run_validation(repo, sha, plan, ["staging", "prod", "gone"])
    assert account == PIPELINE_ACCOUNT
    read = {path.relative_to(plan).as_posix(): path.read_text() for path in plan.rglob("*") if path.is_file()}
    assert json.loads(read["staging/stacks"]) == [["Network", "Jobs"], ["Api"]]
    assert read["staging/role"] == ""
    assert read["prod/role"] == "arn:aws:iam::222233334444:role/aphex-deploy"
    assert read["prod/app-directory"] == "infra"
    assert json.loads(read["prod/pre-deploy"]) == ["echo pre"]
    assert json.loads(read["prod/tests"]) == ["echo test"]
    assert read["prod/test-timeout"] == "60"
    assert read["gone/enabled"] == "false"
    assert "self-update-stages" not in read
    assert set(pipeline_validate.PLAN_FIELDS) == {k.split("/")[1] for k in read if k.startswith("prod/")}


def test_validate_reports_every_problem_at_once(moto: str, repo: Repo, tmp_path: Path) -> None:
    """Seed properties 19, 21 and 22: config, CDK context and build tools validated before anything runs."""
    sha = repo.commit({"aphex-config.yaml": config_text(["staging"]), "infra/cdk.json": "{}"})
    with pytest.raises(pipeline_validate.ValidationFailed) as caught:
        run_validation(
            repo, sha, tmp_path / "plan", ["staging"], which=lambda tool: None if tool == "cdk" else tool
        )
    assert caught.value.problems == ["tools: `cdk` is not on PATH"]
    with pytest.raises(pipeline_validate.ValidationFailed) as caught:
        run_validation(repo, sha, tmp_path / "plan", ["staging"])
    assert caught.value.problems == [
        "environments[0].cdkContext.required: 'zone' is not set in infra/cdk.json or "
        "infra/cdk.context.json at this commit"
    ]
    bad = repo.commit({"aphex-config.yaml": 'version: "1.0"\nbuild: {commands: [make]}\n'})
    with pytest.raises(pipeline_validate.ValidationFailed) as caught:
        run_validation(repo, bad, tmp_path / "plan", ["staging"])
    assert caught.value.problems == ["aphex-config.yaml: environments: is required"]
    assert not (tmp_path / "plan").exists()


def test_bad_parameters_are_named() -> None:
    problems = pipeline_validate.check_parameters(
        commit_sha="abc", branch="main..x", repo_url="ssh://x", repo_name="nope", pusher="-bad"
    )
    assert [p.split(":")[0] for p in problems] == ["commit-sha", "branch", "repo-url", "repo-name", "pusher"]


def test_validate_through_the_runner_boundary(moto: str, repo: Repo, tmp_path: Path) -> None:
    sha = repo.commit({"aphex-config.yaml": config_text(["staging"]), "infra/cdk.json": CDK_JSON})
    inputs = {
        "commit_sha": sha, "branch": "refs/heads/main", "repo_url": repo.url, "repo_name": "octo/shop",
        "pusher": "octocat", "environments": '["staging"]', "plan_directory": str(tmp_path / "plan"),
    }  # fmt: skip
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("node", "cdk"):
        (tools / tool).write_text("#!/bin/sh\n")
        (tools / tool).chmod(0o755)
    result = run_step(
        "aphex.workflows.steps.aphex_pipeline.validate:validate",
        inputs,
        tmp_path,
        env={"PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "parameters" / "pipeline-account").read_text() == PIPELINE_ACCOUNT
    assert (tmp_path / "plan" / "staging" / "enabled").read_text() == "true"


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    standins = install(tmp_path / "standins", ["kubectl"])
    for key, value in standins.environment().items():
        monkeypatch.setenv(key, value)
    return standins


def cluster_export() -> None:
    boto3.client("cloudformation").create_stack(
        StackName="aphex-cluster",
        TemplateBody=json.dumps(
            {
                "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {"Provider": {"Value": PROVIDER, "Export": {"Name": EXPORT}}},
            }
        ),
    )


SETTINGS = load_settings(
    {
        "pipelines": [
            {
                "name": "shop",
                "repository": "shop",
                "artifactBucket": "old-bucket",
                "roleArns": {
                    "build": f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/b",
                    "deploy": f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/d",
                    "monitor": f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/m",
                    "selfUpdate": f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/s",
                },
            }
        ]
    }
)
RESOURCES = PipelineResources.from_cluster_pipeline(SETTINGS.pipelines[0])


WORKFLOW_ID = "6f1c2d3e-0000-4000-8000-000000000001"
OUTCOME_KEY = f"metadata/workflows/{WORKFLOW_ID}/self-update.json"


def self_update_inputs(repo: Repo, sha: str) -> dict[str, str]:
    return {
        "commit_sha": sha,
        "repo_url": repo.url,
        "template_name": "shop",
        "settings": json.dumps(settings_document(SETTINGS)),
        "bucket": RESOURCES.artifact_bucket,
        "workflow_id": WORKFLOW_ID,
    }


def artifact_bucket() -> None:
    boto3.client("s3").create_bucket(
        Bucket=RESOURCES.artifact_bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )


def outcome() -> Any:
    """The self-update outcome the step left for the exit handler (parsed), exactly as stored."""
    body = boto3.client("s3").get_object(Bucket=RESOURCES.artifact_bucket, Key=OUTCOME_KEY)["Body"].read()
    assert body == json.dumps(json.loads(body), sort_keys=True).encode()  # deterministic: sorted keys
    return json.loads(body)


def applied_tasks(kubectl: StandIns) -> list[str]:
    document = yaml.safe_load(kubectl.stdin_of("kubectl", "apply"))
    (main,) = [t for t in document["spec"]["templates"] if t["name"] == "main"]
    return [task["name"] for task in main["dag"]["tasks"]]


@pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy:UserWarning")
def test_a_changed_config_is_the_next_runs_topology(
    moto: str, repo: Repo, kubectl: StandIns, tmp_path: Path
) -> None:
    """Seed property 7: a config change appears in the next run's topology."""
    cluster_export()
    artifact_bucket()
    kubectl.on("kubectl", "apply", stdout="workflowtemplate.argoproj.io/shop serverside-applied\n")
    first = repo.commit({"aphex-config.yaml": config_text(["staging"])})
    status = self_update.self_update(**self_update_inputs(repo, first))
    assert status.startswith("succeeded: pipeline stack aphex-shop created"), status
    assert outcome() == {"status": "Succeeded", "message": status}
    assert kubectl.calls() == [
        [
            "kubectl",
            "apply",
            "--server-side",
            "--field-manager=aphex-pipeline",
            "--force-conflicts",
            "-f",
            "-",
        ]
    ]
    assert applied_tasks(kubectl) == ["validate", "build", "self-update", "deploy-staging", "tests-staging"]
    document = yaml.safe_load(kubectl.stdin_of("kubectl", "apply"))
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in boto3.client("cloudformation").describe_stacks(StackName="aphex-shop")["Stacks"][0][
            "Outputs"
        ]
    }
    assert outputs["ArtifactBucketName"] in json.dumps(document)
    assert "old-bucket" not in json.dumps(document)

    kubectl.log.unlink()
    second = repo.commit({"aphex-config.yaml": config_text(["staging", "prod", "dr"], tests=False)})
    workdir = tmp_path / "runner"
    workdir.mkdir()
    result = run_step(
        "aphex.workflows.steps.aphex_pipeline.self_update:self_update",
        self_update_inputs(repo, second),
        workdir,
    )
    assert result.returncode == 0, result.stderr
    status = (workdir / "out" / "parameters" / "self-update-status").read_text()
    assert "pipeline stack aphex-shop unchanged" in status or "updated" in status, status
    assert outcome() == {"status": "Succeeded", "message": status}
    assert applied_tasks(kubectl) == [
        "validate",
        "build",
        "self-update",
        "deploy-staging",
        "deploy-prod",
        "deploy-dr",
    ]


@pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy:UserWarning")
def test_a_failing_apply_is_recorded_and_does_not_fail(
    moto: str, repo: Repo, kubectl: StandIns, tmp_path: Path
) -> None:
    cluster_export()
    artifact_bucket()
    kubectl.on("kubectl", "apply", stderr="Error from server (Forbidden): workflowtemplates\n", exit=1)
    sha = repo.commit({"aphex-config.yaml": config_text(["staging"])})
    result = run_step(
        "aphex.workflows.steps.aphex_pipeline.self_update:self_update",
        self_update_inputs(repo, sha),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    status = (tmp_path / "out" / "parameters" / "self-update-status").read_text()
    assert status.startswith("failed: WorkflowTemplate: `kubectl apply"), status
    assert "Forbidden" in status
    assert outcome() == {"status": "Failed", "message": status}
    assert sorted(path.name for path in (tmp_path / "out" / "parameters").iterdir()) == ["self-update-status"]


@pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy:UserWarning")
@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({}, "NoSuchBucket"),  # the artifact bucket does not exist: PutObject fails
        ({"workflow_id": "../x"}, "workflow-id"),
        ({"bucket": "Not_A_Bucket"}, "bucket"),
    ],
)
def test_an_outcome_that_cannot_be_written_does_not_fail_the_step(
    moto: str, repo: Repo, kubectl: StandIns, tmp_path: Path, overrides: dict[str, str], reason: str
) -> None:
    cluster_export()
    kubectl.on("kubectl", "apply")
    sha = repo.commit({"aphex-config.yaml": config_text(["staging"])})
    inputs = {**self_update_inputs(repo, sha), **overrides}
    result = run_step("aphex.workflows.steps.aphex_pipeline.self_update:self_update", inputs, tmp_path)
    assert result.returncode == 0, result.stderr
    status = (tmp_path / "out" / "parameters" / "self-update-status").read_text()
    assert status.startswith("succeeded: pipeline stack aphex-shop created"), status
    (line,) = [line for line in result.stderr.splitlines() if "outcome" in line]
    assert line.startswith("self-update: the outcome was not recorded: "), line
    assert reason in line, line


@pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy:UserWarning")
def test_a_failing_stack_is_recorded_and_the_template_still_applied(
    moto: str, repo: Repo, kubectl: StandIns
) -> None:
    # Without the cluster's OIDC export the stack cannot be created.
    artifact_bucket()
    kubectl.on("kubectl", "apply")
    sha = repo.commit({"aphex-config.yaml": config_text(["staging"])})
    status = self_update.self_update(**self_update_inputs(repo, sha))
    assert status.startswith("failed: pipeline stack aphex-shop:"), status
    assert outcome() == {"status": "Failed", "message": status}
    assert "old-bucket" in kubectl.stdin_of("kubectl", "apply")


@pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy:UserWarning")
def test_a_rename_is_refused(moto: str, repo: Repo, kubectl: StandIns) -> None:
    cluster_export()
    kubectl.on("kubectl", "apply")
    sha = repo.commit({"aphex-config.yaml": config_text(["staging"]).replace("name: shop", "name: other")})
    inputs = self_update_inputs(repo, sha)
    status = self_update.self_update(**inputs)
    assert "renaming a pipeline is a reinstall" in status
    assert kubectl.calls() == []


def test_no_updates_is_success(moto: str) -> None:
    cluster_export()
    cloudformation = boto3.client("cloudformation")
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": {"X": {"Value": "1"}}}
    first = self_update.deploy_pipeline_stack(
        cloudformation, stack_name="p", template=template, pipeline_name="p"
    )
    assert first == ("created", {"X": "1"})
    again = self_update.deploy_pipeline_stack(
        cloudformation, stack_name="p", template=template, pipeline_name="p"
    )
    assert again[0] in {"unchanged", "updated"}


def test_property_20_credentials_are_checked_for_every_referenced_account(
    moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seed property 20: credentials validated for each account, cross-account through its role."""
    from aphex.dsl.config import load_config

    config = load_config(config_text(["staging", "production"]))
    account, problems = pipeline_validate.check_credentials(config, pipeline_session=boto3.Session())
    assert (account, problems) == (PIPELINE_ACCOUNT, [])
    # No reachable STS: the run stops before anything else with the reason.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    account, problems = pipeline_validate.check_credentials(config, pipeline_session=boto3.Session())
    assert account == ""
    assert len(problems) == 1
    assert problems[0].startswith("credentials: the pipeline has no working AWS identity")


@pytest.mark.parametrize(
    "pipelines",
    [
        (),
        (SETTINGS.pipelines[0], dataclasses.replace(SETTINGS.pipelines[0], name="other", repository="other")),
    ],
)
def test_settings_without_exactly_its_own_entry_are_refused_before_any_call(
    moto: str, repo: Repo, kubectl: StandIns, pipelines: tuple[Any, ...]
) -> None:
    """The settings input carries the pipeline's own ``pipelines`` entry and no other (one pipeline's
    template never changes with another's entry); anything else is refused, and the run goes on."""
    sha = repo.commit({"aphex-config.yaml": config_text(["staging"])})
    settings = json.dumps(settings_document(dataclasses.replace(SETTINGS, pipelines=pipelines)))
    status = self_update.self_update(**{**self_update_inputs(repo, sha), "settings": settings})
    assert status == (
        "failed: settings: must hold exactly the pipeline's own pipelines entry (got '<json>')"
    ), status
    assert kubectl.calls() == []


def test_the_template_is_compiled_by_aphex_compile(tmp_path: Path) -> None:
    """The stage compiles with the ``aphex compile`` command itself, so what it applies passed the same
    checks and lint; its refusal (here: settings without the configuration's entry) reaches the status."""
    config = tmp_path / "aphex-config.yaml"
    config.write_text(config_text(["staging"]))
    work = tmp_path / "work"
    work.mkdir()
    template = self_update.compile_pipeline(config, SETTINGS, work)
    assert (template["kind"], template["metadata"]["name"]) == ("WorkflowTemplate", "shop")
    written = sorted(str(path.relative_to(work)) for path in (work / "compiled").rglob("*.yaml"))
    assert written == ["compiled/workflowtemplate/shop.yaml"]
    other = tmp_path / "other"
    other.mkdir()
    renamed = dataclasses.replace(
        SETTINGS, pipelines=(dataclasses.replace(SETTINGS.pipelines[0], name="other"),)
    )
    with pytest.raises(self_update.StepError) as raised:
        self_update.compile_pipeline(config, renamed, other)
    assert "exited 2: aphex compile: " in str(raised.value)
    assert "pipelines: no entry named 'shop'" in str(raised.value)
