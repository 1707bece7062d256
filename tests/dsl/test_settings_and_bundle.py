"""Settings loading (aphex.dsl.settings) and the all-or-nothing bundle writer (aphex.dsl.bundle_writer)."""

from pathlib import Path
from typing import Any

import pytest

from aphex.cli import main as cli_main
from aphex.dsl.bundle_writer import OUTPUT_MARKER, BundleError, OutputDirectoryError, dump_yaml, write_bundle
from aphex.dsl.images import REPOSITORY_PATTERN, TAG_PATTERN
from aphex.dsl.names import APP_PATTERN, DNS_NAME_PATTERN, IAM_ROLE_ARN_PATTERN
from aphex.dsl.params import ParameterDefinitionError, workflow_parameter
from aphex.dsl.settings import SettingsError, load_settings
from aphex.dsl.values_schema import VALUES_SCHEMA


def test_defaults_load() -> None:
    settings = load_settings({})
    assert settings.agent_api_version_full == "agents.platform/v1"
    assert str(settings.deployer_image) == "ghcr.io/aphex-dev/deployer:0.1.0"
    assert str(settings.builder_image) == "ghcr.io/aphex-dev/builder:0.1.0"
    assert settings.pipelines == ()


def _pipeline(name: str) -> dict[str, object]:
    arn = "arn:aws-cn:iam::123456789012:role/"
    roles = {"build": arn + "b", "deploy": arn + "d", "monitor": arn + "m", "selfUpdate": arn + "s"}
    return {"name": name, "repository": "shop", "artifactBucket": "shop.artifacts", "roleArns": roles}


def test_pipelines_are_sections_that_round_trip() -> None:
    values = {"pipelines": [_pipeline("shop"), _pipeline("billing")]}
    settings = load_settings(values)
    assert [p.name for p in settings.pipelines] == ["shop", "billing"]
    assert settings.pipeline("billing") is settings.pipelines[1]
    assert settings.pipeline("other") is None
    assert settings.pipelines[0].role_arns.self_update == "arn:aws-cn:iam::123456789012:role/s"
    # An entry without a cluster reads back with the empty default (the account's only cluster).
    assert settings.to_values()["pipelines"] == [{**entry, "cluster": ""} for entry in values["pipelines"]]
    assert load_settings(settings.to_values()) == settings


def test_values_override_nested_settings() -> None:
    settings = load_settings(
        {
            "agentApiGroup": "agents.example.org",
            "agents": {"qa": "Acme-Tess"},
            "deployerImage": {
                "registry": "r.example",
                "repository": "d",
                "tag": "1",
                "digest": "sha256:" + "a" * 64,
            },
        }
    )
    assert settings.agent_api_version_full == "agents.example.org/v1"
    assert settings.agents.qa == "Acme-Tess"
    assert settings.agents.implementation == "5DLabs-Rex"
    assert str(settings.deployer_image) == "r.example/d@sha256:" + "a" * 64


_LABEL = r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$"
_ROLE_ARN = IAM_ROLE_ARN_PATTERN


@pytest.mark.parametrize(
    ("values", "problems"),
    [
        ({"namespace": "Argo"}, [f"namespace: must match ^$|{_LABEL}"]),
        ({"agentDeadlineSeconds": "10"}, ["agentDeadlineSeconds: must be an integer"]),
        ({"agentDeadlineSeconds": 59}, ["agentDeadlineSeconds: must be at least 60"]),
        ({"agents": {"qa": "bad name"}}, [f"agents.qa: must match {APP_PATTERN}"]),
        (
            {"deployerImage": {"registry": "r", "repository": "UPPER", "tag": "1"}},
            [f"deployerImage.repository: must match {REPOSITORY_PATTERN}"],
        ),
        ({"previewDomain": "-x.com"}, [f"previewDomain: must match {DNS_NAME_PATTERN}"]),
        (
            {"previewPodSecurity": "privileged"},
            ['previewPodSecurity: must be one of "restricted", "baseline"'],
        ),
        (
            {"nope": 1},
            ["nope: unknown field (allowed: " + ", ".join(sorted(VALUES_SCHEMA["properties"])) + ")"],
        ),
        ({"namespce": "argo"}, ["namespce: unknown field (did you mean namespace?)"]),
        ({"events": {"webhookprot": 1}}, ["events.webhookprot: unknown field (did you mean webhookPort?)"]),
        (
            {"pipelines": [_pipeline("shop"), _pipeline("shop")]},
            ["pipelines[1].name: 'shop' is listed twice"],
        ),
        (
            {"pipelines": [{**_pipeline("shop"), "name": "x" * 20}]},
            ["pipelines[0].name: must be at most 19 characters long"],
        ),
        (
            {"pipelines": [{**_pipeline("shop"), "repository": "a\tb"}]},
            [
                "pipelines[0].repository: must match ^[A-Za-z0-9_-][A-Za-z0-9._-]*$",
                "pipelines[0].repository: must not contain control characters",
            ],
        ),
        (
            {"pipelines": [{**_pipeline("shop"), "roleArns": {"build": "x"}}]},
            [
                f"pipelines[0].roleArns.build: must match {_ROLE_ARN}",
                "pipelines[0].roleArns.deploy: is required",
                "pipelines[0].roleArns.monitor: is required",
                "pipelines[0].roleArns.selfUpdate: is required",
            ],
        ),
        (
            {"pipelines": [{"name": "shop"}]},
            [
                "pipelines[0].artifactBucket: is required",
                "pipelines[0].repository: is required",
                "pipelines[0].roleArns: is required",
            ],
        ),
        ({"builderImage": {"tag": "a b"}}, [f"builderImage.tag: must match {TAG_PATTERN}"]),
        ({"events": {"repositories": []}}, ["events.repositories: must not be empty"]),
        (
            {"events": {"repositories": ["a", "a"]}},
            ["events.repositories: must not list the same item twice"],
        ),
    ],
)
def test_bad_values_are_named_one_per_line_with_the_rule_and_its_limit(
    values: Any, problems: list[str]
) -> None:
    """Each problem is its own line: the key's path, the rule and its limit (never the key's description),
    in document order (list indices numerically, keys alphabetically)."""
    with pytest.raises(SettingsError) as refused:
        load_settings(values)
    assert list(refused.value.problems) == problems
    assert str(refused.value) == "\n".join(problems)


def test_several_values_problems_come_one_per_line_in_document_order() -> None:
    values = {
        "previewPodSecurity": "privileged",
        "agentModel": "",
        "namespce": "argo",
        "events": {"webhookPort": 80, "mainbranch": "main"},
        "pipelines": [_pipeline("shop"), {**_pipeline("b"), "name": "y" * 20}],
    }
    expected = [
        f"agentModel: must match {VALUES_SCHEMA['properties']['agentModel']['pattern']}",
        "events.mainbranch: unknown field (did you mean mainBranch?)",
        "events.webhookPort: must be at least 1024",
        "namespce: unknown field (did you mean namespace?)",
        "pipelines[1].name: must be at most 19 characters long",
        'previewPodSecurity: must be one of "restricted", "baseline"',
    ]
    for _ in range(3):  # the order never depends on jsonschema's iteration or a set's
        with pytest.raises(SettingsError) as refused:
            load_settings(values)
        assert str(refused.value).splitlines() == expected


def test_parameters_need_a_description_and_a_default_inside_the_enum() -> None:
    with pytest.raises(ParameterDefinitionError, match="description"):
        workflow_parameter("x", description=" ")
    with pytest.raises(ParameterDefinitionError, match="not in enum"):
        workflow_parameter("x", description="d", default="maybe", enum=["true", "false"])


def test_writer_refuses_duplicates_and_leaves_existing_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    write_bundle([{"kind": "ConfigMap", "metadata": {"name": "a"}}], out)
    before = (out / "configmap" / "a.yaml").read_bytes()
    with pytest.raises(BundleError, match="two objects"):
        write_bundle([{"kind": "ConfigMap", "metadata": {"name": "b"}}] * 2, out)
    assert (out / "configmap" / "a.yaml").read_bytes() == before
    assert not (out / "configmap" / "b.yaml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist"]


def test_dump_keeps_key_order_and_quotes_placeholders() -> None:
    text = dump_yaml({"kind": "X", "apiVersion": "v1", "value": "{{workflow.name}}"})
    assert text == "kind: X\napiVersion: v1\nvalue: '{{workflow.name}}'\n"


def test_an_output_directory_with_files_aphex_did_not_write_is_refused_untouched(tmp_path: Path) -> None:
    out = tmp_path / "project"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code = cli_main(["compile", "--out", str(out)])
    assert code == 2
    assert [path.name for path in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"


def test_an_empty_or_aphex_written_directory_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    out.mkdir()
    write_bundle([{"kind": "ConfigMap", "metadata": {"name": "a"}}], out)
    assert (out / OUTPUT_MARKER).is_file()
    write_bundle([{"kind": "ConfigMap", "metadata": {"name": "b"}}], out)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        OUTPUT_MARKER,
        "configmap/b.yaml",
    ]
    with pytest.raises(OutputDirectoryError):
        write_bundle([], tmp_path)  # holds "dist": not aphex's
