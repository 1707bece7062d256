"""Cluster verification: does the cluster hold what the enabled components of aphex need?

The checks are data (:class:`Check`), derived at compile time from the values and the compiled bundle
(:mod:`aphex.workflows.cluster_verify.prerequisites`): CustomResourceDefinitions that must serve a version,
API groups the API server must serve (ValidatingAdmissionPolicy: Kubernetes 1.30 or later), namespaces,
Secrets with the keys the bundle reads, and the EventBus the Sensors publish through. Each check names the
values that made it required. The same code runs them in the ``cluster-verify`` WorkflowTemplate (in-cluster,
under the verifier's ServiceAccount, which may get exactly the named objects) and in ``aphex verify``
(with the user's kubectl context). Every problem is collected; the check then fails once, with the
whole list, or prints what passed. Secrets are read through a go-template that prints only their key
names, so no secret value is ever printed or held by this code. kubectl's output shapes: a single name
gives the object, several give a ``List``, ``--ignore-not-found`` prints nothing for absent objects
(kubectl ``pkg/cmd/get/get.go``, ``printGeneric``).
"""

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final

from aphex.dsl.names import API_GROUP_PATTERN, DNS_LABEL_PATTERN, OBJECT_NAME_PATTERN, InvalidValue
from aphex.dsl.stage import ResourceClass, RetryPolicy, Stage
from aphex.workflows.steps.common.accounts import Account
from aphex.workflows.steps.common.exits import fail
from aphex.workflows.steps.common.process import CommandError, StepError, run

__all__ = [
    "EVERY_INSTALL",
    "STAGE",
    "Check",
    "CheckKind",
    "ClusterNotReady",
    "check_cluster",
    "checks_from_json",
    "checks_to_json",
    "describe",
    "merge_checks",
    "verify_cluster",
]


class CheckKind(StrEnum):
    """What a :class:`Check` looks for."""

    CRD = "crd"
    API = "api"
    NAMESPACE = "namespace"
    SECRET = "secret"
    EVENTBUS = "eventbus"


EVERY_INSTALL: Final = "every install"
"""``required_by`` of what the bundle needs whatever the toggles (its own WorkflowTemplates)."""
REQUEST_TIMEOUT: Final = "30s"
"""kubectl's ``--request-timeout``: a cluster that does not answer fails the check quickly."""
SECRET_KEYS_TEMPLATE: Final = "{{range $key, $value := .data}}{{$key}}\n{{end}}"
"""Prints a Secret's key names, one a line, and none of its values."""

_DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
_OBJECT_NAME = re.compile(OBJECT_NAME_PATTERN)
_CRD_NAME = re.compile(r"^[a-z][a-z0-9]*\." + API_GROUP_PATTERN.removeprefix("^"))
_GROUP_VERSION = re.compile(
    r"^(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?/)?v[1-9][0-9]*(?:(?:alpha|beta)[1-9][0-9]*)?$"
)
_VERSION = re.compile(r"^v[0-9]+(?:(?:alpha|beta)[0-9]+)?$")
_PLURAL = re.compile(r"^[a-z][a-z0-9]*$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_REQUIRED_BY = re.compile(r"^[a-zA-Z. ]{1,200}$")
_DETAIL = re.compile(r"^[-a-zA-Z0-9.,:;/() ]{0,200}$")
_FIELDS: Final = {
    "name": "name",
    "namespace": "namespace",
    "version": "version",
    "resources": "resources",
    "keys": "keys",
    "one_of_keys": "oneOfKeys",
    "detail": "detail",
    "required_by": "requiredBy",
}


class ClusterNotReady(StepError):
    """Something the enabled components need is missing from the cluster; ``missing`` lists every item."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = tuple(missing)
        items = "".join(f"\n  - {item}" for item in self.missing)
        super().__init__(
            f"the cluster is not ready for aphex, {len(self.missing)} item(s) missing:{items}\n"
            "see docs/troubleshooting.md, section 'cluster-verify fails'"
        )


@dataclass(frozen=True, kw_only=True)
class Check:
    """One thing the cluster must hold.

    ``kind``: ``crd`` (``name`` is ``<plural>.<group>``, serving ``version``), ``api`` (``name`` is a
    group/version the API server serves with ``resources``), ``namespace``, ``secret`` (in
    ``namespace``, holding every one of ``keys`` and at least one of ``one_of_keys``) or ``eventbus``
    (in ``namespace``, ready). ``required_by`` names the values that made it required; ``detail`` says
    what provides it. Every field is validated (:class:`InvalidValue` names it).
    """

    kind: CheckKind
    name: str
    required_by: tuple[str, ...]
    namespace: str = ""
    version: str = ""
    resources: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    one_of_keys: tuple[str, ...] = ()
    detail: str = ""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", CheckKind(self.kind))  # from JSON: a string
        except ValueError:
            raise InvalidValue("kind", self.kind, f"must be one of {', '.join(CheckKind)}") from None
        name_pattern = {
            CheckKind.CRD: _CRD_NAME,
            CheckKind.API: _GROUP_VERSION,
            CheckKind.NAMESPACE: _DNS_LABEL,
            CheckKind.SECRET: _OBJECT_NAME,
            CheckKind.EVENTBUS: _OBJECT_NAME,
        }[self.kind]
        _expect("name", self.name, name_pattern, f"must be a {self.kind} name")
        namespaced = self.kind in (CheckKind.SECRET, CheckKind.EVENTBUS)
        if namespaced or self.namespace:
            _expect("namespace", self.namespace, _DNS_LABEL, "must be a namespace name")
        if (self.kind == CheckKind.CRD) != bool(self.version):
            raise InvalidValue("version", self.version, "is set for exactly the crd checks")
        if self.version:
            _expect("version", self.version, _VERSION, "must be a version such as v1")
        if not self.required_by:
            raise InvalidValue("requiredBy", self.required_by, "must name at least one value")
        for value in self.required_by:
            _expect("requiredBy", value, _REQUIRED_BY, "must name values, such as components.events")
        for value in self.resources:
            _expect("resources", value, _PLURAL, "must be resource names such as validatingadmissionpolicies")
        for value in (*self.keys, *self.one_of_keys):
            _expect("keys", value, _SECRET_KEY, "must be Secret keys")
        _expect("detail", self.detail, _DETAIL, "must be plain text")

    @property
    def where(self) -> str:
        """The checked object as messages name it."""
        noun = {
            "crd": "CustomResourceDefinition",
            "api": "API",
            "namespace": "Namespace",
            "secret": "Secret",
            "eventbus": "EventBus",
        }[self.kind]
        located = f" in namespace {self.namespace}" if self.namespace else ""
        return f"{noun} {self.name}{located}"

    def because(self) -> str:
        """``(detail; required by ...)``: why the check exists."""
        reason = f"required by {' or '.join(self.required_by)}"
        return f"({self.detail}; {reason})" if self.detail else f"({reason})"


def _expect(field: str, value: object, pattern: re.Pattern[str], reason: str) -> None:
    if not isinstance(value, str) or not pattern.match(value):
        raise InvalidValue(field, value, reason)


def checks_to_json(checks: Iterable[Check]) -> str:
    """The checks as JSON (only the fields set, one check a line), the ``checks`` input of
    ``cluster-verify``."""
    items: list[dict[str, Any]] = []
    for check in checks:
        item: dict[str, Any] = {"kind": check.kind}
        for attribute, key in _FIELDS.items():
            value = getattr(check, attribute)
            if value:
                item[key] = list(value) if isinstance(value, tuple) else value
        items.append(item)
    return "[\n" + ",\n".join(json.dumps(item, separators=(",", ":")) for item in items) + "\n]"


def checks_from_json(text: str) -> list[Check]:
    """Parse :func:`checks_to_json`'s output; :class:`InvalidValue` names what is wrong."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidValue("checks", text[:80], f"must be JSON ({error.msg})") from None
    if not isinstance(items, list) or not items:
        raise InvalidValue("checks", text[:80], "must be a non-empty JSON list")
    keys = {value: attribute for attribute, value in _FIELDS.items()}
    checks = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not set(item) <= {"kind", *keys}:
            raise InvalidValue(
                f"checks[{index}]", item, f"must be an object with keys among kind, {', '.join(keys)}"
            )
        arguments: dict[str, Any] = {"kind": item.get("kind"), "required_by": ()}
        for key, value in item.items():
            if key != "kind":
                arguments[keys[key]] = tuple(value) if isinstance(value, list) else value
        try:
            checks.append(Check(**arguments))
        except InvalidValue as error:
            raise InvalidValue(f"checks[{index}].{error.field}", error.value, error.reason) from None
    return checks


def merge_checks(checks: Iterable[Check]) -> list[Check]:
    """One check per object and condition: checks that differ only in why they exist (two values set to
    the same name) are merged, with both reasons, in the first one's place."""
    merged: dict[Check, Check] = {}
    for check in checks:
        key = replace(check, required_by=(EVERY_INSTALL,), detail="")
        known = merged.get(key)
        if known is None:
            merged[key] = check
            continue
        required_by = (*known.required_by, *(r for r in check.required_by if r not in known.required_by))
        details = [d for d in dict.fromkeys((known.detail, check.detail)) if d]
        merged[key] = replace(known, required_by=required_by, detail="; ".join(details))
    return list(merged.values())


def _holds(check: Check) -> str:
    held = [f"key {key}" for key in check.keys]
    if check.one_of_keys:
        held.append(f"one of the keys {', '.join(check.one_of_keys)}")
    return "has " + " and ".join(held) if held else "exists"


def describe(check: Check) -> str:
    """What a passing check established, one line."""
    what = {
        "crd": f"serves {check.version}",
        "api": f"serves {', '.join(check.resources)}",
        "namespace": "exists",
        "secret": _holds(check),
        "eventbus": "is ready",
    }[check.kind]
    return f"{check.where} {what} {check.because()}"


def _json(stdout: str, what: str) -> Any:
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        raise StepError(f"{what}: kubectl did not return JSON: {stdout[:200]!r}") from None


def _get_named(
    kubectl: Sequence[str], resource: str, names: Sequence[str], namespace: str = ""
) -> dict[str, Mapping[str, Any]]:
    """The objects among ``names`` that exist, by name: one kubectl call, one GET per name."""
    stdout = run(
        [
            *kubectl,
            "get",
            resource,
            *names,
            *(["--namespace", namespace] if namespace else []),
            "--ignore-not-found",
            "--output",
            "json",
            f"--request-timeout={REQUEST_TIMEOUT}",
        ]
    ).stdout
    if not stdout.strip():
        return {}
    found = _json(stdout, f"kubectl get {resource}")
    if not isinstance(found, Mapping):
        raise StepError(f"kubectl get {resource}: expected an object or a List")
    items = found.get("items") or [] if found.get("kind") == "List" else [found]
    return {
        str((item.get("metadata") or {}).get("name")): item for item in items if isinstance(item, Mapping)
    }


def _served_versions(crd: Mapping[str, Any]) -> list[str]:
    versions = (crd.get("spec") or {}).get("versions") or []
    return [str(v.get("name")) for v in versions if isinstance(v, Mapping) and v.get("served") is True]


def _crd_problems(checks: Sequence[Check], kubectl: Sequence[str]) -> list[str]:
    if not checks:
        return []
    installed = _get_named(
        kubectl, "customresourcedefinitions.apiextensions.k8s.io", list(dict.fromkeys(c.name for c in checks))
    )
    problems = []
    for check in checks:
        found = installed.get(check.name)
        if found is None:
            problems.append(f"{check.where} is not installed {check.because()}")
            continue
        served = _served_versions(found)
        if check.version not in served:
            problems.append(
                f"{check.where} does not serve version {check.version} "
                f"(served: {', '.join(served) or 'none'}) {check.because()}"
            )
    return problems


def _api_problems(check: Check, kubectl: Sequence[str]) -> list[str]:
    path = f"/apis/{check.name}" if "/" in check.name else f"/api/{check.name}"
    try:
        discovery = _json(
            run([*kubectl, "get", "--raw", path, f"--request-timeout={REQUEST_TIMEOUT}"]).stdout,
            f"kubectl get --raw {path}",
        )
    except CommandError as error:
        if "(NotFound)" not in error.stderr:
            raise
        return [f"{check.where} is not served {check.because()}"]
    served = {
        str(item.get("name"))
        for item in (discovery.get("resources") or [] if isinstance(discovery, Mapping) else [])
        if isinstance(item, Mapping)
    }
    return [
        f"{check.where} does not serve {resource} {check.because()}"
        for resource in check.resources
        if resource not in served
    ]


def _namespace_problems(checks: Sequence[Check], kubectl: Sequence[str]) -> tuple[list[str], set[str]]:
    """Problems, and the namespaces that do not exist (or are being deleted)."""
    if not checks:
        return [], set()
    found = _get_named(kubectl, "namespaces", list(dict.fromkeys(c.name for c in checks)))
    problems, absent = [], set()
    for check in checks:
        namespace = found.get(check.name)
        if namespace is None:
            problems.append(f"{check.where} does not exist {check.because()}")
            absent.add(check.name)
        elif (namespace.get("status") or {}).get("phase") == "Terminating":
            problems.append(f"{check.where} is being deleted {check.because()}")
            absent.add(check.name)
    return problems, absent


def _secret_problems(check: Check, kubectl: Sequence[str]) -> list[str]:
    stdout = run(
        [
            *kubectl,
            "get",
            "secret",
            check.name,
            "--namespace",
            check.namespace,
            "--ignore-not-found",
            "--output",
            f"go-template=found\n{SECRET_KEYS_TEMPLATE}",
            f"--request-timeout={REQUEST_TIMEOUT}",
        ]
    ).stdout
    if not stdout.strip():
        return [f"{check.where} does not exist {check.because()}"]
    held = set(stdout.split()[1:])
    problems = [f"{check.where} has no key {key} {check.because()}" for key in check.keys if key not in held]
    if check.one_of_keys and not held & set(check.one_of_keys):
        problems.append(
            f"{check.where} has none of the keys {', '.join(check.one_of_keys)} {check.because()}"
        )
    return problems


def _eventbus_problems(check: Check, kubectl: Sequence[str]) -> list[str]:
    """An EventBus whose status reports a condition that is not ``True`` (for example ``Deployed``)
    exists but cannot carry events, so it is a problem too."""
    found = _get_named(kubectl, "eventbus.argoproj.io", [check.name], check.namespace).get(check.name)
    if found is None:
        return [f"{check.where} does not exist {check.because()}"]
    conditions = (found.get("status") or {}).get("conditions") or []
    return [
        f"{check.where} is not ready: condition {c.get('type')} is {c.get('status')}"
        + (f" ({c.get('reason') or c.get('message')})" if c.get("reason") or c.get("message") else "")
        + f" {check.because()}"
        for c in conditions
        if isinstance(c, Mapping) and c.get("status") in ("False", "Unknown")
    ]


def check_cluster(checks: Sequence[Check], *, kubectl: Sequence[str] = ("kubectl",)) -> str:
    """Run ``checks``; return the report, or raise :class:`ClusterNotReady` listing every problem.

    ``kubectl`` is the command prefix (``kubectl --context NAME`` from a laptop). Failures of kubectl
    itself (no access, no cluster) raise :class:`~aphex.workflows.steps.common.process.StepError`. A
    namespaced object whose namespace is missing, or an EventBus whose CRD is missing, is reported without a
    lookup.
    """
    checks = merge_checks(checks)
    by_kind = {kind: [c for c in checks if c.kind == kind] for kind in CheckKind}
    problems = _crd_problems(by_kind[CheckKind.CRD], kubectl)
    for check in by_kind[CheckKind.API]:
        problems += _api_problems(check, kubectl)
    namespace_problems, absent = _namespace_problems(by_kind[CheckKind.NAMESPACE], kubectl)
    problems += namespace_problems
    eventbus_crd = "eventbus.argoproj.io"
    no_eventbus_crd = any(line.startswith(f"CustomResourceDefinition {eventbus_crd} ") for line in problems)
    for check in [*by_kind[CheckKind.SECRET], *by_kind[CheckKind.EVENTBUS]]:
        if check.namespace in absent:
            problems.append(
                f"{check.where} cannot be checked: the namespace does not exist {check.because()}"
            )
        elif check.kind == CheckKind.SECRET:
            problems += _secret_problems(check, kubectl)
        elif no_eventbus_crd:
            problems.append(
                f"{check.where} cannot be checked without a served CRD {eventbus_crd} {check.because()}"
            )
        else:
            problems += _eventbus_problems(check, kubectl)
    if problems:
        raise ClusterNotReady(problems)
    lines = "".join(f"\n  ok: {describe(check)}" for check in checks)
    return f"cluster ready for aphex, {len(checks)} check(s) passed:{lines}"


def verify_cluster(checks: str) -> None:
    """Runner entrypoint of ``cluster-verify``: print the report, or the problems and exit 1 (exit 2
    for checks that are not valid JSON checks)."""
    try:
        print(check_cluster(checks_from_json(checks)))
    except (InvalidValue, StepError) as error:
        raise fail(error) from None


STAGE: Final = Stage(
    entrypoint=verify_cluster,
    name="verify-cluster",
    resources=ResourceClass.LIGHT,
    timeout="5m",
    # A lost pod is retried; a cluster that is not ready is a verdict, not a transient error.
    retry=RetryPolicy(limit=2, policy="OnError"),
    account=Account.VERIFIER,
)
