"""The Helm chart, checked with a real Helm engine (helm-python-sdk: Helm's Go SDK, no helm binary)."""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from aphex.cli import main as aphex
from aphex.dsl.bundle import OUTPUT_MARKER, dump_yaml, object_path
from aphex.dsl.chart import ChartError, _mark_flag, chart_files
from aphex.dsl.config import load_config
from aphex.dsl.lint import SourceDocument, lint_documents
from aphex.dsl.names import BUNDLE_TEMPLATE_NAMES
from aphex.dsl.settings import SettingsError, load_settings
from aphex.dsl.values_schema import VALUES_SCHEMA
from aphex.workflows.aphex_pipeline.pipeline import IRSA_ANNOTATION, pipeline_template
from aphex.workflows.bundle import build_bundle, bundle_parts
from tests.dsl.test_workflow_pod_values import VALUES as POD_VALUES

CHART = Path(__file__).resolve().parents[2] / "helm" / "aphex"
Identity = tuple[str, str, str]


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def render(
    chart: helm.Chart, values: dict[str, Any], *, release: str, namespace: str = "argo"
) -> list[dict[str, Any]]:
    manifests = chart.render(values, name=release, namespace=namespace)
    objects: list[dict[str, Any]] = []
    for name, text in sorted(manifests.items()):
        if name.endswith(".yaml"):
            objects.extend(document for document in yaml.safe_load_all(text) if document)
    return objects


def by_identity(objects: list[dict[str, Any]]) -> dict[Identity, dict[str, Any]]:
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects}


def test_the_committed_chart_is_what_aphex_chart_generates() -> None:
    expected = chart_files(bundle_parts)
    committed = {
        str(path.relative_to(CHART)): path.read_text(encoding="utf-8")
        for path in CHART.rglob("*")
        if path.is_file() and path.name != OUTPUT_MARKER  # marks the directory as aphex's to replace
    }
    assert sorted(committed) == sorted(expected), "run `aphex chart` and commit helm/aphex"
    stale = [name for name, text in expected.items() if committed[name] != text]
    assert stale == [], "run `aphex chart` and commit helm/aphex"


def test_helm_lint_finds_nothing_above_info() -> None:
    report = helm.lint(str(CHART))
    assert report["errors"] == []
    # Severity 1 is INFO; the only one is "icon is recommended" (we have no icon to point to).
    assert [m for m in report["messages"] if m["severity"] > 1] == []


def test_default_values_render_exactly_the_plain_manifests(chart: helm.Chart) -> None:
    rendered = by_identity(render(chart, {}, release="aphex"))
    compiled = by_identity(build_bundle(load_settings({})))
    assert sorted(rendered) == sorted(compiled)
    for identity, obj in compiled.items():
        assert rendered[identity] == obj, identity


@pytest.mark.parametrize("archive", [True, False])
def test_archive_logs_renders_what_the_compiler_builds(chart: helm.Chart, archive: bool) -> None:
    """A boolean value that is not a component toggle: templated where flipping it flips the output."""
    values = {"archiveLogs": archive}
    rendered = by_identity(render(chart, values, release="aphex"))
    assert rendered == by_identity(build_bundle(load_settings(values)))
    flags = {
        identity[2]: obj["spec"].get("archiveLogs")
        for identity, obj in rendered.items()
        if identity[0] == "WorkflowTemplate"
    }
    assert flags == {
        "cluster-verify": archive,
        "coderun-template": None,
        "docsrun-template": None,
        "implementation-dag": archive,
        "preview-cleanup": archive,
        "preview-janitor": archive,
    }


def test_a_flag_is_templated_only_where_it_flips_a_boolean() -> None:
    base = {"spec": {"archiveLogs": False, "readOnly": True, "items": [False, "x"]}}
    flipped = {"spec": {"archiveLogs": True, "readOnly": True, "items": [False, "x"]}}
    assert _mark_flag(base, flipped, "TOKEN", "W/x") == {
        "spec": {"archiveLogs": "TOKEN", "readOnly": True, "items": [False, "x"]}
    }
    # A second flag leaves the first one's token alone where it is false in its own flipped build.
    assert _mark_flag(
        {"a": "TOKEN", "b": False}, {"a": False, "b": True}, "OTHER", "W/x", earlier=frozenset({"TOKEN"})
    ) == {"a": "TOKEN", "b": "OTHER"}
    with pytest.raises(ChartError, match=r"W/x\.spec: a boolean value changes more than a boolean field"):
        _mark_flag(base, {"spec": {**flipped["spec"], "extra": 1}}, "TOKEN", "W/x")
    with pytest.raises(ChartError, match=r"W/x\.spec\.items\[1\]: .* \('x' -> 'y'\)"):
        _mark_flag(base, {"spec": {**base["spec"], "items": [False, "y"]}}, "TOKEN", "W/x")


def _pipeline(name: str, repository: str) -> dict[str, Any]:
    arn = "arn:aws:iam::111122223333:role/" + name
    return {
        "name": name,
        "repository": repository,
        "artifactBucket": f"{name}-artifacts",
        "roleArns": {
            "build": f"{arn}-b",
            "deploy": f"{arn}-d",
            "monitor": f"{arn}-m",
            "selfUpdate": f"{arn}-s",
        },
    }


PIPELINES = [_pipeline("shop", "shop-app"), _pipeline("billing", "billing")]


def test_each_pipeline_gets_its_accounts_and_push_sensor(chart: helm.Chart) -> None:
    values = {"pipelines": PIPELINES}
    rendered = by_identity(render(chart, values, release="team"))
    assert rendered == by_identity(build_bundle(load_settings(values, release="team")))
    account = rendered[("ServiceAccount", "argo", "team-shop-deploy")]
    assert account["metadata"]["annotations"] == {IRSA_ANNOTATION: "arn:aws:iam::111122223333:role/shop-d"}
    role = rendered[("Role", "argo", "team-billing-self-update")]
    assert role["rules"][-1]["resourceNames"] == ["team-billing"]  # the pipeline's template in this release
    sensor = rendered[("Sensor", "argo-events", "team-argo-push-billing")]
    trigger = sensor["spec"]["triggers"][0]["template"]["k8s"]["source"]["resource"]
    assert trigger["spec"]["workflowTemplateRef"] == {"name": "team-billing"}
    filters = {f["path"]: f["value"] for f in sensor["spec"]["dependencies"][0]["filters"]["data"]}
    assert filters["body.repository.full_name"] == ["(?i)^example-org/billing$"]
    notes = chart.render(values, name="team", namespace="argo")["aphex/templates/NOTES.txt"]
    assert "WorkflowTemplate team-billing:\n    pushes of example-org/billing to branch main" in notes
    assert "aphex compile --release team --namespace argo \\\n    --values <values.yaml>" in notes
    without = render(chart, {**values, "components": {"pipeline": False}}, release="team")
    assert not [o for o in without if "shop" in o["metadata"]["name"] or "billing" in o["metadata"]["name"]]


def test_toggles_remove_their_components(chart: helm.Chart) -> None:
    without_docs = render(chart, {"components": {"docsStage": False}}, release="aphex")
    names = {o["metadata"]["name"] for o in without_docs}
    assert "docsrun-template" not in names
    dag = next(o for o in without_docs if o["metadata"]["name"] == "implementation-dag")
    main = next(t for t in dag["spec"]["templates"] if t["name"] == "main")
    assert "docs" not in [task["name"] for task in main["dag"]["tasks"]]
    always = {("WorkflowTemplate", "cluster-verify"), ("ClusterRole", "aphex-argo-verifier")}
    always |= {("ClusterRoleBinding", "aphex-argo-verifier")}
    always |= {(kind, "aphex-verifier") for kind in ("ServiceAccount", "Role", "RoleBinding")}
    one_pipeline = [_pipeline("shop", "shop-app")]
    events_only = render(
        chart,
        {"components": {"implementationDag": False, "pipeline": False}, "pipelines": one_pipeline},
        release="aphex",
    )
    # The verifier reads the webhook Secret and the EventBus in the events namespace (a Role there).
    assert sorted(set((o["kind"], o["metadata"]["name"]) for o in events_only) - always) == [
        ("EventSource", "aphex-argo-github"),
        ("Role", "aphex-argo-verifier"),
        ("Role", "aphex-sensor"),
        ("RoleBinding", "aphex-argo-verifier"),
        ("RoleBinding", "aphex-sensor"),
        ("ServiceAccount", "aphex-argo-sensor"),
    ]
    nothing = {"implementationDag": False, "events": False}
    pipeline_only = render(chart, {"components": nothing, "pipelines": one_pipeline}, release="aphex")
    assert sorted(set((o["kind"], o["metadata"]["name"]) for o in pipeline_only) - always) == [
        (kind, f"aphex-shop-{stage}")
        for kind in ("Role", "RoleBinding", "ServiceAccount")
        for stage in ("build", "deploy", "monitor", "self-update")
    ]
    nothing["pipeline"] = False
    assert {
        (o["kind"], o["metadata"]["name"]) for o in render(chart, {"components": nothing}, release="aphex")
    } == always


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"namespace": "Bad_NS"}, "/namespace"),
        ({"agentDeadlineSeconds": 5}, "/agentDeadlineSeconds"),
        ({"nope": 1}, "'nope'"),
        ({"deployerImage": {"tag": "bad tag!"}}, "/deployerImage/tag"),
        ({"agents": {"qa": "no spaces"}}, "/agents/qa"),
        ({"components": {"docsStage": "yes"}}, "/components/docsStage"),
        ({"archiveLogs": "true"}, "/archiveLogs"),
        (
            {"pipelines": [{**_pipeline("shop", "shop"), "artifactBucket": "Bad_Bucket"}]},
            "/pipelines/0/artifactBucket",
        ),
        (
            {"pipelines": [{**_pipeline("shop", "shop"), "roleArns": {"build": "arn:aws:iam::1:role/x"}}]},
            "/pipelines/0/roleArns",
        ),
        ({"pipelines": [{"name": "shop"}]}, "/pipelines/0"),
    ],
)
def test_invalid_values_are_rejected_naming_the_value(
    chart: helm.Chart, values: dict[str, Any], named: str
) -> None:
    with pytest.raises(helm.HelmValuesError) as raised:
        chart.validate_schema(values)
    assert named in str(raised.value)


def test_argo_events_names_too_long_for_a_label_are_refused(chart: helm.Chart) -> None:
    values = {"pipelines": [_pipeline("s" * 19, "shop")]}
    with pytest.raises(helm.HelmError, match=r'-push-s{19}" is longer than 57 characters'):
        chart.render(values, name="r" * 30, namespace="argo")
    assert render(chart, values, release="r" * 13, namespace="argo")  # 13 + 5 + 6 + 19 + 3 = 57


def test_a_bad_release_name_fails_with_a_clear_message(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmError, match="at most 30 characters"):
        chart.render({}, name="a" * 31, namespace="argo")


# Valid values, drawn from the same schema the chart ships.
def _strategy(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    kind = schema.get("type")
    if kind == "object" and "properties" not in schema:  # a map such as nodeSelector
        names = schema["propertyNames"]
        keys = st.from_regex(re.compile(names["pattern"]), fullmatch=True).filter(
            lambda key: len(key) <= names["maxLength"]
        )
        return st.dictionaries(keys, _strategy(schema["additionalProperties"]), max_size=3)
    if kind == "object":
        required = set(schema.get("required", []))
        fields = {key: _strategy(child) for key, child in schema["properties"].items()}
        drawn = st.fixed_dictionaries(
            {key: value for key, value in fields.items() if key in required},
            optional={key: value for key, value in fields.items() if key not in required},
        )
        # Rules across fields (a toleration's): keep the valid combinations.
        return drawn.filter(Draft7Validator(schema).is_valid) if "allOf" in schema else drawn
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema["minimum"], schema["maximum"])
    if kind == "array":
        items = schema["items"]
        named = "name" in items.get("properties", {})
        unique_by = (lambda entry: entry["name"]) if named else None
        return st.lists(
            _strategy(items),
            min_size=schema["minItems"],
            max_size=3,
            unique=unique_by is None and items.get("type") != "object",
            unique_by=unique_by,
        )
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    strings = st.from_regex(re.compile(schema["pattern"]), fullmatch=True)
    shortest, longest = schema.get("minLength", 0), schema.get("maxLength")
    refused = set(schema.get("not", {}).get("enum", ()))
    return strings.filter(
        lambda text: (
            shortest <= len(text) and (longest is None or len(text) <= longest) and text not in refused
        )
    )


_RELEASE = st.from_regex(r"[a-z][a-z0-9-]{0,28}[a-z0-9]", fullmatch=True)
_RELEASE_NAMESPACE = st.sampled_from(["argo", "team-a", "ci"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=_strategy(VALUES_SCHEMA), release=_RELEASE, release_namespace=_RELEASE_NAMESPACE)
@example(
    values={"archiveLogs": True, "components": {"docsStage": False}}, release="team", release_namespace="argo"
)
def test_any_valid_values_render_what_the_compiler_builds(
    chart: helm.Chart, values: dict[str, Any], release: str, release_namespace: str
) -> None:
    """``helm template R -n N -f V`` == ``aphex compile --release R --namespace N --values V``."""
    try:
        compiled = build_bundle(load_settings(values, release=release, release_namespace=release_namespace))
    except SettingsError as error:
        # A name too long for Argo Events, a workflow deadline shorter than the stages' deadlines
        # (aphex/dsl/deadlines.py), or a request above its limit (aphex/dsl/quantities.py): the chart refuses
        # these values too, with the same message.
        message = str(error)
        assert (
            "longer than 57 characters" in message
            or message.startswith("workflowDeadlineSeconds:")
            or re.search(r"\.requests\.[a-zA-Z]+: must be at most ", message)
        )
        with pytest.raises(helm.HelmError, match=re.escape(message.splitlines()[0][:60])):
            render(chart, values, release=release, namespace=release_namespace)
        return
    rendered = render(chart, values, release=release, namespace=release_namespace)
    assert by_identity(rendered) == by_identity(compiled)
    documents = [SourceDocument(file=str(object_path(o)), index=0, data=o) for o in rendered]
    assert [str(problem) for problem in lint_documents(documents)] == []
    for obj in rendered:
        if not obj["apiVersion"].startswith("argoproj.io/"):
            kubernetes_validate.validate(obj, "1.31", strict=True)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=_RELEASE, second=_RELEASE, same_namespace=st.booleans())
def test_two_releases_collide_nowhere_and_uninstalling_one_keeps_the_other(
    chart: helm.Chart, first: str, second: str, same_namespace: bool
) -> None:
    """Seed properties 26 (isolation) and 27 (destroying a pipeline removes only its own objects)."""
    if first == second and same_namespace:
        return
    one = by_identity(render(chart, {"pipelines": PIPELINES}, release=first))
    two_values: dict[str, Any] = {"pipelines": PIPELINES}
    if not same_namespace:
        two_values["namespace"] = "team-b"
    two = by_identity(
        render(chart, two_values, release=second, namespace="argo" if same_namespace else "team-b")
    )
    assert not set(one) & set(two)
    # helm uninstall deletes exactly the objects of the release's manifest: what remains is all of two.
    remaining = {**one, **two}
    for identity in one:
        del remaining[identity]
    assert remaining == two
    for obj in two.values():
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == second


def test_a_workflow_deadline_shorter_than_the_stages_is_refused_by_compile_and_chart(
    chart: helm.Chart,
) -> None:
    values = {"agentDeadlineSeconds": 7200, "workflowDeadlineSeconds": 21600}
    with pytest.raises(SettingsError) as refused:
        build_bundle(load_settings(values))
    assert str(refused.value).startswith("workflowDeadlineSeconds: 21600 is shorter than")
    with pytest.raises(helm.HelmError, match=re.escape(str(refused.value))):
        render(chart, values, release="aphex")
    render(
        chart, {**values, "workflowDeadlineSeconds": 34500}, release="aphex"
    )  # exactly the stages' budget is enough


EXAMPLE_CONFIG = CHART.parents[1] / "examples" / "aphex-config.yaml"
EXAMPLE_VALUES = CHART.parents[1] / "examples" / "cluster-values.yaml"


def _installed(chart: helm.Chart, release: str, namespace: str) -> list[dict[str, Any]]:
    """What one release puts on the cluster: the chart rendered by Helm, plus the example pipeline's
    WorkflowTemplate as NOTES.txt has it installed (``aphex compile --release R --namespace N --values V
    --config C --pipeline-only``)."""
    values = yaml.safe_load(EXAMPLE_VALUES.read_text(encoding="utf-8"))
    settings = load_settings(values, release=release, release_namespace=namespace)
    return [
        *render(chart, values, release=release, namespace=namespace),
        pipeline_template(load_config(EXAMPLE_CONFIG), settings),
    ]


def _locks(objects: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(namespace, kind, name) of every mutex and semaphore the objects' runs take, as Argo keys them:
    argo-workflows workflow/sync/lock_name.go, getMutexLockName and getSemaphoreLockName (the lock's own
    namespace, else the Workflow's; a semaphore is its ConfigMap and key)."""
    found: set[tuple[str, str, str]] = set()

    def walk(node: Any, namespace: str) -> None:
        if isinstance(node, dict):
            synchronization = node.get("synchronization")
            if isinstance(synchronization, dict):
                for mutex in synchronization.get("mutexes", []):
                    found.add((mutex.get("namespace") or namespace, "Mutex", mutex["name"]))
                for semaphore in synchronization.get("semaphores", []):
                    ref = semaphore["configMapKeyRef"]
                    found.add(
                        (semaphore.get("namespace") or namespace, "ConfigMap", f"{ref['name']}/{ref['key']}")
                    )
            for value in node.values():
                walk(value, namespace)
        elif isinstance(node, list):
            for item in node:
                walk(item, namespace)

    for obj in objects:
        walk(obj.get("spec"), obj["metadata"].get("namespace", ""))
    return found


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.sampled_from(["aphex", "team-a"]) | _RELEASE, second=_RELEASE)
def test_two_releases_with_the_same_pipeline_in_one_namespace_share_no_name_and_no_lock(
    chart: helm.Chart, first: str, second: str
) -> None:
    if first == second:
        return
    one, two = _installed(chart, first, "ci"), _installed(chart, second, "ci")
    assert {o["metadata"]["name"] for o in one if o["kind"] == "WorkflowTemplate"} >= {
        f"{first}-shop-delivery" if first != "aphex" else "shop-delivery"
    }
    assert not set(by_identity(one)) & set(by_identity(two))
    locks_one, locks_two = _locks(one), _locks(two)
    # The pipeline's mutex and the pull request's (implementation DAG, preview-cleanup) in each release.
    assert {name.split("-{{")[0] for _, _, name in locks_one} == {
        f"aphex-pipeline-{'' if first == 'aphex' else first + '-'}shop-delivery",
        "implementation-dag" if first == "aphex" else f"{first}-implementation-dag",
    }
    assert not locks_one & locks_two


def test_the_release_namespace_is_the_default_and_the_namespace_value_overrides_it(chart: helm.Chart) -> None:
    objects = render(chart, {}, release="aphex", namespace="team-a")
    namespaces = {o["metadata"].get("namespace") for o in objects}
    assert namespaces == {None, "team-a", "argo-events"}  # cluster-scoped, workflows, Argo Events
    assert by_identity(objects) == by_identity(build_bundle(load_settings(release_namespace="team-a")))
    overridden = render(chart, {"namespace": "ci"}, release="aphex", namespace="team-a")
    assert {o["metadata"].get("namespace") for o in overridden} == {None, "ci", "argo-events"}
    notes = chart.render({}, name="aphex", namespace="team-a")["aphex/templates/NOTES.txt"]
    assert "argo submit -n team-a --from workflowtemplate/implementation-dag" in notes


def test_instance_is_no_value_in_the_chart_nor_in_aphex_compile(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmValuesError, match="instance"):
        chart.validate_schema({"instance": "team"})
    with pytest.raises(SettingsError, match=r"instance: not a value; the instance is the release name"):
        load_settings({"instance": "team"})


def test_a_pipeline_named_like_a_bundle_template_is_refused_by_compile_and_chart(chart: helm.Chart) -> None:
    values = {"pipelines": [_pipeline("preview-janitor", "shop")]}
    with pytest.raises(helm.HelmValuesError, match="/pipelines/0/name"):
        chart.validate_schema(values)
    with pytest.raises(
        SettingsError, match=r"^pipelines\[0\]\.name: must not name one of the bundle's WorkflowTemplates \("
    ):
        load_settings(values)


def test_the_reserved_names_are_the_bundles_templates() -> None:
    templates = {
        o["metadata"]["name"] for o in build_bundle(load_settings({})) if o["kind"] == "WorkflowTemplate"
    }
    assert templates == BUNDLE_TEMPLATE_NAMES


def test_kube_version_admits_the_apis_the_bundle_uses() -> None:
    """ValidatingAdmissionPolicy is served as admissionregistration.k8s.io/v1 from Kubernetes 1.30; every
    other API the bundle uses is older, so 1.30 is the honest minimum."""
    chart_yaml = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart_yaml["kubeVersion"] == ">=1.30.0-0"
    api_versions = {o["apiVersion"] for o in build_bundle(load_settings({}))}
    assert api_versions == {
        "v1",
        "rbac.authorization.k8s.io/v1",
        "admissionregistration.k8s.io/v1",
        "argoproj.io/v1alpha1",
    }
    for obj in build_bundle(load_settings({})):
        if not obj["apiVersion"].startswith("argoproj.io/"):
            kubernetes_validate.validate(obj, "1.30", strict=True)
    assert {"home", "sources", "maintainers", "annotations"} <= set(chart_yaml)


def test_pod_and_preview_values_render_byte_for_byte_what_aphex_compile_writes(
    chart: helm.Chart, tmp_path: Path
) -> None:
    """``helm template aphex -f V`` and ``aphex compile --values V`` with every ``workflowPods``,
    ``previewQuota`` and ``previewLifetimeHours`` value away from its default: each object Helm renders,
    written the way ``aphex compile`` writes objects, is the file ``aphex compile`` wrote, byte for byte
    (tests/dsl/test_workflow_pod_values.py pins what those objects hold)."""
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(POD_VALUES), encoding="utf-8")
    out = tmp_path / "out"
    assert aphex(["compile", "--values", str(values_file), "--out", str(out)]) == 0
    written = {
        path.relative_to(out): path.read_bytes()
        for path in out.rglob("*.yaml")
        if path.is_file() and path.name != OUTPUT_MARKER
    }
    rendered = {
        object_path(obj): dump_yaml(obj).encode() for obj in render(chart, POD_VALUES, release="aphex")
    }
    assert sorted(rendered) == sorted(written)
    for path, text in written.items():
        assert rendered[path] == text, path
    dag = yaml.safe_load(written[Path("workflowtemplate/implementation-dag.yaml")])
    assert dag["spec"]["nodeSelector"] == POD_VALUES["workflowPods"]["nodeSelector"]


def test_empty_placement_values_leave_the_fields_out_in_the_chart_too(chart: helm.Chart) -> None:
    """An empty nodeSelector, tolerations or imagePullSecrets writes no key (``with`` skips an empty value),
    as the compiler leaves it out."""
    values = {"workflowPods": {"nodeSelector": {}, "tolerations": [], "imagePullSecrets": []}}
    rendered = by_identity(render(chart, values, release="aphex"))
    assert rendered == by_identity(build_bundle(load_settings(values)))
    for obj in rendered.values():
        if obj["kind"] == "WorkflowTemplate":
            assert not {"nodeSelector", "tolerations", "imagePullSecrets"} & set(obj["spec"])


@pytest.mark.parametrize(
    "values",
    [
        {"workflowPods": {"resources": {"light": {"requests": {"cpu": "0.6"}}}}},
        {"workflowPods": {"resources": {"standard": {"limits": {"memory": "255Mi"}}}}},
        {"workflowPods": {"resources": {"heavy": {"requests": {"ephemeralStorage": "11264Mi"}}}}},
        {"previewQuota": {"requests": {"cpu": "4001m"}, "limits": {"cpu": "4"}}},
        # One request above a limit given with it, one above a default limit (found by hypothesis): the
        # compiler compares requests with the limits in effect, as Helm does on the merged values.
        {"previewQuota": {"requests": {"memory": "35Ki", "cpu": "7"}, "limits": {"memory": "0Gi"}}},
        # Several at once: both name the first in the compiler's order (templates/checks/values.yaml).
        {
            "workflowPods": {
                "resources": {
                    "standard": {"requests": {"memory": "2Gi"}},
                    "light": {"requests": {"cpu": "1"}},
                }
            },
            "workflowDeadlineSeconds": 60,
        },
    ],
)
def test_a_request_above_its_limit_is_refused_by_compile_and_chart_alike(
    chart: helm.Chart, values: dict[str, Any]
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(values)
    first = str(refused.value).splitlines()[0]
    assert re.fullmatch(
        r"[a-zA-Z.]+\.requests\.[a-zA-Z]+: must be at most [a-zA-Z.]+\.limits\.[a-zA-Z]+ \(\S+\)", first
    )
    with pytest.raises(helm.HelmError, match=re.escape(first)):
        render(chart, values, release="aphex")


@pytest.mark.parametrize(
    ("values", "path"),
    [
        (
            {"workflowPods": {"resources": {"light": {"limits": {"cpu": "1.2345"}}}}},
            "workflowPods.resources.light.limits.cpu",
        ),
        ({"previewQuota": {"limits": {"memory": "8G"}}}, "previewQuota.limits.memory"),
        ({"previewQuota": {"pods": 0}}, "previewQuota.pods"),
        ({"previewLifetimeHours": 721}, "previewLifetimeHours"),
        ({"previewLifetimeHours": "72"}, "previewLifetimeHours"),
        ({"workflowPods": {"nodeSelector": {"pool": "not valid!"}}}, "workflowPods.nodeSelector.pool"),
        (
            {"workflowPods": {"tolerations": [{"operator": "Exists", "value": "x"}]}},
            "workflowPods.tolerations.0",
        ),
        (
            {"workflowPods": {"imagePullSecrets": [{"name": "Bad_Name"}]}},
            "workflowPods.imagePullSecrets.0.name",
        ),
        ({"workflowPods": {"imagePullSecret": []}}, "workflowPods"),
    ],
)
def test_invalid_pod_and_preview_values_are_refused_by_compile_and_chart_naming_the_field(
    chart: helm.Chart, values: dict[str, Any], path: str
) -> None:
    """Helm validates values against values.schema.json (a JSON pointer names the field); the compiler's
    message starts with the same field as a dotted path."""
    with pytest.raises(SettingsError) as refused:
        load_settings(values)
    dotted = re.sub(r"\.([0-9]+)", r"[\1]", path)
    assert str(refused.value).startswith(dotted), str(refused.value)
    with pytest.raises(helm.HelmValuesError) as raised:
        chart.validate_schema(values)
    assert "/" + path.replace(".", "/") in str(raised.value)
    with pytest.raises(helm.HelmError):
        render(chart, values, release="aphex")
