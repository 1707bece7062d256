"""A steps template's run: its step groups in order, the steps of a group in parallel; a group with a
step that failed (and does not continue on it) fails the template and ends it."""

from concurrent.futures import ThreadPoolExecutor

from aphex.dsl.run.context import RunContext
from aphex.dsl.run.expressions import TaskOutcome
from aphex.dsl.run.inputs import Inputs, input_variables
from aphex.dsl.run.loader import Resolved
from aphex.dsl.run.nodes import FAILED, Node
from aphex.dsl.run.outputs import template_outputs
from aphex.dsl.run.tasks import TaskRunner, record_task

__all__ = ["run_steps"]


def run_steps(context: RunContext, tasks: TaskRunner, node: Node, resolved: Resolved, inputs: Inputs) -> None:
    """Run the step groups of the steps template ``resolved`` under ``node``; set its phase and outputs."""
    template = resolved.template
    base = context.workflow_variables() | input_variables(template, inputs, None)
    step_vars: dict[str, str] = {}
    outcomes: dict[str, TaskOutcome] = {}
    phases: dict[str, str] = {}
    node.phase = "Succeeded"
    for index, group in enumerate(template.get("steps", []) or []):
        group_node = context.add_node(f"{node.name}[{index}]", f"[{index}]", resolved.name, "StepGroup", node)
        context.start(group_node)
        variables = base | context.workflow_variables() | step_vars
        steps = [step for step in group or []]
        with ThreadPoolExecutor(max_workers=max(1, min(len(steps), 32)), thread_name_prefix="steps") as pool:
            futures = [
                pool.submit(
                    tasks.run, group_node, resolved, step, f"{group_node.name}.{step['name']}", variables
                )
                for step in steps
            ]
            children = [future.result() for future in futures]
        failed = None
        for step, child in zip(steps, children, strict=True):
            record_task(str(step["name"]), step, child, outcomes, phases, step_vars, "steps")
            outcome = outcomes[str(step["name"])]
            for member in child.items or [child]:
                tolerated = (member.phase == "Failed" and outcome.continue_on_failed) or (
                    member.phase == "Error" and outcome.continue_on_error
                )
                if member.phase in FAILED and not tolerated and failed is None:
                    failed = member
        if any(child.phase == "Running" for child in children):
            # A step group completes when all its steps have (Argo's executeStepGroup).
            context.finish(group_node, "Running")
            node.phase = "Running"
            return
        if failed is not None:
            # Argo's executeStepGroup and executeSteps: both Failed, whatever the child's phase.
            message = f"child '{failed.id}' failed"
            context.finish(group_node, "Failed", message)
            node.phase, node.message = "Failed", message
            break
        context.finish(group_node, "Succeeded")
    template_outputs(node, template, base | context.workflow_variables() | step_vars)
