"""A template run as one node: its inputs, a Retry node over attempts when it has a ``retryStrategy``,
and each attempt: a ``--fail`` fault, or the template's mutexes held around its body (a DAG, step groups
or a leaf), then its ``globalName`` outputs published."""

from collections.abc import Mapping

from aphex.dsl.run.context import RunContext
from aphex.dsl.run.dag import run_dag
from aphex.dsl.run.expressions import ExpressionError
from aphex.dsl.run.handlers import HandlerError
from aphex.dsl.run.inputs import Inputs, Invocation, input_variables, resolve_inputs
from aphex.dsl.run.leaves import run_leaf
from aphex.dsl.run.loader import Resolved
from aphex.dsl.run.nodes import NODE_TYPES, Node, RunError, template_kind
from aphex.dsl.run.outputs import publish_global_outputs
from aphex.dsl.run.retries import FIRST_ATTEMPT, run_retries
from aphex.dsl.run.step_groups import run_steps
from aphex.dsl.run.substitution import UnresolvedVariable
from aphex.dsl.run.tasks import TaskRunner

__all__ = ["Invoker"]


class Invoker:
    """Runs templates as nodes; DAG tasks and steps come back here through :attr:`tasks`."""

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self.tasks = TaskRunner(context, self.invoke)

    def invoke(self, resolved: Resolved, call: Invocation) -> Node:
        """Run ``resolved`` as one node (a Retry node when it has a retryStrategy)."""
        context = self.context
        template = resolved.template
        # Argo's woc.retryStrategy: the template's, else the workflow's spec.retryStrategy.
        retry = template.get("retryStrategy") or context.selection.spec.get("retryStrategy")
        try:
            kind = "Retry" if retry else NODE_TYPES[template_kind(template)]
        except RunError:
            kind = "Pod"
        node = context.add_node(call.name, call.display, resolved.name, kind, call.parent)
        context.start(node)
        try:
            inputs = resolve_inputs(resolved, call, context.workflow_variables())
        except (RunError, UnresolvedVariable) as error:
            return context.finish(node, "Error", str(error))
        if not retry:
            self._attempt(node, resolved, inputs, call.task, FIRST_ATTEMPT)
            return context.finish(node)
        run_retries(context, node, resolved, inputs, call.task, retry, self._attempt)
        return context.finish(node)

    def _attempt(
        self, node: Node, resolved: Resolved, inputs: Inputs, task: str, retry_vars: Mapping[str, str]
    ) -> None:
        started = self.context.clock()
        try:
            self._attempt_body(node, resolved, inputs, task, retry_vars)
        finally:
            self.context.attempt_clock[node.id] = (started, self.context.clock())

    def _attempt_body(
        self, node: Node, resolved: Resolved, inputs: Inputs, task: str, retry_vars: Mapping[str, str]
    ) -> None:
        context = self.context
        retries = int(retry_vars.get("retries", "0"))
        fault = context.faults.get(task)
        if fault is not None and (fault.attempts is None or retries < fault.attempts):
            node.phase = fault.phase
            if fault.exit_code is not None:
                node.exit_code = fault.exit_code
                node.message = f"main: Error (exit code {fault.exit_code}): failed by --fail {task}"
            else:
                node.message = f"failed by --fail {task}"
            return
        template = resolved.template
        mutexes = (template.get("synchronization") or {}).get("mutexes") or []
        try:
            variables = (
                context.workflow_variables() | input_variables(template, inputs, None) if mutexes else {}
            )
            with context.mutexes.hold(mutexes, variables, node.name, "synchronization"):
                kind = template_kind(template)
                if kind == "dag":
                    run_dag(context, self.tasks, node, resolved, inputs)
                elif kind == "steps":
                    run_steps(context, self.tasks, node, resolved, inputs)
                else:
                    run_leaf(context, node, resolved, inputs, retry_vars)
        except (RunError, HandlerError, UnresolvedVariable, ExpressionError) as error:
            node.phase, node.message = "Error", str(error)
        # operator.go, podReconciliation and executeDAG/executeSteps: addOutputsToGlobalScope runs for a
        # completed node whatever its phase, so a step that wrote a globalName output and then failed
        # still publishes it.
        if node.phase != "Running":
            publish_global_outputs(context, template, node)
