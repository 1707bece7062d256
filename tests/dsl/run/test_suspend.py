"""Suspend nodes as Argo's controller runs them (argo-workflows workflow/controller/operator.go,
executeSuspend and addRawOutputFields; workflow/util/util.go, ResumeWorkflow and updateSuspendedNode),
with the operator's answers simulated by ``--resume``, ``--set-output`` and ``--resume-suspended``."""

import json
from pathlib import Path

import pytest

from aphex.cli import main
from aphex.dsl.run import LeafCall, LeafOutcome, RunOptions, RunRefused, RunResult, run_workflow
from aphex.dsl.run.cli import OptionError, parse_resume, parse_set_outputs

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: wf}}
spec:
  entrypoint: main
  onExit: bye
  templates:
  - name: main
    steps:
    - - {{name: wait, template: wait}}
    - - name: print
        template: print
        arguments:
          parameters:
          - {{name: input, value: "{{{{steps.wait.outputs.parameters.input}}}}"}}
          - {{name: select, value: "{{{{steps.wait.outputs.parameters.select}}}}"}}
  - name: wait
    suspend: {suspend}
    inputs:
      parameters:
      - {{name: input, default: Hello World}}
      - {{name: select, default: default, enum: [default, option1]}}
    outputs:
      parameters:
      - {{name: input, valueFrom: {{supplied: {{}}}}}}
      - {{name: select, valueFrom: {{supplied: {{}}{select_default}}}}}
  - name: print
    inputs: {{parameters: [{{name: input}}, {{name: select}}]}}
    container: {{image: a, command: [x]}}
  - name: bye
    container: {{image: a, command: [x]}}
"""


class FakeClock:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def clock(self) -> float:
        return sum(self.slept)


def _run(
    tmp_path: Path, suspend: str = "{}", select_default: str = "", **options: object
) -> tuple[RunResult, dict[str, str], FakeClock]:
    file = tmp_path / "wf.yaml"
    file.write_text(WORKFLOW.format(suspend=suspend, select_default=select_default))
    printed: dict[str, str] = {}
    clock = FakeClock()

    def record(call: LeafCall) -> LeafOutcome:
        printed.update({item["name"]: item["value"] for item in call.inputs})
        return LeafOutcome(phase="Succeeded")

    result = run_workflow(
        [file],
        RunOptions(
            workdir=tmp_path / "w",
            functions={"print": record, "bye": lambda call: LeafOutcome(phase="Succeeded")},
            sleep=clock.sleep,
            clock=clock.clock,
            **options,  # type: ignore[arg-type]
        ),
    )
    return result, printed, clock


def test_duration_resumes_by_itself_and_outputs_take_input_defaults(tmp_path: Path) -> None:
    # TestSuspendTimeoutWithInputDefaults: duration elapsed, supplied outputs default to the same-named input.
    result, printed, clock = _run(tmp_path, suspend='{duration: "30s"}')
    assert result.phase == "Succeeded"
    wait = result.by_display_name("wait")
    assert (wait.type, wait.phase, wait.message) == ("Suspend", "Succeeded", "")
    assert dict(wait.parameters) == {"input": "Hello World", "select": "default"}
    assert printed == {"input": "Hello World", "select": "default"}
    assert clock.slept == [30.0]


def test_without_duration_or_answer_the_run_ends_running(tmp_path: Path) -> None:
    # TestSuspendTemplate: the workflow stays suspended and no later step is scheduled; no exit handler
    # runs while the root node is not fulfilled (operate).
    result, printed, _ = _run(tmp_path)
    assert result.phase == "Running"
    assert result.by_display_name("wait").phase == "Running"
    assert result.by_display_name("wait").finished_at is None
    assert result.by_display_name("wf").phase == "Running"
    assert [n.display_name for n in result.nodes] == ["wf", "[0]", "wait"]
    assert printed == {}
    assert result.message == (
        "wait: waiting for argo resume (a local run cannot): pass --resume wait or --resume-suspended"
    )


def test_resume_by_node_with_set_outputs(tmp_path: Path) -> None:
    # updateSuspendedNode: --output-parameter sets a supplied output; resume by selector marks the node
    # Succeeded without applying defaults.
    result, printed, _ = _run(
        tmp_path, resume={"wait": 0.0}, set_outputs={"wait": {"input": "yes", "select": "option1"}}
    )
    assert result.phase == "Succeeded"
    assert printed == {"input": "yes", "select": "option1"}
    assert result.by_display_name("wf.onExit").phase == "Succeeded"


def test_resume_by_node_leaves_unset_supplied_outputs_unset(tmp_path: Path) -> None:
    result, printed, _ = _run(tmp_path, resume={"wait": 0.0}, set_outputs={"wait": {"input": "yes"}})
    assert result.by_display_name("wait").phase == "Succeeded"
    assert dict(result.by_display_name("wait").parameters) == {"input": "yes"}
    assert result.by_display_name("print").phase == "Error"
    assert "steps.wait.outputs.parameters.select" in result.by_display_name("print").message
    assert printed == {}


def test_set_output_alone_does_not_resume_but_duration_keeps_it(tmp_path: Path) -> None:
    _, printed, clock = _run(tmp_path, suspend="{duration: 1m}", set_outputs={"wait": {"select": "option1"}})
    assert printed == {"input": "Hello World", "select": "option1"}
    assert clock.slept == [60.0]
    (tmp_path / "b").mkdir()
    still, _, _ = _run(tmp_path / "b", set_outputs={"wait": {"select": "option1"}})
    assert still.phase == "Running"


@pytest.mark.parametrize(("after", "slept"), [(2.0, [2.0]), (600.0, [300.0])])
def test_the_earlier_of_answer_and_duration_wins(tmp_path: Path, after: float, slept: list[float]) -> None:
    result, _, clock = _run(tmp_path, suspend="{duration: 5m}", resume={"wait": after})
    assert clock.slept == slept
    assert result.by_display_name("wait").phase == "Succeeded"


def test_resume_suspended_is_argo_resume_with_defaults(tmp_path: Path) -> None:
    # ResumeWorkflow without a selector: OverrideOutputParametersWithDefault, then Succeeded.
    result, printed, clock = _run(tmp_path, suspend="{duration: 1h}", resume_suspended=True)
    assert result.phase == "Succeeded"
    assert printed == {"input": "Hello World", "select": "default"}
    assert clock.slept == []


def test_an_output_default_wins_over_the_input_default(tmp_path: Path) -> None:
    _, printed, _ = _run(tmp_path, select_default=", default: option1", resume_suspended=True)
    assert printed == {"input": "Hello World", "select": "option1"}


def test_expired_suspend_with_an_output_without_default_errors(tmp_path: Path) -> None:
    file = tmp_path / "wf.yaml"
    file.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: wf}\nspec:\n  entrypoint: wait\n"
        "  templates:\n  - name: wait\n    suspend: {duration: '0'}\n"
        "    outputs: {parameters: [{name: x, valueFrom: {supplied: {}}}]}\n"
    )
    result = run_workflow([file], RunOptions(workdir=tmp_path / "w", sleep=lambda _: None))
    assert result.phase == "Error"
    assert result.by_display_name("wf").message == (
        "raw output parameter 'x' has not been set and does not have a default value"
    )


def test_set_output_of_a_parameter_the_node_does_not_expect(tmp_path: Path) -> None:
    result, _, _ = _run(tmp_path, resume={"wait": 0.0}, set_outputs={"wait": {"other": "1"}})
    assert result.by_display_name("wait").phase == "Error"
    assert result.by_display_name("wait").message == (
        "--set-output wait: node is not expecting output parameter 'other'"
    )


def test_suspend_with_timeout_is_refused_as_argo_validates(tmp_path: Path) -> None:
    # workflow/validate/validate.go, validateTemplate: "%s template doesn't support timeout field" with
    # the template type; aphex lint refuses it before the run starts.
    with pytest.raises(RunRefused) as refused:
        _run(tmp_path, suspend="{duration: 1m}\n    timeout: 5m")
    (problem,) = refused.value.problems
    expected = (
        f"lint: {tmp_path / 'wf.yaml'}: Workflow/wf: spec.templates[1].timeout: "
        "Suspend template doesn't support timeout field"
    )
    assert problem.lower() == expected.lower()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--fail", "nope"], "--fail nope: no task or step of the run is named 'nope'"),
        (["--resume", "nope"], "--resume nope: no task or step of the run is named 'nope'"),
        (["--set-output", "nope:a=b"], "--set-output nope: no task or step of the run is named 'nope'"),
    ],
)
def test_options_naming_no_node_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str], message: str
) -> None:
    file = tmp_path / "wf.yaml"
    file.write_text(WORKFLOW.format(suspend="{}", select_default=""))
    code = main(["run", str(file), "--allow-host-commands", "--workdir", str(tmp_path / "w"), *option])
    assert code == 2
    assert capsys.readouterr().err == f"aphex run: refused: {message}\n"


def test_a_suspended_branch_holds_only_its_dependents(tmp_path: Path) -> None:
    file = tmp_path / "wf.yaml"
    file.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: wf}\nspec:\n  entrypoint: main\n"
        "  templates:\n  - name: main\n    dag:\n      tasks:\n"
        "      - {name: approve, template: approve}\n      - {name: other, template: leaf}\n"
        "      - {name: deploy, template: leaf, depends: approve}\n"
        "      - {name: after-other, template: leaf, depends: other}\n"
        "  - name: approve\n    suspend: {}\n  - name: leaf\n    container: {image: a, command: [x]}\n"
    )
    report = tmp_path / "r.json"
    code = main(
        [
            "run",
            str(file),
            "--allow-host-commands",
            "--standin",
            "a=true",
            "--workdir",
            str(tmp_path / "w"),
            "--report",
            str(report),
            "--quiet",
        ]
    )
    assert code == 1
    data = json.loads(report.read_text())
    phases = {n["displayName"]: n["phase"] for n in data["nodes"]}
    assert phases == {"wf": "Running", "approve": "Running", "other": "Succeeded", "after-other": "Succeeded"}
    assert data["workflow"]["phase"] == "Running"


def test_resume_and_set_output_option_parsing() -> None:
    assert parse_resume(["approve", "gate:after=2.5"]) == {"approve": 0.0, "gate": 2.5}
    assert parse_set_outputs(["approve:decision=approve", "approve:note=a=b"]) == {
        "approve": {"decision": "approve", "note": "a=b"}
    }
    for bad in (["gate:after=-1"], ["gate:later=1"], [":after=1"]):
        with pytest.raises(OptionError):
            parse_resume(bad)
    for wrong in (["approve"], ["approve:=x"], [":a=b"]):
        with pytest.raises(OptionError):
            parse_set_outputs(wrong)
