"""One DAG task or step as nodes: its loop (a TaskGroup of items), ``when``, arguments, the invocation of
its template and its ``onExit`` handler; and what its finished node tells the tasks or steps after it."""

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aphex.dsl.run.context import RunContext
from aphex.dsl.run.expressions import ExpressionError, TaskOutcome, evaluate_when
from aphex.dsl.run.inputs import Invocation
from aphex.dsl.run.loader import Resolved
from aphex.dsl.run.loops import item_label, item_variables, loop_items
from aphex.dsl.run.nodes import FAILED, Node, RunError, timestamp
from aphex.dsl.run.substitution import UnresolvedVariable, substitute

__all__ = ["Invoke", "TaskRunner", "record_task", "task_template"]


Invoke = Callable[[Resolved, Invocation], Node]
"""Run a template as one node (:meth:`aphex.dsl.run.invocation.Invoker.invoke`)."""


class TaskRunner:
    """Runs DAG tasks and steps, handing each template to ``invoke``."""

    def __init__(self, context: RunContext, invoke: Invoke) -> None:
        self.context = context
        self.invoke = invoke

    def run(
        self, parent: Node, owner: Resolved, task: Mapping[str, Any], full: str, variables: Mapping[str, str]
    ) -> Node:
        """One DAG task or step: loops, ``when``, arguments, then the template; exit handler afterwards."""
        context = self.context
        name = str(task["name"])
        target = context.library.node_template(owner.owner, task)
        if target is None:
            return context.mark(full, name, task_template(task), parent, "Error", "template not found")
        try:
            items = loop_items(task, variables)
        except (RunError, UnresolvedVariable) as error:
            return context.mark(full, name, target.name, parent, "Error", str(error))
        if items is None:
            result = self._one(parent, target, task, full, name, variables)
        else:
            result = self._group(parent, target, task, full, name, variables, items)
        on_exit = task.get("onExit")
        if on_exit and result.phase != "Running":
            handler = context.library.local(owner.owner, str(on_exit))
            if handler is not None:
                exit_call = Invocation(
                    name=f"{full}.onExit", display=f"{name}.onExit", parent=parent, task=f"{name}.onExit"
                )
                self.invoke(handler, exit_call)
        return result

    def _one(
        self,
        parent: Node,
        target: Resolved,
        task: Mapping[str, Any],
        full: str,
        display: str,
        variables: Mapping[str, str],
    ) -> Node:
        name = str(task["name"])
        try:
            when = task.get("when")
            if when is not None:
                condition = substitute(str(when), variables, "when")
                if not evaluate_when(condition):
                    return self.context.mark(
                        full, display, target.name, parent, "Skipped", f"when '{condition}' evaluated false"
                    )
            arguments = task.get("arguments") or {}
            parameters = {
                str(p["name"]): substitute(
                    str(p.get("value", "")), variables, f"arguments.parameters.{p['name']}"
                )
                for p in arguments.get("parameters", []) or []
            }
            artifacts = {
                str(a["name"]): substitute(str(a["from"]), variables, f"arguments.artifacts.{a['name']}.from")
                for a in arguments.get("artifacts", []) or []
                if a.get("from")
            }
        except (UnresolvedVariable, ExpressionError) as error:
            return self.context.mark(full, display, target.name, parent, "Error", str(error))
        call = Invocation(
            name=full, display=display, parent=parent, task=name, parameters=parameters, artifacts=artifacts
        )
        return self.invoke(target, call)

    def _group(
        self,
        parent: Node,
        target: Resolved,
        task: Mapping[str, Any],
        full: str,
        display: str,
        variables: Mapping[str, str],
        items: list[Any],
    ) -> Node:
        context = self.context
        if not items:
            # Argo's executeDAGTask and expandStepGroup: one Skipped node for the task or step.
            return context.mark(full, display, target.name, parent, "Skipped", "Skipped, empty params")
        # A DAG task's items are children of a TaskGroup node; a step's items are children of the step
        # group itself (Argo's expandStepGroup), so the group below is then only bookkeeping.
        in_steps = parent.type == "StepGroup"
        if in_steps:
            group = Node(
                id=full,
                name=full,
                display_name=display,
                type="TaskGroup",
                template_name=target.name,
                pod_name="",
            )
        else:
            group = context.add_node(full, display, target.name, "TaskGroup", parent)
        context.start(group)
        children: list[Node] = []
        with ThreadPoolExecutor(max_workers=min(len(items), 32), thread_name_prefix="loop") as pool:
            futures = [
                pool.submit(
                    self._one,
                    parent if in_steps else group,
                    target,
                    task,
                    f"{full}({index}:{item_label(item)})",
                    f"{display}({index}:{item_label(item)})",
                    {**variables, **item_variables(item)},
                )
                for index, item in enumerate(items)
            ]
            children = [future.result() for future in futures]
        group.items = children
        group.child_phases = tuple(child.phase for child in children)
        failed = [child for child in children if child.phase in FAILED]
        for output in sorted({key for child in children for key in child.parameters}):
            group.parameters[output] = json.dumps([child.parameters.get(output) for child in children])
        if any(child.result is not None for child in children):
            group.result = json.dumps([child.result for child in children])
        if any(child.phase == "Running" for child in children):
            return context.finish(group, "Running")
        # Argo's executeDAGTask: the group takes the phase of its last failed child, else Succeeded, and
        # no message.
        return context.finish(group, failed[-1].phase if failed else "Succeeded")


def task_template(task: Mapping[str, Any]) -> str:
    """The template name a task or step names (for nodes made before the template is found)."""
    if task.get("template"):
        return str(task["template"])
    ref = task.get("templateRef") or {}
    return str(ref.get("template", "inline"))


def record_task(
    name: str,
    task: Mapping[str, Any],
    child: Node,
    outcomes: dict[str, TaskOutcome],
    phases: dict[str, str],
    variables: dict[str, str],
    prefix: str,
) -> None:
    """Record the finished task or step ``name``: its outcome for ``depends``, its phase, and its
    ``PREFIX.NAME.*`` variables (status, id, times, exit code, outputs) for those after it."""
    continue_on = task.get("continueOn") or {}
    outcomes[name] = TaskOutcome(
        phase=child.phase,
        continue_on_failed=bool(continue_on.get("failed")),
        continue_on_error=bool(continue_on.get("error")),
        child_phases=child.child_phases,
    )
    phases[name] = child.phase
    key = f"{prefix}.{name}"
    variables |= {
        f"{key}.status": child.phase,
        f"{key}.id": child.id,
        f"{key}.startedAt": str(timestamp(child.started_at)),
        f"{key}.finishedAt": str(timestamp(child.finished_at)),
    }
    if child.exit_code is not None:
        variables[f"{key}.exitCode"] = str(child.exit_code)
    if child.result is not None:
        variables[f"{key}.outputs.result"] = child.result
    variables |= {f"{key}.outputs.parameters.{k}": v for k, v in child.parameters.items()}
    variables |= {f"{key}.outputs.artifacts.{k}": v for k, v in child.artifacts.items()}
