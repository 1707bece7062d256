"""The Prometheus metrics of the pipelines, emitted by the Argo Workflows controller.

Argo evaluates a workflow's ``spec.metrics`` once the run has ended (after its exit handler) and a
template's ``metrics`` when a node of that template completes (argo-workflows
``workflow/controller/operator.go``: ``operate`` and ``executeTemplate`` call ``computeMetrics`` with the
scope of ``prepareMetricScope`` in ``workflow/controller/steps.go``). The controller exports them with
the prefix ``argo_workflows_`` (``util/telemetry/exporter_prometheus.go``). A name is declared once per
controller: a second declaration with another help text or type is refused (``matchExistingMetric`` in
``workflow/metrics/metrics_custom.go``), so every metric is defined once here and both pipelines build
theirs from these definitions. Label values are compile-time names (pipeline, stage) or values a run has
already validated (the repository); never free text. docs/observability.md lists them.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from hera.workflows import Counter, Gauge, Histogram, Label

__all__ = [
    "ACCEPTANCE_P95",
    "ACCEPTANCE_SUCCESS_RATIO",
    "DEFINITIONS",
    "METRIC_NAME",
    "RUNS",
    "RUN_DURATION",
    "STAGE_DURATION",
    "STAGE_RESULTS",
    "MetricDefinition",
    "MetricKind",
    "PrometheusMetric",
    "acceptance_metrics",
    "run_metrics",
    "stage_metrics",
]

METRIC_NAME: Final = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
"""What Argo accepts as a metric name or label key: Prometheus' legacy name rule without ``:``
(argo-workflows ``workflow/metrics/util.go``, IsValidMetricName)."""

PrometheusMetric = Counter | Gauge | Histogram


class MetricKind(StrEnum):
    """The three kinds of Argo custom metric."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True, kw_only=True)
class MetricDefinition:
    """One metric: its name (without Argo's ``argo_workflows_`` prefix), kind, help and label keys."""

    name: str
    kind: MetricKind
    help: str
    labels: tuple[str, ...]
    emitted: str
    """When Argo emits it (for the docs)."""
    buckets: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for name in (self.name, *self.labels):
            if not METRIC_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid Argo metric or label name")
        if (self.kind is MetricKind.HISTOGRAM) != bool(self.buckets):
            raise ValueError(f"{self.name}: buckets are for histograms, and every histogram needs them")

    def build(self, value: str, labels: Mapping[str, str], *, when: str | None = None) -> PrometheusMetric:
        """The Hera metric with ``value`` and exactly this definition's labels (in its order)."""
        if set(labels) != set(self.labels):
            raise ValueError(f"{self.name}: labels must be {sorted(self.labels)}, not {sorted(labels)}")
        label_list = [Label(key=key, value=labels[key]) for key in self.labels]
        if self.kind is MetricKind.COUNTER:
            return Counter(name=self.name, help=self.help, labels=label_list, when=when, value=value)
        if self.kind is MetricKind.GAUGE:
            return Gauge(
                name=self.name, help=self.help, labels=label_list, when=when, value=value, realtime=False
            )
        return Histogram(
            name=self.name,
            help=self.help,
            labels=label_list,
            when=when,
            value=value,
            buckets=list(self.buckets),
        )


_DURATION_BUCKETS: Final = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0, 604800.0)
"""Seconds from a minute to a week: a pipeline run may wait days for an approval."""
_STAGE_BUCKETS: Final = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 21600.0)
"""Seconds from a few (parameter checks) to six hours (an agent run, a long deployment)."""

RUNS: Final = MetricDefinition(
    name="aphex_runs_total",
    kind=MetricKind.COUNTER,
    help="Finished aphex pipeline runs, by pipeline and result",
    labels=("pipeline", "status"),
    emitted="once per run, when it has ended (after its exit handler)",
)
RUN_DURATION: Final = MetricDefinition(
    name="aphex_run_duration_seconds",
    kind=MetricKind.HISTOGRAM,
    help="Duration of finished aphex pipeline runs in seconds, by pipeline and result",
    labels=("pipeline", "status"),
    emitted="once per run, when it has ended (after its exit handler)",
    buckets=_DURATION_BUCKETS,
)
STAGE_RESULTS: Final = MetricDefinition(
    name="aphex_stage_results_total",
    kind=MetricKind.COUNTER,
    help="Finished stages of aphex pipeline runs, by pipeline, stage and result",
    labels=("pipeline", "stage", "status"),
    emitted=(
        "when a stage's node completes; a stage with a retry policy also counts each attempt Argo "
        "retries, with that attempt's result"
    ),
)
STAGE_DURATION: Final = MetricDefinition(
    name="aphex_stage_duration_seconds",
    kind=MetricKind.HISTOGRAM,
    help="Duration of finished stages of aphex pipeline runs in seconds, by pipeline, stage and result",
    labels=("pipeline", "stage", "status"),
    emitted="with aphex_stage_results_total",
    buckets=_STAGE_BUCKETS,
)
ACCEPTANCE_SUCCESS_RATIO: Final = MetricDefinition(
    name="aphex_acceptance_success_ratio",
    kind=MetricKind.GAUGE,
    help="Share of successful requests of the last acceptance test of a repository's previews",
    labels=("pipeline", "repo"),
    emitted="when the acceptance stage completes with its figures (passed or failed gate)",
)
ACCEPTANCE_P95: Final = MetricDefinition(
    name="aphex_acceptance_p95_milliseconds",
    kind=MetricKind.GAUGE,
    help="p95 request latency in milliseconds of the last acceptance test of a repository's previews",
    labels=("pipeline", "repo"),
    emitted="with aphex_acceptance_success_ratio",
)
DEFINITIONS: Final = (
    RUNS,
    RUN_DURATION,
    STAGE_RESULTS,
    STAGE_DURATION,
    ACCEPTANCE_SUCCESS_RATIO,
    ACCEPTANCE_P95,
)


def run_metrics(pipeline: str) -> list[PrometheusMetric]:
    """The workflow-level ``spec.metrics``: the run's result and duration. ``workflow.status`` is the
    result of the entrypoint (the exit handler does not change it) and ``workflow.duration`` the run's
    seconds, both set when the run is marked complete (operator.go, ``operate`` and
    ``markWorkflowPhase``)."""
    labels = {"pipeline": pipeline, "status": "{{workflow.status}}"}
    return [RUNS.build("1", labels), RUN_DURATION.build("{{workflow.duration}}", labels)]


def stage_metrics(pipeline: str, stage: str) -> list[PrometheusMetric]:
    """A template's ``metrics``: the result and duration of the node that ran it (``status`` and
    ``duration`` of the metric scope, steps.go ``prepareMetricScope``)."""
    labels = {"pipeline": pipeline, "stage": stage, "status": "{{status}}"}
    return [STAGE_RESULTS.build("1", labels), STAGE_DURATION.build("{{duration}}", labels)]


def acceptance_metrics(
    pipeline: str, *, repo: str, success_ratio_output: str, p95_output: str
) -> list[PrometheusMetric]:
    """Gauges fed from the acceptance template's own output parameters. An output the step could not
    write is empty (its ``valueFrom.default``): the ``when`` then skips the gauge instead of letting the
    controller fail to parse an empty value."""
    labels = {"pipeline": pipeline, "repo": repo}
    ratio = "{{outputs.parameters." + success_ratio_output + "}}"
    p95 = "{{outputs.parameters." + p95_output + "}}"
    return [
        ACCEPTANCE_SUCCESS_RATIO.build(ratio, labels, when=f"'{ratio}' != ''"),
        ACCEPTANCE_P95.build(p95, labels, when=f"'{p95}' != ''"),
    ]
