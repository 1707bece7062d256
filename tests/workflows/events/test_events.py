"""The Argo Events objects (aphex/workflows/events.py), replayed offline on recorded GitHub deliveries."""

import copy
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aphex.dsl.go_regexp import quote_meta
from aphex.dsl.settings import BundleSettings, SettingsError, load_settings
from aphex.workflows.events import (
    EVENT_HEADER_PATH,
    events_objects,
    sensor_rbac_objects,
)
from tests.rbac_eval import Request, allowed
from tests.workflows.events.sensor_eval import (
    EventData,
    Unsupported,
    canonical_header,
    evaluate_dependency,
    event_data,
    fire,
    gjson_get,
    gjson_string,
)

PAYLOADS = Path(__file__).parent / "payloads"
KUBERNETES_VERSION = "1.31.0"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


PIPELINE = "aphex-pipeline"
ROLE = "arn:aws:iam::111122223333:role/"
PIPELINE_ENTRY = {
    "name": PIPELINE,
    "repository": "example-app",
    "artifactBucket": "aphex-pipeline-artifacts",
    "roleArns": {"build": ROLE + "b", "deploy": ROLE + "d", "monitor": ROLE + "m", "selfUpdate": ROLE + "s"},
}


def _config(
    *, instance: str = "aphex", namespace: str = "argo", namespace_override: str = "", **events: Any
) -> BundleSettings:
    """Bundle settings with these events settings (snake_case keys, as the dataclass names them);
    ``namespace_override`` is the events namespace."""
    values = {
        _camel(key): list(value) if isinstance(value, tuple) else value for key, value in events.items()
    }
    if namespace_override:
        values["namespace"] = namespace_override
    return load_settings(
        {"namespace": namespace, "events": values, "pipelines": [PIPELINE_ENTRY]}, release=instance
    )


DEFAULTS = _config()
PUSH = f"aphex-argo-push-{PIPELINE}"
OWNER, REPO = "example-org", "example-app"
PR_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
MAIN_SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"

Manifest = dict[str, Any]


def _delivery(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text())
    return loaded


def _event(delivery: dict[str, Any], settings: BundleSettings = DEFAULTS) -> EventData:
    return event_data(
        delivery["headers"],
        delivery["body"],
        event_source=settings.names.cluster("github"),
        event_name="github",
    )


def _sensors(settings: BundleSettings = DEFAULTS) -> dict[str, Manifest]:
    return {obj["metadata"]["name"]: obj for obj in events_objects(settings) if obj["kind"] == "Sensor"}


def _replay(delivery: dict[str, Any], settings: BundleSettings = DEFAULTS) -> dict[str, list[Manifest]]:
    """Every Sensor's created objects for one delivery, by Sensor name (empty lists left out)."""
    event = _event(delivery, settings)
    created = {name: fire(sensor, event) for name, sensor in _sensors(settings).items()}
    return {name: objects for name, objects in created.items() if objects}


def _arguments(workflow: Manifest) -> dict[str, str]:
    parameters = workflow["spec"]["arguments"]["parameters"]
    names = [parameter["name"] for parameter in parameters]
    assert len(names) == len(set(names))
    return {parameter["name"]: parameter["value"] for parameter in parameters}


# --- the objects ------------------------------------------------------------------------------------


def test_objects_come_in_a_stable_order_with_derived_names() -> None:
    objects = events_objects(DEFAULTS)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("EventSource", "aphex-argo-github"),
        ("Sensor", PUSH),
        ("Sensor", "aphex-argo-pull-request"),
        ("Sensor", "aphex-argo-pr-closed"),
        ("Sensor", "aphex-argo-issue-labelled"),
    ]
    assert {o["metadata"]["namespace"] for o in objects} == {"argo-events"}
    renamed = events_objects(_config(instance="ci", namespace="team", namespace_override="events"))
    assert [o["metadata"]["name"] for o in renamed] == [
        "ci-team-github",
        f"ci-team-push-{PIPELINE}",
        "ci-team-pull-request",
        "ci-team-pr-closed",
        "ci-team-issue-labelled",
    ]
    assert {o["metadata"]["namespace"] for o in renamed} == {"events"}


def test_output_is_deterministic() -> None:
    first = [
        yaml.safe_dump(o, sort_keys=False) for o in events_objects(DEFAULTS) + sensor_rbac_objects(DEFAULTS)
    ]
    second = [
        yaml.safe_dump(o, sort_keys=False) for o in events_objects(DEFAULTS) + sensor_rbac_objects(DEFAULTS)
    ]
    assert first == second
    assert all("{{" not in text for text in first)


def test_objects_carry_the_standard_labels() -> None:
    for obj in events_objects(DEFAULTS) + sensor_rbac_objects(DEFAULTS):
        labels = obj["metadata"]["labels"]
        assert obj["metadata"]["name"].endswith(labels["app.kubernetes.io/name"])
        assert labels["app.kubernetes.io/instance"] == "aphex"
        assert labels["app.kubernetes.io/part-of"] == "aphex"
        assert labels["app.kubernetes.io/version"] == DEFAULTS.version


def test_the_event_source_references_the_webhook_secret_and_never_holds_one() -> None:
    source = events_objects(DEFAULTS)[0]
    github = source["spec"]["github"]["github"]
    assert github["webhookSecret"] == {"name": "aphex-github-webhook", "key": "secret"}
    assert github["events"] == ["push", "pull_request", "issues"]
    assert github["repositories"] == [{"owner": OWNER, "names": [REPO]}]
    assert github["webhook"] == {
        "endpoint": "/github",
        "port": "12000",
        "method": "POST",
        "url": "https://aphex-events.example.com",
    }
    assert (github["active"], github["insecure"], github["contentType"]) == (True, False, "json")
    # Hooks are created by hand: without apiToken or githubApp the EventSource never calls GitHub's API.
    assert "apiToken" not in github
    assert "githubApp" not in github
    assert source["spec"]["service"]["ports"] == [{"port": 12000, "targetPort": 12000}]
    assert source["spec"]["eventBusName"] == "default"


def test_every_sensor_creates_a_workflow_from_a_template_and_retries() -> None:
    templates = {PUSH: PIPELINE, "aphex-argo-pull-request": "implementation-dag"}
    templates["aphex-argo-issue-labelled"] = "implementation-dag"
    templates["aphex-argo-pr-closed"] = "preview-cleanup"
    for name, sensor in _sensors().items():
        spec = sensor["spec"]
        assert spec["template"]["serviceAccountName"] == "aphex-argo-sensor"
        container = spec["template"]["container"]["securityContext"]
        assert (container["readOnlyRootFilesystem"], container["allowPrivilegeEscalation"]) == (True, False)
        assert spec["template"]["securityContext"]["runAsNonRoot"] is True
        (dependency,) = spec["dependencies"]
        assert (dependency["eventSourceName"], dependency["eventName"]) == ("aphex-argo-github", "github")
        header_filter = dependency["filters"]["data"][0]
        assert header_filter["path"] == EVENT_HEADER_PATH == "headers.X-Github-Event.0"
        (trigger,) = spec["triggers"]
        assert trigger["retryStrategy"] == {"steps": 3, "duration": "10s", "factor": 2}
        k8s = trigger["template"]["k8s"]
        # create needs only the Role's one verb (argoWorkflow submit would also get templates and list).
        assert k8s["operation"] == "create"
        workflow = k8s["source"]["resource"]
        assert workflow["kind"] == "Workflow"
        assert workflow["metadata"]["generateName"] == f"{name}-"
        assert workflow["metadata"]["namespace"] == "argo"
        assert workflow["spec"]["workflowTemplateRef"] == {"name": templates[name]}
        parameters = workflow["spec"]["arguments"]["parameters"]
        assert [p["dest"] for p in k8s["parameters"]] == [
            f"spec.arguments.parameters.{i}.value" for i in range(len(parameters))
        ]
        assert all(p["src"]["dependencyName"] == dependency["name"] for p in k8s["parameters"])


def test_every_string_filter_value_is_anchored() -> None:
    # Argo Events matches string values as unanchored Go regular expressions.
    for sensor in _sensors().values():
        for data_filter in sensor["spec"]["dependencies"][0]["filters"]["data"]:
            if data_filter["type"] == "string":
                for value in data_filter["value"]:
                    assert value.removeprefix("(?i)").startswith("^"), value
                    assert value.endswith("$"), value


# --- replaying deliveries ---------------------------------------------------------------------------


def test_a_push_to_main_runs_the_pipeline_with_exact_parameters() -> None:
    fired = _replay(_delivery("push_main"))
    assert list(fired) == [PUSH]
    (workflow,) = fired[PUSH]
    assert _arguments(workflow) == {
        "commit-sha": MAIN_SHA,
        "branch": "refs/heads/main",
        "repo-url": f"https://github.com/{OWNER}/{REPO}.git",
        "repo-name": f"{OWNER}/{REPO}",
        "pusher": "monalisa",
    }
    assert workflow["metadata"]["namespace"] == "argo"
    assert workflow["spec"]["workflowTemplateRef"] == {"name": "aphex-pipeline"}


@pytest.mark.parametrize("name", ["push_other_branch", "push_branch_deleted", "push_tag", "ping"])
def test_other_pushes_start_nothing(name: str) -> None:
    assert _replay(_delivery(name)) == {}


def test_a_branch_deletion_fails_on_the_deleted_flag_alone() -> None:
    delivery = _delivery("push_branch_deleted")
    assert delivery["body"]["ref"] == "refs/heads/main"
    assert delivery["body"]["after"] == "0" * 40
    delivery["body"]["deleted"] = False
    assert list(_replay(delivery)) == [PUSH]


@pytest.mark.parametrize("action", ["opened", "synchronize", "reopened"])
def test_a_pull_request_from_the_same_repository_runs_the_implementation(action: str) -> None:
    fired = _replay(_delivery(f"pull_request_{action}"))
    assert list(fired) == ["aphex-argo-pull-request"]
    (workflow,) = fired["aphex-argo-pull-request"]
    assert _arguments(workflow) == {"owner": OWNER, "repo": REPO, "pr": "42", "commit": PR_SHA}
    assert workflow["spec"]["workflowTemplateRef"] == {"name": "implementation-dag"}


@pytest.mark.parametrize(
    "login", ["5dlabs-rex[bot]", "5dlabs-cleo[bot]", "5DLabs-Tess[bot]", "5dlabs-morgan[bot]"]
)
def test_a_push_by_an_agent_does_not_start_another_run(login: str) -> None:
    # An agent's push to the branch sends synchronize with the App's bot as sender; the run that started
    # the agent resolves the new head itself (resolve-head), so another run would only queue behind it.
    delivery = _delivery("pull_request_synchronize")
    delivery["body"]["sender"] = {"login": login, "type": "Bot"}
    outcome = evaluate_dependency(
        _sensors()["aphex-argo-pull-request"]["spec"]["dependencies"][0], _event(delivery)
    )
    assert not outcome.passed
    assert _replay(delivery) == {}


@pytest.mark.parametrize("login", ["octocat", "5dlabs-rex", "dependabot[bot]", "x5dlabs-rex[bot]"])
def test_a_push_by_anyone_else_starts_a_run(login: str) -> None:
    delivery = _delivery("pull_request_synchronize")
    delivery["body"]["sender"] = {"login": login, "type": "User"}
    assert list(_replay(delivery)) == ["aphex-argo-pull-request"]


def test_the_ignored_bots_follow_the_configured_apps() -> None:
    settings = load_settings(
        {
            "agents": {"implementation": "Acme-Coder", "lint": "Acme-Lint", "qa": "Acme-QA", "docs": "Docs"},
            "pipelines": [PIPELINE_ENTRY],
        }
    )
    delivery = _delivery("pull_request_synchronize")
    delivery["body"]["sender"] = {"login": "acme-lint[bot]", "type": "Bot"}
    assert _replay(delivery, settings) == {}
    delivery["body"]["sender"] = {"login": "5dlabs-rex[bot]", "type": "Bot"}
    assert list(_replay(delivery, settings)) == ["aphex-argo-pull-request"]


@pytest.mark.parametrize("name", ["pull_request_fork", "pull_request_labeled"])
def test_forks_and_labelled_pull_requests_start_nothing(name: str) -> None:
    assert _replay(_delivery(name)) == {}


@pytest.mark.parametrize("merged", [False, True])
def test_a_closed_or_merged_pull_request_removes_its_preview_and_runs_nothing_else(merged: bool) -> None:
    delivery = _delivery("pull_request_closed")
    delivery["body"]["pull_request"]["merged"] = merged
    fired = _replay(delivery)
    assert list(fired) == ["aphex-argo-pr-closed"]
    (workflow,) = fired["aphex-argo-pr-closed"]
    assert _arguments(workflow) == {"owner": OWNER, "repo": REPO, "pr": "42"}
    assert workflow["spec"]["workflowTemplateRef"] == {"name": "preview-cleanup"}
    assert workflow["metadata"]["generateName"] == "aphex-argo-pr-closed-"


def test_closing_a_pull_request_of_a_fork_or_another_repository_removes_nothing() -> None:
    fork = _delivery("pull_request_fork")
    fork["body"]["action"] = "closed"
    assert _replay(fork) == {}
    sensor = _sensors()["aphex-argo-pr-closed"]
    outcome = evaluate_dependency(sensor["spec"]["dependencies"][0], _event(fork))
    assert not outcome.passed
    other = _delivery("pull_request_closed")
    other["body"]["repository"]["full_name"] = f"{OWNER}/another-app"
    assert _replay(other) == {}


def test_an_agent_closing_a_pull_request_still_removes_its_preview() -> None:
    delivery = _delivery("pull_request_closed")
    delivery["body"]["sender"] = {"login": "5dlabs-rex[bot]", "type": "Bot"}
    assert list(_replay(delivery)) == ["aphex-argo-pr-closed"]


def test_a_pull_request_from_a_deleted_fork_starts_nothing() -> None:
    delivery = _delivery("pull_request_fork")
    delivery["body"]["pull_request"]["head"]["repo"] = None
    event = _event(delivery)
    outcome = evaluate_dependency(_sensors()["aphex-argo-pull-request"]["spec"]["dependencies"][0], event)
    assert not outcome.passed
    assert outcome.reasons == [
        "expr filter error (path 'body.pull_request.head.repo.full_name' does not exist)"
    ]


def test_the_fork_filter_is_what_stops_a_fork() -> None:
    delivery = _delivery("pull_request_fork")
    sensor = _sensors()["aphex-argo-pull-request"]
    without_exprs = copy.deepcopy(sensor)
    del without_exprs["spec"]["dependencies"][0]["filters"]["exprs"]
    assert fire(sensor, _event(delivery)) == []
    assert len(fire(without_exprs, _event(delivery))) == 1


def test_an_issue_labelled_for_aphex_runs_the_implementation_for_it() -> None:
    fired = _replay(_delivery("issues_labeled"))
    assert list(fired) == ["aphex-argo-issue-labelled"]
    (workflow,) = fired["aphex-argo-issue-labelled"]
    assert _arguments(workflow) == {"owner": OWNER, "repo": REPO, "issue": "7"}
    assert workflow["spec"]["workflowTemplateRef"] == {"name": "implementation-dag"}


@pytest.mark.parametrize("name", ["issues_labeled_other", "issues_unlabeled"])
def test_other_labels_and_unlabelling_start_nothing(name: str) -> None:
    assert _replay(_delivery(name)) == {}


def test_a_configured_label_with_regex_characters_matches_only_itself() -> None:
    settings = _config(issue_label="needs.ai (v2)+")
    delivery = _delivery("issues_labeled")
    delivery["body"]["label"]["name"] = "needs.ai (v2)+"
    assert list(_replay(delivery, settings)) == ["aphex-argo-issue-labelled"]
    delivery["body"]["label"]["name"] = "needsXai (v2)+"
    assert _replay(delivery, settings) == {}


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("push_main", "pull_request"),
        ("push_main", "ping"),
        ("pull_request_opened", "issues"),
        ("pull_request_opened", "pull_request_review"),
        ("issues_labeled", "issue_comment"),
        ("issues_labeled", "push"),
    ],
)
def test_a_wrong_event_header_starts_nothing(name: str, header: str) -> None:
    delivery = _delivery(name)
    delivery["headers"]["X-GitHub-Event"] = header
    assert _replay(delivery) == {}


def test_a_missing_event_header_starts_nothing() -> None:
    delivery = _delivery("push_main")
    del delivery["headers"]["X-GitHub-Event"]
    assert _replay(delivery) == {}


def test_a_delivery_for_an_unconfigured_repository_starts_nothing() -> None:
    delivery = _delivery("push_main")
    delivery["body"]["repository"]["full_name"] = "example-org/other-app"
    assert _replay(delivery) == {}
    delivery["body"]["repository"]["full_name"] = "EXAMPLE-ORG/Example-App"
    assert list(_replay(delivery)) == [PUSH]


def test_another_main_branch_is_honoured() -> None:
    settings = _config(main_branch="release/1.x")
    delivery = _delivery("push_main")
    delivery["body"]["ref"] = "refs/heads/release/1.x"
    assert list(_replay(delivery, settings)) == [PUSH]
    delivery["body"]["ref"] = "refs/heads/release/1Yx"
    assert _replay(delivery, settings) == {}


def test_an_event_of_another_event_source_is_ignored() -> None:
    event = _event(_delivery("push_main"))
    other = EventData(event_source="other", event_name="github", data=event.data)
    assert fire(_sensors()[PUSH], other) == []


# --- properties -------------------------------------------------------------------------------------

OWNERS = st.from_regex(r"\A[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?\Z").filter(lambda s: "--" not in s)
REPOS = st.from_regex(r"\A[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}\Z")
SHAS = st.from_regex(r"\A[0-9a-f]{40}\Z")
NUMBERS = st.integers(min_value=1, max_value=2**31 - 1)


def _pull_request(owner: str, repo: str, number: int, sha: str, head_full_name: str) -> dict[str, Any]:
    delivery = _delivery("pull_request_opened")
    body = delivery["body"]
    full_name = f"{owner}/{repo}"
    body["number"] = number
    body["repository"].update(name=repo, full_name=full_name)
    body["repository"]["owner"]["login"] = owner
    body["pull_request"]["base"]["repo"] = body["repository"]
    body["pull_request"]["head"]["repo"] = {**body["repository"], "full_name": head_full_name}
    body["pull_request"]["head"]["sha"] = sha
    return delivery


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(owner=OWNERS, repo=REPOS, number=NUMBERS, sha=SHAS)
def test_any_same_repository_pull_request_maps_to_exactly_its_parameters(
    owner: str, repo: str, number: int, sha: str
) -> None:
    configured = _config(github_owner=owner, repositories=(repo,))
    fired = _replay(_pull_request(owner, repo, number, sha, f"{owner}/{repo}"), configured)
    assert list(fired) == [configured.names.cluster("pull-request")]
    (workflow,) = fired[configured.names.cluster("pull-request")]
    assert _arguments(workflow) == {"owner": owner, "repo": repo, "pr": str(number), "commit": sha}


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(owner=OWNERS, repo=REPOS, number=NUMBERS, sha=SHAS, head_owner=OWNERS, head_repo=REPOS)
def test_no_fork_ever_fires(
    owner: str, repo: str, number: int, sha: str, head_owner: str, head_repo: str
) -> None:
    head = f"{head_owner}/{head_repo}"
    base = f"{owner}/{repo}"
    assume(head != base)
    configured = _config(github_owner=owner, repositories=(repo,))
    assert _replay(_pull_request(owner, repo, number, sha, head), configured) == {}


# --- RBAC -------------------------------------------------------------------------------------------


def _request(
    verb: str, group: str, resource: str, namespace: str, account: str = "aphex-argo-sensor"
) -> Request:
    return Request(
        account=account,
        account_namespace="argo-events",
        verb=verb,
        group=group,
        resource=resource,
        namespace=namespace,
    )


def test_the_sensor_may_create_workflows_in_the_workflows_namespace() -> None:
    rbac = sensor_rbac_objects(DEFAULTS)
    assert [(o["kind"], o["metadata"]["namespace"]) for o in rbac] == [
        ("ServiceAccount", "argo-events"),
        ("Role", "argo"),
        ("RoleBinding", "argo"),
    ]
    assert allowed(rbac, _request("create", "argoproj.io", "workflows", "argo"))


@pytest.mark.parametrize(
    ("verb", "group", "resource", "namespace"),
    [
        ("get", "argoproj.io", "workflows", "argo"),
        ("list", "argoproj.io", "workflows", "argo"),
        ("delete", "argoproj.io", "workflows", "argo"),
        ("patch", "argoproj.io", "workflows", "argo"),
        ("create", "argoproj.io", "workflowtemplates", "argo"),
        ("get", "argoproj.io", "workflowtemplates", "argo"),
        ("create", "argoproj.io", "workflows", "argo-events"),
        ("create", "argoproj.io", "workflows", "default"),
        ("get", "", "secrets", "argo"),
        ("create", "", "pods", "argo"),
    ],
)
def test_the_sensor_may_do_nothing_else(verb: str, group: str, resource: str, namespace: str) -> None:
    assert not allowed(sensor_rbac_objects(DEFAULTS), _request(verb, group, resource, namespace))


def test_only_the_sensor_account_of_the_events_namespace_is_bound() -> None:
    rbac = sensor_rbac_objects(DEFAULTS)
    assert not allowed(rbac, _request("create", "argoproj.io", "workflows", "argo", account="default"))
    elsewhere = Request(
        account="aphex-argo-sensor",
        account_namespace="argo",
        verb="create",
        group="argoproj.io",
        resource="workflows",
        namespace="argo",
    )
    assert not allowed(rbac, elsewhere)


def test_the_role_holds_exactly_one_rule() -> None:
    (role,) = [o for o in sensor_rbac_objects(DEFAULTS) if o["kind"] == "Role"]
    assert role["rules"] == [{"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create"]}]


def test_rbac_objects_are_valid_kubernetes() -> None:
    for obj in sensor_rbac_objects(DEFAULTS):
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_names_argo_events_cannot_label_are_refused_naming_them() -> None:
    with pytest.raises(SettingsError, match=r"events: 'x{30}-n{20}-github' is longer than 57 characters"):
        events_objects(_config(instance="x" * 30, namespace="n" * 20))
    assert events_objects(_config(instance="x" * 20, namespace="n" * 12))  # push sensor: 57


def test_rbac_follows_the_namespaces() -> None:
    custom = _config(instance="ci", namespace="ci", namespace_override="events")
    rbac = sensor_rbac_objects(custom)
    request = Request(
        account="ci-ci-sensor",
        account_namespace="events",
        verb="create",
        group="argoproj.io",
        resource="workflows",
        namespace="ci",
    )
    assert allowed(rbac, request)
    assert (
        _sensors(custom)[f"ci-ci-push-{PIPELINE}"]["spec"]["template"]["serviceAccountName"] == "ci-ci-sensor"
    )


# --- settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"namespace": "Argo-Events"}, "events.namespace"),
        ({"githubOwner": "bad--owner"}, "events.githubOwner"),
        ({"repositories": []}, "events.repositories"),
        ({"repositories": ["ok", ".hidden"]}, "events.repositories[1]"),
        ({"repositories": ["app", "app"]}, "events.repositories"),
        ({"mainBranch": "a..b"}, "events.mainBranch"),
        ({"mainBranch": "feature/"}, "events.mainBranch"),
        ({"issueLabel": ""}, "events.issueLabel"),
        ({"issueLabel": " padded"}, "events.issueLabel"),
        ({"issueLabel": "x" * 51}, "events.issueLabel"),
        ({"issueLabel": "line\nbreak"}, "events.issueLabel"),
        ({"webhookSecretName": "Secret"}, "events.webhookSecretName"),
        ({"webhookSecretKey": "a/b"}, "events.webhookSecretKey"),
        ({"webhookPort": 80}, "events.webhookPort"),
        ({"webhookPort": 70000}, "events.webhookPort"),
        ({"webhookPort": True}, "events.webhookPort"),
        ({"webhookEndpoint": "github"}, "events.webhookEndpoint"),
        ({"webhookEndpoint": "/a//b"}, "events.webhookEndpoint"),
        ({"webhookUrl": "http://events.example.com"}, "events.webhookUrl"),
        ({"webhookUrl": "https://events.example.com/"}, "events.webhookUrl"),
        ({"webhookUrl": "https://-bad.example.com"}, "events.webhookUrl"),
        ({"eventbusName": "Default"}, "events.eventbusName"),
        ({"githubOwner": 7}, "events.githubOwner"),
        ({"unknown": "x"}, "events.unknown"),
    ],
)
def test_bad_settings_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(SettingsError, match=f"(?m)^{re.escape(field)}:"):
        load_settings({"events": changes})


def test_good_settings_are_accepted() -> None:
    settings = _config(
        github_owner="Octo-Org",
        repositories=("hello.world", "api_v2"),
        main_branch="trunk",
        webhook_url="https://hooks.example.com:8443",
        webhook_endpoint="/hooks/github",
        issue_label="good first issue 🤖",
    )
    source = events_objects(settings)[0]
    assert source["spec"]["github"]["github"]["webhook"]["url"] == "https://hooks.example.com:8443"
    assert source["spec"]["github"]["github"]["repositories"] == [
        {"owner": "Octo-Org", "names": ["hello.world", "api_v2"]}
    ]


# --- the evaluator itself ---------------------------------------------------------------------------


def test_headers_are_canonicalized_as_go_does() -> None:
    assert canonical_header("X-GitHub-Event") == "X-Github-Event"
    assert canonical_header("x-hub-signature-256") == "X-Hub-Signature-256"
    event = _event(_delivery("push_main"))
    assert gjson_get(event.data, "headers.X-Github-Event") == ["push"]
    assert gjson_get(event.data, EVENT_HEADER_PATH) == "push"
    assert gjson_get(event.data, "body.X-GitHub-Event") == "push"


def test_gjson_strings_follow_go() -> None:
    event = _event(_delivery("pull_request_opened"))
    assert gjson_string(gjson_get(event.data, "body.number")) == "42"
    assert gjson_string(gjson_get(event.data, "body.pull_request.merged")) == "false"
    assert gjson_string(gjson_get(event.data, "body.pull_request.merged_at")) == ""
    assert gjson_string(gjson_get(event.data, "headers.X-Github-Event")) == '["pull_request"]'


def _dependency(*data: Manifest, exprs: list[Manifest] | None = None, operator: str = "and") -> Manifest:
    filters: Manifest = {"data": list(data)}
    if exprs is not None:
        filters["exprs"] = exprs
    return {
        "name": "d",
        "eventSourceName": "s",
        "eventName": "e",
        "filtersLogicalOperator": operator,
        "filters": filters,
    }


def _raw(body: dict[str, Any]) -> EventData:
    return event_data({"X-GitHub-Event": "pull_request"}, body, event_source="s", event_name="e")


def test_string_values_are_unanchored_regular_expressions_as_in_argo() -> None:
    unanchored = _dependency({"path": "body.action", "type": "string", "value": ["opened"]})
    anchored = _dependency({"path": "body.action", "type": "string", "value": ["^opened$"]})
    assert evaluate_dependency(unanchored, _raw({"action": "reopened"})).passed
    assert not evaluate_dependency(anchored, _raw({"action": "reopened"})).passed
    assert not evaluate_dependency(anchored, _raw({"action": "opened\n"})).passed
    # The header is a list of values: unanchored matching would see '["pull_request"]'.
    header = _dependency({"path": "headers.X-Github-Event", "type": "string", "value": ["^pull_request$"]})
    assert not evaluate_dependency(header, _raw({})).passed


def test_comparators_bools_numbers_and_missing_paths() -> None:
    body = {"n": 5, "flag": False}
    assert evaluate_dependency(
        _dependency({"path": "body.n", "type": "number", "comparator": ">", "value": ["4"]}), _raw(body)
    ).passed
    assert not evaluate_dependency(
        _dependency({"path": "body.n", "type": "number", "comparator": "<", "value": ["4"]}), _raw(body)
    ).passed
    assert evaluate_dependency(
        _dependency({"path": "body.action", "type": "string", "comparator": "!=", "value": ["^x$"]}),
        _raw({"action": "y"}),
    ).passed
    assert evaluate_dependency(
        _dependency({"path": "body.flag", "type": "bool", "value": ["false"]}), _raw(body)
    ).passed
    assert not evaluate_dependency(
        _dependency({"path": "body.flag", "type": "bool", "value": ["true"]}), _raw(body)
    ).passed
    missing = evaluate_dependency(
        _dependency({"path": "body.none", "type": "bool", "value": ["false"]}), _raw(body)
    )
    assert not missing.passed
    assert missing.reasons == ["data filter error (path 'body.none' does not exist)"]


def test_the_filters_logical_operator() -> None:
    passing = {"path": "body.a", "type": "string", "value": ["^x$"]}
    failing_expr = {"expr": "a != a", "fields": [{"name": "a", "path": "body.a"}]}
    assert not evaluate_dependency(_dependency(passing, exprs=[failing_expr]), _raw({"a": "x"})).passed
    assert evaluate_dependency(
        _dependency(passing, exprs=[failing_expr], operator="or"), _raw({"a": "x"})
    ).passed


def test_expressions_bind_only_their_fields_and_compare_go_types() -> None:
    unbound = {"expr": "a == b", "fields": [{"name": "a", "path": "body.a"}]}
    outcome = evaluate_dependency(_dependency(exprs=[unbound]), _raw({"a": "x", "b": "x"}))
    assert not outcome.passed
    typed = {"expr": "a == b", "fields": [{"name": "a", "path": "body.a"}, {"name": "b", "path": "body.b"}]}
    assert not evaluate_dependency(_dependency(exprs=[typed]), _raw({"a": True, "b": 1})).passed
    assert evaluate_dependency(_dependency(exprs=[typed]), _raw({"a": 1, "b": 1.0})).passed


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["filters"]["exprs"][0].update(expr="head == base && 1 == 1"),
        lambda d: d["filters"].update(time={"start": "01:00", "stop": "02:00"}),
        lambda d: d["filters"]["data"][0].update(path="body.*"),
        lambda d: d["filters"]["data"][0].update(value=["(?=x)"]),
    ],
)
def test_the_evaluator_refuses_what_it_does_not_model(change: Any) -> None:
    dependency = copy.deepcopy(_sensors()["aphex-argo-pull-request"]["spec"]["dependencies"][0])
    change(dependency)
    with pytest.raises(Unsupported):
        evaluate_dependency(dependency, _event(_delivery("pull_request_opened")))


def test_the_evaluator_refuses_other_trigger_kinds() -> None:
    sensor = copy.deepcopy(_sensors()[PUSH])
    template = sensor["spec"]["triggers"][0]["template"]
    template["argoWorkflow"] = {**template.pop("k8s"), "operation": "submit"}
    with pytest.raises(Unsupported, match="only k8s triggers"):
        fire(sensor, _event(_delivery("push_main")))


def test_a_missing_data_key_falls_back_to_the_whole_event_as_argo_does() -> None:
    sensor = copy.deepcopy(_sensors()[PUSH])
    sensor["spec"]["triggers"][0]["template"]["k8s"]["parameters"][4]["src"]["dataKey"] = "body.nope"
    (workflow,) = fire(sensor, _event(_delivery("push_main")))
    assert json.loads(_arguments(workflow)["pusher"])["body"]["ref"] == "refs/heads/main"


def test_an_invalid_regular_expression_is_a_filter_error() -> None:
    broken = _dependency({"path": "body.a", "type": "string", "value": ["("]})
    outcome = evaluate_dependency(broken, _raw({"a": "x"}))
    assert not outcome.passed
    assert outcome.reasons
    assert outcome.reasons[0].startswith("data filter error")


@given(st.text(max_size=40))
def test_quote_meta_matches_exactly_the_text(text: str) -> None:
    pattern = _dependency({"path": "body.a", "type": "string", "value": [f"^{quote_meta(text)}$"]})
    assert evaluate_dependency(pattern, _raw({"a": text})).passed
    assert not evaluate_dependency(pattern, _raw({"a": text + "x"})).passed


# --- Sensors against the templates they start --------------------------------------------------------


def test_every_sensor_passes_parameters_its_template_declares_and_all_it_requires() -> None:
    from aphex.dsl.config import load_config
    from aphex.workflows.aphex_pipeline.pipeline import pipeline_template
    from aphex.workflows.bundle import build_bundle

    example = load_config(Path(__file__).resolve().parents[3] / "examples" / "aphex-config.yaml")
    config = dataclasses.replace(example, pipeline=dataclasses.replace(example.pipeline, name=PIPELINE))
    compiled = [*build_bundle(DEFAULTS), pipeline_template(config, DEFAULTS)]
    templates = {o["metadata"]["name"]: o for o in compiled if o["kind"] == "WorkflowTemplate"}
    checked = 0
    for sensor in _sensors().values():
        workflow = sensor["spec"]["triggers"][0]["template"]["k8s"]["source"]["resource"]
        target = templates[workflow["spec"]["workflowTemplateRef"]["name"]]
        declared = {p["name"]: p for p in target["spec"]["arguments"]["parameters"]}
        passed = {p["name"] for p in workflow["spec"]["arguments"]["parameters"]}
        assert passed <= set(declared)
        assert {name for name, p in declared.items() if "value" not in p} <= passed
        checked += 1
    assert checked == 4


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(sha=SHAS, pusher=OWNERS)
def test_property_1_commit_and_branch_come_from_the_push_payload(sha: str, pusher: str) -> None:
    """Seed property 1: the pipeline run gets exactly the pushed commit and branch of the payload."""
    delivery = _delivery("push_main")
    delivery["body"]["after"] = sha
    delivery["body"]["pusher"]["name"] = pusher
    (workflow,) = _replay(delivery)[PUSH]
    arguments = _arguments(workflow)
    assert (arguments["commit-sha"], arguments["branch"], arguments["pusher"]) == (
        sha,
        "refs/heads/main",
        pusher,
    )
