"""What the Aphex pipeline's local end-to-end tests set up around one ``aphex run`` of the compiled pipeline.

Real: the pipeline compiled by ``aphex compile --config ... --values ...``, the local
interpreter (``aphex run``'s Python API), every Hera runner step (validate, build, self-update, deploy,
run-tests, record-workflow) in a subprocess, git (a bare repository fetched over ``file://``), boto3
against a moto server (S3, STS, CloudFormation, CloudWatch, SNS).

Stand-ins: ``cdk`` (the recording stand-in of ``tests/workflows/steps/conftest.py``: synth runs the app,
deploy creates the stack in moto), ``node`` (validate only checks it is on PATH), ``kubectl`` (the
recording stand-in of ``tests/standins/commands.py``; self-update applies the regenerated template with it)
and the Kubernetes API (``tests/standins/kube_api.py``, reached through ``KUBECONFIG`` as a pod reaches it
with its ServiceAccount): it serves the run's Workflow as ``aphex run`` keeps it (``RunOptions.on_update``,
every node change), which the exit handler's record reads.

``aphex run`` gives a runner step only PATH and the locale from the host, as a pod gets only what its spec
says. The pod's AWS identity (IRSA in the cluster) is therefore given by a stand-in per step template,
:data:`POD_WRAPPER`, that then runs the container's own command line (the real step): it adds the moto
endpoint and dummy credentials to the environment and maps input values under the scratch mount
(``plan_directory=/tmp/plan``) to the scratch volume's host directory, as the mount does in a pod
(``aphex run`` maps env values and output paths under mounts, not input parameters).
"""

import json
import os
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import requests
import yaml
from moto.server import ThreadedMotoServer

from aphex.cli import main as aphex
from aphex.dsl.run import Fault, RunOptions, RunResult, run_workflow
from aphex.workflows.steps.aphex_pipeline.monitoring import NAMESPACE as METRICS_NAMESPACE
from tests.standins.commands import StandIns, install
from tests.standins.kube_api import KubeStandIn, kube_standin
from tests.workflows.steps.conftest import AppRepo, CdkStandIn, install_cdk, make_repo

__all__ = ["BUCKET", "PIPELINE", "AwsState", "PipelineEnvironment", "main_dag_tasks", "pipeline_environment"]

ROOT = Path(__file__).resolve().parents[3]
PIPELINE = "shop"
BUCKET = "shop-artifacts"
PIPELINE_ACCOUNT = "123456789012"  # moto's default account
PRODUCTION_ACCOUNT = "222233334444"
REGION = "eu-west-1"
OIDC_EXPORT = "AphexCluster-OIDCProviderArn"
OIDC_PROVIDER = f"arn:aws:iam::{PIPELINE_ACCOUNT}:oidc-provider/oidc.eks.{REGION}.amazonaws.com/id/ABC"
STEP_TEMPLATES = ("validate", "build", "self-update", "deploy", "run-tests", "record-workflow")
RECORD_KEY = re.compile(r"metadata/workflows/[^/]+\.json")
OUTCOME_KEY = re.compile(r"metadata/workflows/[^/]+/self-update\.json")

POD_WRAPPER = """import json, os, sys
environment_file, *argv = sys.argv[1:]
with open(environment_file) as handle:
    os.environ.update(json.load(handle))
scratch = os.environ["HOME"]  # HOME=/tmp in the template: aphex run maps it to the scratch volume
source = argv[-1]  # the runner script's source: Argo's JSON list of the inputs
with open(source) as handle:
    inputs = json.load(handle)
for item in inputs:
    value = item.get("value")
    if isinstance(value, str) and (value == "/tmp" or value.startswith("/tmp/")):
        item["value"] = scratch + value[len("/tmp"):]
with open(source, "w") as handle:
    json.dump(inputs, handle)
os.execv(argv[0], argv)
"""

STACKS = {
    "Network": {"outputs": {"VpcId": "vpc-123"}},
    "Api": {"outputs": {"Url": "https://api.example.com"}},
}


def app_config() -> dict[str, Any]:
    """The ``aphex-config.yaml`` of the app: staging (tests) then production (approval, cross-account)."""
    stacks = [{"name": "Network", "path": "."}, {"name": "Api", "path": ".", "dependsOn": ["Network"]}]
    return {
        "version": "1.0",
        "build": {"commands": ["echo built > build.txt"]},
        "environments": [
            {
                "name": "staging",
                "region": REGION,
                "account": PIPELINE_ACCOUNT,
                "stacks": stacks,
                "hooks": {"preDeploy": ["echo pre > pre.txt"]},
                "tests": {
                    # The deploy's outputs reach the tests as APHEX_STACK_OUTPUTS.
                    "commands": ['test -n "$APHEX_STACK_OUTPUTS"', "echo integration ok"],
                    "timeoutSeconds": 60,
                },
            },
            {
                "name": "production",
                "region": REGION,
                "account": PRODUCTION_ACCOUNT,
                "role": "aphex-deploy",
                "approval": {"required": True, "timeout": "1h"},
                "stacks": stacks,
            },
        ],
        "pipeline": {"name": PIPELINE},
    }


def cluster_values() -> dict[str, Any]:
    """The cluster's values: the pipeline's entry with the stack's outputs, as ``helm install`` has them."""
    role = f"arn:aws:iam::{PIPELINE_ACCOUNT}:role"
    entry = {
        "name": PIPELINE,
        "repository": "shop",
        "artifactBucket": BUCKET,
        "roleArns": {
            "build": f"{role}/build",
            "deploy": f"{role}/deploy",
            "monitor": f"{role}/monitor",
            "selfUpdate": f"{role}/self-update",
        },
    }
    return {"pipelines": [entry]}


def compile_pipeline(base: Path) -> Path:
    """``aphex compile --config --values --out``; returns the bundle directory."""
    config = base / "aphex-config.yaml"
    config.write_text(yaml.safe_dump(app_config()))
    values = base / "values.yaml"
    values.write_text(yaml.safe_dump(cluster_values()))
    out = base / "bundle"
    if aphex(["compile", "--config", str(config), "--values", str(values), "--out", str(out)]) != 0:
        raise RuntimeError("aphex compile failed")
    return out


def pipeline_file(bundle: Path) -> Path:
    """The compiled file holding the pipeline's WorkflowTemplate."""
    for path in sorted(bundle.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if (
                isinstance(document, dict)
                and document.get("kind") == "WorkflowTemplate"
                and document["metadata"]["name"] == PIPELINE
            ):
                return path
    raise RuntimeError(f"no WorkflowTemplate {PIPELINE} in {bundle}")


def main_dag_tasks(pipeline: Path) -> list[str]:
    """The task names of the compiled pipeline's main DAG, in order."""
    for document in yaml.safe_load_all(pipeline.read_text()):
        if isinstance(document, dict) and document.get("kind") == "WorkflowTemplate":
            (main,) = [t for t in document["spec"]["templates"] if t["name"] == "main"]
            return [task["name"] for task in main["dag"]["tasks"]]
    raise RuntimeError(f"no WorkflowTemplate in {pipeline}")


@dataclass(frozen=True)
class AwsState:
    objects: dict[str, bytes]
    staging_stacks: dict[str, dict[str, str]]  # the pipeline's account, eu-west-1
    production_stacks: dict[str, dict[str, str]]  # the production account (through its role)
    metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float]  # (name, dimensions) -> sum

    def records(self) -> list[dict[str, Any]]:
        """The workflow records: ``metadata/workflows/<id>.json`` (not the outcomes under ``<id>/``)."""
        return [json.loads(body) for key, body in self.objects.items() if RECORD_KEY.fullmatch(key)]

    def self_update_outcomes(self) -> list[dict[str, Any]]:
        """What self-update left for the exit handler: ``metadata/workflows/<id>/self-update.json``."""
        return [json.loads(body) for key, body in self.objects.items() if OUTCOME_KEY.fullmatch(key)]

    def workflow_count(self, status: str) -> float:
        return self.metrics.get(("WorkflowCount", (("Status", status),)), 0.0)


@dataclass
class PipelineEnvironment:
    """The compiled pipeline, the app's git remote, the moto server and the tools' stand-ins."""

    base: Path
    pipeline: Path
    moto_url: str
    repo: AppRepo
    bin: Path
    cdk: CdkStandIn
    kubectl: StandIns
    kube: KubeStandIn
    runs: int = field(default=0)

    @property
    def sha(self) -> str:
        return self.repo.head

    def session(self, region: str = REGION) -> Any:
        return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)

    def client(self, service: str, region: str = REGION) -> Any:
        return self.session(region).client(service, endpoint_url=self.moto_url)

    def step_environment(self) -> dict[str, str]:
        """What the steps' pods would have: the pipeline's AWS identity and region; the stand-ins' files."""
        return {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": str(self.base / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.base / "no-aws-credentials"),
            "AWS_MAX_ATTEMPTS": "2",
            "KUBECONFIG": str(self.kube.kubeconfig(self.base / "kubeconfig")),
            **{key: value for key, value in self.kubectl.environment().items() if key != "PATH"},
        }

    def reset(self) -> None:
        """A fresh AWS (moto reset; the bucket and the cluster's OIDC export recreated), empty call logs."""
        requests.post(f"{self.moto_url}/moto-api/reset", timeout=10).raise_for_status()
        self.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        self.client("cloudformation").create_stack(
            StackName="aphex-cluster",
            TemplateBody=json.dumps(
                {
                    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                    "Outputs": {"Provider": {"Value": OIDC_PROVIDER, "Export": {"Name": OIDC_EXPORT}}},
                }
            ),
        )
        self.cdk.clear()
        self.kubectl.log.unlink(missing_ok=True)
        with self.kube.lock:
            self.kube.objects.clear()
            self.kube.requests.clear()

    def run(
        self,
        *,
        faults: Sequence[Fault] = (),
        sleep: Callable[[float], None] = lambda _seconds: None,
        approvals: Mapping[str, str] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> RunResult:
        """Run the compiled pipeline for the app's head commit with ``aphex run``'s Python API; each
        approval gets the decision ``approvals`` gives it (default: production is approved)."""
        self.runs += 1
        answers = {"approve-production": "approve"} if approvals is None else dict(approvals)
        environment = self.base / "pod-environment.json"
        environment.write_text(json.dumps(self.step_environment()))
        name = f"shop-e2e-{self.runs}"
        workflow_path = f"/apis/argoproj.io/v1alpha1/namespaces/aphex/workflows/{name}"
        wrapper = shlex.join([sys.executable, str(self.base / "pod_wrapper.py"), str(environment)])
        options = RunOptions(
            template=PIPELINE,
            parameters={
                "commit-sha": self.sha,
                "branch": "refs/heads/main",
                "repo-url": self.repo.url,
                "repo-name": "octo-org/shop",
                "pusher": "octocat",
            },
            workdir=self.base / f"run-{self.runs}",
            workflow_name=name,
            namespace="aphex",
            standins={name: wrapper for name in STEP_TEMPLATES},
            # The operator's answer to each approval node (argo node set --output-parameter decision=...
            # then argo resume --node-field-selector displayName=NODE).
            resume={node: 0.0 for node in answers},
            set_outputs={node: {"decision": decision} for node, decision in answers.items()},
            faults=faults,
            lock_dir=self.base / "locks",
            python_path=[str(ROOT)],
            sleep=sleep,  # the network steps' retry backoff, without waiting
            progress=progress,
            on_update=lambda workflow: self.kube.put(workflow_path, workflow),
        )
        saved = os.environ["PATH"]
        os.environ["PATH"] = f"{self.bin}{os.pathsep}{self.kubectl.directory / 'bin'}{os.pathsep}{saved}"
        try:
            return run_workflow([self.pipeline], options)
        finally:
            os.environ["PATH"] = saved

    def assumed(self, account: str, role: str, region: str = REGION) -> Any:
        """A session in ``account`` through ``role`` (moto keys the account on the assumed credentials)."""
        credentials = self.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="aphex-e2e-test"
        )["Credentials"]
        return boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=region,
        )

    def snapshot(self) -> "AwsState":
        """What the run left in moto: the bucket's objects, the stacks of both accounts, the metrics."""
        s3 = self.client("s3")
        listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        objects = {
            item["Key"]: s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read() for item in listed
        }

        def stacks(cloudformation: Any) -> dict[str, dict[str, str]]:
            return {
                stack["StackName"]: {
                    "status": stack["StackStatus"],
                    **{o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []},
                }
                for stack in cloudformation.describe_stacks()["Stacks"]
            }

        production = self.assumed(PRODUCTION_ACCOUNT, "aphex-deploy").client(
            "cloudformation", endpoint_url=self.moto_url
        )
        metrics = {}
        cloudwatch = self.client("cloudwatch")
        for metric in cloudwatch.list_metrics(Namespace=METRICS_NAMESPACE)["Metrics"]:
            dimensions = tuple(sorted((d["Name"], d["Value"]) for d in metric["Dimensions"]))
            points = cloudwatch.get_metric_statistics(
                Namespace=METRICS_NAMESPACE,
                MetricName=metric["MetricName"],
                Dimensions=metric["Dimensions"],
                StartTime=datetime.now(UTC) - timedelta(hours=1),
                EndTime=datetime.now(UTC) + timedelta(hours=1),
                Period=7200,
                Statistics=["Sum", "SampleCount"],
            )["Datapoints"]
            metrics[(metric["MetricName"], dimensions)] = sum(point["Sum"] for point in points)
        return AwsState(
            objects=objects,
            staging_stacks=stacks(self.client("cloudformation")),
            production_stacks=stacks(production),
            metrics=metrics,
        )

    def store_objects(self) -> list[Path]:
        """Objects left in the local object store of the last run."""
        return list((self.base / f"run-{self.runs}" / "store").rglob("*.json"))


@contextmanager
def pipeline_environment(base: Path) -> Iterator[PipelineEnvironment]:
    """Compile the pipeline, start moto, create the app's git remote and the stand-ins under ``base``."""
    started = time.perf_counter()
    bundle = compile_pipeline(base)
    repo = make_repo(base / "repo", STACKS)
    # The app's own configuration at its head commit: the same as the compiled one.
    sha = repo.commit({"aphex-config.yaml": yaml.safe_dump(app_config())}, message="config")
    repo = AppRepo(url=repo.url, old=repo.head, head=sha, work=repo.work)
    bin_dir, cdk = install_cdk(base / "cdk")
    node = bin_dir / "node"
    node.write_text("#!/bin/sh\necho v20.0.0\n")
    node.chmod(0o755)
    (base / "pod_wrapper.py").write_text(POD_WRAPPER)
    kubectl = install(base / "kubectl", ["kubectl"])
    kubectl.on("kubectl", "apply", stdout=f"workflowtemplate.argoproj.io/{PIPELINE} serverside-applied\n")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        with kube_standin() as kube:
            environment = PipelineEnvironment(
                base=base,
                pipeline=pipeline_file(bundle),
                moto_url=f"http://{host}:{port}",
                repo=repo,
                bin=bin_dir,
                cdk=cdk,
                kubectl=kubectl,
                kube=kube,
            )
            print(f"set-up {time.perf_counter() - started:.1f} s", file=sys.stderr)
            yield environment
    finally:
        server.stop()
