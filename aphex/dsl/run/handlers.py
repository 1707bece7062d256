"""How a local run executes leaf templates: a small :class:`Handler` protocol and a registry.

The engine substitutes a leaf template, places its input artifacts and hands a :class:`LeafCall` to the
first handler that accepts the template; the handler returns a :class:`LeafOutcome`. Built in, in order:

- :class:`FunctionHandler`: Python callables by template name, in process (tests, benchmarks);
- :class:`SuspendHandler`: ``suspend`` templates resume after ``duration`` or when the operator's
  answer (``--resume``, ``--set-output``, ``--resume-suspended``) says so, else stay Running;
- :class:`ResourceHandler`: ``resource`` templates create objects in the local :class:`ObjectStore`;
- :class:`StandinHandler`: a command the user maps to a template name or image (``--standin``);
- :class:`RunnerHandler`: Hera runner scripts (``python -m hera.workflows.runner -e module:fn``) run in a
  subprocess with the JSON inputs Argo would write, outputs read from ``hera__outputs_directory``;
- :class:`HostCommandHandler`: any other container or script command on the host, only with
  ``--allow-host-commands``.

Container paths map to per-node host directories (:class:`PathMap`): each volume mount gets its own
directory, other absolute paths live under ``<node>/fs``.
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aphex.dsl.errors import ExecutionError
from aphex.dsl.run.store import ConditionError, ObjectStore, ResourceRule, condition_holds, json_path
from aphex.dsl.yaml_input import YamlInputError, load_yaml

__all__ = [
    "DEADLINE_MESSAGE",
    "STEP_DEADLINE_MESSAGE",
    "FunctionHandler",
    "Handler",
    "HandlerError",
    "HandlerRegistry",
    "HostCommandHandler",
    "LeafCall",
    "LeafOutcome",
    "PathMap",
    "ResourceHandler",
    "RunnerHandler",
    "SecretSource",
    "StandinHandler",
    "SuspendAnswers",
    "SuspendHandler",
    "is_runner_script",
    "parse_duration",
    "resolve_env",
]

DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
STEP_DEADLINE_MESSAGE = "Step exceeded its deadline"


class HandlerError(ExecutionError):
    """A leaf cannot be executed (the node ends in phase Error); the message names the field."""


def parse_duration(value: Any, field_name: str) -> float:
    """Seconds of a Go duration (``1h30m``, ``10s``, ``500ms``) or a plain number of seconds."""
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise HandlerError(f"{field_name}: {text!r} is not a duration (e.g. 30s, 5m, 1h)")
    return sum(float(number) * units[unit] for number, unit in parts)


@dataclass(frozen=True, kw_only=True)
class PathMap:
    """Where a container path lives on the host for one node."""

    root: Path
    mounts: tuple[tuple[str, Path], ...] = ()

    @classmethod
    def for_template(cls, template: Mapping[str, Any], node_dir: Path) -> "PathMap":
        body = template.get("container") or template.get("script") or {}
        mounts = []
        for mount in body.get("volumeMounts", []) or []:
            path = str(mount.get("mountPath", "")).rstrip("/")
            if path:
                mounts.append((path, node_dir / "volumes" / str(mount.get("name"))))
        mounts.sort(key=lambda item: len(item[0]), reverse=True)
        return cls(root=node_dir / "fs", mounts=tuple(mounts))

    def host(self, container_path: str) -> Path:
        for prefix, directory in self.mounts:
            if container_path == prefix or container_path.startswith(prefix + "/"):
                return directory / container_path[len(prefix) :].lstrip("/")
        return self.root / container_path.lstrip("/")

    def mapped(self, value: str) -> str | None:
        """The host path for an env value that lies under a volume mount, else None."""
        for prefix, _ in self.mounts:
            if value == prefix or value.startswith(prefix + "/"):
                return str(self.host(value))
        return None


@dataclass(frozen=True, kw_only=True)
class SecretSource:
    """Secret values for ``secretKeyRef``: given as ``NAME/KEY=VALUE`` or files ``<dir>/<name>/<key>``."""

    values: Mapping[str, str] = field(default_factory=dict)
    directory: Path | None = None

    def get(self, name: str, key: str) -> str | None:
        if f"{name}/{key}" in self.values:
            return self.values[f"{name}/{key}"]
        if self.directory is not None:
            file = self.directory / name / key
            if file.is_file():
                return file.read_text(encoding="utf-8")
        return None


def resolve_env(
    template: Mapping[str, Any],
    paths: PathMap,
    secrets: SecretSource,
    fields: Mapping[str, str],
    where: str,
) -> dict[str, str]:
    """The environment a template's container would see (values under mounts point at host dirs)."""
    body = template.get("container") or template.get("script") or {}
    env: dict[str, str] = {}
    for index, variable in enumerate(body.get("env", []) or []):
        name = str(variable.get("name"))
        field_path = f"{where}.env[{index}]"
        source = variable.get("valueFrom")
        if source is None:
            value = str(variable.get("value", ""))
            env[name] = paths.mapped(value) or value
            continue
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = secrets.get(str(ref.get("name")), str(ref.get("key")))
            if secret is None:
                if ref.get("optional"):
                    continue
                raise HandlerError(
                    f"{field_path}.valueFrom.secretKeyRef: secret {ref.get('name')}/{ref.get('key')} not "
                    "given (use --secret NAME/KEY=VALUE or --secrets-dir)"
                )
            env[name] = secret
        elif "fieldRef" in source:
            path = str(source["fieldRef"].get("fieldPath"))
            if path not in fields:
                raise HandlerError(f"{field_path}.valueFrom.fieldRef: {path} is not available locally")
            env[name] = fields[path]
        else:
            raise HandlerError(f"{field_path}.valueFrom: only secretKeyRef and fieldRef are supported")
    return env


@dataclass(frozen=True, kw_only=True)
class LeafCall:
    """One attempt of a leaf template, substituted and ready to run."""

    template: Mapping[str, Any]
    template_name: str
    node_name: str
    node_id: str
    display_name: str
    pod_name: str
    node_dir: Path
    paths: PathMap
    inputs: Sequence[Mapping[str, str]]
    env: Mapping[str, str]
    deadline: float | None
    workflow_name: str
    workflow_namespace: str
    workflow_uid: str


@dataclass(frozen=True, kw_only=True)
class LeafOutcome:
    """What a handler reports: phase, message, outputs it read itself and stdout as ``result``."""

    phase: str
    message: str = ""
    parameters: Mapping[str, str] = field(default_factory=dict)
    artifacts: Mapping[str, Path] = field(default_factory=dict)
    result: str | None = None
    exit_code: int | None = None
    log_tail: str = ""


class Handler(Protocol):
    """Executes the leaf templates it accepts."""

    name: str

    def accepts(self, template: Mapping[str, Any]) -> bool: ...

    def run(self, call: LeafCall) -> LeafOutcome: ...


class HandlerRegistry:
    """Handlers in order of preference; the first that accepts a template runs it."""

    def __init__(self, handlers: Sequence[Handler], hint: str = "") -> None:
        self.handlers = list(handlers)
        self.hint = hint

    def find(self, template: Mapping[str, Any]) -> Handler | None:
        return next((handler for handler in self.handlers if handler.accepts(template)), None)


def is_runner_script(template: Mapping[str, Any]) -> bool:
    """A Hera runner script: ``script`` whose args run ``-m hera.workflows.runner -e module:fn``."""
    script = template.get("script")
    if not isinstance(script, Mapping):
        return False
    args = [str(arg) for arg in script.get("args", []) or []]
    return args[:2] == ["-m", "hera.workflows.runner"] and "-e" in args


def _trim(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text


@dataclass(frozen=True, kw_only=True)
class _Process:
    code: int
    stdout: str
    stderr: str
    timed_out: bool


def _run_process(argv: Sequence[str], env: Mapping[str, str], cwd: Path, deadline: float | None) -> _Process:
    process = subprocess.Popen(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=deadline)
        return _Process(code=process.returncode, stdout=stdout, stderr=stderr, timed_out=False)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        return _Process(code=-9, stdout=stdout, stderr=stderr, timed_out=True)


def _outcome(process: _Process) -> LeafOutcome:
    if process.timed_out:
        return LeafOutcome(phase="Failed", message=DEADLINE_MESSAGE, exit_code=process.code)
    if process.code != 0:
        # Argo's inferFailedReason (operator.go) for a main container that exited non-zero; the last
        # line of stderr is only shown in the progress line.
        last = next((line for line in reversed(process.stderr.splitlines()) if line.strip()), "")
        return LeafOutcome(
            phase="Failed",
            message=f"main: Error (exit code {process.code})",
            result=_trim(process.stdout),
            exit_code=process.code,
            log_tail=last.strip(),
        )
    return LeafOutcome(phase="Succeeded", result=_trim(process.stdout), exit_code=0)


def _base_env(python_path: Sequence[str]) -> dict[str, str]:
    # KUBECONFIG stands in for the ServiceAccount credentials Kubernetes gives every pod.
    passed = ("PATH", "LANG", "LC_ALL", "TMPDIR", "KUBECONFIG")
    env = {key: os.environ[key] for key in passed if key in os.environ}
    existing = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    env["PYTHONPATH"] = os.pathsep.join([*python_path, *existing])
    return env


def _argv(call: LeafCall) -> list[str]:
    """The container's command line; a script's source is written to a file appended to it."""
    body = call.template.get("container") or call.template.get("script") or {}
    argv = [str(part) for part in [*(body.get("command") or []), *(body.get("args") or [])]]
    if "script" in call.template:
        source = call.node_dir / "script"
        source.write_text(str(body.get("source", "")), encoding="utf-8")
        argv = argv or ["sh"]
        argv.append(str(source))
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    if not argv:
        raise HandlerError(
            f"template {call.template_name}: the container has no command (image entrypoints "
            "are not known locally)"
        )
    return argv


def _read_outputs(directory: Path) -> tuple[dict[str, str], dict[str, Path]]:
    parameters = {
        file.name: _trim(file.read_text(encoding="utf-8"))
        for file in sorted((directory / "parameters").glob("*"))
        if file.is_file()
    }
    artifacts = {path.name: path for path in sorted((directory / "artifacts").glob("*"))}
    return parameters, artifacts


class FunctionHandler:
    """In-process Python callables by template name (no subprocess): tests and benchmarks."""

    name = "function"

    def __init__(self, functions: Mapping[str, Callable[[LeafCall], LeafOutcome]]) -> None:
        self.functions = dict(functions)

    def accepts(self, template: Mapping[str, Any]) -> bool:
        return str(template.get("name")) in self.functions

    def run(self, call: LeafCall) -> LeafOutcome:
        return self.functions[call.template_name](call)


@dataclass(frozen=True, kw_only=True)
class SuspendAnswers:
    """What the operator does to suspend nodes during a local run (by display name).

    ``resume_all`` is ``argo resume WORKFLOW``: every suspend node resumes at once and its supplied outputs
    without a value take their defaults. ``resume`` maps a node to the seconds after which ``argo resume
    WORKFLOW --node-field-selector displayName=NODE`` answers it (no defaults are applied: a supplied output
    nobody set stays unset). ``outputs`` are ``argo node set WORKFLOW --output-parameter NAME=VALUE
    --node-field-selector displayName=NODE``: they fill supplied outputs but resume nothing.
    """

    resume_all: bool = False
    resume: Mapping[str, float] = field(default_factory=dict)
    outputs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


WAITING_MESSAGE = "waiting for argo resume (a local run cannot): pass --resume {node} or --resume-suspended"


def _supplied(template: Mapping[str, Any]) -> dict[str, Any]:
    """Supplied output parameters and their defaults; a missing default falls back to the input parameter
    of the same name (argo-workflows operator.go, addRawOutputFields)."""
    inputs = {
        str(p.get("name")): p.get("default")
        for p in (template.get("inputs") or {}).get("parameters", []) or []
    }
    supplied: dict[str, Any] = {}
    for parameter in (template.get("outputs") or {}).get("parameters", []) or []:
        value_from = parameter.get("valueFrom") or {}
        if value_from.get("supplied") is not None:
            name = str(parameter.get("name"))
            supplied[name] = value_from.get("default", inputs.get(name))
    return supplied


class SuspendHandler:
    """``suspend`` nodes as Argo's executeSuspend (operator.go) and the operator's answers.

    A ``duration`` resumes the node by itself when it elapses, supplied outputs nobody set taking their
    default (an output without one is an Error, as OverrideOutputParametersWithDefault); an answer
    (:class:`SuspendAnswers`) that comes earlier wins. Without duration or answer the node stays
    ``Running``: a local run cannot wait for a person, so the run ends there (see docs/run.md).
    """

    name = "suspend"

    def __init__(self, *, answers: SuspendAnswers, sleep: Callable[[float], None]) -> None:
        self.answers = answers
        self.sleep = sleep

    def accepts(self, template: Mapping[str, Any]) -> bool:
        return template.get("suspend") is not None

    def run(self, call: LeafCall) -> LeafOutcome:
        supplied = _supplied(call.template)
        given = dict(self.answers.outputs.get(call.display_name, {}))
        for name in given:
            if not supplied:
                raise HandlerError(
                    f"--set-output {call.display_name}: cannot set output parameters because node is not "
                    "expecting any raw parameters"
                )
            if name not in supplied:
                raise HandlerError(
                    f"--set-output {call.display_name}: node is not expecting output parameter '{name}'"
                )
        duration_text = (call.template.get("suspend") or {}).get("duration")
        duration = parse_duration(duration_text, "suspend.duration") if duration_text else None
        if self.answers.resume_all:
            return self._resumed(call, supplied, given, with_defaults=True)
        delay = self.answers.resume.get(call.display_name)
        if delay is not None and (duration is None or delay < duration):
            if call.deadline is not None and call.deadline <= delay:
                return self._expired(call)
            self.sleep(delay)
            return self._resumed(call, supplied, given, with_defaults=False)
        if duration is not None:
            if call.deadline is not None and call.deadline <= duration:
                return self._expired(call)
            self.sleep(duration)
            return self._resumed(call, supplied, given, with_defaults=True)
        if call.deadline is not None:
            return self._expired(call)
        return LeafOutcome(
            phase="Running", message=WAITING_MESSAGE.format(node=call.display_name), parameters=given
        )

    def _expired(self, call: LeafCall) -> LeafOutcome:
        """The deadline comes first: operator.go fails an active suspend node past the workflow deadline."""
        assert call.deadline is not None
        self.sleep(call.deadline)
        return LeafOutcome(phase="Failed", message=STEP_DEADLINE_MESSAGE)

    @staticmethod
    def _resumed(
        call: LeafCall, supplied: Mapping[str, Any], given: Mapping[str, str], *, with_defaults: bool
    ) -> LeafOutcome:
        values = dict(given)
        if with_defaults:
            for name, default in supplied.items():
                if name in values:
                    continue
                if default is None:
                    raise HandlerError(
                        f"raw output parameter '{name}' has not been set and does not have a default value"
                    )
                values[name] = str(default)
        return LeafOutcome(phase="Succeeded", parameters=values)


class ResourceHandler:
    """``resource`` (create/apply) against the local object store, completed by ``--resource-rule``."""

    name = "resource"

    def __init__(
        self, *, store: ObjectStore, rules: Sequence[ResourceRule], sleep: Callable[[float], None]
    ) -> None:
        self.store = store
        self.rules = list(rules)
        self.sleep = sleep

    def accepts(self, template: Mapping[str, Any]) -> bool:
        return template.get("resource") is not None

    def run(self, call: LeafCall) -> LeafOutcome:
        resource = call.template["resource"]
        try:
            manifest = load_yaml(str(resource.get("manifest", "")), source="resource.manifest")
        except YamlInputError as error:
            raise HandlerError(f"{error} (after substitution)") from None
        if not isinstance(manifest, Mapping):
            raise HandlerError("resource.manifest: must be a mapping")
        manifest = dict(manifest)
        if resource.get("setOwnerReference"):
            meta = dict(manifest.get("metadata") or {})
            meta["ownerReferences"] = [
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Workflow",
                    "name": call.workflow_name,
                    "uid": call.workflow_uid,
                    "blockOwnerDeletion": True,
                    "controller": True,
                }
            ]
            manifest["metadata"] = meta
        try:
            if resource.get("action") == "apply":
                obj = self.store.apply(manifest, call.workflow_namespace)
            else:
                obj = self.store.create(manifest, call.workflow_namespace)
        except ConditionError as error:
            raise HandlerError(f"resource.manifest: {error}") from None
        label = f"{obj.get('kind')}/{obj['metadata']['name']}"
        success, failure = resource.get("successCondition"), resource.get("failureCondition")
        if success or failure:
            rule = next((rule for rule in self.rules if rule.matches(obj)), None)
            if rule is None:
                raise HandlerError(
                    f"resource: nothing completes {label}: give a --resource-rule "
                    f"(e.g. kind={obj.get('kind')},phase=Succeeded)"
                )
            if call.deadline is not None and rule.after > call.deadline:
                self.sleep(call.deadline)
                return LeafOutcome(phase="Failed", message=DEADLINE_MESSAGE)
            self.sleep(rule.after)
            obj = (
                self.store.get(str(obj["kind"]), obj["metadata"]["namespace"], obj["metadata"]["name"]) or obj
            )
            obj.setdefault("status", {})["phase"] = rule.phase
            self.store.update(obj)
            try:
                if failure and condition_holds(str(failure), obj):
                    return LeafOutcome(
                        phase="Failed",
                        message=f"{label}: failure condition {failure!r} matched",
                        parameters=self._outputs(call, obj),
                    )
                if success and not condition_holds(str(success), obj):
                    raise HandlerError(
                        f"resource.successCondition: {success!r} does not hold for {label} "
                        f"after the rule set status.phase={rule.phase}"
                    )
            except ConditionError as error:
                raise HandlerError(f"resource: {error}") from None
        return LeafOutcome(phase="Succeeded", message=label, parameters=self._outputs(call, obj))

    @staticmethod
    def _outputs(call: LeafCall, obj: Mapping[str, Any]) -> dict[str, str]:
        values = {}
        for parameter in (call.template.get("outputs") or {}).get("parameters", []) or []:
            path = (parameter.get("valueFrom") or {}).get("jsonPath")
            if path:
                try:
                    values[str(parameter["name"])] = json_path(obj, str(path))
                except ConditionError as error:
                    raise HandlerError(f"outputs.parameters.{parameter['name']}: {error}") from None
        return values


def _outputs_directory(call: LeafCall, default: str) -> Path:
    """The host directory behind ``hera__outputs_directory`` (mapped), or ``<node>/<default>``."""
    value = call.env.get("hera__outputs_directory")
    if not value:
        directory = call.node_dir / default
    elif value.startswith(str(call.node_dir)):
        directory = Path(value)
    else:
        directory = call.paths.host(value)
    (directory / "parameters").mkdir(parents=True, exist_ok=True)
    (directory / "artifacts").mkdir(parents=True, exist_ok=True)
    return directory


class _SubprocessHandler:
    def __init__(self, python_path: Sequence[str]) -> None:
        self.python_path = list(python_path)

    def _env(self, call: LeafCall, extra: Mapping[str, str]) -> dict[str, str]:
        return {**_base_env(self.python_path), **call.env, **extra}


class RunnerHandler(_SubprocessHandler):
    """Hera runner scripts in a subprocess of this Python: inputs as Argo's JSON list, outputs as files."""

    name = "runner"

    def accepts(self, template: Mapping[str, Any]) -> bool:
        return is_runner_script(template)

    def run(self, call: LeafCall) -> LeafOutcome:
        outputs = _outputs_directory(call, "hera-outputs")
        argv = _argv(call)
        argv[0] = sys.executable
        process = _run_process(
            argv, self._env(call, {"hera__outputs_directory": str(outputs)}), call.node_dir, call.deadline
        )
        return _outcome(process)


class StandinHandler(_SubprocessHandler):
    """A user command standing in for a container, by template name or image (``--standin``).

    The command gets the container's command line appended and, in its environment, the template's env
    plus ``APHEX_INPUTS`` (JSON object of input parameters), ``APHEX_OUTPUTS`` (write
    ``parameters/<name>`` and ``artifacts/<name>`` there), ``APHEX_TEMPLATE`` and ``APHEX_NODE``.
    """

    name = "standin"

    def __init__(self, standins: Mapping[str, str], python_path: Sequence[str]) -> None:
        super().__init__(python_path)
        self.standins = dict(standins)

    def _command(self, template: Mapping[str, Any]) -> str | None:
        body = template.get("container") or template.get("script")
        if not isinstance(body, Mapping):
            return None
        return self.standins.get(str(template.get("name"))) or self.standins.get(str(body.get("image")))

    def accepts(self, template: Mapping[str, Any]) -> bool:
        return self._command(template) is not None

    def run(self, call: LeafCall) -> LeafOutcome:
        command = self._command(call.template)
        assert command is not None
        outputs = _outputs_directory(call, "outputs")
        extra = {
            "hera__outputs_directory": str(outputs),
            "APHEX_INPUTS": json.dumps({p["name"]: p["value"] for p in call.inputs}),
            "APHEX_OUTPUTS": str(outputs),
            "APHEX_TEMPLATE": call.template_name,
            "APHEX_NODE": call.display_name,
        }
        argv = [*shlex.split(command), *_argv(call)]
        outcome = _outcome(_run_process(argv, self._env(call, extra), call.node_dir, call.deadline))
        parameters, artifacts = _read_outputs(outputs)
        return LeafOutcome(
            phase=outcome.phase,
            message=outcome.message,
            parameters=parameters,
            artifacts=artifacts,
            result=outcome.result,
            exit_code=outcome.exit_code,
            log_tail=outcome.log_tail,
        )


class HostCommandHandler(_SubprocessHandler):
    """Any container or script command run on this machine (``--allow-host-commands`` only)."""

    name = "host"

    def accepts(self, template: Mapping[str, Any]) -> bool:
        return template.get("container") is not None or template.get("script") is not None

    def run(self, call: LeafCall) -> LeafOutcome:
        return _outcome(_run_process(_argv(call), self._env(call, {}), call.node_dir, call.deadline))
