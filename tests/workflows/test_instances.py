"""Several instances on one cluster (seed property 26): names derive from the instance and never collide."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aphex.dsl.bundle_writer import object_path
from aphex.dsl.lint import SourceDocument, lint_documents
from aphex.dsl.settings import BundleSettings, load_settings
from aphex.workflows.bundle import build_bundle

_INSTANCE = st.from_regex(r"\A[a-z][a-z0-9-]{0,28}[a-z0-9]\Z")
_NAMESPACE = st.sampled_from(["argo", "ci", "team-a"])


def _identities(objects: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects}


def _references(objects: list[dict[str, Any]]) -> set[str]:
    """Names a bundle refers to: templateRefs, ServiceAccounts and bound roles."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "templateRef":
                    found.add(value["name"])
                elif key in {"serviceAccountName", "roleRef"}:
                    found.add(value if isinstance(value, str) else value["name"])
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(objects)
    return found


def test_the_default_instance_keeps_the_submitted_template_names() -> None:
    names = {o["metadata"]["name"] for o in build_bundle(BundleSettings()) if o["kind"] == "WorkflowTemplate"}
    assert names == {
        "implementation-dag",
        "coderun-template",
        "docsrun-template",
        "cluster-verify",
        "preview-cleanup",
        "preview-janitor",
    }


def test_another_instance_prefixes_every_name_and_refers_only_to_its_own_objects() -> None:
    objects = build_bundle(load_settings(release="team-b"))
    names = {o["metadata"]["name"] for o in objects}
    assert all(name.startswith("team-b-") for name in names)
    assert _references(objects) <= names
    documents = [SourceDocument(file=str(object_path(o)), index=0, data=o) for o in objects]
    assert [str(problem) for problem in lint_documents(documents)] == []


@settings(max_examples=25, deadline=None)
@given(first=_INSTANCE, second=_INSTANCE, first_ns=_NAMESPACE, second_ns=_NAMESPACE)
def test_two_instances_never_share_an_object(first: str, second: str, first_ns: str, second_ns: str) -> None:
    """Property 26: a pipeline never touches another pipeline's objects on a shared cluster."""
    if (first, first_ns) == (second, second_ns):
        return
    one = build_bundle(load_settings(release=first, release_namespace=first_ns))
    two = build_bundle(load_settings({"namespace": second_ns}, release=second))
    assert not _identities(one) & _identities(two)
    # Nothing of one instance refers to an object only the other one installs.
    assert not _references(one) & (
        {o["metadata"]["name"] for o in two} - {o["metadata"]["name"] for o in one}
    )
