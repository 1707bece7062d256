"""Fixtures of the step tests: one moto server, real git remotes, a recording ``cdk``, the GitHub API.

- ``moto_url``: a moto server (S3, STS, CloudFormation, CloudWatch, SNS, SQS) on 127.0.0.1 for the
  session; ``moto`` points boto3 at it (``AWS_ENDPOINT_URL``, dummy credentials) and resets its state.
- ``app_repo``: a bare git repository served over ``file://`` holding a tiny "CDK app" (``app.py`` writes a
  real cloud-assembly layout: ``manifest.json`` and one ``<stack>.template.json`` per stack) in two commits,
  so tests can build a commit that is not the branch head.
- ``cdk``: a recording ``cdk`` stand-in on PATH. ``synth`` runs the ``--app`` command like the real CLI
  (``CDK_OUTDIR``, ``CDK_CONTEXT_JSON``); ``deploy`` creates or updates the stack in moto's CloudFormation
  with the credentials it was given, so outputs, accounts and events are real. A template whose
  ``Metadata`` holds ``StandInFail`` makes ``deploy`` fail without touching CloudFormation.
- ``github``: the GitHub API stand-in (:mod:`tests.standins.github`), wired into the environment the steps
  read.
"""

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from moto.server import ThreadedMotoServer

from tests.standins.github import GitHubStandIn, github_standin

PIPELINE_ACCOUNT = "123456789012"
"""moto's default account: the pipeline's own."""

_CDK = """#!{python}
import json, os, subprocess, sys, time
argv = sys.argv[1:]
watched = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
           "AWS_DEFAULT_REGION", "CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION", "APHEX_STACK_OUTPUTS",
           "APHEX_ENVIRONMENT", "APHEX_COMMIT_SHA", "GITHUB_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE"]
entry = {{"argv": ["cdk", *argv], "time": time.time(), "cwd": os.getcwd(),
          "env": {{k: os.environ.get(k) for k in watched}}}}
with open({log!r}, "a") as log:
    log.write(json.dumps(entry) + "\\n")

def arg(flag):
    return argv[argv.index(flag) + 1]

if argv[0] == "synth":
    out = arg("-o")
    context = {{}}
    for i, a in enumerate(argv):
        if a == "-c":
            key, _, value = argv[i + 1].partition("=")
            context[key] = value
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, CDK_OUTDIR=out, CDK_CONTEXT_JSON=json.dumps(context))
    sys.exit(subprocess.call(arg("--app"), shell=True, env=env))
if argv[0] == "deploy":
    import boto3
    from botocore.exceptions import ClientError
    stack, assembly = argv[1], arg("--app")
    props = json.load(open(os.path.join(assembly, "manifest.json")))["artifacts"][stack]["properties"]
    body = open(os.path.join(assembly, props["templateFile"])).read()
    if json.loads(body).get("Metadata", {{}}).get("StandInFail"):
        print("Stack " + stack + " failed: UPDATE_ROLLBACK_COMPLETE", file=sys.stderr)
        sys.exit(1)
    cfn = boto3.client("cloudformation")
    name = props.get("stackName", stack)
    try:
        cfn.describe_stacks(StackName=name)
        cfn.update_stack(StackName=name, TemplateBody=body)
    except ClientError:
        cfn.create_stack(StackName=name, TemplateBody=body)
    described = cfn.describe_stacks(StackName=name)["Stacks"][0]
    outputs = {{o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs") or []}}
    with open(arg("--outputs-file"), "w") as handle:
        json.dump({{name: outputs}}, handle)
    print("deployed " + name)
    sys.exit(0)
sys.exit(2)
"""

_APP = """import json, os
out = os.environ["CDK_OUTDIR"]
context = json.loads(os.environ.get("CDK_CONTEXT_JSON", "{}"))
version = open("VERSION").read().strip()
stacks = json.load(open("stacks.json"))
artifacts = {}
for name, spec in stacks.items():
    template = {
        "Resources": {"Marker": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Name": "/aphex-test/" + name, "Type": "String", "Value": version},
        }},
        "Outputs": {key: {"Value": value} for key, value in spec.get("outputs", {}).items()},
    }
    template["Outputs"]["Version"] = {"Value": version}
    template["Outputs"]["Context"] = {"Value": json.dumps(context, sort_keys=True)}
    if spec.get("fail"):
        template["Metadata"] = {"StandInFail": True}
    with open(os.path.join(out, name + ".template.json"), "w") as handle:
        json.dump(template, handle)
    artifacts[name] = {"type": "aws:cloudformation:stack", "environment": "aws://unknown-account/unknown-region",
                       "properties": {"templateFile": name + ".template.json", "stackName": name}}
with open(os.path.join(out, "manifest.json"), "w") as handle:
    json.dump({"version": "36.0.0", "artifacts": artifacts}, handle)
"""


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def reset_moto(url: str) -> None:
    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()


@pytest.fixture
def moto(moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """boto3 (and child processes) talk to the fresh moto server with dummy pipeline credentials."""
    reset_moto(moto_url)
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("APHEX_SCRATCH", str(tmp_path / "scratch"))
    return moto_url


@dataclass(frozen=True)
class AppRepo:
    """A bare remote with two commits on main: ``old`` (VERSION v1) and ``head`` (VERSION v2)."""

    url: str
    old: str
    head: str
    work: Path

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        """Commit ``files`` on top of main, push, return the new SHA."""
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", ".", cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        git("push", "--quiet", "origin", "HEAD:main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


def _config(commands: list[str]) -> str:
    environment = {
        "name": "staging",
        "region": "eu-west-1",
        "account": "111122223333",
        "stacks": [{"name": "AppStack", "path": "."}],
    }
    return json.dumps({"version": "1.0", "build": {"commands": commands}, "environments": [environment]})


def make_repo(root: Path, stacks: dict[str, Any], commands: list[str] | None = None) -> AppRepo:
    """A bare repository under ``root`` with the CDK app of ``stacks``; HEAD is a later commit."""
    work = root / "work"
    work.mkdir(parents=True)
    git("init", "--quiet", "--initial-branch=main", cwd=work)
    git("config", "user.email", "dev@example.com", cwd=work)
    git("config", "user.name", "dev", cwd=work)
    files = {
        "aphex-config.yaml": _config(commands or ["echo built > build.txt"]),
        "app.py": _APP,
        "cdk.json": json.dumps({"app": "python3 app.py"}),
        "stacks.json": json.dumps(stacks),
        "VERSION": "v1\n",
    }
    for name, text in files.items():
        (work / name).write_text(text)
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "v1", cwd=work)
    old = git("rev-parse", "HEAD", cwd=work)
    (work / "VERSION").write_text("v2\n")
    git("commit", "--quiet", "-am", "v2", cwd=work)
    head = git("rev-parse", "HEAD", cwd=work)
    bare = root / "remote.git"
    git("clone", "--quiet", "--bare", str(work), str(bare), cwd=root)
    git("remote", "add", "origin", str(bare), cwd=work)
    return AppRepo(url=f"file://{bare}", old=old, head=head, work=work)


@pytest.fixture
def app_repo(tmp_path: Path) -> AppRepo:
    return make_repo(tmp_path / "repo", {"Network": {"outputs": {"VpcId": "vpc-123"}}})


@dataclass(frozen=True)
class CdkStandIn:
    log: Path

    def entries(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def calls(self) -> list[list[str]]:
        return [entry["argv"] for entry in self.entries()]

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)


def install_cdk(directory: Path) -> tuple[Path, CdkStandIn]:
    """Write the recording ``cdk`` into ``directory/bin``; return that directory and its recorder."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True)
    log = directory / "cdk-calls.jsonl"
    path = bin_dir / "cdk"
    path.write_text(_CDK.format(python=sys.executable, log=str(log)))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return bin_dir, CdkStandIn(log)


@pytest.fixture
def cdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CdkStandIn:
    bin_dir, standin = install_cdk(tmp_path / "cdk-standin")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return standin


@dataclass(frozen=True)
class RecordedCall:
    """One botocore API call of this process: service, operation, parameters, region and access key."""

    service: str
    operation: str
    params: dict[str, Any]
    region: str
    access_key: str


class AwsCalls:
    """The AWS calls this process makes while recording (``aws_calls`` fixture), and their IAM check."""

    def __init__(self) -> None:
        self.calls: list[RecordedCall] = []

    def made_with(self, access_key: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.access_key == access_key]

    def denied(
        self,
        statements: list[dict[str, Any]],
        *,
        access_key: str = "testing",
        account: str = PIPELINE_ACCOUNT,
        bucket_key: str | None = None,
    ) -> list[str]:
        """Every call made with ``access_key`` (the pipeline's own credentials, i.e. the stage's role)
        that ``statements`` do not allow, as ``action on resource``; each call must be one the
        evaluator knows. With ``bucket_key`` (the artifact bucket's SSE-KMS key) the KMS calls S3 makes
        for each object call are checked too."""
        from aphex.dsl.config.iam_policy import allows, call_authorization, sse_kms_calls

        refused = []
        for call in self.made_with(access_key):
            checked = call_authorization(
                call.service, call.operation, call.params, region=call.region, account=account
            )
            implied = sse_kms_calls(call.service, call.operation, bucket_key) if bucket_key else []
            for needed in [checked, *implied] if checked is not None else []:
                if not allows(statements, needed):
                    refused.append(f"{needed.action} on {needed.resource} {dict(needed.context)}")
        return refused


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> AwsCalls:
    """Records every botocore call of this process (``BaseClient._make_api_call``: every operation method
    of every client goes through it, botocore/client.py ``_create_api_method``)."""
    from botocore.client import BaseClient

    recorder = AwsCalls()
    original = BaseClient._make_api_call

    def record(client: Any, operation: str, params: dict[str, Any]) -> Any:
        credentials = client._request_signer._credentials
        recorder.calls.append(
            RecordedCall(
                service=client.meta.service_model.service_name,
                operation=operation,
                params=dict(params),
                region=client.meta.region_name,
                access_key=credentials.get_frozen_credentials().access_key if credentials else "",
            )
        )
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    return recorder


def role_statements(
    template: dict[str, Any], logical_id: str, variables: dict[str, str]
) -> list[dict[str, Any]]:
    """The resolved policy statements of role ``logical_id`` of a generated template."""
    from aphex.dsl.config.iam_policy import resolve

    (policy,) = template["Resources"][logical_id]["Properties"]["Policies"]
    statements: list[dict[str, Any]] = resolve(policy["PolicyDocument"]["Statement"], variables)
    return statements


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubStandIn]:
    with github_standin() as standin:
        monkeypatch.setenv("GITHUB_API_URL", standin.url)
        monkeypatch.setenv("GITHUB_TOKEN", standin.token)
        monkeypatch.delenv("GITHUB_APP_ID", raising=False)
        monkeypatch.delenv("GITHUB_APP_PRIVATE_KEY", raising=False)
        monkeypatch.setattr("time.sleep", lambda seconds: None)
        yield standin
        assert not any("merge" in path for path in standin.paths()), "a merge request reached GitHub"
