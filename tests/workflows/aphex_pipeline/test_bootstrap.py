"""``aphex pipeline``: the bootstrap templates deployed into moto's CloudFormation, the values entry read
back from ``describe-stacks``, two clusters in one account, and a property test over names."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from aphex.cli import main
from aphex.dsl.config import load_config
from aphex.dsl.config.cloudformation import (
    DEFAULT_WORKFLOW_TEMPLATE,
    oidc_provider_export,
    pipeline_resources_template,
    pipeline_stack_name,
    self_update_stack_name,
)
from aphex.dsl.config.resources import pipeline_id
from aphex.dsl.settings import load_settings, settings_from_document
from aphex.workflows.aphex_pipeline.bootstrap import pipeline_entry

PROVIDER = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/{}"
CONFIG = """version: "1.0"
build: {commands: [make]}
environments:
  - {name: dev, region: eu-west-1, account: "123456789012", stacks: [{name: App, path: .}]}
"""


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    empty = tmp_path_factory.mktemp("aws") / "none"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_CONFIG_FILE": str(empty),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        }.items():
            patch.setenv(name, value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def deploy(cloudformation: Any, name: str, template: Path) -> dict[str, Any]:
    cloudformation.create_stack(
        StackName=name, TemplateBody=template.read_text(), Capabilities=["CAPABILITY_IAM"]
    )
    answer: dict[str, Any] = cloudformation.describe_stacks(StackName=name)
    assert answer["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    return answer


def bootstrap(tmp_path: Path, cloudformation: Any, cluster: str, capsys: pytest.CaptureFixture[str]) -> Any:
    """The bootstrap of docs/install.md for ``cluster``: the commands, then the stacks, then the entry."""
    config = tmp_path / "aphex-config.yaml"
    config.write_text(CONFIG)
    out = tmp_path / cluster
    provider = PROVIDER.format(cluster.upper())
    assert main(["pipeline", "cluster-stack", "--cluster", cluster, "--oidc-provider-arn", provider,
                 "--out", str(out / "cluster.json")]) == 0  # fmt: skip
    common = ["--config", str(config), "--release", "aphex", "--cluster", cluster]
    assert main(["pipeline", "stack", *common, "--out", str(out / "pipeline.json")]) == 0
    assert main(["pipeline", "self-update-stack", *common, "--out", str(out / "self-update.json")]) == 0
    written = capsys.readouterr().out
    stack, self_update = f"{cluster}-aphex-aphex-pipeline", f"{cluster}-aphex-aphex-pipeline-self-update"
    assert f"stack {stack} to" in written
    assert f"stack {self_update} to" in written
    deploy(cloudformation, f"aphex-cluster-{cluster}", out / "cluster.json")
    for name, template in [(stack, "pipeline.json"), (self_update, "self-update.json")]:
        answer = deploy(cloudformation, name, out / template)
        (out / f"{name}.described.json").write_text(json.dumps(answer, default=str))
    assert main(["pipeline", "values", "--repository", "shop",
                 "--stack-outputs", str(out / f"{stack}.described.json"),
                 "--stack-outputs", str(out / f"{self_update}.described.json")]) == 0  # fmt: skip
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.filterwarnings("ignore:Tried to parse AWS..:UserWarning")
def test_two_clusters_in_one_account_bootstrap_side_by_side(
    aws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloudformation = boto3.client("cloudformation", endpoint_url=aws)
    iam = boto3.client("iam", endpoint_url=aws)
    entries = {cluster: bootstrap(tmp_path, cloudformation, cluster, capsys) for cluster in ("blue", "green")}
    for cluster, (entry,) in entries.items():
        assert entry["name"] == DEFAULT_WORKFLOW_TEMPLATE
        assert entry["repository"] == "shop"
        assert entry["cluster"] == cluster
        stack = f"{cluster}-aphex-aphex-pipeline"
        assert re.fullmatch(r"aphex-[0-9a-f]{12}-123456789012-eu-west-1", entry["artifactBucket"])
        for kind in ("build", "deploy", "monitor"):
            assert entry["roleArns"][kind].startswith(f"arn:aws:iam::123456789012:role/aphex/{stack}/")
        self_update = entry["roleArns"]["selfUpdate"]
        assert self_update.startswith(f"arn:aws:iam::123456789012:role/aphex-self-update/{stack}/")
        # Every role trusts the OIDC provider of its own cluster, through that cluster's export.
        for arn in entry["roleArns"].values():
            role = iam.get_role(RoleName=arn.rsplit("/", 1)[1])["Role"]
            (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
            assert trust["Principal"] == {"Federated": PROVIDER.format(cluster.upper())}
        # The entry is a valid values entry, and the pipeline compiles with it.
        settings = load_settings({"pipelines": entries[cluster]})
        assert settings.pipelines[0].cluster == cluster
    assert entries["blue"][0]["artifactBucket"] != entries["green"][0]["artifactBucket"]


def test_the_entry_compiles_the_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = {
        "WorkflowTemplateName": "aphex-pipeline",
        "ArtifactBucketName": "aphex-0123456789ab-123456789012-eu-west-1",
        "Cluster": "blue",
        **{
            f"{kind}RoleArn": f"arn:aws:iam::123456789012:role/aphex/blue-aphex-aphex-pipeline/{kind}"
            for kind in ("Build", "Deploy", "Monitor")
        },
    }
    self_update = {"SelfUpdateRoleArn": "arn:aws:iam::123456789012:role/aphex-self-update/x/SelfUpdate"}
    entry = pipeline_entry([outputs, self_update], "shop")
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"pipelines": [entry]}))
    config = tmp_path / "aphex-config.yaml"
    config.write_text(CONFIG)
    assert main(["compile", "--values", str(values), "--config", str(config), "--pipeline-only",
                 "--out", str(tmp_path / "dist")]) == 0  # fmt: skip
    (written,) = (tmp_path / "dist").rglob("*.yaml")
    found = [
        settings_from_document(json.loads(parameter["value"]))
        for parameter in parameters(yaml.safe_load(written.read_text()))
        if parameter.get("name") == "settings"
    ]
    # The self-update step gets its own entry, cluster included: the cluster names the stack it
    # redeploys and the OIDC export.
    assert [found_settings.pipelines for found_settings in found] == [
        load_settings({"pipelines": [entry]}).pipelines
    ]
    assert [found_settings.pipelines[0].cluster for found_settings in found] == ["blue"]
    assert found[0].pipelines[0].role_arns.self_update == self_update["SelfUpdateRoleArn"]


def parameters(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "name" in node and isinstance(node.get("value"), str):
            yield node
        for child in node.values():
            yield from parameters(child)
    elif isinstance(node, list):
        for child in node:
            yield from parameters(child)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cluster-stack", "--cluster", "9lives", "--oidc-provider-arn", PROVIDER.format("A")], "cluster:"),
        (["cluster-stack", "--oidc-provider-arn", "arn:aws:iam::1:role/x"], "oidcProviderArn:"),
        (["stack", "--release", "Bad_Release"], "release name 'Bad_Release'"),
        (["stack", "--release", "aphex", "--namespace", "Bad_NS"], "release namespace 'Bad_NS'"),
        (["stack", "--release", "aphex", "--cluster", "a_b"], "cluster:"),
    ],
)
def test_bad_input_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    config = tmp_path / "aphex-config.yaml"
    config.write_text(CONFIG)
    extra = ["--config", str(config)] if argv[0] == "stack" else []
    assert main(["pipeline", *argv, *extra, "--out", str(tmp_path / "t.json")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()


def test_values_refuses_outputs_of_other_stacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    described = tmp_path / "d.json"
    described.write_text(json.dumps({"Stacks": [{"StackName": "x", "Outputs": []}]}))
    assert main(["pipeline", "values", "--repository", "shop", "--stack-outputs", str(described)]) == 2
    assert "exactly one pipeline stack (a stack with output WorkflowTemplateName), found 0" in (
        capsys.readouterr().err
    )


_LABEL = st.from_regex(r"[a-z][a-z0-9]{0,5}(-[a-z0-9]{1,4})?", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(
    release=_LABEL,
    name=st.none() | _LABEL,
    cluster=st.just("") | st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
)
def test_outputs_and_names_are_right_for_every_config(release: str, name: str | None, cluster: str) -> None:
    """For every release, pipeline.name (or none) and cluster: WorkflowTemplateName is the template the
    compiler names, the stacks and the export are valid and carry the cluster, the bucket is valid."""
    text = CONFIG + (f"pipeline: {{name: {name}}}\n" if name else "")
    config = load_config(text)
    identity = pipeline_id(config, load_settings(release=release))
    template = pipeline_resources_template(config, pipeline_name=identity, namespace="argo", cluster=cluster)
    assert template["Outputs"]["WorkflowTemplateName"]["Value"] == (name or DEFAULT_WORKFLOW_TEMPLATE)
    assert ("Cluster" in template["Outputs"]) == bool(cluster)
    stack, self_update = pipeline_stack_name(identity, cluster), self_update_stack_name(identity, cluster)
    for stack_name in (stack, self_update):
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,127}", stack_name)
        assert stack_name.startswith(f"{cluster}-" if cluster else identity)
    export = oidc_provider_export(cluster)
    assert re.fullmatch(r"[A-Za-z0-9:-]{1,255}", export)
    assert cluster in export
    assert export != oidc_provider_export(cluster + "x")
    trust = template["Resources"]["BuildRole"]["Properties"]["AssumeRolePolicyDocument"]["Fn::Sub"][1]
    assert trust["ProviderArn"] == {"Fn::ImportValue": export}
    bucket = template["Resources"]["ArtifactBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    concrete = bucket.replace("${AWS::AccountId}", "123456789012").replace("${AWS::Region}", "us-gov-west-1")
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", concrete)
    assert template["Resources"]["BuildRole"]["Properties"]["Path"] == f"/aphex/{stack}/"
