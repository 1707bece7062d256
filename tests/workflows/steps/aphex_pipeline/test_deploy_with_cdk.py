"""The real AWS CDK CLI (installed with npm into a temporary directory) synthesizes through ``synth``.

Skipped, with the reason, when npm or node is missing or the npm registry cannot be reached.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from aphex.workflows.steps.aphex_pipeline import deploy as cdk_deploy
from aphex.workflows.steps.common import shell
from aphex.workflows.steps.common.process import StepError

APP = """const cdk = require("aws-cdk-lib");
const ssm = require("aws-cdk-lib/aws-ssm");
const app = new cdk.App();
const stack = new cdk.Stack(app, "Hello");
new ssm.StringParameter(stack, "Marker", { parameterName: "/aphex/hello", stringValue: "v1" });
new cdk.CfnOutput(stack, "Greeting", { value: app.node.tryGetContext("greeting") || "none" });
new cdk.Stack(app, "Other");
app.synth();
"""


@pytest.fixture(scope="module")
def cdk_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not shutil.which("npm") or not shutil.which("node"):
        pytest.skip("npm and node are needed to install the AWS CDK CLI")
    project = tmp_path_factory.mktemp("cdk-app")
    (project / "package.json").write_text(json.dumps({"name": "aphex-cdk-probe", "private": True}))
    try:
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
             "aws-cdk@2", "aws-cdk-lib@2", "constructs@10"],
            cwd=project, check=True, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"npm could not install aws-cdk (registry unreachable?): {str(error)[:200]}")
    (project / "app.js").write_text(APP)
    return project


def test_the_real_cdk_cli_synthesizes_one_stack_into_its_own_assembly(
    cdk_project: Path, tmp_path: Path
) -> None:
    env = shell.command_environment(
        tmp_path / "home",
        {
            "PATH": f"{cdk_project / 'node_modules' / '.bin'}:{os.environ['PATH']}",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
        },
    )
    assembly = tmp_path / "assembly" / "Hello"
    result, name, template = cdk_deploy.synth(
        "Hello",
        app="node app.js",
        assembly=assembly,
        cwd=cdk_project,
        env=env,
        context={"greeting": "hi"},
        timeout=180,
        log=tmp_path / "synth.log",
    )
    assert result.succeeded, result.output()
    assert name == "Hello"
    assert template == assembly / "Hello.template.json"
    body = json.loads(template.read_text())
    assert body["Outputs"]["Greeting"]["Value"] == "hi"
    assert [r["Type"] for r in body["Resources"].values() if r["Type"] != "AWS::CDK::Metadata"] == [
        "AWS::SSM::Parameter"
    ]
    manifest = json.loads((assembly / "manifest.json").read_text())
    assert manifest["artifacts"]["Hello"]["type"] == "aws:cloudformation:stack"


def test_a_stack_the_app_does_not_define_is_refused(cdk_project: Path, tmp_path: Path) -> None:
    env = shell.command_environment(
        tmp_path / "home",
        {"PATH": f"{cdk_project / 'node_modules' / '.bin'}:{os.environ['PATH']}",
         "CDK_DISABLE_CLI_TELEMETRY": "true"},
    )  # fmt: skip
    with pytest.raises(StepError):
        cdk_deploy.synth(
            "Missing", app="node app.js", assembly=tmp_path / "a", cwd=cdk_project, env=env, context={},
            timeout=180, log=tmp_path / "synth.log",
        )  # fmt: skip
