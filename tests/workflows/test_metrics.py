"""The Prometheus metrics of both pipelines and the ``archiveLogs`` value, as compiled.

Argo facts these tests pin (argo-workflows v4.1.2):
- names and label keys: ``workflow/metrics/util.go`` IsValidMetricName (Prometheus' legacy rule, no
  ``:``), applied to template metrics by ``workflow/validate/validate.go`` validateTemplate and to every
  metric at emission by ``workflow/metrics/metrics_custom.go`` UpsertCustomMetric;
- one help and one kind per name: ``metrics_custom.go`` matchExistingMetric;
- when they are evaluated and with which variables: ``workflow/controller/operator.go`` operate (workflow
  ``spec.metrics`` once the run and its exit handler are done, with ``workflow.status`` and
  ``workflow.duration`` set by markWorkflowPhase), executeTemplate and handleNodeFulfilled (a template's
  metrics when its node completes), computeMetrics (every variable must resolve, ``when`` decides), and
  ``workflow/controller/steps.go`` prepareMetricScope (``status``, ``duration``, ``inputs.parameters.*``,
  ``outputs.parameters.*`` of the node, the workflow's globals);
- a skipped or omitted task never reaches executeTemplate (``workflow/controller/dag.go``
  executeDAGTask initializes its node directly), so it emits nothing;
- ``spec.archiveLogs``: ``workflow/controller/workflowpod.go`` IsArchiveLogs (controller on > template >
  workflow > controller off).
"""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from aphex.dsl.config import load_config
from aphex.dsl.lint import SourceDocument, lint_documents
from aphex.dsl.metrics import (
    DEFINITIONS,
    METRIC_NAME,
    RUNS,
    MetricDefinition,
    MetricKind,
    acceptance_metrics,
)
from aphex.dsl.settings import BundleSettings, load_settings
from aphex.workflows.aphex_pipeline.pipeline import pipeline_template
from aphex.workflows.bundle import build_bundle

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STAGE_BUCKETS = [5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 21600.0]
RUN_BUCKETS = [60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0, 604800.0]
RUN_HELP = "Finished aphex pipeline runs, by pipeline and result"
RUN_DURATION_HELP = "Duration of finished aphex pipeline runs in seconds, by pipeline and result"
STAGE_HELP = "Finished stages of aphex pipeline runs, by pipeline, stage and result"
STAGE_DURATION_HELP = (
    "Duration of finished stages of aphex pipeline runs in seconds, by pipeline, stage and result"
)


def _argo_is_valid_metric_name(name: str) -> bool:
    """Argo's IsValidMetricName, restated: Prometheus' ``model.LegacyValidation`` name rule
    (``^[a-zA-Z_:][a-zA-Z0-9_:]*$``) and no ``:``."""
    return re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name) is not None and ":" not in name


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    cluster = load_settings(yaml.safe_load((EXAMPLES / "cluster-values.yaml").read_text(encoding="utf-8")))
    return pipeline_template(load_config(EXAMPLES / "aphex-config.yaml"), cluster)


def _template(workflow: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in workflow["spec"]["templates"] if t["name"] == name)


def _labels(pipeline: str, stage: str) -> list[dict[str, str]]:
    return [
        {"key": "pipeline", "value": pipeline},
        {"key": "stage", "value": stage},
        {"key": "status", "value": "{{status}}"},
    ]


def _stage_block(pipeline: str, stage: str) -> list[dict[str, Any]]:
    labels = _labels(pipeline, stage)
    return [
        {
            "name": "aphex_stage_results_total",
            "help": STAGE_HELP,
            "labels": labels,
            "counter": {"value": "1"},
        },
        {
            "name": "aphex_stage_duration_seconds",
            "help": STAGE_DURATION_HELP,
            "labels": labels,
            "histogram": {"value": "{{duration}}", "buckets": STAGE_BUCKETS},
        },
    ]


def _run_block(pipeline: str) -> dict[str, Any]:
    labels = [{"key": "pipeline", "value": pipeline}, {"key": "status", "value": "{{workflow.status}}"}]
    return {
        "prometheus": [
            {"name": "aphex_runs_total", "help": RUN_HELP, "labels": labels, "counter": {"value": "1"}},
            {
                "name": "aphex_run_duration_seconds",
                "help": RUN_DURATION_HELP,
                "labels": labels,
                "histogram": {"value": "{{workflow.duration}}", "buckets": RUN_BUCKETS},
            },
        ]
    }


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("aphex_runs_total", True),
        ("_private", True),
        ("argo_workflows_aphex_runs_total", True),
        ("aphex:runs", False),  # valid for Prometheus, refused by Argo
        ("aphex-runs", False),
        ("1runs", False),
        ("", False),
        ("runs.total", False),
    ],
)
def test_our_name_rule_is_argos(name: str, valid: bool) -> None:
    assert _argo_is_valid_metric_name(name) is valid
    assert (METRIC_NAME.fullmatch(name) is not None) is valid


def test_every_metric_name_and_label_key_passes_argos_rule_with_and_without_its_prefix() -> None:
    for definition in DEFINITIONS:
        for name in (definition.name, "argo_workflows_" + definition.name, *definition.labels):
            assert _argo_is_valid_metric_name(name), name
    assert len({definition.name for definition in DEFINITIONS}) == len(DEFINITIONS)
    counters = [d.name for d in DEFINITIONS if d.kind is MetricKind.COUNTER]
    assert all(name.endswith("_total") for name in counters)


def test_a_definition_refuses_names_argo_refuses_and_labels_it_does_not_declare() -> None:
    with pytest.raises(ValueError, match="not a valid Argo metric"):
        MetricDefinition(name="aphex:x", kind=MetricKind.COUNTER, help="h", labels=(), emitted="")
    with pytest.raises(ValueError, match="not a valid Argo metric"):
        MetricDefinition(name="x", kind=MetricKind.COUNTER, help="h", labels=("bad-key",), emitted="")
    with pytest.raises(ValueError, match="buckets"):
        MetricDefinition(name="x", kind=MetricKind.HISTOGRAM, help="h", labels=(), emitted="")
    with pytest.raises(ValueError, match="labels must be"):
        RUNS.build("1", {"pipeline": "p"})


def test_the_implementation_dag_emits_its_run_result_and_duration(templates: dict[str, Any]) -> None:
    dag = templates["implementation-dag"]
    assert dag["spec"]["metrics"] == _run_block("implementation-dag")


def test_acceptance_emits_its_stage_and_its_figures_from_its_own_outputs(templates: dict[str, Any]) -> None:
    acceptance = _template(templates["implementation-dag"], "acceptance")
    labels = [
        {"key": "pipeline", "value": "implementation-dag"},
        {"key": "repo", "value": "{{workflow.parameters.owner}}/{{workflow.parameters.repo}}"},
    ]
    assert acceptance["metrics"]["prometheus"] == [
        *_stage_block("implementation-dag", "acceptance"),
        {
            "name": "aphex_acceptance_success_ratio",
            "help": "Share of successful requests of the last acceptance test of a repository's previews",
            "when": "'{{outputs.parameters.success-ratio}}' != ''",
            "labels": labels,
            "gauge": {"realtime": False, "value": "{{outputs.parameters.success-ratio}}"},
        },
        {
            "name": "aphex_acceptance_p95_milliseconds",
            "help": (
                "p95 request latency in milliseconds of the last acceptance test of a repository's previews"
            ),
            "when": "'{{outputs.parameters.p95-ms}}' != ''",
            "labels": labels,
            "gauge": {"realtime": False, "value": "{{outputs.parameters.p95-ms}}"},
        },
    ]
    # The gauges read outputs the template declares; a figure the step could not write is "" (its
    # default, executor.go SaveParameters), which the `when` skips instead of failing to parse it.
    outputs = {p["name"]: p for p in acceptance["outputs"]["parameters"]}
    for name in ("success-ratio", "p95-ms"):
        assert outputs[name]["valueFrom"] == {
            "default": "",
            "path": f"/tmp/hera-outputs/parameters/{name}",
        }
        assert outputs[name]["globalName"] == f"acceptance-{name}"


def test_acceptance_gauges_read_the_outputs_they_are_given() -> None:
    ratio, p95 = acceptance_metrics("p", repo="o/r", success_ratio_output="a", p95_output="b")
    assert (ratio.value, ratio.when) == ("{{outputs.parameters.a}}", "'{{outputs.parameters.a}}' != ''")
    assert (p95.value, p95.when) == ("{{outputs.parameters.b}}", "'{{outputs.parameters.b}}' != ''")


def _stage_of(template: dict[str, Any], arguments: dict[str, str]) -> str:
    """The stage label a node of ``template`` emits, its inputs replaced by the task's arguments."""
    (stage,) = {
        label["value"]
        for metric in template["metrics"]["prometheus"]
        for label in metric["labels"]
        if label["key"] == "stage"
    }
    return re.sub(r"\{\{inputs\.parameters\.([-\w]+)\}\}", lambda m: arguments[m.group(1)], stage)


def _tasks(workflow: dict[str, Any], dag: str) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = _template(workflow, dag)["dag"]["tasks"]
    return tasks


def _arguments(task: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: str(p["value"]) for p in task.get("arguments", {}).get("parameters", [])}


def test_every_task_of_the_implementation_dag_counts_under_its_own_name(templates: dict[str, Any]) -> None:
    dag = templates["implementation-dag"]
    seen = []
    for dag_name in ("main", "exit-handler"):
        for task in _tasks(dag, dag_name):
            if "templateRef" in task:
                ref = task["templateRef"]
                template = _template(templates[ref["name"]], ref["template"])
            else:
                template = _template(dag, task["template"])
            assert _stage_of(template, _arguments(task)) == task["name"], task["name"]
            pipeline_label = template["metrics"]["prometheus"][0]["labels"][0]
            assert pipeline_label == {"key": "pipeline", "value": "implementation-dag"}
            seen.append(task["name"])
    assert seen == [
        "set-params", "implement", "clippy", "qa", "resolve-head", "deploy", "acceptance", "docs",
        "cleanup", "stop-agents", "keep-preview", "publish-success", "publish-failure",
    ]  # fmt: skip
    coderun = _template(templates["coderun-template"], "coderun-main")
    assert coderun["metrics"]["prometheus"] == _stage_block(
        "implementation-dag", "{{inputs.parameters.stage}}"
    )
    assert _template(templates["docsrun-template"], "docsrun-main")["metrics"]["prometheus"] == (
        _stage_block("implementation-dag", "docs")
    )


def test_every_task_of_the_aphex_pipeline_counts_under_its_own_name(pipeline: dict[str, Any]) -> None:
    name = pipeline["metadata"]["name"]
    assert pipeline["spec"]["metrics"] == _run_block(name)
    names = []
    for dag_name in ("main", "exit-handler"):
        for task in _tasks(pipeline, dag_name):
            template = _template(pipeline, task["template"])
            assert _stage_of(template, _arguments(task)) == task["name"], task["name"]
            names.append(task["name"])
    assert names == [
        "validate", "build", "self-update", "deploy-staging", "tests-staging", "approve-production",
        "check-approval-production", "deploy-production", "tests-production", "deploy-dr", "record",
    ]  # fmt: skip
    # A template shared by the environments takes the environment from its own input.
    assert _template(pipeline, "deploy")["metrics"]["prometheus"] == _stage_block(
        name, "deploy-{{inputs.parameters.environment}}"
    )


def test_label_values_are_names_or_values_argo_or_set_params_vouch_for(
    bundle: list[dict[str, Any]], pipeline: dict[str, Any]
) -> None:
    """No label carries free text: literals, Argo's own status, inputs the pipelines pass as literals,
    and the repository (validated by set-params before acceptance can run)."""
    allowed = {
        "{{status}}",
        "{{workflow.status}}",
        "{{inputs.parameters.stage}}",
        "{{inputs.parameters.environment}}",
        "{{workflow.parameters.owner}}",
        "{{workflow.parameters.repo}}",
    }
    for obj in [*bundle, pipeline]:
        if obj["kind"] != "WorkflowTemplate":
            continue
        spec = obj["spec"]
        for owner in [spec, *spec["templates"]]:
            for metric in owner.get("metrics", {}).get("prometheus", []):
                for label in metric["labels"]:
                    assert set(re.findall(r"\{\{[^}]*\}\}", label["value"])) <= allowed, label


def test_one_help_and_one_kind_per_name_across_both_pipelines_and_lint_accepts_them(
    bundle: list[dict[str, Any]], pipeline: dict[str, Any]
) -> None:
    declared: dict[str, set[tuple[str, str, str]]] = {}
    objects = [*bundle, pipeline]
    for obj in objects:
        if obj["kind"] != "WorkflowTemplate":
            continue
        for owner in [obj["spec"], *obj["spec"]["templates"]]:
            for metric in owner.get("metrics", {}).get("prometheus", []):
                kind = next(k for k in ("counter", "gauge", "histogram") if k in metric)
                buckets = str(metric.get("histogram", {}).get("buckets"))
                declared.setdefault(metric["name"], set()).add((metric["help"], kind, buckets))
    assert sorted(declared) == sorted(definition.name for definition in DEFINITIONS)
    assert all(len(variants) == 1 for variants in declared.values()), declared
    documents = [SourceDocument(file=f"{i}.yaml", index=0, data=obj) for i, obj in enumerate(objects)]
    assert [str(problem) for problem in lint_documents(documents)] == []


def test_lint_refuses_a_pipeline_that_redeclares_a_metric_with_another_help(
    bundle: list[dict[str, Any]], pipeline: dict[str, Any]
) -> None:
    changed = yaml.safe_load(yaml.safe_dump(pipeline))
    changed["spec"]["metrics"]["prometheus"][0]["help"] = "Runs"
    documents = [SourceDocument(file="bundle.yaml", index=i, data=o) for i, o in enumerate(bundle)]
    documents.append(SourceDocument(file="pipeline.yaml", index=0, data=changed))
    name = pipeline["metadata"]["name"]
    assert [str(problem) for problem in lint_documents(documents)] == [
        f"pipeline.yaml: WorkflowTemplate/{name}: spec.metrics.prometheus[0]: help for metric "
        f"aphex_runs_total is already set to {RUN_HELP}, it cannot be changed"
    ]


@pytest.mark.parametrize("archive", [False, True])
def test_archive_logs_is_set_on_every_template_a_run_starts_from(archive: bool) -> None:
    settings = load_settings({"archiveLogs": archive})
    started = []
    for obj in build_bundle(settings):
        if obj["kind"] != "WorkflowTemplate":
            continue
        if "entrypoint" in obj["spec"]:
            assert obj["spec"]["archiveLogs"] is archive, obj["metadata"]["name"]
            started.append(obj["metadata"]["name"])
        else:
            # Called through templateRef only: Argo reads archiveLogs of the running Workflow.
            assert "archiveLogs" not in obj["spec"], obj["metadata"]["name"]
    assert sorted(started) == ["cluster-verify", "implementation-dag", "preview-cleanup", "preview-janitor"]
    cluster = load_settings(
        {
            **yaml.safe_load((EXAMPLES / "cluster-values.yaml").read_text(encoding="utf-8")),
            "archiveLogs": archive,
        }
    )
    template = pipeline_template(load_config(EXAMPLES / "aphex-config.yaml"), cluster)
    assert template["spec"]["archiveLogs"] is archive


def test_archive_logs_defaults_to_false() -> None:
    assert BundleSettings().archive_logs is False
    assert BundleSettings().to_values()["archiveLogs"] is False


def test_observability_doc_lists_every_metric_as_defined() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "observability.md").read_text(encoding="utf-8")
    rows = {
        cells[0].strip("` "): cells
        for line in text.splitlines()
        if line.startswith("| `aphex_")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    assert sorted(rows) == sorted(definition.name for definition in DEFINITIONS)
    for definition in DEFINITIONS:
        kind, labels, help_text, emitted = rows[definition.name][1:]
        assert kind.split(" ")[0] == definition.kind.value
        if definition.buckets:
            assert ", ".join(f"{bucket:g}" for bucket in definition.buckets) in kind
        assert labels == ", ".join(f"`{label}`" for label in definition.labels)
        assert help_text == definition.help
        assert emitted == definition.emitted
