"""Steps and DAG templates: their nodes' names, loops, dependencies and what each node may read.

Mirrors argo-workflows ``workflow/validate/validate.go``: ``validateSteps``, ``validateDAG`` (with
``verifyNoCycles`` and ``validateDAGTargets``), ``addItemsToScope`` and ``addOutputsToScope``. The template a
node calls is checked through :class:`TemplateCalls` (:mod:`aphex.dsl.lint.semantics.templates`).
"""

from collections.abc import Mapping
from typing import Any, Protocol

from aphex.dsl.argo_yaml import DependsError, task_names, tokens
from aphex.dsl.lint.rules import (
    FIELD_NAME,
    Obj,
    as_list,
    as_map,
    check_argument_values,
    check_field_names,
    find_cycle,
)
from aphex.dsl.lint.semantics.arguments import check_argument_dependencies, check_supplied
from aphex.dsl.lint.semantics.context import ObjectContext
from aphex.dsl.lint.semantics.template_types import single_type
from aphex.dsl.lint.variables import TAG, Scope, is_parameter

__all__ = ["TemplateCalls", "add_items", "add_outputs", "check_dag", "check_steps"]

_ITEM_RESULTS = {"AnySucceeded", "AllFailed"}


class TemplateCalls(Protocol):
    """How a step or task reaches the template it calls."""

    def check_reference(self, node: Obj, path: str) -> Obj | None:
        """Check the node's ``template``, ``templateRef`` or ``inline``; the template when found."""

    def check_hooks(self, hooks: Obj, path: str) -> None:
        """Check lifecycle hooks and the templates they call."""


def _has_output(template: Obj) -> bool:
    """Argo's ``Template.HasOutput``: the node captures a result."""
    containers = as_list(as_map(template.get("containerSet")).get("containers"))
    return any(
        template.get(kind) is not None for kind in ("container", "script", "data", "http", "plugin")
    ) or any(as_map(c).get("name") == "main" for c in containers)


def add_outputs(
    scope: Scope, prefix: str, name: str, target: Obj | None, aggregate: bool, ancestor: bool
) -> None:
    """Argo's ``addOutputsToScope``: what ``steps.X.*``/``tasks.X.*`` may read of a node."""
    node = f"{prefix}.{name}"
    scope.keys |= {f"{node}.id", f"{node}.startedAt", f"{node}.finishedAt", f"{node}.hostNodeName"}
    if ancestor:
        scope.keys.add(f"{node}.status")
    if target is None:
        return
    if target.get("daemon"):
        scope.keys.add(f"{node}.ip")
    if _has_output(target):
        scope.keys |= {f"{node}.outputs.result", f"{node}.exitCode"}
    outputs = as_map(target.get("outputs"))
    for parameter in as_list(outputs.get("parameters")):
        scope.keys.add(f"{node}.outputs.parameters.{as_map(parameter).get('name')}")
        if is_parameter(str(as_map(parameter).get("globalName") or "")):
            scope.any_output_parameter = True
    for artifact in as_list(outputs.get("artifacts")):
        scope.keys.add(f"{node}.outputs.artifacts.{as_map(artifact).get('name')}")
        if is_parameter(str(as_map(artifact).get("globalName") or "")):
            scope.any_output_artifact = True
    if aggregate:
        scope.keys.add(f"{node}.outputs.parameters")
        if single_type(target) in ("script", "containerSet"):
            scope.keys |= {f"{node}.outputs.result", f"{node}.exitCode"}


def _item_keys(items: list[Any]) -> set[str]:
    keys: set[str] = set()
    for item in items:
        if isinstance(item, list):
            keys |= {f"item.[{index}]" for index in range(len(item))}
        elif isinstance(item, Mapping):
            keys |= {f"item.{key}" for key in item}
        else:
            keys.add("item")
    return keys


def add_items(ctx: ObjectContext, node: Obj, path: str, scope: Scope) -> None:
    """Argo's ``addItemsToScope``: one loop kind, a sequence with count or end, and ``item`` keys."""
    items = as_list(node.get("withItems"))
    loops = [key for key in ("withItems", "withParam", "withSequence") if node.get(key)]
    if node.get("withSequence") is not None and "withSequence" not in loops:
        loops.append("withSequence")
    if len(loops) > 1:
        ctx.emit(path, "only one of withItems, withParam, withSequence can be specified")
        return
    if items:
        scope.keys |= _item_keys(items)
    elif node.get("withParam"):
        scope.keys.add("item")
        scope.any_item = True
    elif node.get("withSequence") is not None:
        sequence = as_map(node.get("withSequence"))
        if sequence.get("count") is not None and sequence.get("end") is not None:
            ctx.emit(f"{path}.withSequence", "only one of count or end can be defined in withSequence")
        scope.keys.add("item")


def _inline_inputs(node: Obj) -> set[str]:
    """The input parameters of a node's ``inline`` template, which its own fields may read."""
    inline = as_map(node.get("inline"))
    return {
        f"inputs.parameters.{as_map(p).get('name')}"
        for p in as_list(as_map(inline.get("inputs")).get("parameters"))
    }


def _loops(node: Obj) -> bool:
    """Whether the node's outputs aggregate over ``withItems`` or ``withParam``."""
    return bool(node.get("withItems")) or bool(node.get("withParam"))


def _check_not_leaf(ctx: ObjectContext, template: Obj, path: str) -> None:
    if template.get("activeDeadlineSeconds") is not None:
        ctx.emit(f"{path}.activeDeadlineSeconds", "activeDeadlineSeconds is only valid for leaf templates")


def check_steps(ctx: ObjectContext, calls: TemplateCalls, template: Obj, path: str, scope: Scope) -> None:
    """Argo's ``validateSteps``: each step sees the steps before it, in its group too."""
    _check_not_leaf(ctx, template, path)
    seen: set[str] = set()
    for group_index, group in enumerate(as_list(template.get("steps"))):
        for index, step in enumerate(as_list(group)):
            if not isinstance(step, Mapping):
                continue
            where = f"{path}.steps[{group_index}][{index}]"
            name = str(step.get("name") or "")
            if not name:
                ctx.emit(f"{where}.name", "name is required")
                continue
            if name in seen:
                ctx.emit(f"{where}.name", f"'{name}' is not unique")
            seen.add(name)
            sanitized = TAG.sub("x", name)  # Argo's isValidStepName: parameters become placeholders
            if len(sanitized) > 128 or not FIELD_NAME.match(sanitized):
                ctx.emit(
                    f"{where}.name",
                    f"'{name}' is invalid: name must consist of alpha-numeric characters or '-', and "
                    "must start with an alpha-numeric character",
                )
            name = scope.substitute_inputs(name)
            scope.keys.add(f"steps.{name}.status")
            add_items(ctx, step, where, scope)
            arguments = as_map(step.get("arguments"))
            check_argument_values(ctx.emit, arguments, f"{where}.arguments", allow_empty=False)
            target = calls.check_reference(step, where)
            if as_map(step.get("hooks")).get("exit") is not None or step.get("onExit"):
                add_outputs(scope, "steps", name, target, aggregate=False, ancestor=False)
            calls.check_hooks(as_map(step.get("hooks")), f"{where}.hooks")
            if step.get("onExit") and str(step["onExit"]) not in ctx.templates:
                ctx.emit(f"{where}.onExit", f"template name '{step['onExit']}' undefined")
            step_scope = scope.copy()
            step_scope.keys |= _inline_inputs(step)
            ctx.check_variables(step, where, step_scope)
            add_outputs(scope, "steps", name, target, _loops(step), ancestor=False)
            check_supplied(ctx, target, arguments, f"{where}.arguments")


def check_dag(ctx: ObjectContext, calls: TemplateCalls, template: Obj, path: str, scope: Scope) -> None:
    """Argo's ``validateDAG``: task names and dependencies, no cycle, targets, then each task's scope."""
    _check_not_leaf(ctx, template, path)
    dag = as_map(template.get("dag"))
    tasks = [as_map(task) for task in as_list(dag.get("tasks"))]
    if not tasks:
        ctx.emit(f"{path}.dag.tasks", "must have at least one task")
        return
    check_field_names(ctx.emit, tasks, f"{path}.dag.tasks", parameter_like=False)
    by_name = {str(task.get("name")): task for task in tasks}
    parents, results = _dependencies(ctx, tasks, path)
    using_depends = any(task.get("depends") for task in tasks)
    targets: dict[str, Obj | None] = {}
    for index, task in enumerate(tasks):
        name, where = str(task.get("name")), f"{path}.dag.tasks[{index}]"
        _check_dependency_style(ctx, task, where, using_depends)
        targets[name] = calls.check_reference(task, where)
        add_outputs(scope, "tasks", name, targets[name], _loops(task), ancestor=False)
        key = "depends" if task.get("depends") else "dependencies"
        for parent in parents[name]:
            if parent not in by_name:
                ctx.emit(f"{where}.{key}", f"dependency '{parent}' not defined")
        for parent, result in results.get(name, set()):
            if result in _ITEM_RESULTS and parent in by_name and not _has_items(by_name[parent]):
                ctx.emit(
                    f"{where}.depends",
                    f"dependency '{parent}' uses an items-based condition such as .AnySucceeded or "
                    ".AllFailed but does not contain any items",
                )
    cycle = find_cycle({name: [p for p in ps if p in by_name] for name, ps in parents.items()})
    if cycle:
        ctx.emit(f"{path}.dag", f"dependency cycle detected: {'->'.join(cycle)}")
        return
    target_text = str(dag.get("target") or "")
    ctx.check_variables(target_text, f"{path}.dag.target", scope)
    for target_name in target_text.split(" ") if target_text else []:
        if not is_parameter(target_name) and target_name not in by_name:
            ctx.emit(f"{path}.dag.target", f"target '{target_name}' is not defined")
    for index, task in enumerate(tasks):
        name, where = str(task.get("name")), f"{path}.dag.tasks[{index}]"
        if task.get("hooks") is not None:
            scope.keys.add(f"tasks.{name}.status")
        add_outputs(scope, "tasks", name, targets[name], aggregate=False, ancestor=False)
        task_scope = scope.copy()
        ancestry = _ancestors(name, parents)
        for ancestor in ancestry:
            loops = _loops(by_name.get(ancestor, {}))
            add_outputs(task_scope, "tasks", ancestor, targets.get(ancestor), loops, ancestor=True)
        task_scope.keys |= _inline_inputs(task)
        add_items(ctx, task, where, task_scope)
        ctx.check_variables(task, where, task_scope)
        arguments = as_map(task.get("arguments"))
        check_argument_values(ctx.emit, arguments, f"{where}.arguments", allow_empty=False)
        check_argument_dependencies(ctx, arguments, ancestry, f"{where}.arguments")
        check_supplied(ctx, targets[name], arguments, f"{where}.arguments")


def _dependencies(
    ctx: ObjectContext, tasks: list[Obj], path: str
) -> tuple[dict[str, list[str]], dict[str, set[tuple[str, str]]]]:
    """Each task's parents, and the ``(parent, result)`` pairs of its ``depends`` (``parent.Succeeded``)."""
    parents: dict[str, list[str]] = {}
    results: dict[str, set[tuple[str, str]]] = {}
    for index, task in enumerate(tasks):
        name, where = str(task.get("name")), f"{path}.dag.tasks[{index}]"
        if task.get("depends"):
            try:
                parents[name] = task_names(str(task["depends"]))
                results[name] = {
                    (token.partition(".")[0], token.partition(".")[2])
                    for token in tokens(str(task["depends"]))
                    if "." in token
                }
            except DependsError as error:
                ctx.emit(f"{where}.depends", f"invalid depends expression: {error}")
                parents[name] = []
        else:
            parents[name] = [str(dep) for dep in as_list(task.get("dependencies"))]
    return parents, results


def _check_dependency_style(ctx: ObjectContext, task: Obj, where: str, using_depends: bool) -> None:
    """``depends`` and ``dependencies`` are not mixed in one DAG, nor ``depends`` with ``continueOn``."""
    name = str(task.get("name"))
    if (using_depends or as_list(task.get("dependencies"))) and name[:1].isdigit():
        ctx.emit(
            f"{where}.name", "name cannot begin with a digit when using either 'depends' or 'dependencies'"
        )
    if using_depends and as_list(task.get("dependencies")):
        ctx.emit(where, "cannot use both 'depends' and 'dependencies' in the same DAG template")
    if using_depends and task.get("continueOn") is not None:
        ctx.emit(
            f"{where}.continueOn",
            "cannot use 'continueOn' when using 'depends'. Instead use 'dep-task.Failed'/'dep-task.Errored'",
        )


def _has_items(task: Obj) -> bool:
    """Whether the task loops (``.AnySucceeded`` and ``.AllFailed`` need it)."""
    return bool(task.get("withItems") or task.get("withParam") or task.get("withSequence") is not None)


def _ancestors(name: str, parents: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(parents.get(name, []))
    while stack:
        parent = stack.pop()
        if parent not in seen:
            seen.add(parent)
            stack += parents.get(parent, [])
    return seen
