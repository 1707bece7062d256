"""What the docs quote, checked against what aphex compiles: the docs cannot drift from the bundle.

:func:`known_references` collects, from the compiled default bundle and the example cluster's bundle with
the example application's pipeline (the objects ``aphex compile`` writes), every object name by kind, every
label key and value, every annotation key, the parameters of every template and the run mutexes; plus
the objects the preview steps write into a preview namespace
(:func:`aphex.workflows.steps.implementation_dag.preview.namespace_manifests`) and the ``aphex`` argument
parser.
:func:`page_problems` extracts from one Markdown page

- object names: a whole code span ``aphex-...``, and any code span right after a kind
  (``ServiceAccount `aphex-argo-sensor```);
- label selectors (``-l key=value,...``) and ``aphex.dev/...`` keys;
- ``aphex ...`` commands (subcommands and options, by parser introspection), ``workflowtemplate/NAME``
  with the ``-p`` parameters of ``argo submit --from``, ``argo cron get NAME``;
- the mutex named after "the mutex";
- benchmarks and examples run with a Python other than ``.venv/bin/python``;

and returns one line per quote that names nothing aphex compiles. A ``<placeholder>`` in a quote stands for
any text; a compiled ``{{...}}`` expression likewise.
"""

import argparse
import json
import re
import shlex
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

__all__ = [
    "ALLOWED_NAMES",
    "CONTROLLER_LABELS",
    "KINDS",
    "Known",
    "known_references",
    "page_problems",
]

KINDS: Final = (
    "ValidatingAdmissionPolicyBinding",
    "ValidatingAdmissionPolicy",
    "ClusterRoleBinding",
    "ClusterRole",
    "RoleBinding",
    "Role",
    "ServiceAccount",
    "WorkflowTemplate",
    "CronWorkflow",
    "EventSource",
    "Sensor",
    "Secret",
    "ResourceQuota",
    "LimitRange",
    "NetworkPolicy",
)
"""Kinds whose name the docs quote right after the kind; longest first, so a prefix never wins."""

CONTROLLER_LABELS: Final = {
    # argo-workflows workflow/controller/operator.go, setWfTemplateLabel: a Workflow with a
    # workflowTemplateRef is labelled with the template's name.
    "workflows.argoproj.io/workflow-template": "WorkflowTemplate",
    # argo-workflows workflow/cron/operator.go (the CronWorkflow's name on the Workflows it starts).
    "workflows.argoproj.io/cron-workflow": "CronWorkflow",
    # argo-events pkg/reconciler/eventsource/resource.go and sensor/resource.go: the pods of an EventSource
    # or Sensor carry its name (LabelEventSourceName, LabelSensorName in pkg/apis/events/v1alpha1/const.go).
    "eventsource-name": "EventSource",
    "sensor-name": "Sensor",
    # argo-events pkg/reconciler/eventbus: the EventBus's pods carry its name.
    "eventbus-name": "EventBus",
    # argo-workflows workflow/common/common.go LabelKeyWorkflow: the pods of a Workflow carry its name.
    "workflows.argoproj.io/workflow": "Workflow",
}
"""Labels Argo's controllers set (not aphex): the value is the name of an object of that kind."""

ALLOWED_NAMES: Final = {
    "aphex-run-locks": "aphex run's default lock directory (aphex/dsl/run/__init__.py), a local path",
    "github-app-<lowercased app name>": "the agent platform's Secret per GitHub App, never aphex's",
    "aphex.dev/chart-host": "the demo's Ingress stand-in annotation (examples/demo/cluster_standin.py)",
}
"""Quoted names and keys that are not compiled objects, each with the reason it may be quoted."""

_PLACEHOLDER = re.compile(r"<[^<>]+>")
_EXPRESSION = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_SPAN = re.compile(r"(?<!`)`([^`]+)`(?!`)")
"""An inline code span; it may continue on the next line (not across a blank line)."""
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
_KIND_NAME = re.compile(r"\b(" + "|".join(KINDS) + r")s?\s+`([^`\n]+)`")
_OBJECT_NAME = re.compile(r"aphex-[a-z0-9-]*[a-z0-9]")
_LABEL_KEY = re.compile(r"aphex\.dev/[a-z0-9-]+")
_SELECTOR = re.compile(r"(?:^|\s)(?:-l|--selector)[\s=]+['\"]?([^\s'\"`]+)")
_TEMPLATE_REF = re.compile(r"workflowtemplate/([A-Za-z0-9<>._-]+)")
_CRON_GET = re.compile(r"argo cron get(?:\s+-n\s+\S+)?\s+([a-z0-9<>-]+)")
_BARE_PYTHON = re.compile(r"(?:^|[\s(])python3? (?:benchmarks/|-m (?:benchmarks|examples)\.)")
_MUTEX = re.compile(r"(?:the mutex|mutexes`)\s*\(?`([^`]+)`")


@dataclass
class Known:
    """Everything the compiled bundles (and the preview steps) name."""

    names: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    """Object names by kind (``Secret``: the Secrets the bundle references)."""
    strings: set[str] = field(default_factory=set)
    """Every string the bundles hold, and a few names derived from the settings."""
    labels: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    """Label values by key."""
    annotations: set[str] = field(default_factory=set)
    parameters: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    """Workflow parameters by WorkflowTemplate name."""
    mutexes: set[str] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)
    """The kinds of the compiled bundles' objects (what ``helm install`` creates)."""
    parser: argparse.ArgumentParser | None = None


def _walk(value: Any) -> Iterator[Any]:
    """Every dict, list and scalar below ``value``, embedded YAML manifests (resource templates) included."""
    yield value
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "manifest" and isinstance(item, str):
                yield from _walk(yaml.safe_load(item))
            else:
                yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _add_object(known: Known, obj: Mapping[str, Any]) -> None:
    metadata = obj.get("metadata") or {}
    if "name" in metadata:
        known.names[str(obj["kind"])].add(str(metadata["name"]))
    if obj.get("kind") == "WorkflowTemplate":
        arguments = obj["spec"].get("arguments") or {}
        known.parameters[metadata["name"]].update(p["name"] for p in arguments.get("parameters") or [])
    for node in _walk(obj):
        if isinstance(node, str):
            known.strings.add(node)
        if not isinstance(node, Mapping):
            continue
        for key, target in (("labels", known.labels), ("annotations", None)):
            mapping = node.get(key)
            if isinstance(mapping, Mapping) and all(isinstance(k, str) for k in mapping):
                for label, label_value in mapping.items():
                    if target is None:
                        known.annotations.add(label)
                    else:
                        target[label].add(str(label_value))
        if isinstance(node.get("secretKeyRef"), Mapping):
            known.names["Secret"].add(str(node["secretKeyRef"]["name"]))
        if isinstance(node.get("webhookSecret"), Mapping):
            known.names["Secret"].add(str(node["webhookSecret"]["name"]))
        if isinstance(node.get("secret"), Mapping) and "secretName" in node["secret"]:
            known.names["Secret"].add(str(node["secret"]["secretName"]))
        if isinstance(node.get("eventBusName"), str):
            known.names["EventBus"].add(node["eventBusName"])
        synchronization = node.get("synchronization")
        if isinstance(synchronization, Mapping):
            known.mutexes.update(str(m["name"]) for m in synchronization.get("mutexes") or [])


def known_references(root: Path) -> Known:
    """What the compiled default bundle and the example bundle (``examples/cluster-values.yaml`` with
    ``examples/aphex-config.yaml``) name, as ``aphex compile`` writes them."""
    from aphex.cli import _parser
    from aphex.dsl.config import load_config
    from aphex.dsl.settings import BundleSettings, load_settings
    from aphex.workflows.aphex_pipeline.pipeline import NAME as DEFAULT_PIPELINE
    from aphex.workflows.aphex_pipeline.pipeline import pipeline_template
    from aphex.workflows.bundle import build_bundle
    from aphex.workflows.implementation_dag.dag import PREVIEW_WORKLOADS_ROLE, preview_quota_entries
    from aphex.workflows.steps.common.accounts import Account
    from aphex.workflows.steps.implementation_dag.preview import (
        EXPIRES_AT,
        JANITOR_EXPIRES,
        namespace_manifests,
        preview_quota,
    )

    known = Known(parser=_parser())
    examples = root / "examples"
    example = load_settings(yaml.safe_load((examples / "cluster-values.yaml").read_text(encoding="utf-8")))
    objects = [
        *build_bundle(BundleSettings()),
        *build_bundle(example),
        pipeline_template(load_config(examples / "aphex-config.yaml"), example),
    ]
    known.kinds.update(str(obj["kind"]) for obj in objects)
    for settings in (BundleSettings(), example):
        preview = namespace_manifests(
            owner="octo-org",
            repo="hello",
            pr=42,
            workflow="implementation-dag-x7k2p",
            service_account=settings.names.object(Account.PREVIEW_DEPLOYER),
            service_account_namespace=settings.namespace,
            workloads_role=settings.names.cluster(PREVIEW_WORKLOADS_ROLE),
            ingress_namespace=settings.ingress_namespace,
            quota=preview_quota(json.dumps(preview_quota_entries(settings))),
        )
        objects.extend(preview)
        # `<release>-<workflows namespace>`: the prefix of the events namespace's objects (docs/triggers.md).
        known.strings.add(f"{settings.instance}-{settings.namespace}")
    known.strings.add(DEFAULT_PIPELINE)
    known.annotations.update((EXPIRES_AT, JANITOR_EXPIRES))  # keep-preview's, on a kept preview
    for obj in objects:
        _add_object(known, obj)
    return known


def _pattern(text: str) -> re.Pattern[str]:
    """``text`` as a regular expression in which each ``<placeholder>`` or ``{{...}}`` stands for any text."""
    parts = re.split(r"(<[^<>]+>|\{\{[^{}]+\}\})", text)
    return re.compile("".join(".+" if index % 2 else re.escape(part) for index, part in enumerate(parts)))


def _normalized(compiled: str) -> str:
    """A compiled name with ``{{workflow.parameters.x}}`` written as ``<x>``, as the docs write it."""
    return _EXPRESSION.sub(lambda m: "<" + m.group(1).rsplit(".", 1)[-1] + ">", compiled)


def _matches(quoted: str, candidates: Iterable[str]) -> bool:
    """Whether a quoted name (with placeholders) denotes one of the compiled ``candidates``."""
    candidates = list(candidates)
    if quoted in candidates or quoted in {_normalized(c) for c in candidates}:
        return True
    if _PLACEHOLDER.search(quoted):
        pattern = _pattern(quoted)
        return any(pattern.fullmatch(c) for c in candidates if not _EXPRESSION.search(c))
    return any(_pattern(c).fullmatch(quoted) for c in candidates if _EXPRESSION.search(c))


def _spans(text: str) -> Iterator[tuple[int, str]]:
    """Inline code spans and fenced code lines (a line ending in ``\\`` joined with the next), with their
    line number (1-based)."""
    fenced: list[tuple[int, int]] = []
    for block in _FENCE.finditer(text):
        fenced.append((block.start(), block.end()))
        number = text.count("\n", 0, block.start(1)) + 1
        pending: list[str] = []
        for offset, line in enumerate(block.group(1).split("\n")):
            if line.rstrip().endswith("\\"):
                pending.append(line.rstrip()[:-1])
                continue
            yield number + offset - len(pending), " ".join([*pending, line])
            pending = []
    for span in _SPAN.finditer(text):
        if "\n\n" not in span.group(1) and not any(start <= span.start() < end for start, end in fenced):
            yield text.count("\n", 0, span.start()) + 1, " ".join(span.group(1).split())


def _commands(line: str, program: str) -> Iterator[str]:
    """The ``program ...`` commands of a shell line: each part between ``&&``, ``;`` and ``|``, without
    a trailing comment."""
    line = re.sub(r"\s#.*$", "", line)
    for part in re.split(r"&&|;|\|", line):
        part = part.strip().removeprefix("$ ").strip()
        if part.startswith(program + " "):
            yield part


def _subparsers(parser: argparse.ArgumentParser) -> Mapping[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def _aphex_problems(command: str, parser: argparse.ArgumentParser) -> list[str]:
    """Subcommands and options of one quoted ``aphex`` command that its parser does not have."""
    text = re.sub(r"\.\.\.|[\[\]]", " ", command)
    try:
        tokens = shlex.split(text)[1:]
    except ValueError:
        tokens = text.split()[1:]
    problems: list[str] = []
    current, path, chosen = parser, "aphex", False
    for token in tokens:
        if token.startswith("-"):
            option = token.split("=", 1)[0]
            if option not in _options(current):
                problems.append(f"`{path}` has no option {option}")
            continue
        commands = _subparsers(current)
        if commands and not chosen:
            if token not in commands:
                problems.append(f"`{path}` has no subcommand {token!r} (has: {', '.join(sorted(commands))})")
                break
            current, path = commands[token], f"{path} {token}"
            chosen = not _subparsers(current)
    return problems


def _selector_problems(selector: str, known: Known) -> list[str]:
    problems: list[str] = []
    for term in selector.split(","):
        match = re.fullmatch(r"([A-Za-z0-9./_-]+)(?:(!=|==|=)(.*))?", term)
        if match is None:
            problems.append(f"label selector term {term!r} is not key[=value]")
            continue
        key, _, value = match.groups()
        if key in CONTROLLER_LABELS:
            kind = CONTROLLER_LABELS[key]
            if value and not _PLACEHOLDER.fullmatch(value) and not _matches(value, known.names[kind]):
                problems.append(f"label {key}={value}: no {kind} {value!r} in the bundle")
        elif key not in known.labels:
            problems.append(f"label {key!r} is on no object aphex compiles or writes")
        elif value and not _matches(value, known.labels[key]):
            values = ", ".join(sorted(known.labels[key]))
            problems.append(f"label {key}={value}: the bundle sets {key} only to {values}")
    return problems


def _span_problems(span: str, known: Known) -> list[str]:
    problems: list[str] = []
    if _OBJECT_NAME.fullmatch(span) and span not in ALLOWED_NAMES and span not in known.strings:
        problems.append(f"`{span}`: no object or reference of that name in the bundle")
    selectors = _SELECTOR.findall(span)
    for selector in selectors:
        problems.extend(_selector_problems(selector, known))
    terms = [term for selector in selectors for term in selector.split(",")]
    selected = {re.split(r"[!=]", term, maxsplit=1)[0] for term in terms}
    for key in sorted(set(_LABEL_KEY.findall(span)) - selected):
        if key not in known.labels and key not in known.annotations and key not in ALLOWED_NAMES:
            problems.append(f"`{key}`: no label or annotation aphex sets has that key")
    for name in _TEMPLATE_REF.findall(span):
        if not _matches(name, known.names["WorkflowTemplate"]):
            problems.append(f"workflowtemplate/{name}: no WorkflowTemplate of that name")
    for command in _commands(span, "argo submit"):
        refs = _TEMPLATE_REF.findall(command)
        if len(refs) == 1 and refs[0] in known.parameters:
            for parameter in re.findall(r"(?:^|\s)(?:-p|--parameter)\s+([A-Za-z0-9_-]+)=", command):
                if parameter not in known.parameters[refs[0]]:
                    problems.append(f"workflowtemplate/{refs[0]} has no parameter {parameter!r}")
    for name in _CRON_GET.findall(span):
        if not _matches(name, known.names["CronWorkflow"]):
            problems.append(f"argo cron get {name}: no CronWorkflow of that name")
    if _BARE_PYTHON.search(span):
        problems.append("benchmarks and examples run with .venv/bin/python (the system Python has no Hera)")
    assert known.parser is not None
    for command in _commands(span, "aphex"):
        problems.extend(_aphex_problems(command, known.parser))
    return problems


def page_problems(name: str, text: str, known: Known) -> list[str]:
    """One line per quote of ``text`` (the page ``name``) that names nothing aphex compiles."""
    problems: list[str] = []
    for line, span in _spans(text):
        problems.extend(f"{name}:{line}: {problem}" for problem in _span_problems(span, known))
    for match in _KIND_NAME.finditer(text):
        kind, quoted = match.groups()
        line = text.count("\n", 0, match.start()) + 1
        if quoted in ALLOWED_NAMES or re.search(r"[A-Z. ]", _PLACEHOLDER.sub("", quoted)):
            continue  # a value path (`events.webhookSecretName`) or prose, not a name
        if not _matches(quoted, known.names[kind]):
            problems.append(f"{name}:{line}: {kind} `{quoted}`: no {kind} of that name in the bundle")
    for match in _MUTEX.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if not _matches(match.group(1), known.mutexes):
            mutexes = ", ".join(sorted(_normalized(m) for m in known.mutexes))
            problems.append(f"{name}:{line}: mutex `{match.group(1)}`: the bundle's mutexes are {mutexes}")
    return problems
