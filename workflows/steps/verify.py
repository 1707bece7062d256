"""Cluster verification: is everything aphex relies on installed on this cluster?

Checks, with three ``kubectl`` calls, that the CustomResourceDefinitions of Argo Workflows, Argo Events
and the agent platform exist and serve the versions aphex writes, that the EventBus its Sensors publish
through exists in the events namespace, and that the API server serves ValidatingAdmissionPolicies
(``admissionregistration.k8s.io/v1``, Kubernetes 1.30 or later), which confine the preview deployer
(:mod:`workflows.admission`); discovery is readable by every authenticated user, so the verifier
needs no right for it. Every missing item is collected; the check then fails once,
with the whole list, or prints a summary. It runs as the ``cluster-verify`` WorkflowTemplate (in-cluster,
under the verifier's ServiceAccount) and from a laptop with the user's kubectl context
(:func:`verify_main`). CRDs: https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/;
EventBus: https://argoproj.github.io/argo-events/concepts/eventbus/.
"""

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from dsl.exit_codes import ExitCode, refuse
from dsl.names import InvalidValue
from workflows.steps.exits import fail, reject_input
from workflows.steps.kube import CommandError, StepError, run

__all__ = [
    "ADMISSION_API_PATH",
    "AGENT_PLURALS",
    "ARGO_API_VERSION",
    "ARGO_EVENTS_PLURALS",
    "ARGO_GROUP",
    "ARGO_WORKFLOWS_PLURALS",
    "DEFAULT_AGENT_API_GROUP",
    "DEFAULT_AGENT_API_VERSION",
    "DEFAULT_EVENTBUS",
    "DEFAULT_EVENTS_NAMESPACE",
    "ClusterNotReady",
    "Expectations",
    "RequiredCrd",
    "add_arguments",
    "admission_problems",
    "check_cluster",
    "eventbus_problems",
    "missing_crds",
    "run_from_args",
    "verify_cluster",
    "verify_main",
]

ARGO_GROUP: Final = "argoproj.io"
ARGO_API_VERSION: Final = "v1alpha1"
ARGO_WORKFLOWS_PLURALS: Final = (
    "workflows",
    "workflowtemplates",
    "clusterworkflowtemplates",
    "cronworkflows",
    "workflowtaskresults",
)
ARGO_EVENTS_PLURALS: Final = ("eventsources", "sensors", "eventbus")
AGENT_PLURALS: Final = ("coderuns", "docsruns")
DEFAULT_EVENTS_NAMESPACE: Final = "argo-events"
DEFAULT_EVENTBUS: Final = "default"
DEFAULT_AGENT_API_GROUP: Final = "agents.platform"
DEFAULT_AGENT_API_VERSION: Final = "v1"
ADMISSION_API_PATH: Final = "/apis/admissionregistration.k8s.io/v1"
ADMISSION_RESOURCES: Final = ("validatingadmissionpolicies", "validatingadmissionpolicybindings")
REQUEST_TIMEOUT: Final = "30s"
"""kubectl's ``--request-timeout``: a cluster that does not answer fails the check quickly."""

_DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_OBJECT_NAME = re.compile(r"^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$")
_API_GROUP = re.compile(r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)+$")
_API_VERSION = re.compile(r"^v[1-9][0-9]*(?:(?:alpha|beta)[1-9][0-9]*)?$")


class ClusterNotReady(StepError):
    """Something aphex needs is missing from the cluster; ``missing`` lists every item."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = tuple(missing)
        items = "".join(f"\n  - {item}" for item in self.missing)
        super().__init__(
            f"the cluster is not ready for aphex, {len(self.missing)} item(s) missing:{items}\n"
            "see docs/troubleshooting.md, section 'cluster-verify fails'"
        )


@dataclass(frozen=True, kw_only=True)
class RequiredCrd:
    """A CustomResourceDefinition that must exist and serve ``version``."""

    component: str
    group: str
    plural: str
    version: str

    @property
    def name(self) -> str:
        """The CRD's ``metadata.name``: ``<plural>.<group>``."""
        return f"{self.plural}.{self.group}"


@dataclass(frozen=True, kw_only=True)
class Expectations:
    """What the cluster must hold; every field is validated (:class:`InvalidValue` names it)."""

    events_namespace: str = DEFAULT_EVENTS_NAMESPACE
    eventbus_name: str = DEFAULT_EVENTBUS
    agent_api_group: str = DEFAULT_AGENT_API_GROUP
    agent_api_version: str = DEFAULT_AGENT_API_VERSION

    def __post_init__(self) -> None:
        checks = (
            ("events-namespace", self.events_namespace, _DNS_LABEL, "must be a namespace name"),
            ("eventbus-name", self.eventbus_name, _OBJECT_NAME, "must be a Kubernetes object name"),
            ("agent-api-group", self.agent_api_group, _API_GROUP, "must be an API group such as a.b"),
            ("agent-api-version", self.agent_api_version, _API_VERSION, "must be a version such as v1"),
        )
        for field, value, pattern, reason in checks:
            if not isinstance(value, str) or not pattern.match(value):
                raise InvalidValue(field, value, reason)

    def crds(self) -> list[RequiredCrd]:
        """Every CRD to check, in report order."""
        return [
            *(
                RequiredCrd(component=component, group=ARGO_GROUP, plural=plural, version=ARGO_API_VERSION)
                for component, plurals in (
                    ("Argo Workflows", ARGO_WORKFLOWS_PLURALS),
                    ("Argo Events", ARGO_EVENTS_PLURALS),
                )
                for plural in plurals
            ),
            *(
                RequiredCrd(
                    component="agent platform",
                    group=self.agent_api_group,
                    plural=plural,
                    version=self.agent_api_version,
                )
                for plural in AGENT_PLURALS
            ),
        ]


def _served_versions(crd: Mapping[str, Any]) -> list[str]:
    versions = (crd.get("spec") or {}).get("versions") or []
    return [str(v.get("name")) for v in versions if isinstance(v, Mapping) and v.get("served") is True]


def missing_crds(crd_list: Mapping[str, Any], required: Sequence[RequiredCrd]) -> list[str]:
    """What ``kubectl get crd --output json`` shows to be missing: absent CRDs, unserved versions."""
    installed = {
        str((item.get("metadata") or {}).get("name")): item
        for item in crd_list.get("items") or []
        if isinstance(item, Mapping)
    }
    missing = []
    for crd in required:
        found = installed.get(crd.name)
        if found is None:
            missing.append(f"CustomResourceDefinition {crd.name} ({crd.component}) is not installed")
            continue
        served = _served_versions(found)
        if crd.version not in served:
            missing.append(
                f"CustomResourceDefinition {crd.name} ({crd.component}) does not serve version "
                f"{crd.version} (served: {', '.join(served) or 'none'})"
            )
    return missing


def eventbus_problems(eventbus: Mapping[str, Any] | None, *, name: str, namespace: str) -> list[str]:
    """Problems of the EventBus as ``kubectl get eventbus --output json`` returned it (None: absent).

    An EventBus whose status reports a condition that is not ``True`` (for example ``Deployed``) exists
    but cannot carry events, so it counts as missing too.
    """
    where = f"EventBus {name} in namespace {namespace}"
    if eventbus is None:
        return [f"{where} does not exist"]
    conditions = (eventbus.get("status") or {}).get("conditions") or []
    failing = [
        condition
        for condition in conditions
        if isinstance(condition, Mapping) and condition.get("status") in ("False", "Unknown")
    ]
    return [
        f"{where} is not ready: condition {c.get('type')} is {c.get('status')}"
        + (f" ({c.get('reason') or c.get('message')})" if c.get("reason") or c.get("message") else "")
        for c in failing
    ]


def admission_problems(resources: Mapping[str, Any] | None) -> list[str]:
    """What the discovery document of ``admissionregistration.k8s.io/v1`` (None: not served) lacks."""
    where = "ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1, Kubernetes 1.30 or later)"
    if resources is None:
        return [f"{where} is not served: the preview deployer cannot be confined"]
    served = {str(item.get("name")) for item in resources.get("resources") or [] if isinstance(item, Mapping)}
    return [
        f"{where}: resource {resource} is not served: the preview deployer cannot be confined"
        for resource in ADMISSION_RESOURCES
        if resource not in served
    ]


def _json(stdout: str, what: str) -> Any:
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        raise StepError(f"{what}: kubectl did not return JSON: {stdout[:200]!r}") from None


def check_cluster(expected: Expectations, *, kubectl: Sequence[str] = ("kubectl",)) -> str:
    """Run the check; return a summary, or raise :class:`ClusterNotReady` listing everything missing.

    ``kubectl`` is the command prefix (``kubectl --context NAME`` from a laptop). Failures of kubectl
    itself (no access, no cluster) raise :class:`~workflows.steps.kube.StepError`.
    """
    required = expected.crds()
    crd_list = _json(
        run([*kubectl, "get", "crd", "--output", "json", f"--request-timeout={REQUEST_TIMEOUT}"]).stdout,
        "kubectl get crd",
    )
    if not isinstance(crd_list, Mapping):
        raise StepError("kubectl get crd: expected a List object")
    missing = missing_crds(crd_list, required)
    eventbus_crd = f"eventbus.{ARGO_GROUP}"
    where = f"EventBus {expected.eventbus_name} in namespace {expected.events_namespace}"
    if any(item.startswith(f"CustomResourceDefinition {eventbus_crd} ") for item in missing):
        missing.append(f"{where} cannot be checked without a served CRD {eventbus_crd}")
    else:
        found = run(
            [
                *kubectl,
                "get",
                eventbus_crd,
                expected.eventbus_name,
                "--namespace",
                expected.events_namespace,
                "--ignore-not-found",
                "--output",
                "json",
                f"--request-timeout={REQUEST_TIMEOUT}",
            ]
        ).stdout
        eventbus = _json(found, "kubectl get eventbus") if found.strip() else None
        missing += eventbus_problems(
            eventbus, name=expected.eventbus_name, namespace=expected.events_namespace
        )
    try:
        discovery = run(
            [*kubectl, "get", "--raw", ADMISSION_API_PATH, f"--request-timeout={REQUEST_TIMEOUT}"]
        )
        admission = _json(discovery.stdout, "kubectl get --raw")
    except CommandError as error:
        if "(NotFound)" not in error.stderr:
            raise
        admission = None
    missing += admission_problems(admission)
    if missing:
        raise ClusterNotReady(missing)
    return (
        f"cluster ready for aphex: Argo Workflows ({len(ARGO_WORKFLOWS_PLURALS)} CRDs), "
        f"Argo Events ({len(ARGO_EVENTS_PLURALS)} CRDs; {where}), "
        f"agent platform ({', '.join(AGENT_PLURALS)} serving "
        f"{expected.agent_api_group}/{expected.agent_api_version}), ValidatingAdmissionPolicy served"
    )


def verify_cluster(
    events_namespace: str = DEFAULT_EVENTS_NAMESPACE,
    eventbus_name: str = DEFAULT_EVENTBUS,
    agent_api_group: str = DEFAULT_AGENT_API_GROUP,
    agent_api_version: str = DEFAULT_AGENT_API_VERSION,
) -> None:
    """Runner entrypoint of ``cluster-verify``: print the summary, or the missing items and exit 1 (2 for an
    invalid parameter, :mod:`workflows.steps.exits`)."""
    try:
        expected = Expectations(
            events_namespace=events_namespace,
            eventbus_name=eventbus_name,
            agent_api_group=agent_api_group,
            agent_api_version=agent_api_version,
        )
    except InvalidValue as error:
        raise reject_input(error) from None
    try:
        summary = check_cluster(expected)
    except StepError as error:
        raise fail(error) from None
    print(summary)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``aphex verify`` (for a subcommand parser of the ``aphex`` CLI)."""
    parser.add_argument(
        "--events-namespace",
        default=DEFAULT_EVENTS_NAMESPACE,
        help=f"namespace of Argo Events and its EventBus (default {DEFAULT_EVENTS_NAMESPACE})",
    )
    parser.add_argument(
        "--eventbus",
        default=DEFAULT_EVENTBUS,
        help=f"name of the EventBus the Sensors use (default {DEFAULT_EVENTBUS})",
    )
    parser.add_argument(
        "--agent-api-group",
        default=DEFAULT_AGENT_API_GROUP,
        help=f"API group of CodeRun and DocsRun (default {DEFAULT_AGENT_API_GROUP})",
    )
    parser.add_argument(
        "--agent-api-version",
        default=DEFAULT_AGENT_API_VERSION,
        help=f"API version of CodeRun and DocsRun that must be served (default {DEFAULT_AGENT_API_VERSION})",
    )
    parser.add_argument("--context", help="kubeconfig context to use (default: the current context)")


def run_from_args(args: argparse.Namespace) -> int:
    """Run the check for parsed :func:`add_arguments` options: 0 ready, 1 not ready (a prerequisite is
    missing, or the cluster cannot be reached: the cluster is what is checked), 2 bad arguments."""
    try:
        expected = Expectations(
            events_namespace=args.events_namespace,
            eventbus_name=args.eventbus,
            agent_api_group=args.agent_api_group,
            agent_api_version=args.agent_api_version,
        )
    except InvalidValue as error:
        return refuse("aphex verify", str(error))
    if args.context is not None and not args.context.strip():
        return refuse("aphex verify", "--context: must not be empty")
    kubectl = ["kubectl", *(["--context", args.context] if args.context else [])]
    try:
        print(check_cluster(expected, kubectl=kubectl))
    except StepError as error:
        print(f"aphex verify: {error}", file=sys.stderr)
        return ExitCode.PROBLEMS
    return ExitCode.OK


def verify_main(argv: Sequence[str] | None = None) -> int:
    """``aphex verify``: the ``cluster-verify`` check from a laptop, with the user's kubectl context."""
    parser = argparse.ArgumentParser(
        prog="aphex verify",
        description="Check that the cluster has what aphex needs: Argo Workflows, Argo Events "
        "(with its EventBus), the agent platform's CRDs and ValidatingAdmissionPolicy.",
    )
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
