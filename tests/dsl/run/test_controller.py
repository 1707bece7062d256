"""Node phases and messages of steps, DAGs, loops and exit handlers as Argo's controller sets them
(argo-workflows workflow/controller/steps.go, dag.go, operator.go), and refusal of what Argo refuses."""

import re
import time
from pathlib import Path

import pytest

from aphex.cli import main
from aphex.dsl.run import Fault, LeafOutcome, RunOptions, RunResult, run_workflow
from aphex.dsl.run.nodes import fnv32a

HEADER = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: wf}\nspec:\n"
LEAF = """  - name: leaf
    inputs: {parameters: [{name: x, default: ''}]}
    container: {image: a, command: [x]}
"""


def _run(
    tmp_path: Path, spec: str, failing: tuple[str, ...] = (), faults: tuple[Fault, ...] = ()
) -> RunResult:
    file = tmp_path / "wf.yaml"
    file.write_text(HEADER + spec + LEAF)

    def leaf(call: object) -> LeafOutcome:
        value = next(iter(p["value"] for p in call.inputs), "")  # type: ignore[attr-defined]
        return (
            LeafOutcome(phase="Failed", message="boom")
            if value in failing
            else LeafOutcome(phase="Succeeded")
        )

    return run_workflow(
        [file], RunOptions(workdir=tmp_path / "w", functions={"leaf": leaf}, faults=list(faults))
    )


def _tree(result: RunResult) -> list[tuple[str, str, str, str]]:
    return [(n.display_name, n.type, n.phase, n.message) for n in result.nodes]


STEPS_LOOP = """  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: each
        template: leaf
        withItems: [a, b]
        arguments: {parameters: [{name: x, value: "{{item}}"}]}
    - - {name: after, template: leaf}
"""


def test_a_steps_loop_expands_into_the_step_group(tmp_path: Path) -> None:
    # steps.go, expandStepGroup: the items are steps of the group (no TaskGroup node); executeStepGroup
    # fails the group with "child '<node id>' failed" and executeSteps the steps node with the same message.
    result = _run(tmp_path, STEPS_LOOP, failing=("b",))
    failed_id = result.by_display_name("each(1:b)").id
    assert sorted(_tree(result)) == [
        ("[0]", "StepGroup", "Failed", f"child '{failed_id}' failed"),
        ("each(0:a)", "Pod", "Succeeded", ""),
        ("each(1:b)", "Pod", "Failed", "boom"),
        ("wf", "Steps", "Failed", f"child '{failed_id}' failed"),
    ]
    by_id = {n.id: n.display_name for n in result.nodes}
    assert sorted(by_id[c] for c in result.by_display_name("[0]").children) == ["each(0:a)", "each(1:b)"]
    assert result.phase == "Failed"
    assert result.message == f"child '{failed_id}' failed"


def test_an_errored_step_fails_its_group(tmp_path: Path) -> None:
    # steps.go, executeStepGroup: the group (and the steps node) is Failed whatever the child's phase.
    result = _run(tmp_path, STEPS_LOOP, faults=(Fault(node="each", phase="Error"),))
    assert [(n.display_name, n.phase) for n in result.nodes[:2]] == [("wf", "Failed"), ("[0]", "Failed")]
    assert result.by_display_name("each(0:a)").phase == "Error"


DAG = """  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - name: each
        template: leaf
        withItems: [a, b]
        when: "{{item}} != a"
        arguments: {parameters: [{name: x, value: "{{item}}"}]}
      - {name: none, template: leaf, withParam: "[]"}
      - {name: last, template: leaf, depends: each, arguments: {parameters: [{name: x, value: c}]}}
"""


def test_dag_groups_and_messages(tmp_path: Path) -> None:
    # dag.go, executeDAGTask: a TaskGroup is Succeeded unless an item failed (skipped items do not make it
    # Skipped); an empty withParam is one Skipped node "Skipped, empty params"; executeDAG marks the DAG's
    # phase without a message, so a failed workflow has the root's empty message (operator.go, operate).
    result = _run(tmp_path, DAG, failing=("c",))
    assert sorted(_tree(result)) == [
        ("each", "TaskGroup", "Succeeded", ""),
        ("each(0:a)", "Skipped", "Skipped", "when 'a != a' evaluated false"),
        ("each(1:b)", "Pod", "Succeeded", ""),
        ("last", "Pod", "Failed", "boom"),
        ("none", "Skipped", "Skipped", "Skipped, empty params"),
        ("wf", "DAG", "Failed", ""),
    ]
    assert (result.phase, result.message) == ("Failed", "")


EXIT = """  entrypoint: main
  onExit: leaf
  templates:
  - name: main
    steps:
    - - {name: work, template: leaf}
"""


@pytest.mark.parametrize("phase", ["Failed", "Error"])
def test_a_failing_exit_handler_fails_a_succeeded_workflow(tmp_path: Path, phase: str) -> None:
    # operator.go, operate: a Succeeded workflow whose exit node is Failed becomes Failed, Error becomes
    # Error, with the exit node's message.
    result = _run(tmp_path, EXIT, faults=(Fault(node="onExit", phase=phase),))
    exit_node = result.by_display_name("wf.onExit")
    assert (exit_node.phase, exit_node.message) == (phase, "failed by --fail onExit")
    assert (result.phase, result.message) == (phase, "failed by --fail onExit")


def test_what_argo_refuses_is_refused_with_the_linters_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "wf.yaml"
    file.write_text(
        HEADER + "  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks:\n"
        "      - {name: a, template: leaf, depends: missing}\n" + LEAF
    )
    code = main(["run", str(file), "--workdir", str(tmp_path / "w"), "--allow-host-commands"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"aphex run: refused: lint: {file}: Workflow/wf: ")
    assert "missing" in err


def test_daemoned_is_refused_by_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "wf.yaml"
    file.write_text(
        HEADER + "  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks:\n"
        "      - {name: b, template: leaf}\n      - {name: a, template: leaf, depends: b.Daemoned}\n" + LEAF
    )
    code = main(["run", str(file), "--workdir", str(tmp_path / "w"), "--allow-host-commands"])
    assert code == 2
    assert capsys.readouterr().err == (
        "aphex run: refused: Workflow/wf: spec.templates[0].dag.tasks[1].depends: "
        "Daemoned: daemon tasks are not supported locally\n"
    )


GLOBAL = """  entrypoint: main
  onExit: bye
  templates:
  - name: main
    steps:
    - - {name: produce, template: produce}
  - name: produce
    outputs:
      parameters:
      - {name: version, globalName: version, valueFrom: {path: /tmp/v}}
    script:
      image: python:3.12-alpine
      command: [python]
      source: |
        open("{{outputs.parameters.version.path}}", "w").write("v2")
        raise SystemExit(3)
  - name: bye
    steps:
    - - name: show
        template: leaf
        arguments: {parameters: [{name: x, value: "{{workflow.outputs.parameters.version}}"}]}
"""


def test_a_failed_step_still_publishes_its_global_outputs(tmp_path: Path) -> None:
    # operator.go: addOutputsToGlobalScope runs for a completed node whatever its phase.
    file = tmp_path / "wf.yaml"
    file.write_text(HEADER + GLOBAL + LEAF)
    shown: list[str] = []

    def leaf(call: object) -> LeafOutcome:
        shown.extend(p["value"] for p in call.inputs)  # type: ignore[attr-defined]
        return LeafOutcome(phase="Succeeded")

    result = run_workflow(
        [file],
        RunOptions(workdir=tmp_path / "w", functions={"leaf": leaf}, allow_host_commands=True),
    )
    produce = result.by_display_name("produce")
    assert (produce.phase, produce.message, produce.exit_code) == ("Failed", "main: Error (exit code 3)", 3)
    assert dict(result.parameters) == {"version": "v2"}
    assert shown == ["v2"]


DEADLINE = """  entrypoint: main
  activeDeadlineSeconds: {seconds}
  onExit: bye
  templates:
  - name: main
    dag:
      tasks:
      - {{name: slow, template: {first}}}
      - {{name: after, template: leaf, depends: slow.Failed}}
  - name: sleeper
    container: {{image: a, command: [sleep, "5"]}}
  - name: wait
    suspend: {{duration: 1h}}
  - name: bye
    container: {{image: a, command: ["true"]}}
"""


def test_the_workflow_deadline_kills_running_pods_and_fails_later_steps(tmp_path: Path) -> None:
    # workflowpod.go clamps a pod's activeDeadlineSeconds to the workflow deadline and creates no pod past
    # it; failNodesWithoutCreatedPodsAfterDeadlineOrShutdown fails such a node; exit handlers ignore it.
    file = tmp_path / "wf.yaml"
    file.write_text(HEADER + DEADLINE.format(seconds=1, first="sleeper") + LEAF)
    begun = time.monotonic()
    result = run_workflow(
        [file],
        RunOptions(
            workdir=tmp_path / "w",
            allow_host_commands=True,
            functions={"leaf": lambda call: LeafOutcome(phase="Succeeded")},
        ),
    )
    assert time.monotonic() - begun < 4
    slow, after = result.by_display_name("slow"), result.by_display_name("after")
    assert (slow.phase, slow.message) == (
        "Failed",
        "Pod was active on the node longer than the specified deadline",
    )
    assert (after.phase, after.message) == ("Failed", "Step exceeded its deadline")
    assert result.by_display_name("wf.onExit").phase == "Succeeded"
    assert result.phase == "Failed"


def test_a_suspend_past_the_workflow_deadline_fails(tmp_path: Path) -> None:
    # operator.go: an active suspend node past the workflow deadline is Failed "Step exceeded its deadline".
    file = tmp_path / "wf.yaml"
    file.write_text(HEADER + DEADLINE.format(seconds=60, first="wait") + LEAF)
    slept: list[float] = []
    result = run_workflow(
        [file],
        RunOptions(
            workdir=tmp_path / "w",
            allow_host_commands=True,
            functions={"leaf": lambda call: LeafOutcome(phase="Succeeded")},
            sleep=slept.append,
            clock=lambda: sum(slept),
        ),
    )
    slow = result.by_display_name("slow")
    assert (slow.type, slow.phase, slow.message) == ("Suspend", "Failed", "Step exceeded its deadline")
    assert slept == [60.0]
    assert result.by_display_name("after").message == "Step exceeded its deadline"


def test_no_retry_after_the_workflow_deadline(tmp_path: Path) -> None:
    # operator.go, processNodeRetries: "retry exceeded workflow deadline <deadline>", last attempt's phase.
    file = tmp_path / "wf.yaml"
    file.write_text(
        HEADER + "  entrypoint: leaf\n  activeDeadlineSeconds: 60\n  templates:\n"
        "  - name: leaf\n    retryStrategy: {limit: 5}\n    container: {image: a, command: [x]}\n"
    )
    now = [0.0]

    def leaf(call: object) -> LeafOutcome:
        now[0] += 40
        return LeafOutcome(phase="Failed", message="boom")

    result = run_workflow(
        [file], RunOptions(workdir=tmp_path / "w", functions={"leaf": leaf}, clock=lambda: now[0])
    )
    root = result.by_display_name("wf")
    assert [n.display_name for n in result.nodes] == ["wf", "wf(0)", "wf(1)"]
    assert root.phase == "Failed"
    assert re.fullmatch(
        r"retry exceeded workflow deadline \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC", root.message
    )


RETRIED_DAG = """  entrypoint: main
  onExit: exit
  templates:
  - name: main
    dag:
      tasks:
      - {name: first, template: flaky}
      - {name: skipped, template: leaf, depends: first, when: "a == b"}
      - {name: omitted, template: leaf, depends: first.Failed}
  - name: exit
    dag:
      tasks:
      - {name: record, template: snapshot}
  - name: flaky
    retryStrategy: {limit: 1, retryPolicy: Always}
    container: {image: a, command: [x]}
  - name: snapshot
    container: {image: a, command: [x]}
"""


def test_the_workflow_object_holds_the_nodes_as_the_exit_handler_sees_them(tmp_path: Path) -> None:
    """``on_update`` gets ``status.nodes`` as the controller keeps them: task nodes named
    ``<dag node>.<task>`` with the DAG's node as ``boundaryID`` (dag.go, taskNodeName; operator.go,
    initializeNode), attempts under the Retry node in its boundary, Skipped and Omitted nodes with
    ``finishedAt`` = ``startedAt``, the exit handler's tasks in the ``onExit`` node's boundary; while
    the exit handler runs the main DAG is fulfilled and the workflow still Running (operator.go, operate)."""
    file = tmp_path / "wf.yaml"
    file.write_text(HEADER + RETRIED_DAG + LEAF)
    attempts: list[str] = []
    seen: list[dict[str, object]] = []
    updates: list[dict[str, object]] = []

    def flaky(call: object) -> LeafOutcome:
        attempts.append("x")
        return LeafOutcome(phase="Failed" if len(attempts) == 1 else "Succeeded", message="flaked")

    def snapshot(call: object) -> LeafOutcome:
        seen.append(updates[-1])
        return LeafOutcome(phase="Succeeded")

    run_workflow(
        [file],
        RunOptions(
            workdir=tmp_path / "w",
            workflow_name="wf",
            functions={
                "flaky": flaky,
                "snapshot": snapshot,
                "leaf": lambda call: LeafOutcome(phase="Succeeded"),
            },
            on_update=updates.append,
        ),
    )
    (workflow,) = seen
    assert workflow["metadata"]["name"] == "wf"  # type: ignore[index]
    assert workflow["status"]["phase"] == "Running"  # type: ignore[index]
    nodes = workflow["status"]["nodes"]  # type: ignore[index]
    table = {
        n["name"]: (n["displayName"], n["type"], n["phase"], n.get("boundaryID", ""), n.get("message", ""))
        for n in nodes.values()
    }
    exit_id = next(n["id"] for n in nodes.values() if n["name"] == "wf.onExit")
    assert table == {
        "wf": ("wf", "DAG", "Succeeded", "", ""),
        "wf.first": ("first", "Retry", "Succeeded", "wf", ""),
        "wf.first(0)": ("first(0)", "Pod", "Failed", "wf", "flaked"),
        "wf.first(1)": ("first(1)", "Pod", "Succeeded", "wf", "flaked"),
        "wf.skipped": ("skipped", "Skipped", "Skipped", "wf", "when 'a == b' evaluated false"),
        "wf.omitted": ("omitted", "Skipped", "Omitted", "wf", "omitted: depends condition not met"),
        "wf.onExit": ("wf.onExit", "DAG", "Running", "", ""),
        "wf.onExit.record": ("record", "Pod", "Running", exit_id, ""),
    }
    for node in nodes.values():
        assert node["id"] == ("wf" if node["name"] == "wf" else f"wf-{fnv32a(node['name'])}")
        if node["phase"] in ("Skipped", "Omitted"):
            assert node["finishedAt"] == node["startedAt"] is not None
        if node["phase"] == "Running":
            assert node["finishedAt"] is None
    assert nodes[f"wf-{fnv32a('wf.first')}"]["children"] == [
        f"wf-{fnv32a('wf.first(0)')}",
        f"wf-{fnv32a('wf.first(1)')}",
    ]
    # After the run: the last snapshot has every node fulfilled.
    assert {n["phase"] for n in updates[-1]["status"]["nodes"].values()} <= {  # type: ignore[index]
        "Succeeded",
        "Failed",
        "Skipped",
        "Omitted",
    }
