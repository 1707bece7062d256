"""Run a compiled workflow on a laptop: ``aphex run`` (like ``kfp.local`` for Kubeflow Pipelines).

The input is the compiled YAML, not Python objects: Workflows and (Cluster)WorkflowTemplates are loaded
(:mod:`aphex.dsl.run.loader`), checked for fields the local runner cannot honour
(:mod:`aphex.dsl.run.support`) and then interpreted with Argo controller semantics
(:mod:`aphex.dsl.run.engine` and the modules it composes): DAG ``depends``, step groups, ``when``, loops,
parameters and artifacts between nodes, retries, timeouts, exit handlers, mutexes.
Leaf templates go to pluggable handlers (:mod:`aphex.dsl.run.handlers`): Hera runner scripts run in a
subprocess, other containers through stand-ins or (when allowed) on the host, resource templates against a
local object store (:mod:`aphex.dsl.run.store`). See docs/run.md.
"""

import secrets
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aphex.dsl.errors import InputError
from aphex.dsl.lint import UnreadableInput, lint_paths
from aphex.dsl.run.context import Fault
from aphex.dsl.run.engine import Engine
from aphex.dsl.run.handlers import (
    FunctionHandler,
    Handler,
    HandlerRegistry,
    HostCommandHandler,
    LeafCall,
    LeafOutcome,
    ResourceHandler,
    RunnerHandler,
    SecretSource,
    StandinHandler,
    SuspendAnswers,
    SuspendHandler,
)
from aphex.dsl.run.loader import Library, LoadError, Selection, load, select
from aphex.dsl.run.nodes import NodeRecord, RunResult
from aphex.dsl.run.store import ObjectStore, ResourceRule
from aphex.dsl.run.support import check

__all__ = [
    "Fault",
    "LeafCall",
    "LeafOutcome",
    "LoadError",
    "NodeRecord",
    "RunOptions",
    "RunRefused",
    "RunResult",
    "run_workflow",
]

_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


class RunRefused(InputError):
    """The run cannot start; every problem names its field."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Everything ``aphex run`` takes besides the files."""

    template: str | None = None
    entrypoint: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    workdir: Path | None = None
    workflow_name: str | None = None
    namespace: str | None = None
    allow_host_commands: bool = False
    standins: Mapping[str, str] = field(default_factory=dict)
    resource_rules: Sequence[ResourceRule] = ()
    faults: Sequence[Fault] = ()
    resume_suspended: bool = False
    resume: Mapping[str, float] = field(default_factory=dict)
    set_outputs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    secrets_dir: Path | None = None
    lock_dir: Path | None = None
    python_path: Sequence[str] = ()
    functions: Mapping[str, Callable[[LeafCall], LeafOutcome]] = field(default_factory=dict)
    handlers: Sequence[Handler] = ()
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    progress: Callable[[str], None] | None = None
    on_update: Callable[[dict[str, Any]], None] | None = None
    """Called with the Workflow object (``status.nodes`` as Argo keeps them) whenever a node starts or
    ends: what a step reading its own Workflow through the API server would see (tests serve it)."""


def _registry(options: RunOptions, store: ObjectStore) -> HandlerRegistry:
    python_path = list(options.python_path) or [str(Path.cwd())]
    handlers: list[Handler] = [*options.handlers]
    if options.functions:
        handlers.append(FunctionHandler(options.functions))
    handlers += [
        SuspendHandler(
            answers=SuspendAnswers(
                resume_all=options.resume_suspended, resume=options.resume, outputs=options.set_outputs
            ),
            sleep=options.sleep,
        ),
        ResourceHandler(store=store, rules=options.resource_rules, sleep=options.sleep),
        StandinHandler(options.standins, python_path),
        RunnerHandler(python_path),
    ]
    if options.allow_host_commands:
        handlers.append(HostCommandHandler(python_path))
    return HandlerRegistry(handlers, hint="pass --standin TEMPLATE_OR_IMAGE=COMMAND or --allow-host-commands")


def _parameters(
    selection: Selection, library: Library, given: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Workflow parameters and the entrypoint's arguments; raises :class:`RunRefused`."""
    problems: list[str] = []
    values: dict[str, str] = {}
    declared = (selection.spec.get("arguments") or {}).get("parameters", []) or []
    for index, parameter in enumerate(declared):
        name = str(parameter.get("name"))
        where = f"spec.arguments.parameters[{index}] ({name})"
        if name in given:
            value: Any = given[name]
        elif "value" in parameter:
            value = parameter["value"]
        elif "default" in parameter:
            value = parameter["default"]
        else:
            problems.append(f"{where}: no value; pass -p {name}=VALUE")
            continue
        enum = parameter.get("enum")
        if enum is not None and str(value) not in [str(option) for option in enum]:
            problems.append(f"{where}: {value!r} is not one of {', '.join(map(str, enum))}")
        values[name] = str(value)
    entry = library.local(selection.obj, selection.entrypoint)
    inputs = [
        str(p.get("name"))
        for p in ((entry.template if entry else {}).get("inputs") or {}).get("parameters", []) or []
    ]
    for name in given:
        if name not in values and name not in inputs:
            problems.append(f"-p {name}: no workflow parameter or entrypoint input named {name!r}")
    if problems:
        raise RunRefused(problems)
    arguments = {name: given.get(name, values.get(name)) for name in inputs}
    return values, {name: value for name, value in arguments.items() if value is not None}


def _unknown_nodes(options: RunOptions, names: frozenset[str], selection: Selection) -> list[str]:
    """``--fail``, ``--resume`` and ``--set-output`` must name a task or step the run has."""
    known = names | {selection.entrypoint, "onExit"}
    wanted = [("--fail", fault.node) for fault in options.faults]
    wanted += [("--resume", node) for node in options.resume]
    wanted += [("--set-output", node) for node in options.set_outputs]
    return [
        f"{option} {node}: no task or step of the run is named {node!r}"
        for option, node in wanted
        if node not in known
    ]


def _name(selection: Selection, wanted: str | None) -> str:
    if wanted:
        return wanted
    meta = selection.obj.get("metadata", {}) or {}
    if selection.obj.get("kind") == "Workflow" and meta.get("name"):
        return str(meta["name"])
    prefix = str(meta.get("generateName") or f"{meta.get('name', 'workflow')}-")
    return prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))


def run_workflow(paths: Sequence[Path], options: RunOptions) -> RunResult:
    """Load, check and run the selected object; raises :class:`LoadError` or :class:`RunRefused`."""
    try:
        lint_problems = lint_paths(paths)
    except UnreadableInput as error:
        raise LoadError(str(error)) from None
    if lint_problems:
        # What Argo would refuse is refused first, with the linter's (Argo's) message.
        raise RunRefused([f"lint: {problem}" for problem in lint_problems])
    library = load(paths)
    selection = select(library, options.template, options.entrypoint)
    name = _name(selection, options.workflow_name)
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix=f"aphex-run-{name}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    store = ObjectStore(workdir / "store")
    registry = _registry(options, store)
    parameters, entry_arguments = _parameters(selection, library, options.parameters)
    checked = check(library, selection, registry)
    problems = checked.problems + _unknown_nodes(options, checked.node_names, selection)
    if problems:
        raise RunRefused(problems)
    meta = selection.obj.get("metadata", {}) or {}
    engine = Engine(
        library=library,
        selection=selection,
        registry=registry,
        parameters=parameters,
        entry_arguments=entry_arguments,
        workdir=workdir,
        namespace=options.namespace or str(meta.get("namespace") or "default"),
        name=name,
        faults=options.faults,
        secrets=SecretSource(values=options.secrets, directory=options.secrets_dir),
        lock_dir=options.lock_dir or Path(tempfile.gettempdir()) / "aphex-run-locks",
        sleep=options.sleep,
        clock=options.clock,
        progress=options.progress,
        store_cleanup=store.delete_owned_by,
        on_update=options.on_update,
    )
    return engine.run()
