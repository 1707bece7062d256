"""Retries decided as Argo's controller decides them (argo-workflows workflow/controller/operator.go,
processNodeRetries and buildRetryStrategyLocalScope), each case re-expressing a controller unit test."""

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from aphex.dsl.run import Fault, LeafCall, LeafOutcome, RunOptions, RunRefused, RunResult, run_workflow
from aphex.dsl.run.cli import OptionError, parse_fault
from aphex.dsl.run.exprlang import ExprError, check_expression, evaluate_bool

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: wf}}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {{name: flag, template: flag}}
    - - name: retry
        template: leaf
        arguments: {{parameters: [{{name: safe, value: "{{{{steps.flag.outputs.result}}}}"}}]}}
  - name: flag
    container: {{image: a, command: [x]}}
  - name: leaf
    inputs: {{parameters: [{{name: safe}}]}}
    retryStrategy:
{retry}
    container:
      image: a
      command: [x, "{{{{retries}}}}", "{{{{lastRetry.exitCode}}}}", "{{{{lastRetry.status}}}}"]
"""


def _run(tmp_path: Path, retry: str, outcomes: Sequence[tuple[str, int | None]]) -> tuple[RunResult, list]:
    """Run with the leaf's attempts ending as ``outcomes`` (phase, exit code); the last one repeats."""
    file = tmp_path / "wf.yaml"
    file.write_text(WORKFLOW.format(retry=retry))
    commands: list[list[str]] = []

    def leaf(call: LeafCall) -> LeafOutcome:
        commands.append(list(call.template["container"]["command"][1:]))
        phase, code = outcomes[min(len(commands), len(outcomes)) - 1]
        message = f"main: Error (exit code {code})" if code else "boom"
        return LeafOutcome(phase=phase, message=message if phase != "Succeeded" else "", exit_code=code)

    result = run_workflow(
        [file],
        RunOptions(
            workdir=tmp_path / "w",
            functions={"leaf": leaf, "flag": lambda call: LeafOutcome(phase="Succeeded", result="true")},
        ),
    )
    return result, commands


def _children(result: RunResult, name: str = "retry") -> list[str]:
    node = result.by_display_name(name)
    by_id = {n.id: n for n in result.nodes}
    return [f"{by_id[c].display_name}:{by_id[c].phase}" for c in node.children]


def test_expression_false_stops_retrying_with_argos_message(tmp_path: Path) -> None:
    # TestOperatorRetryExpression: exit code 2 then 1 with `asInt(lastRetry.exitCode) > 1 && <input> == true`.
    expression = "asInt(lastRetry.exitCode) > 1 && {{inputs.parameters.safe}} == true"
    retry = f'      limit: "3"\n      expression: {expression}'
    result, commands = _run(tmp_path, retry, [("Failed", 2), ("Failed", 1)])
    assert result.phase == "Failed"
    node = result.by_display_name("retry")
    assert (node.type, node.phase, node.message) == (
        "Retry",
        "Failed",
        "retryStrategy.expression evaluated to false",
    )
    assert _children(result) == ["retry(0):Failed", "retry(1):Failed"]
    # {{retries}} and {{lastRetry.*}} in the template: "0"/"0"/"" before the first attempt (executeTemplate).
    assert commands == [["0", "0", ""], ["1", "2", "Failed"]]


def test_expression_with_an_errored_attempt_uses_policy_always(tmp_path: Path) -> None:
    # TestOperatorRetryExpressionError: no retryPolicy with an expression means Always (RetryPolicyActual).
    result, _ = _run(tmp_path, '      limit: 2\n      expression: "true"', [("Error", None)])
    node = result.by_display_name("retry")
    assert (node.phase, node.message) == ("Error", "No more retries left")
    assert _children(result) == ["retry(0):Error", "retry(1):Error", "retry(2):Error"]


def test_without_expression_the_default_policy_is_on_failure(tmp_path: Path) -> None:
    # TestOperatorRetryExpressionErrorNoExpr: a Failed attempt is retried, an Errored one is not; the retry
    # node takes the attempt's phase and message.
    result, _ = _run(tmp_path, "      limit: 3", [("Failed", 1), ("Error", None)])
    node = result.by_display_name("retry")
    assert (node.phase, node.message) == ("Error", "boom")
    assert _children(result) == ["retry(0):Failed", "retry(1):Error"]
    assert result.phase == "Failed"  # the steps node fails whatever its child's phase (steps.go)


def test_expression_false_after_an_error_with_policy_always(tmp_path: Path) -> None:
    # TestProcessNodeRetriesWithExpression: expression "false", policy Always, limit 2, the attempt errored.
    retry = '      limit: 2\n      retryPolicy: Always\n      expression: "false"'
    result, _ = _run(tmp_path, retry, [("Error", None)])
    node = result.by_display_name("retry")
    assert (node.phase, node.message) == ("Error", "retryStrategy.expression evaluated to false")
    assert _children(result) == ["retry(0):Error"]


def test_policy_not_matching_skips_the_expression(tmp_path: Path) -> None:
    # TestProcessNodeRetriesMessageOrder: OnFailure with an Errored attempt ends with the attempt's message.
    retry = '      limit: 2\n      retryPolicy: OnFailure\n      expression: "false"'
    result, _ = _run(tmp_path, retry, [("Error", None)])
    assert (result.by_display_name("retry").phase, result.by_display_name("retry").message) == (
        "Error",
        "boom",
    )


@pytest.mark.parametrize(
    ("expression", "children"),
    [
        # lastRetry.exitCode is a string: compared with "2" it stops, compared with the number 2 it never
        # matches (expr's == is false across types) and retries until the limit.
        ('lastRetry.exitCode != "2"', 1),
        ("lastRetry.exitCode != 2", 3),
        ("asInt(lastRetry.exitCode) != 2", 1),
        ('not (lastRetry.exitCode in ["2", "3"])', 1),
        ("lastRetry.message matches 'exit code 2'", 3),
    ],
)
def test_exit_code_is_a_string(tmp_path: Path, expression: str, children: int) -> None:
    result, _ = _run(tmp_path, f"      limit: 2\n      expression: {json.dumps(expression)}", [("Failed", 2)])
    assert len(result.by_display_name("retry").children) == children
    assert result.by_display_name("retry").phase == "Failed"


def test_an_expression_that_fails_to_evaluate_errors_the_retry_node(tmp_path: Path) -> None:
    result, _ = _run(
        tmp_path, "      limit: 2\n      expression: asInt(lastRetry.message) > 1", [("Failed", 1)]
    )
    node = result.by_display_name("retry")
    assert node.phase == "Error"
    assert node.message == (
        "unable to evaluate expression 'asInt(lastRetry.message) > 1': "
        "invalid operation: int(main: Error (exit code 1))"
    )


def test_expression_outside_the_subset_is_refused_by_path(tmp_path: Path) -> None:
    with pytest.raises(RunRefused) as refused:
        _run(tmp_path, "      limit: 2\n      expression: asInt(lastRetry.exitCode) + 1 > 2", [("Failed", 1)])
    assert refused.value.problems == [
        "Workflow/wf: spec.templates[2].retryStrategy.expression: unsupported syntax at '+ 1 > 2'"
    ]


def test_workflow_retry_strategy_applies_to_templates_without_one(tmp_path: Path) -> None:
    # operator.go, retryStrategy: the template's, else spec.retryStrategy (for every template).
    file = tmp_path / "wf.yaml"
    file.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: wf}\n"
        "spec:\n  entrypoint: leaf\n  retryStrategy: {limit: 1}\n"
        "  templates:\n  - name: leaf\n    container: {image: a, command: [x]}\n"
    )
    result = run_workflow(
        [file],
        RunOptions(workdir=tmp_path / "w", functions={"leaf": lambda call: LeafOutcome(phase="Failed")}),
    )
    assert [n.display_name for n in result.nodes] == ["wf", "wf(0)", "wf(1)"]
    assert result.by_display_name("wf").message == "No more retries left"


@pytest.mark.parametrize(
    ("expression", "variables", "expected"),
    [
        (
            "retries == \"1\" && lastRetry.status == 'Failed'",
            {"retries": "1", "lastRetry.status": "Failed"},
            True,
        ),
        ("!(lastRetry.status == 'Error') or false", {"lastRetry.status": "Error"}, False),
        ("asFloat(lastRetry.duration) < 0.5", {"lastRetry.duration": "0.25"}, True),
        ("1 == 1.0 and 'a' < 'b' and 2 >= 2", {}, True),
        ("lastRetry.exitCode not in ['1', '2']", {"lastRetry.exitCode": "3"}, True),
        ("nil == nil && !(true == 'true')", {}, True),
    ],
)
def test_evaluate_bool(expression: str, variables: dict[str, str], expected: bool) -> None:
    assert evaluate_bool(expression, variables) is expected


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("lastRetry.exitCode < 1", "invalid operation: < (mismatched types string and int)"),
        ("'x'", "unable to cast expression result 'x' to bool"),
        ("! 'x'", "invalid operation: ! (mismatched type string)"),
    ],
)
def test_evaluate_bool_errors(expression: str, error: str) -> None:
    with pytest.raises(ExprError) as raised:
        evaluate_bool(expression, {"lastRetry.exitCode": "2"})
    assert str(raised.value) == error


@pytest.mark.parametrize(
    "expression", ["lastRetry.exitCode ? 1 : 2", "len(lastRetry.message) > 0", "workflow.name == 'x'", "a ="]
)
def test_check_expression_refuses(expression: str) -> None:
    with pytest.raises(ExprError):
        check_expression(expression, ["lastRetry.exitCode", "lastRetry.message"])


def test_fail_option_parsing() -> None:
    assert parse_fault("a:attempts=2:exitCode=2") == Fault(node="a", attempts=2, exit_code=2)
    assert parse_fault("a:phase=Error") == Fault(node="a", phase="Error")
    for bad in ("a:exitCode=0", "a:exitCode=x", "a:phase=Skipped", ":attempts=1"):
        with pytest.raises(OptionError):
            parse_fault(bad)
