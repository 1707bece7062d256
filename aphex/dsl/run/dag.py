"""A DAG template's run: tasks start in a thread pool as soon as every task their ``depends`` names has
finished; an unsatisfied ``depends`` gives ``Omitted``; the DAG's phase follows Argo's ``assessDAGPhase``:
each target task (``dag.target`` or the leaves) takes the phase of the last completed node on its branch,
and a failed or errored branch fails the DAG unless the task continues on it."""

from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from aphex.dsl.run.context import RunContext
from aphex.dsl.run.expressions import (
    ExpressionError,
    TaskOutcome,
    dependencies_expression,
    depends_references,
    evaluate_depends,
)
from aphex.dsl.run.inputs import Inputs, input_variables
from aphex.dsl.run.loader import Resolved
from aphex.dsl.run.nodes import COMPLETED, FAILED, Node
from aphex.dsl.run.outputs import template_outputs
from aphex.dsl.run.tasks import TaskRunner, record_task, task_template

__all__ = ["run_dag"]


def run_dag(context: RunContext, tasks: TaskRunner, node: Node, resolved: Resolved, inputs: Inputs) -> None:
    """Run the tasks of the DAG template ``resolved`` under ``node`` and set its phase and outputs."""
    template = resolved.template
    dag = template["dag"]
    by_name = {str(task["name"]): task for task in dag.get("tasks", []) or []}
    expressions: dict[str, str] = {}
    references: dict[str, list[str]] = {}
    for name, task in by_name.items():
        expression = str(task.get("depends") or dependencies_expression(task.get("dependencies") or []))
        expressions[name] = expression
        references[name] = depends_references(expression) if expression.strip() else []
    base = context.workflow_variables() | input_variables(template, inputs, None)
    task_vars: dict[str, str] = {}
    outcomes: dict[str, TaskOutcome] = {}
    phases: dict[str, str] = {}
    pending = list(by_name)
    workers = int(template.get("parallelism") or 0) or max(1, min(len(by_name), 32))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dag") as pool:
        running: dict[Future[Node], str] = {}
        while pending or running:
            ready = _ready(pending, references, outcomes)
            while ready:
                name = ready.pop(0)
                pending.remove(name)
                task = by_name[name]
                full = f"{node.name}.{name}"
                try:
                    satisfied = not expressions[name].strip() or evaluate_depends(expressions[name], outcomes)
                except ExpressionError as error:
                    child = context.mark(full, name, task_template(task), node, "Error", f"depends: {error}")
                    record_task(name, task, child, outcomes, phases, task_vars, "tasks")
                    ready = ready or _ready(pending, references, outcomes)
                    continue
                if not satisfied:
                    child = context.mark(
                        full, name, task_template(task), node, "Omitted", "omitted: depends condition not met"
                    )
                    record_task(name, task, child, outcomes, phases, task_vars, "tasks")
                    ready = ready or _ready(pending, references, outcomes)
                    continue
                variables = base | context.workflow_variables() | task_vars
                running[pool.submit(tasks.run, node, resolved, task, full, variables)] = name
                ready = ready or _ready(pending, references, outcomes)
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                record_task(name, by_name[name], future.result(), outcomes, phases, task_vars, "tasks")
    node.phase = "Running" if "Running" in phases.values() else _assess_dag(dag, by_name, references, phases)
    # Argo's executeDAG marks the DAG's phase without a message.
    if node.phase != "Running":
        template_outputs(node, template, base | context.workflow_variables() | task_vars)


def _ready(
    pending: list[str], references: Mapping[str, list[str]], done: Mapping[str, TaskOutcome]
) -> list[str]:
    """Tasks whose every dependency has completed (a Running one, e.g. a suspend, holds them)."""
    return [
        name
        for name in pending
        if all(ref in done and done[ref].phase != "Running" for ref in references[name])
    ]


def _assess_dag(
    dag: Mapping[str, Any],
    tasks: Mapping[str, Any],
    references: Mapping[str, list[str]],
    phases: Mapping[str, str],
) -> str:
    """Argo's ``assessDAGPhase``: the worst branch phase of the target tasks decides."""
    dependents: dict[str, list[str]] = {name: [] for name in tasks}
    for name, parents in references.items():
        for parent in parents:
            dependents.setdefault(parent, []).append(name)
    target_text = str(dag.get("target") or "")
    targets = (
        [t for t in target_text.replace(",", " ").split() if t]
        if target_text
        else [name for name in tasks if not dependents.get(name)]
    )
    roots = [name for name in tasks if not references.get(name)]
    branch: dict[str, str] = {}
    queue = [(name, "Succeeded") for name in roots]
    seen: set[tuple[str, str]] = set()
    while queue:
        name, inherited = queue.pop(0)
        if (name, inherited) in seen:
            continue
        seen.add((name, inherited))
        phase = phases.get(name, "")
        if phase not in ("Succeeded", "Failed", "Error", "Skipped", "Omitted"):
            return "Running" if phase else "Error"
        current = phase if phase in COMPLETED else inherited
        if name in targets:
            if branch.get(name) not in FAILED:
                branch[name] = current
            continue
        queue += [(child, current) for child in dependents.get(name, [])]
    for name in targets:
        phase = branch.get(name, "Succeeded")
        if phase in FAILED:
            continue_on = tasks[name].get("continueOn") or {} if name in tasks else {}
            if (phase == "Failed" and continue_on.get("failed")) or (
                phase == "Error" and continue_on.get("error")
            ):
                continue
            return phase
    return "Succeeded"
