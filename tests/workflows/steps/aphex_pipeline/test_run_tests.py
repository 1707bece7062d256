"""Environment tests: every command runs, JUnit XML and logs are stored in moto's S3, failures fail."""

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aphex.workflows.steps.aphex_pipeline import build, run_tests
from aphex.workflows.steps.common import shell
from tests.runner import run_step
from tests.workflows.steps.conftest import reset_moto

BUCKET = "aphex-artifacts"
SHA = "e" * 40
FAST = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def store_artifacts(source: Path, sha: str = SHA) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    (source / "tests").mkdir(parents=True, exist_ok=True)
    (source / "tests" / "smoke.sh").write_text("echo smoke ok\n")
    record = build.BuildMetadata(
        commit_sha=sha, branch="main", build_timestamp="2026-01-01T00:00:00.000000Z", artifact_path=".",
        commands=[], succeeded=True,
    )  # fmt: skip
    build.upload_build(
        boto3.client("s3"),
        bucket=BUCKET,
        metadata=record,
        archive=build.package(source, record),
        log="",
    )


def s3_text(key: str) -> str:
    return str(boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read().decode())


def test_every_command_runs_and_the_report_counts_the_failures(
    moto: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_artifacts(tmp_path / "src")
    commands = [
        "bash tests/smoke.sh",
        "echo 'expected <ok> & got bad'; exit 2",
        "sleep 20",
        'echo ran >> "$HOME/ran"; cat "$APHEX_STACK_OUTPUTS"; env | grep -c AWS_ || true',
    ]
    outputs = {"Api": {"Url": "https://api.example.com/"}}
    report = tmp_path / "report"
    started = time.monotonic()
    with pytest.raises(SystemExit) as caught:
        run_tests.run_tests(
            environment="staging",
            commit_sha=SHA,
            bucket=BUCKET,
            commands=json.dumps(commands),
            report=report,
            stack_outputs=json.dumps(outputs),
            command_timeout=1,
        )
    assert time.monotonic() - started < 15
    assert caught.value.code == 1
    assert capsys.readouterr().err.strip() == (
        "2 of 4 test commands failed in staging: 2 `echo 'expected <ok> & got bad'; exit 2`, 3 `sleep 20`"
    )
    prefix = f"{SHA}/tests/staging"
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]}
    names = ["results.xml", "results.json", "logs/01.log", "logs/02.log", "logs/03.log", "logs/04.log"]
    assert keys == {f"{prefix}/{name}" for name in names}
    root = ET.fromstring(s3_text(f"{prefix}/results.xml"))  # noqa: S314 - our own report
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "2", "0")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [f"{i:02d}: {c}" for i, c in enumerate(commands, start=1)]
    failures = [c.find("failure") for c in cases]
    assert [f is not None for f in failures] == [False, True, True, False]
    assert failures[1] is not None
    assert failures[1].get("message") == "exited 2"
    assert failures[2] is not None
    assert failures[2].get("type") == "timeout"
    assert "smoke ok" in (cases[0].findtext("system-out") or "")
    assert "expected <ok> & got bad" in (cases[1].findtext("system-out") or "")
    last = (cases[3].findtext("system-out") or "").splitlines()
    assert json.loads("\n".join(last[:-1])) == outputs
    assert last[-1] == "0"  # no AWS_ variable reached the test command
    results = json.loads(s3_text(f"{prefix}/results.json"))
    assert (results["tests"], results["failures"]) == (4, 2)
    assert [r["passed"] for r in results["results"]] == [True, False, False, True]
    assert results["results"][2]["timed_out"] is True
    assert s3_text(f"{prefix}/logs/01.log") == "smoke ok\n"
    assert (report / "results.xml").read_text() == s3_text(f"{prefix}/results.xml")


def test_control_characters_do_not_break_the_xml(tmp_path: Path) -> None:
    env = shell.command_environment(tmp_path / "home")
    results = run_tests.run_commands(
        [r"printf 'a\000b\033[31mred\n'; exit 1"], cwd=tmp_path, env=env, timeout=10, logs=tmp_path / "logs"
    )
    document = run_tests.junit_xml(run_tests.SuiteReport(environment="dev", commit_sha=SHA, results=results))
    case = ET.fromstring(document).find("testsuite/testcase")  # noqa: S314 - our own report
    assert case is not None
    assert "red" in (case.findtext("system-out") or "")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"commands": "[]"}, "invalid parameter commands:"),
        ({"commands": '["ok", ""]'}, "invalid parameter commands[1]:"),
        ({"commands": "make test"}, "invalid parameter commands:"),
        ({"environment": "Prod!"}, "invalid parameter environment:"),
        ({"stack_outputs": "[1]"}, "invalid parameter stack-outputs:"),
        ({"working_directory": "/etc"}, "invalid parameter working-directory:"),
    ],
)
def test_bad_parameters_are_named(
    moto: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], overrides: dict[str, str], message: str
) -> None:
    args = {"environment": "dev", "commit_sha": SHA, "bucket": BUCKET, "commands": '["true"]'}
    args.update(overrides)
    with pytest.raises(SystemExit):
        run_tests.run_tests(report=tmp_path / "r", **args)  # type: ignore[arg-type]
    assert capsys.readouterr().err.startswith(message)


# Property 12: test commands run in the configured order (all of them, whatever fails).
@FAST
@given(steps=st.lists(st.tuples(st.from_regex(r"\A[a-z0-9]{1,6}\Z"), st.booleans()), min_size=1, max_size=5))
def test_property_12_test_commands_in_order(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, bool]]
) -> None:
    work = tmp_path_factory.mktemp("order")
    commands = [f"echo {token} >> order.txt; exit {0 if ok else 1}" for token, ok in steps]
    env = shell.command_environment(work / "home")
    results = run_tests.run_commands(commands, cwd=work, env=env, timeout=30, logs=work / "logs")
    assert (work / "order.txt").read_text().split() == [token for token, _ in steps]
    assert [r.succeeded for r in results] == [ok for _, ok in steps]


# Property 13: the results of every command are stored under the commit and environment.
@FAST
@given(
    outcomes=st.lists(st.booleans(), min_size=1, max_size=5),
    environment=st.from_regex(r"\A[a-z][a-z0-9-]{0,10}[a-z0-9]\Z"),
)
def test_property_13_test_results_stored(
    moto: str, tmp_path_factory: pytest.TempPathFactory, outcomes: list[bool], environment: str
) -> None:
    reset_moto(moto)
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    work = tmp_path_factory.mktemp("stored")
    env = shell.command_environment(work / "home")
    commands = [f"echo case-{i}; exit {0 if ok else 3}" for i, ok in enumerate(outcomes)]
    results = run_tests.run_commands(commands, cwd=work, env=env, timeout=30, logs=work / "logs")
    report = run_tests.SuiteReport(environment=environment, commit_sha=SHA, results=results)
    (work / "results.xml").write_text(run_tests.junit_xml(report))
    (work / "results.json").write_text(report.to_json())
    uri = run_tests.store_report(boto3.client("s3"), bucket=BUCKET, report=report, directory=work)
    assert uri == f"s3://{BUCKET}/{SHA}/tests/{environment}/"
    suite = ET.fromstring(s3_text(f"{SHA}/tests/{environment}/results.xml")).find("testsuite")  # noqa: S314 - our own report
    assert suite is not None
    assert int(suite.get("tests", "-1")) == len(outcomes)
    assert int(suite.get("failures", "-1")) == outcomes.count(False)
    stored = json.loads(s3_text(f"{SHA}/tests/{environment}/results.json"))
    assert [r["passed"] for r in stored["results"]] == outcomes
    for index in range(len(outcomes)):
        assert s3_text(f"{SHA}/tests/{environment}/logs/{index + 1:02d}.log") == f"case-{index}\n"


def test_through_the_runner_boundary(moto: str, tmp_path: Path) -> None:
    store_artifacts(tmp_path / "src")
    inputs = {
        "environment": "dev",
        "commit_sha": SHA,
        "bucket": BUCKET,
        "commands": json.dumps(["bash tests/smoke.sh", 'test "$APHEX_ENVIRONMENT" = dev']),
        "stack_outputs": "{}",
        "working_directory": ".",
        "command_timeout": "30",
    }
    out = tmp_path / "out"
    result = run_step("aphex.workflows.steps.aphex_pipeline.run_tests:run_tests", inputs, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (out / "parameters" / "test-results-uri").read_text() == f"s3://{BUCKET}/{SHA}/tests/dev/"
    suite = ET.parse(out / "artifacts" / "test-results" / "results.xml").getroot().find("testsuite")  # noqa: S314 - our own report
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("2", "0")
    assert "2/2 test commands passed" in result.stdout
