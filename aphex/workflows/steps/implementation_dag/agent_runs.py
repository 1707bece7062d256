"""The ``stop-agents`` step of the exit handler: a run that did not succeed leaves no agent running.

A stage's wait can end before its agent does: the stage's deadline passes, or ``argo stop`` stops the
run. The run's ``CodeRun``/``DocsRun`` objects would then live on, their agents working, until the Workflow
is deleted (they are owned by it). When the run did not succeed this step deletes every one of them that
has not finished (``status.phase`` neither ``Succeeded`` nor ``Failed``), found by the label
``aphex.dev/workflow``; finished ones are kept for inspection until the Workflow goes. The agent platform
stops an agent whose run is deleted. Kubernetes API calls go through
:mod:`aphex.workflows.steps.common.kubernetes_api`.
"""

import re
from typing import Any, Final

from aphex.dsl.labels import LABEL_PREFIX
from aphex.dsl.names import DNS_LABEL_PATTERN, InvalidValue, validate_dns_name
from aphex.dsl.stage import NETWORK_RETRY, ResourceClass, Stage
from aphex.workflows.steps.common.accounts import Account
from aphex.workflows.steps.common.exits import fail
from aphex.workflows.steps.common.kubernetes_api import RAW, Cluster, NotFound, connect
from aphex.workflows.steps.common.process import StepError

__all__ = ["FINISHED_PHASES", "PLURALS", "STAGE", "stop_agents", "stop_unfinished_runs"]

PLURALS: Final = ("coderuns", "docsruns")
FINISHED_PHASES: Final = frozenset({"Succeeded", "Failed"})
_VERSION = re.compile(r"^v[0-9]+(?:(?:alpha|beta)[0-9]+)?$")
_LABEL = re.compile(DNS_LABEL_PATTERN)


def _runs(
    cluster: Cluster,
    *,
    group: str,
    version: str,
    namespace: str,
    plural: str,
    selector: str,
) -> list[dict[str, Any]]:
    try:
        answer = cluster.call(
            f"list {plural}.{group} in {namespace}",
            lambda: cluster.custom.list_namespaced_custom_object(
                group, version, namespace, plural, label_selector=selector, **RAW
            ),
        )
    except NotFound:
        return []  # the resource is not served (DocsRuns without the docs component)
    items: list[dict[str, Any]] = answer.get("items") or []
    return items


def stop_unfinished_runs(
    cluster: Cluster, *, workflow: str, namespace: str, group: str, version: str
) -> list[str]:
    """Delete the workflow's agent runs that have not finished; return ``<plural>/<name>`` of each."""
    selector = f"{LABEL_PREFIX}workflow={workflow}"
    stopped: list[str] = []
    for plural in PLURALS:
        for run in _runs(
            cluster, group=group, version=version, namespace=namespace, plural=plural, selector=selector
        ):
            name = str(run["metadata"]["name"])
            phase = (run.get("status") or {}).get("phase")
            if phase in FINISHED_PHASES:
                continue
            try:
                cluster.call(
                    f"delete {plural}.{group} {namespace}/{name}",
                    lambda name=name, plural=plural: cluster.custom.delete_namespaced_custom_object(  # type: ignore[misc]
                        group, version, namespace, plural, name, **RAW
                    ),
                )
            except NotFound:
                continue  # gone already
            stopped.append(f"{plural}/{name}")
    return stopped


def stop_agents(workflow_name: str, namespace: str, api_group: str, api_version: str) -> None:
    """Runner entrypoint (exit handler, run not Succeeded): delete the run's unfinished agent runs."""
    try:
        validate_dns_name(workflow_name, "workflow-name")
        if len(workflow_name) > 63:
            raise InvalidValue("workflow-name", workflow_name, "must be at most 63 characters")
        if not _LABEL.match(namespace):
            raise InvalidValue("namespace", namespace, "must be a Kubernetes namespace name")
        validate_dns_name(api_group, "api-group")
        if not _VERSION.match(api_version):
            raise InvalidValue("api-version", api_version, "must be a Kubernetes API version such as v1")
        stopped = stop_unfinished_runs(
            connect(field_manager="aphex"),
            workflow=workflow_name,
            namespace=namespace,
            group=api_group,
            version=api_version,
        )
    except (InvalidValue, StepError) as error:
        raise fail(error) from None
    print(f"stopped {', '.join(stopped)}" if stopped else "no agent of this run is still running")


STAGE: Final = Stage(
    entrypoint=stop_agents,
    name="stop-agents",
    resources=ResourceClass.LIGHT,
    timeout="5m",
    retry=NETWORK_RETRY,
    account=Account.AGENTS,
)
