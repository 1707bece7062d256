"""An environment's tests: run ``tests.commands`` in order, report all of them, fail when any failed.

Every command runs (a failure does not stop the rest) as one ``bash -c <command>`` in the commit's
artifacts with a timeout; a command killed at its timeout counts as failed. The commands get the
scrubbed environment of :func:`aphex.workflows.steps.common.shell.command_environment` plus
``APHEX_ENVIRONMENT``, ``APHEX_COMMIT_SHA`` and ``APHEX_STACK_OUTPUTS`` (the path of the environment's
``outputs.json``, ``{stack: {output: value}}``); no AWS credentials are passed on.

The report is JUnit XML (``results.xml``: one ``testsuite`` of one ``testcase`` per command with its
``failure`` and ``system-out``, the format of https://github.com/testmoapp/junitxml), ``results.json`` and
``logs/NN.log``, stored under ``s3://<bucket>/<commit-sha>/tests/<environment>/`` before the verdict.
"""

import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]
from hera.workflows import Artifact, Parameter

from aphex.dsl.config.cloudformation import PipelineRole
from aphex.dsl.names import InvalidValue, validate_commit_sha, validate_relative_path
from aphex.dsl.stage import HEAVY_SCRATCH_SIZE, ON_POD_ERROR, ResourceClass, Stage, StepImage
from aphex.workflows.steps.aphex_pipeline.build import fetch_artifacts
from aphex.workflows.steps.common.aws import pod_session, validate_bucket
from aphex.workflows.steps.common.exits import fail
from aphex.workflows.steps.common.process import StepError
from aphex.workflows.steps.common.scratch import scratch
from aphex.workflows.steps.common.shell import ShellResult, command_environment, run_shell

__all__ = [
    "STAGE",
    "SuiteReport",
    "environment_for_tests",
    "junit_xml",
    "run_commands",
    "run_tests",
    "store_report",
]

_ENVIRONMENT = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SYSTEM_OUT_MAX: Final = 1_000_000


@dataclass(frozen=True, kw_only=True)
class SuiteReport:
    """The results of one environment's test commands."""

    environment: str
    commit_sha: str
    results: list[ShellResult]

    @property
    def failed(self) -> list[ShellResult]:
        return [r for r in self.results if not r.succeeded]

    def to_json(self) -> str:
        data = {
            "environment": self.environment,
            "commit_sha": self.commit_sha,
            "tests": len(self.results),
            "failures": len(self.failed),
            "results": [
                {
                    "index": index,
                    "command": r.command,
                    "passed": r.succeeded,
                    "exit_code": r.exit_code,
                    "timed_out": r.timed_out,
                    "started_at": r.started_at,
                    "finished_at": r.finished_at,
                    "duration_seconds": r.duration_seconds,
                    "log": f"logs/{r.log.name}",
                }
                for index, r in enumerate(self.results, start=1)
            ],
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def junit_xml(report: SuiteReport) -> str:
    """The report as a JUnit XML document (``testsuites`` > ``testsuite`` > ``testcase``)."""
    total = sum(r.duration_seconds for r in report.results)
    suite_name = f"aphex.{report.environment}"
    common = {
        "name": suite_name,
        "tests": str(len(report.results)),
        "failures": str(len(report.failed)),
        "errors": "0",
        "skipped": "0",
        "time": f"{total:.3f}",
    }
    root = ET.Element("testsuites", common)
    suite = ET.SubElement(
        root,
        "testsuite",
        {**common, "timestamp": report.results[0].started_at if report.results else ""},
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", {"name": "commit", "value": report.commit_sha})
    ET.SubElement(properties, "property", {"name": "environment", "value": report.environment})
    for index, result in enumerate(report.results, start=1):
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": suite_name,
                "name": _xml_text(f"{index:02d}: {result.command}"),
                "time": f"{result.duration_seconds:.3f}",
            },
        )
        if not result.succeeded:
            if result.timed_out:
                message, kind = f"timed out after {result.duration_seconds:.0f} s", "timeout"
            else:
                message, kind = f"exited {result.exit_code}", "exit-code"
            failure = ET.SubElement(case, "failure", {"message": message, "type": kind})
            failure.text = _xml_text(result.output()[-4000:])
        ET.SubElement(case, "system-out").text = _xml_text(result.output()[-_SYSTEM_OUT_MAX:])
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def run_commands(
    commands: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float, logs: Path
) -> list[ShellResult]:
    """Run every command in order, whatever the outcome of the ones before."""
    results = []
    for index, command in enumerate(commands, start=1):
        print(f"[aphex] test {index}/{len(commands)}: {command}", flush=True)
        result = run_shell(command, cwd=cwd, env=env, timeout=timeout, log=logs / f"{index:02d}.log")
        sys.stdout.write(result.output())
        verdict = "passed" if result.succeeded else ("timed out" if result.timed_out else "failed")
        print(f"[aphex] test {index} {verdict} in {result.duration_seconds:.1f} s", flush=True)
        results.append(result)
    return results


def store_report(s3: Any, *, bucket: str, report: SuiteReport, directory: Path) -> str:
    """Upload ``results.xml``, ``results.json`` and the logs; return the S3 prefix."""
    prefix = f"{report.commit_sha}/tests/{report.environment}"
    files = {
        "results.xml": ("application/xml", (directory / "results.xml").read_bytes()),
        "results.json": ("application/json", (directory / "results.json").read_bytes()),
    }
    for result in report.results:
        files[f"logs/{result.log.name}"] = ("text/plain; charset=utf-8", result.log.read_bytes())
    for name, (content_type, body) in files.items():
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=body, ContentType=content_type)
    return f"s3://{bucket}/{prefix}/"


def environment_for_tests(
    *, home: Path, environment: str, commit_sha: str, outputs_file: Path
) -> dict[str, str]:
    """What the test commands see (see the module docstring)."""
    return command_environment(
        home,
        {
            "APHEX_ENVIRONMENT": environment,
            "APHEX_COMMIT_SHA": commit_sha,
            "APHEX_STACK_OUTPUTS": str(outputs_file),
        },
    )


def _commands(value: str) -> list[str]:
    try:
        commands = json.loads(value)
    except json.JSONDecodeError:
        raise InvalidValue("commands", value, "must be a JSON list of shell commands") from None
    if not isinstance(commands, list) or not commands:
        raise InvalidValue("commands", value, "must be a non-empty JSON list of shell commands")
    for index, command in enumerate(commands):
        if not isinstance(command, str) or not command.strip():
            raise InvalidValue(f"commands[{index}]", command, "must be a non-empty string")
    return commands


def _outputs(value: str) -> dict[str, Any]:
    try:
        outputs = json.loads(value or "{}")
    except json.JSONDecodeError:
        raise InvalidValue("stack-outputs", value, "must be JSON") from None
    if not isinstance(outputs, dict):
        raise InvalidValue("stack-outputs", value, "must be a JSON object {stack: {output: value}}")
    return outputs


def run_tests(
    environment: str,
    commit_sha: str,
    bucket: str,
    commands: str,
    report: Annotated[Path, Artifact(name="test-results", output=True)],
    stack_outputs: str = "{}",
    working_directory: str = ".",
    command_timeout: int = 1800,
) -> Annotated[str, Parameter(name="test-results-uri")]:
    """Runner entrypoint: run the environment's tests, store the report; fails when any test failed."""
    try:
        return _run_tests(
            environment=environment,
            commit_sha=commit_sha,
            bucket=bucket,
            commands=commands,
            report=report,
            stack_outputs=stack_outputs,
            working_directory=working_directory,
            command_timeout=command_timeout,
            s3=pod_session().client("s3"),
        )
    except (InvalidValue, StepError, BotoCoreError, ClientError) as error:
        raise fail(error) from None


STAGE: Final = Stage(
    entrypoint=run_tests,
    name="run-tests",
    resources=ResourceClass.HEAVY,
    timeout="24h",
    retry=ON_POD_ERROR,
    account=PipelineRole.BUILD.value,
    image=StepImage.BUILDER,
    scratch_size=HEAVY_SCRATCH_SIZE,
)


def _run_tests(
    *,
    environment: str,
    commit_sha: str,
    bucket: str,
    commands: str,
    report: Path,
    stack_outputs: str,
    working_directory: str,
    command_timeout: int,
    s3: Any,
) -> str:
    if not _ENVIRONMENT.match(environment):
        raise InvalidValue("environment", environment, "must match ^[a-z0-9-]+$ (at most 63 characters)")
    validate_commit_sha(commit_sha, "commit-sha", allow_empty=False)
    validate_bucket(bucket)
    if working_directory != ".":
        validate_relative_path(working_directory, "working-directory")
    if not 1 <= command_timeout <= 6 * 3600:
        raise InvalidValue("command-timeout", command_timeout, "must be between 1 and 21600 seconds")
    lines = _commands(commands)
    outputs = _outputs(stack_outputs)
    work = scratch(f"tests-{environment}-")
    root = fetch_artifacts(s3, bucket=bucket, commit_sha=commit_sha, destination=work / "artifacts")
    cwd = root / working_directory
    if not cwd.is_dir():
        raise InvalidValue("working-directory", working_directory, "is not a directory of the artifacts")
    report.mkdir(parents=True, exist_ok=True)
    outputs_file = report / "stack-outputs.json"
    outputs_file.write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    env = environment_for_tests(
        home=work / "home", environment=environment, commit_sha=commit_sha, outputs_file=outputs_file
    )
    results = run_commands(lines, cwd=cwd, env=env, timeout=command_timeout, logs=report / "logs")
    outcome = SuiteReport(environment=environment, commit_sha=commit_sha, results=results)
    (report / "results.xml").write_text(junit_xml(outcome), encoding="utf-8")
    (report / "results.json").write_text(outcome.to_json(), encoding="utf-8")
    uri = store_report(s3, bucket=bucket, report=outcome, directory=report)
    failed = outcome.failed
    print(f"{len(results) - len(failed)}/{len(results)} test commands passed; report at {uri}")
    if failed:
        names = ", ".join(f"{results.index(r) + 1} `{r.command}`" for r in failed)
        raise StepError(f"{len(failed)} of {len(results)} test commands failed in {environment}: {names}")
    return uri
