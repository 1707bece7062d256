"""Refusals, retries with an injected clock, mutexes across concurrent runs, expressions, and the real
compiled ``coderun-template`` run locally with CodeRuns completed by the object store."""

import json
import threading
import time
from pathlib import Path

import pytest

from aphex.cli import main
from aphex.dsl.run import Fault, LeafCall, LeafOutcome, RunOptions, RunRefused, run_workflow
from aphex.dsl.run.expressions import ExpressionError, TaskOutcome, evaluate_depends, evaluate_when
from aphex.dsl.run.store import RuleError, parse_rule

CORPUS = Path(__file__).parent / "corpus"

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: wf}}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {{name: a, template: leaf{task_extra}}}
  - name: leaf
{leaf}
"""


def _write(tmp_path: Path, leaf: str, task_extra: str = "") -> Path:
    file = tmp_path / "wf.yaml"
    file.write_text(WORKFLOW.format(leaf=leaf, task_extra=task_extra))
    return file


@pytest.mark.parametrize(
    ("leaf", "task_extra", "fragment"),
    [
        ("    podSpecPatch: '{}'\n    container: {image: a, command: [x]}", "", "templates[1].podSpecPatch"),
        ("    daemon: true\n    container: {image: a, command: [x]}", "", "templates[1].daemon"),
        ("    http: {url: 'https://example.com'}", "", "templates[1].http: http templates"),
        ("    plugin: {hello: {}}", "", "templates[1].plugin"),
        (
            "    memoize: {key: k, cache: {configMap: {name: c}}}\n    container: {image: a, command: [x]}",
            "",
            "templates[1].memoize",
        ),
        (
            "    synchronization: {semaphores: [{configMapKeyRef: {name: l, key: k}}]}\n"
            "    container: {image: a, command: [x]}",
            "",
            "templates[1].synchronization",
        ),
        (
            "    container: {image: a, command: ['{{=sprig.upper(\"x\")}}']}",
            "",
            "container.command[0]: expression",
        ),
        ("    container: {image: a, command: [x]}", ", depends: 'b.Daemoned'", "lint: "),
        ("    container: {image: a, command: [x]}", ", when: 'a in b'", "tasks[0].when: unexpected 'in'"),
        ("    container: {image: a, command: [x]}", "", "nothing runs template 'leaf' locally"),
        (
            "    container: {image: a, command: [x], envFrom: [{secretRef: {name: s}}]}",
            "",
            "container.envFrom",
        ),
        (
            "    inputs: {artifacts: [{name: s, path: /s, s3: {key: k}}]}\n"
            "    container: {image: a, command: [x]}",
            "",
            "inputs.artifacts[0].s3",
        ),
        ("    resource: {action: delete, manifest: 'kind: X'}", "", "resource.action"),
    ],
)
def test_unsupported_fields_are_refused_before_running(
    tmp_path: Path, leaf: str, task_extra: str, fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    file = _write(tmp_path, leaf, task_extra)
    code = main(["run", str(file), "--workdir", str(tmp_path / "w")])
    assert code == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert not (tmp_path / "w" / "nodes").exists()  # nothing ran


def test_missing_and_unknown_parameters_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "wf.yaml"
    file.write_text((CORPUS / "steps.yaml").read_text().replace("      value: hello\n", ""))
    with pytest.raises(RunRefused) as refused:
        run_workflow([file], RunOptions(parameters={"nope": "1"}, allow_host_commands=True, workdir=tmp_path))
    assert any("spec.arguments.parameters[0] (message): no value" in p for p in refused.value.problems)
    assert any("-p nope" in p for p in refused.value.problems)


class FakeClock:
    """Sleeping advances a virtual clock instantly."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


RETRY = """
    retryStrategy:
      limit: 5
      backoff: {duration: 5s, factor: 2, maxDuration: 1m}
    container: {image: a, command: [x]}
"""


def _counting(fail_first: int) -> tuple[dict[str, int], dict[str, object]]:
    calls = {"n": 0}

    def leaf(call: LeafCall) -> LeafOutcome:
        calls["n"] += 1
        return LeafOutcome(phase="Failed" if calls["n"] <= fail_first else "Succeeded", message="boom")

    return calls, {"leaf": leaf}


def test_retry_with_fail_attempts_recovers_and_backs_off(tmp_path: Path) -> None:
    clock = FakeClock()
    calls, functions = _counting(0)
    result = run_workflow(
        [_write(tmp_path, RETRY)],
        RunOptions(
            workdir=tmp_path / "w",
            faults=[Fault(node="a", attempts=2)],
            functions=functions,  # type: ignore[arg-type]
            sleep=clock.sleep,
            clock=clock.clock,
        ),
    )
    assert result.phase == "Succeeded"
    assert [result.by_display_name(f"a({i})").phase for i in range(3)] == ["Failed", "Failed", "Succeeded"]
    assert clock.slept == [5.0, 10.0]
    assert calls["n"] == 1  # the forced failures never reached the handler


def test_retry_stops_at_backoff_max_duration(tmp_path: Path) -> None:
    clock = FakeClock()
    calls, functions = _counting(100)
    result = run_workflow(
        [_write(tmp_path, RETRY)],
        RunOptions(workdir=tmp_path / "w", functions=functions, sleep=clock.sleep, clock=clock.clock),  # type: ignore[arg-type]
    )
    assert result.phase == "Failed"
    assert clock.slept == [5.0, 10.0, 20.0]  # 5+10+20 = 35; the next 40 s would pass one minute
    assert calls["n"] == 4
    # operator.go, processNodeRetries: the retry node keeps the last attempt's phase.
    assert result.by_display_name("a").message == "Backoff would exceed max duration limit"
    assert result.by_display_name("a").phase == "Failed"


def test_retry_cli_fail_attempts(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    code = main(
        [
            "run",
            str(CORPUS / "fault-injection.yaml"),
            "--allow-host-commands",
            "--fail",
            "c:attempts=2",
            "--workdir",
            str(tmp_path / "w"),
            "--report",
            str(report),
            "--quiet",
        ]
    )
    nodes = {n["displayName"]: n["phase"] for n in json.loads(report.read_text())["nodes"]}
    assert code == 0
    assert nodes["c"] == "Succeeded"
    assert nodes["c(1)"] == "Failed"
    assert nodes["c(2)"] == "Succeeded"


MUTEX = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
spec:
  entrypoint: main
  synchronization:
    mutexes: [{name: the-repo}]
  templates:
  - name: main
    container: {image: a, command: [x]}
"""


def test_second_concurrent_run_with_same_mutex_waits(tmp_path: Path) -> None:
    events: list[str] = []
    first_started = threading.Event()
    release_first = threading.Event()

    def hold(call: LeafCall) -> LeafOutcome:
        events.append(f"start {call.workflow_name}")
        if call.workflow_name == "first":
            first_started.set()
            release_first.wait(10)
        events.append(f"end {call.workflow_name}")
        return LeafOutcome(phase="Succeeded")

    waits: list[str] = []
    results: dict[str, str] = {}

    def run(name: str) -> None:
        file = tmp_path / f"{name}.yaml"
        file.write_text(MUTEX.replace("NAME", name))
        options = RunOptions(
            workdir=tmp_path / name,
            lock_dir=tmp_path / "locks",
            functions={"main": hold},
            progress=lambda line: waits.append(line) if "waiting" in line else None,
        )
        results[name] = run_workflow([file], options).phase

    first = threading.Thread(target=run, args=("first",))
    first.start()
    assert first_started.wait(10)
    second = threading.Thread(target=run, args=("second",))
    second.start()
    deadline = time.monotonic() + 10
    while not waits and time.monotonic() < deadline:
        time.sleep(0.01)
    assert waits
    assert "second" in waits[0]
    assert "mutex the-repo" in waits[0]
    assert events == ["start first"]  # the second run has not started its node
    release_first.set()
    first.join(10)
    second.join(10)
    assert events == ["start first", "end first", "start second", "end second"]
    assert results == {"first": "Succeeded", "second": "Succeeded"}


def test_depends_expressions() -> None:
    outcomes = {
        "a": TaskOutcome(phase="Succeeded"),
        "b": TaskOutcome(phase="Failed"),
        "c": TaskOutcome(phase="Error"),
        "d": TaskOutcome(phase="Skipped"),
        "e": TaskOutcome(phase="Failed", continue_on_failed=True),
        "g": TaskOutcome(phase="Failed", child_phases=("Failed", "Succeeded")),
    }
    assert evaluate_depends("a && d", outcomes)  # bare names accept Skipped, as Argo expands them
    assert not evaluate_depends("b", outcomes)
    assert evaluate_depends("e", outcomes)  # continueOn.failed widens a bare name
    assert evaluate_depends("(b.Failed || b.Errored) && c.Errored && !a.Failed", outcomes)
    assert evaluate_depends("d.Skipped && a.Succeeded", outcomes)
    assert evaluate_depends("g.AnySucceeded && !g.AllFailed", outcomes)
    with pytest.raises(ExpressionError):
        evaluate_depends("a &&", outcomes)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("Succeeded == Succeeded", True),
        ("Failed != Succeeded && pr == pr", True),
        ("(1 < 2) && !(3 > 4)", True),
        ("'a b' == \"a b\"", True),
        ("false == true", False),
        ("2 == 2.0", True),
        ("x == 1", False),
    ],
)
def test_when_expressions(expression: str, expected: bool) -> None:
    assert evaluate_when(expression) is expected


@pytest.mark.parametrize("expression", ["a < 1", "a +", "a == b c", "len(a) > 1", "my-value == x"])
def test_when_expressions_refused(expression: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate_when(expression)


def test_resource_rule_parsing() -> None:
    rule = parse_rule("kind=CodeRun,label:aphex.dev/stage=qa,phase=Failed,after=0.5")
    assert (rule.kind, dict(rule.labels), rule.phase, rule.after) == (
        "CodeRun",
        {"aphex.dev/stage": "qa"},
        "Failed",
        0.5,
    )
    with pytest.raises(RuleError, match="phase is required"):
        parse_rule("kind=CodeRun")
    with pytest.raises(RuleError, match="unknown key 'colour'"):
        parse_rule("colour=red,phase=Succeeded")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    assert main(["compile", "--out", str(out)]) == 0
    return out


CODERUN_PARAMS = [
    "-p",
    "github-app=5DLabs-Tess",
    "-p",
    "stage=qa",
    "-p",
    "run-type=review",
    "-p",
    "owner=octo-org",
    "-p",
    "repo=hello",
    "-p",
    "pr=42",
    "-p",
    "repository-url=https://github.com/octo-org/hello",
    "-p",
    "service=hello",
    "-p",
    "model=claude-sonnet-4-5",
]


@pytest.mark.parametrize(
    ("rule", "phase"),
    [
        ("kind=CodeRun,phase=Succeeded,after=0.05", "Succeeded"),
        ("kind=CodeRun,label:aphex.dev/stage=qa,phase=Failed", "Failed"),
    ],
)
def test_real_coderun_template(compiled: Path, tmp_path: Path, rule: str, phase: str) -> None:
    report = tmp_path / "report.json"
    code = main(
        [
            "run",
            str(compiled / "workflowtemplate"),
            "--template",
            "coderun-template",
            "--entrypoint",
            "coderun-main",
            *CODERUN_PARAMS,
            "--resource-rule",
            rule,
            "--workdir",
            str(tmp_path / "w"),
            "--report",
            str(report),
            "--quiet",
            "--name",
            "local-pr-42",
        ]
    )
    data = json.loads(report.read_text())
    nodes = {n["displayName"]: n for n in data["nodes"]}
    assert code == (0 if phase == "Succeeded" else 1)
    assert nodes["validate"]["phase"] == "Succeeded"  # the real runner step, in a subprocess
    assert nodes["validate"]["outputs"]["parameters"]["pr"] == "42"
    assert nodes["run"]["phase"] == phase
    # One run per workflow and stage, applied: a retried stage adopts it instead of starting a second agent.
    assert nodes["run"]["outputs"]["parameters"]["name"] == "local-pr-42-qa"
    assert not list((tmp_path / "w" / "store").rglob("*.json"))  # owned CodeRuns were deleted
    assert data["workflow"]["phase"] == phase


def test_real_coderun_template_rejects_bad_input(compiled: Path, tmp_path: Path) -> None:
    params = [p.replace("pr=42", "pr=42; rm -rf /") for p in CODERUN_PARAMS]
    result = run_workflow(
        [compiled / "workflowtemplate"],
        RunOptions(
            template="coderun-template",
            entrypoint="coderun-main",
            workdir=tmp_path,
            parameters=dict(p.split("=", 1) for p in params if p != "-p"),
            resource_rules=[parse_rule("kind=CodeRun,phase=Succeeded")],
        ),
    )
    assert result.phase == "Failed"
    assert result.by_display_name("validate").phase == "Failed"
    assert "run" not in {n.display_name for n in result.nodes}
