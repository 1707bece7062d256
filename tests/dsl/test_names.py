"""Names that reach manifests: validators and derivations (aphex.dsl.names)."""

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aphex.dsl.names import (
    HELM_RELEASE_MAX,
    PREVIEW_NAMESPACE_PATTERN,
    InvalidValue,
    dns_label,
    helm_release_name,
    preview_namespace,
    validate_commit_sha,
    validate_dns_name,
    validate_github_owner,
    validate_github_repo,
    validate_pr_number,
    validate_relative_path,
)

DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
REPO_NAMES = st.from_regex(r"\A[A-Za-z0-9._-]{1,100}\Z")
OWNER_NAMES = st.from_regex(r"\A[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?\Z")
PR_NUMBERS = st.integers(min_value=1, max_value=9_999_999_999)


@pytest.mark.parametrize("value", ["1", "42", "9999999999"])
def test_pr_numbers_accepted(value: str) -> None:
    assert validate_pr_number(value) == int(value)


@pytest.mark.parametrize("value", ["0", "-1", "01", "1.0", "", "12a", "1; rm -rf /", "99999999999", " 4"])
def test_pr_numbers_rejected_naming_the_field(value: str) -> None:
    with pytest.raises(InvalidValue, match=r"^pr: must be a positive integer"):
        validate_pr_number(value)


@pytest.mark.parametrize("value", ["octo", "octo-org", "a", "A1" * 19 + "b"])
def test_owner_accepted(value: str) -> None:
    assert validate_github_owner(value) == value


@pytest.mark.parametrize("value", ["-octo", "octo-", "oc--to", "a" * 40, "oct o", "o/o", ""])
def test_owner_rejected(value: str) -> None:
    with pytest.raises(InvalidValue, match=r"^owner:"):
        validate_github_owner(value)


@pytest.mark.parametrize("value", [".", "..", "x.git", "a/b", "a b", "", "x" * 101, "{{workflow.name}}"])
def test_repo_rejected(value: str) -> None:
    with pytest.raises(InvalidValue, match=r"^repo:"):
        validate_github_repo(value)


def test_commit_accepts_empty_and_full_shas_only() -> None:
    assert validate_commit_sha("") == ""
    assert validate_commit_sha("a" * 40) == "a" * 40
    with pytest.raises(InvalidValue, match=r"^commit:"):
        validate_commit_sha("abc123")


@pytest.mark.parametrize("value", ["../etc", "/abs", "a/../b", "a//b", "", "a b", "-rf"])
def test_relative_paths_rejected(value: str) -> None:
    with pytest.raises(InvalidValue, match=r"^chartPath:"):
        validate_relative_path(value, "chartPath")


def test_dns_name() -> None:
    assert validate_dns_name("preview.example.com") == "preview.example.com"
    with pytest.raises(InvalidValue, match=r"^domain:"):
        validate_dns_name("Preview.Example.com")


def test_release_name_for_a_long_repo_is_shortened_deterministically() -> None:
    long_repo = "a-really-long-repository-name-that-goes-on-and-on-forever"
    name = helm_release_name(long_repo, 1234567890)
    assert len(name) == HELM_RELEASE_MAX
    assert name.endswith("-pr-1234567890")
    assert name == helm_release_name(long_repo, 1234567890)
    assert name != helm_release_name(long_repo + "x", 1234567890)


def test_release_name_of_a_symbol_only_repo_falls_back() -> None:
    assert helm_release_name("___", 3) == "app-pr-3"


@given(owner=OWNER_NAMES, repo=REPO_NAMES, pr=PR_NUMBERS)
def test_release_and_namespace_are_dns_safe_within_limits(owner: str, repo: str, pr: int) -> None:
    release = helm_release_name(repo, pr)
    assert len(release) <= HELM_RELEASE_MAX
    assert DNS_1123_LABEL.match(release)
    namespace = preview_namespace(owner, repo, pr)
    assert len(namespace) <= 63
    assert DNS_1123_LABEL.match(namespace)
    assert re.match(PREVIEW_NAMESPACE_PATTERN, namespace)
    assert namespace.startswith(f"impl-pr-{pr}-")


def _identity(owner: str, repo: str, pr: int) -> tuple[str, str, int]:
    # GitHub owner and repository names are case-insensitive: one repository, whatever the spelling.
    return owner.lower(), repo.lower(), pr


@given(
    first=st.tuples(OWNER_NAMES, REPO_NAMES, PR_NUMBERS),
    second=st.tuples(OWNER_NAMES, REPO_NAMES, PR_NUMBERS),
)
def test_distinct_pull_requests_never_share_a_preview_namespace(
    first: tuple[str, str, int], second: tuple[str, str, int]
) -> None:
    if _identity(*first) != _identity(*second):
        assert preview_namespace(*first) != preview_namespace(*second)
    else:
        assert preview_namespace(*first) == preview_namespace(*second)


@given(owners=st.lists(OWNER_NAMES, min_size=2, max_size=5, unique_by=str.lower), pr=PR_NUMBERS)
def test_one_repository_name_under_many_owners_gets_one_namespace_each(owners: list[str], pr: int) -> None:
    long_repo = "a-very-long-repository-name-that-is-cut-to-fit-the-namespace-name"
    names = {preview_namespace(owner, long_repo, pr) for owner in owners}
    assert len(names) == len(owners)


def test_preview_namespace_reads_as_a_preview_of_the_pull_request() -> None:
    digest = hashlib.sha256(b"octo-org/hello").hexdigest()[:10]
    assert (
        preview_namespace("octo-org", "hello", 7)
        == f"impl-pr-7-hello-{digest}"
        == "impl-pr-7-hello-f26fb144f1"
    )
    assert preview_namespace("Octo-Org", "Hello", 7) == preview_namespace("octo-org", "hello", 7)
    assert preview_namespace("octo-org", "hello", 7) != preview_namespace("octo-org", "hello", 8)
    assert preview_namespace("octo-org", "hello", 7) != preview_namespace("other", "hello", 7)


@given(text=st.text(max_size=200))
def test_dns_label_is_always_a_label(text: str) -> None:
    label = dns_label(text)
    assert len(label) <= 63
    assert DNS_1123_LABEL.match(label)
