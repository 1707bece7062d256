"""What the cluster must hold for the enabled components, derived from the compiled bundle.

The checks of ``cluster-verify`` and ``aphex verify``
(:class:`aphex.workflows.steps.cluster_verify.checks.Check`) are read off the objects each bundle part
installs, never from a second list:

- a CustomResourceDefinition for every object of a custom API group, for the manifests an object
  creates (a Sensor trigger's resource, a resource template's manifest), and, for a Workflow,
  WorkflowTemplate or CronWorkflow, ``workflows`` (each run is one) and ``workflowtaskresults`` (Argo's
  executor reports every step's outputs through them, argo-workflows ``workflow/executor/taskresult.go``);
- the API group of a built-in kind that not every supported Kubernetes serves
  (ValidatingAdmissionPolicy);
- every namespace value that the part's objects use;
- every Secret an object reads (``secretKeyRef``, Argo Events' ``webhookSecret``, ``secret`` volumes)
  in the object's namespace, with the keys it reads: a key every reference marks optional only as
  one of a group (the credentials Secret holds a token, or a GitHub App's id and key);
- the EventBus of every Sensor and EventSource (``default`` when unnamed: argo-events
  ``pkg/apis/events/v1alpha1/const.go``, ``DefaultEventBusName``), and the CRD of EventBus objects.

Each check is required by the component toggles of the parts it comes from (``components.events``), or
by every install (the cluster-verify template itself runs as a Workflow), and names the values that
name what it checks (``named by events.webhookSecretName``).

The derivation runs once per combination of toggles on settings whose every value is a unique token
(:func:`aphex.dsl.chart.sentinel_values`, what the chart is generated from), and the tokens are then replaced
by the values: two values that happen to be equal never merge two checks, so ``aphex compile`` and the
chart always build the same checks (:func:`aphex.workflows.steps.cluster_verify.checks.merge_checks` merges
them when they run).
"""

import dataclasses
import functools
import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml

from aphex.dsl.bundle_writer import BundlePart, Condition
from aphex.dsl.chart import sentinel_values
from aphex.dsl.errors import DefinitionError
from aphex.dsl.settings import BundleSettings, load_settings
from aphex.dsl.values_schema import VALUES_SCHEMA, value_leaves
from aphex.workflows.steps.cluster_verify.checks import EVERY_INSTALL, Check, CheckKind

__all__ = [
    "CUSTOM_RESOURCE_PLURALS",
    "NEWER_APIS",
    "PrerequisiteError",
    "Symbolic",
    "Tokens",
    "derive_checks",
    "found_checks",
    "merge_found",
    "required_by_toggles",
    "symbolic",
    "value_tokens",
]

CUSTOM_RESOURCE_PLURALS: Final = {
    "Workflow": "workflows",
    "WorkflowTemplate": "workflowtemplates",
    "CronWorkflow": "cronworkflows",
    "WorkflowTaskResult": "workflowtaskresults",
    "EventSource": "eventsources",
    "Sensor": "sensors",
    "EventBus": "eventbus",
    "CodeRun": "coderuns",
    "DocsRun": "docsruns",
}
"""``spec.names.plural`` of the CRD of each custom kind the bundle uses (a new kind must be added)."""
NEWER_APIS: Final = {
    "admissionregistration.k8s.io/v1": (
        "Kubernetes 1.30 or later",
        {
            "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
            "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings",
        },
    ),
}
"""Built-in API group versions not every supported Kubernetes serves: the release that serves them and
the resource of each kind."""
ALWAYS_SERVED: Final = frozenset({"v1", "rbac.authorization.k8s.io/v1"})
"""Built-in API group versions every supported Kubernetes serves: nothing to check."""
_RUNS: Final = ("Workflow", "WorkflowTemplate", "CronWorkflow")
_ARGO: Final = "argoproj.io/v1alpha1"
_SECRET_SELECTORS: Final = ("secretKeyRef", "webhookSecret")
"""Keys whose value is a core/v1 SecretKeySelector (``name``, ``key``, ``optional``)."""
_NAMESPACE_LEAF: Final = re.compile(r"(?:^|\.)(?:namespace|[a-z]+Namespace)$")


class PrerequisiteError(DefinitionError):
    """The bundle uses something the derivation does not know (a new kind or API): say how to check it."""


_FOUND: Final = (EVERY_INSTALL,)
"""``required_by`` of a check found in one part, before the toggles that require it are known."""


def _group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _is_custom(group: str) -> bool:
    """CRD groups hold a dot and are not Kubernetes' own (``*.k8s.io``, ``*.kubernetes.io``)."""
    return "." in group and not group.endswith((".k8s.io", ".kubernetes.io"))


def _manifests(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every manifest inside ``node``: nested objects with apiVersion and kind, and YAML manifests of
    Argo resource templates."""
    if isinstance(node, Mapping):
        if isinstance(node.get("apiVersion"), str) and isinstance(node.get("kind"), str):
            yield node
        manifest = node.get("manifest")
        if isinstance(manifest, str) and "action" in node:
            yield from _manifests(yaml.safe_load(manifest))
        for key, value in node.items():
            if key != "manifest":
                yield from _manifests(value)
    elif isinstance(node, list):
        for item in node:
            yield from _manifests(item)


def _kinds(obj: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(apiVersion, kind) of the object, of what it creates, and of what running it creates."""
    for manifest in _manifests(obj):
        yield str(manifest["apiVersion"]), str(manifest["kind"])
        if manifest["apiVersion"] == _ARGO and manifest["kind"] in _RUNS:
            yield _ARGO, "Workflow"
            yield _ARGO, "WorkflowTaskResult"


def _api_found(obj: Mapping[str, Any]) -> Iterator[Check]:
    for api_version, kind in _kinds(obj):
        group, version = _group_version(api_version)
        if _is_custom(group):
            plural = CUSTOM_RESOURCE_PLURALS.get(kind)
            if plural is None:
                raise PrerequisiteError(
                    f"kind {kind} ({api_version}): add its CRD's plural to CUSTOM_RESOURCE_PLURALS"
                )
            yield Check(required_by=_FOUND, kind=CheckKind.CRD, name=f"{plural}.{group}", version=version)
        elif api_version in NEWER_APIS:
            release, resources = NEWER_APIS[api_version]
            if kind not in resources:
                raise PrerequisiteError(f"kind {kind} ({api_version}): add its resource to NEWER_APIS")
            yield Check(
                required_by=_FOUND,
                kind=CheckKind.API,
                name=api_version,
                resources=(resources[kind],),
                detail=release,
            )
        elif api_version not in ALWAYS_SERVED:
            raise PrerequisiteError(
                f"kind {kind} ({api_version}): add its API to NEWER_APIS or ALWAYS_SERVED"
            )


def _secret_refs(node: Any) -> Iterator[tuple[str, str, bool]]:
    """(Secret, key, optional) of every Secret reference inside ``node``."""
    if isinstance(node, Mapping):
        for selector in _SECRET_SELECTORS:
            ref = node.get(selector)
            if isinstance(ref, Mapping) and "name" in ref and "key" in ref:
                yield str(ref["name"]), str(ref["key"]), ref.get("optional") is True
        volume = node.get("secret")
        if isinstance(volume, Mapping) and "secretName" in volume:
            optional = volume.get("optional") is True
            for item in volume.get("items") or [{"key": ""}]:
                yield str(volume["secretName"]), str(item.get("key", "")), optional
        for value in node.values():
            yield from _secret_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _secret_refs(item)


def _secrets_found(obj: Mapping[str, Any]) -> Iterator[Check]:
    namespace = str((obj.get("metadata") or {}).get("namespace") or "")
    keys: dict[str, dict[str, bool]] = {}
    for name, key, optional in _secret_refs(obj):
        held = keys.setdefault(name, {})
        if key:
            held[key] = held.get(key, True) and optional
    for name, held in keys.items():
        yield Check(
            required_by=_FOUND,
            kind=CheckKind.SECRET,
            name=name,
            namespace=namespace,
            keys=tuple(key for key, optional in held.items() if not optional),
            one_of_keys=tuple(key for key, optional in held.items() if optional),
        )


def _eventbus_found(obj: Mapping[str, Any]) -> Iterator[Check]:
    """The EventBus a Sensor or EventSource names, and the CRD of EventBus objects."""
    if obj.get("apiVersion") == _ARGO and obj.get("kind") in ("Sensor", "EventSource"):
        name = (obj.get("spec") or {}).get("eventBusName") or "default"
        group, version = _group_version(_ARGO)
        yield Check(
            required_by=_FOUND,
            kind=CheckKind.CRD,
            name=f"{CUSTOM_RESOURCE_PLURALS['EventBus']}.{group}",
            version=version,
        )
        yield Check(
            required_by=_FOUND,
            kind=CheckKind.EVENTBUS,
            name=str(name),
            namespace=str(obj["metadata"]["namespace"]),
        )


def _namespaces_found(objects: Sequence[Mapping[str, Any]], tokens: Mapping[str, str]) -> Iterator[Check]:
    """Every namespace value whose token the objects hold (a namespace they live in or name)."""
    text = json.dumps(objects)
    for token, path in tokens.items():
        if _NAMESPACE_LEAF.search(path) and re.search(rf"(?<![a-z0-9]){re.escape(token)}(?![a-z0-9])", text):
            yield Check(required_by=_FOUND, kind=CheckKind.NAMESPACE, name=token)


def _required_by(condition: Condition) -> frozenset[str]:
    return frozenset(name for name, wanted in condition if wanted)


def _describe_conditions(conditions: set[frozenset[str]], order: Sequence[str]) -> tuple[str, ...]:
    """The smallest conditions, as ``components.a and components.b``; the empty one is every install."""
    minimal = [c for c in conditions if not any(other < c for other in conditions)]
    if frozenset() in minimal:
        return (EVERY_INSTALL,)
    rank = {name: index for index, name in enumerate(order)}
    ordered = sorted(minimal, key=lambda c: sorted(rank[name] for name in c))
    return tuple(
        " and ".join(f"components.{name}" for name in sorted(c, key=rank.__getitem__)) for c in ordered
    )


def _named_by(found: Check, tokens: Mapping[str, str]) -> str:
    text = " ".join((found.name, found.namespace, found.version))
    positions = {path: text.find(token) for token, path in tokens.items() if token in text}
    paths = sorted(positions, key=positions.__getitem__)
    named = f"named by {', '.join(paths)}" if paths else ""
    return "; ".join(part for part in (found.detail, named) if part)


def found_checks(part: BundlePart, tokens: Mapping[str, str]) -> tuple[Check, ...]:
    """What the objects of ``part`` need, each check as found (not yet merged with the other parts')."""
    found: list[Check] = list(_namespaces_found(part.objects, tokens))
    for obj in part.objects:
        found += [*_api_found(obj), *_secrets_found(obj), *_eventbus_found(obj)]
    return tuple(found)


def derive_checks(
    parts: Sequence[BundlePart], tokens: Mapping[str, str], order: Sequence[str]
) -> list[Check]:
    """The checks the objects of ``parts`` need, in a stable order (kinds, then first appearance).

    ``tokens`` maps each value's token to its path (``events.namespace``); ``order`` lists the
    component toggles in the order required-by lists name them.
    """
    return merge_found([(part.condition, found_checks(part, tokens)) for part in parts], tokens, order)


def merge_found(
    findings: Sequence[tuple[Condition, Sequence[Check]]], tokens: Mapping[str, str], order: Sequence[str]
) -> list[Check]:
    """The checks of :func:`derive_checks` from what :func:`found_checks` found in each part (with the
    part's condition), so that a caller deriving many combinations of the same parts finds once."""
    conditions: dict[Check, set[frozenset[str]]] = {}
    secret_keys: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for part_condition, found in findings:
        condition = _required_by(part_condition)
        for item in found:
            if item.kind == CheckKind.SECRET:
                keys, one_of = secret_keys.setdefault((item.namespace, item.name), ([], []))
                keys += [key for key in item.keys if key not in keys]
                one_of += [key for key in item.one_of_keys if key not in one_of]
                item = dataclasses.replace(item, keys=(), one_of_keys=())
            conditions.setdefault(item, set()).add(condition)
    kinds = tuple(CheckKind)
    checks = []

    # CRDs by API group, then resource; everything else in the order the bundle first needs it.
    def rank(item: Check) -> tuple[int, str, str]:
        plural, _, group = item.name.partition(".")
        return (
            (kinds.index(item.kind), group, plural)
            if item.kind == CheckKind.CRD
            else (kinds.index(item.kind), "", "")
        )

    for item, required in sorted(conditions.items(), key=lambda entry: rank(entry[0])):
        keys, one_of = (
            secret_keys.get((item.namespace, item.name), ([], []))
            if item.kind == CheckKind.SECRET
            else ([], [])
        )
        checks.append(
            dataclasses.replace(
                item,
                keys=tuple(keys),
                one_of_keys=tuple(key for key in one_of if key not in keys),
                detail=_named_by(item, tokens),
                required_by=_describe_conditions(required, order),
            )
        )
    return _merge_apis(checks)


_IDENTITY_FIELDS: Final = tuple(
    field.name for field in dataclasses.fields(Check) if field.name not in ("required_by", "detail")
)


def required_by_toggles(
    current: Mapping[str, bool], derived: Mapping[tuple[tuple[str, bool], ...], Sequence[Check]]
) -> list[Check]:
    """The checks of the ``current`` toggles, each required by the smallest sets of enabled toggles
    that bring it whatever the other toggles are (``derived``: the checks of every combination, in
    token space). A part's condition cannot say this: the implementation DAG's part names
    ``docsStage`` because its shape depends on it, not its presence."""
    order = list(current)

    def identity(check: Check) -> tuple[object, ...]:
        """What the check is, apart from what requires it and why (cheaper than a validated copy)."""
        return tuple(getattr(check, field) for field in _IDENTITY_FIELDS)

    present = {combination: {identity(c) for c in checks} for combination, checks in derived.items()}
    enabled = [name for name in order if current[name]]
    result = []
    for check in derived[tuple(current.items())]:
        key = identity(check)
        needed = [
            frozenset(subset)
            for size in range(len(enabled) + 1)
            for subset in itertools.combinations(enabled, size)
            if all(
                key in found
                for combination, found in present.items()
                if all(dict(combination)[name] for name in subset)
            )
        ]
        if needed:
            required = _describe_conditions(set(needed), order)
            check = dataclasses.replace(check, required_by=required)
        result.append(check)
    return result


def _merge_apis(checks: list[Check]) -> list[Check]:
    """One check per API group version, with the resources of every kind found."""
    merged: list[Check] = []
    for check in checks:
        same = next(
            (c for c in merged if c.kind == CheckKind.API == check.kind and c.name == check.name), None
        )
        if same is None:
            merged.append(check)
            continue
        resources = (*same.resources, *(r for r in check.resources if r not in same.resources))
        required_by = (*same.required_by, *(r for r in check.required_by if r not in same.required_by))
        merged[merged.index(same)] = dataclasses.replace(same, resources=resources, required_by=required_by)
    return merged


@dataclass(frozen=True)
class Tokens:
    """The unique token of every string value, and how to put the values back in their place."""

    tokens: Mapping[str, str]
    """Token -> value path (``events.namespace``), string values only, in the schema's order."""

    def real(self, node: Any, settings: BundleSettings) -> Any:
        """``node`` with every token replaced by the value ``settings`` has at its path."""
        values = {**settings.to_values(), "instance": settings.instance}  # the release is no value
        pattern = re.compile(
            "|".join(re.escape(token) for token in sorted(self.tokens, key=len, reverse=True))
        )

        def value(match: re.Match[str]) -> str:
            path = self.tokens[match.group(0)]
            if "[]" in path:
                raise PrerequisiteError(f"{path}: a value of one pipeline cannot name a prerequisite")
            found: Any = values
            for key in path.split("."):
                found = found[key]
            if not isinstance(found, str):
                raise PrerequisiteError(f"{path}: a value of a list cannot name a prerequisite")
            return found

        def walk(item: Any) -> Any:
            if isinstance(item, str):
                return pattern.sub(value, item)
            if isinstance(item, Mapping):
                return {walk(key): walk(child) for key, child in item.items()}
            if isinstance(item, list):
                return [walk(child) for child in item]
            if isinstance(item, tuple):
                return tuple(walk(child) for child in item)
            if dataclasses.is_dataclass(item) and not isinstance(item, type):
                return dataclasses.replace(
                    item, **{f.name: walk(getattr(item, f.name)) for f in dataclasses.fields(item)}
                )
            return item

        return walk(node)


@dataclass(frozen=True)
class Symbolic(Tokens):
    """Settings whose every value is a unique token, and the paths of the tokens."""

    settings: BundleSettings


@functools.cache
def value_tokens() -> Tokens:
    """The tokens of the string values (no settings are built: cheaper than :func:`symbolic`)."""
    _, leaves = sentinel_values()
    words = {path for path, schema in value_leaves(VALUES_SCHEMA) if "enum" in schema}
    # An enumerated value's token is one of its words, which other text may hold: never substituted.
    return Tokens(
        tokens={
            token: ".".join(path)
            for path, token in leaves.items()
            if isinstance(token, str) and path not in words
        }
    )


@functools.cache
def symbolic(components: tuple[tuple[str, bool], ...]) -> Symbolic:
    """The token settings with these component toggles (camelCase names, as in values)."""
    values, leaves = sentinel_values()
    release = str(leaves[("instance",)])
    settings = load_settings({**values, "components": dict(components)}, release=release)
    return Symbolic(tokens=value_tokens().tokens, settings=settings)
