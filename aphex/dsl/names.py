"""Validation and derivation of every name that reaches a manifest, a command line or an API call.

Argo substitutes parameter values textually (see the Argo "variables" docs), so nothing user-controlled
may reach a resource manifest or a process argument before it passed one of these checks. Each check
raises :class:`InvalidValue` naming the field, so a failing step tells the user which parameter to fix.
This module imports nothing beyond the standard library: it runs inside pods and in the offline linter.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from aphex.dsl.errors import InputError

__all__ = [
    "API_GROUP_PATTERN",
    "APP_PATTERN",
    "BUNDLE_TEMPLATE_NAMES",
    "DNS_LABEL_PATTERN",
    "DNS_NAME_PATTERN",
    "EVENTS_NAME_MAX",
    "HELM_RELEASE_MAX",
    "IAM_ROLE_ARN_PATTERN",
    "KMS_KEY_ARN_PATTERN",
    "LABEL_KEY_PATTERN",
    "LABEL_VALUE_PATTERN",
    "OBJECT_NAME_PATTERN",
    "PREVIEW_NAMESPACE_PATTERN",
    "PREVIEW_NAMESPACE_PREFIX",
    "InvalidValue",
    "dns_label",
    "github_app_bot_login",
    "helm_release_name",
    "preview_namespace",
    "validate_branch_name",
    "validate_commit_sha",
    "validate_dns_label",
    "validate_dns_name",
    "validate_github_app",
    "validate_github_owner",
    "validate_github_repo",
    "validate_image_tag",
    "validate_model",
    "validate_object_name",
    "validate_pr_number",
    "validate_pr_or_issue",
    "validate_relative_path",
]

BUNDLE_TEMPLATE_NAMES: Final = frozenset(
    {
        "cluster-verify",
        "coderun-template",
        "docsrun-template",
        "implementation-dag",
        "preview-cleanup",
        "preview-janitor",
    }
)
"""Base names of the bundle's WorkflowTemplates; an Aphex pipeline's template is named the same way, so a
pipeline may take none of them."""
EVENTS_NAME_MAX: Final = 57
"""Longest EventSource or Sensor name: Argo Events puts it in a label (63 characters at most), and the
Workflows a Sensor creates are named ``<sensor>-<5 characters>``, which Argo limits to 63."""
HELM_RELEASE_MAX: Final = 53
"""Helm refuses release names longer than 53 characters (they become label values with suffixes)."""

_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$")
_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_PR = re.compile(r"^[1-9][0-9]{0,9}$")
APP_PATTERN: Final = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,32}[A-Za-z0-9])?$"
_APP = re.compile(APP_PATTERN)
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
DNS_LABEL_PATTERN: Final = r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$"
DNS_NAME_PATTERN: Final = r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)*$"
"""A lowercase DNS name of RFC 1123 labels (the 253-character total is checked separately)."""
_DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
OBJECT_NAME_PATTERN: Final = r"^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$"
"""The name of most Kubernetes objects: a lowercase RFC 1123 subdomain of at most 253 characters."""
_OBJECT_NAME = re.compile(OBJECT_NAME_PATTERN)
LABEL_KEY_PATTERN: Final = (
    r"^(?:[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)*/)?"
    r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
"""A Kubernetes label key: an optional DNS-subdomain prefix and ``/``, then a name of at most 63 characters
(kubernetes apimachinery/pkg/util/validation/validation.go, IsQualifiedName)."""
LABEL_VALUE_PATTERN: Final = r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
"""A Kubernetes label value (IsValidLabelValue): empty, or at most 63 characters."""
API_GROUP_PATTERN: Final = r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)+$"
"""A Kubernetes API group of a custom resource: a DNS name with at least one dot (``example.com``)."""
IAM_ROLE_ARN_PATTERN: Final = (
    r"^arn:aws(?:-cn|-us-gov|-iso|-iso-b|-iso-e|-iso-f|-eusc)?:iam::[0-9]{12}:"
    r"role/[A-Za-z0-9_+=,.@/-]{1,512}$"
)
"""An IAM role ARN in any AWS partition."""
KMS_KEY_ARN_PATTERN: Final = (
    r"^arn:aws(?:-cn|-us-gov|-iso|-iso-b|-iso-e|-iso-f|-eusc)?:kms:[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}:[0-9]{12}:"
    r"key/(?:mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
"""A KMS key ARN (single- or multi-Region key id) in any AWS partition; an alias is not a key ARN."""
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$")
_PATH_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_BRANCH = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)(?!.*@\{)[A-Za-z0-9._/-]{1,200}(?<![./])$")


class InvalidValue(InputError):
    """A value failed validation; ``str()`` names the field and what is wrong with it."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {reason} (got {value!r})")


def validate_pr_number(value: str, field: str = "pr") -> int:
    """A pull request number: a positive integer of at most ten digits, no sign, no leading zero."""
    if not isinstance(value, str) or not _PR.match(value):
        raise InvalidValue(field, value, "must be a positive integer")
    return int(value)


def validate_pr_or_issue(pr: str, issue: str) -> tuple[str, int]:
    """Which a run works on: ``("pr", n)`` or ``("issue", n)``; exactly one may be given."""
    if pr and issue:
        raise InvalidValue("issue", issue, "give either pr or issue, not both")
    if not pr and not issue:
        raise InvalidValue("pr", pr, "give the pull request number (pr) or an issue number (issue)")
    if pr:
        return "pr", validate_pr_number(pr)
    return "issue", validate_pr_number(issue, "issue")


def validate_github_owner(value: str, field: str = "owner") -> str:
    """A GitHub user or organisation login: 1-39 letters, digits or inner hyphens."""
    if not _OWNER.match(value) or "--" in value:
        raise InvalidValue(
            field, value, "must be a GitHub login: 1-39 letters, digits or single inner hyphens"
        )
    return value


def validate_github_repo(value: str, field: str = "repo") -> str:
    """A GitHub repository name: 1-100 of letters, digits, '.', '_', '-'; not '.' or '..', no '.git'."""
    if not _REPO.match(value) or value in {".", ".."} or value.lower().endswith(".git"):
        raise InvalidValue(
            field, value, "must be a GitHub repository name: 1-100 of letters, digits, '.', '_', '-'"
        )
    return value


def validate_github_app(value: str, field: str = "github-app") -> str:
    """A GitHub App name as the agent platform uses it (``5DLabs-Rex``): its Secret is derived from it."""
    if not _APP.match(value):
        raise InvalidValue(field, value, "must be a GitHub App name: 1-34 letters, digits or inner hyphens")
    return value


def validate_commit_sha(value: str, field: str = "commit", *, allow_empty: bool = True) -> str:
    """A full lowercase SHA-1 or SHA-256 commit id; empty means "the pull request's head"."""
    if value == "" and allow_empty:
        return value
    if not _SHA.match(value):
        raise InvalidValue(field, value, "must be a full 40- or 64-character lowercase hex commit id")
    return value


def validate_branch_name(value: str, field: str = "branch") -> str:
    """A git branch name (without ``refs/heads/``) of portable characters, as ``git check-ref-format``
    allows: no leading '/', no '//', '..' or '@{', not ending in '/' or '.'."""
    if not _BRANCH.match(value):
        raise InvalidValue(field, value, "must be a git branch name")
    return value


def validate_dns_label(value: str, field: str, *, max_length: int = 63) -> str:
    """A lowercase RFC 1123 label of at most ``max_length`` (at most 63) characters, such as a namespace."""
    if len(value) > max_length or not _DNS_LABEL.match(value):
        raise InvalidValue(
            field,
            value,
            f"must be a lowercase DNS label (a-z, 0-9, inner '-') of at most {max_length} characters",
        )
    return value


def validate_object_name(value: str, field: str) -> str:
    """The name of a Kubernetes object (a lowercase RFC 1123 subdomain of at most 253 characters)."""
    if not _OBJECT_NAME.match(value):
        raise InvalidValue(field, value, "must be a Kubernetes name")
    return value


def validate_dns_name(value: str, field: str = "domain") -> str:
    """A lowercase DNS name (RFC 1123): dot-separated labels of at most 63 characters, 253 in all."""
    if not value or len(value) > 253 or not all(_DNS_LABEL.match(label) for label in value.split(".")):
        raise InvalidValue(field, value, "must be a lowercase DNS name such as preview.example.com")
    return value


def validate_relative_path(value: str, field: str) -> str:
    """A path inside a repository checkout: relative, no '..', only portable characters."""
    parts = value.split("/")
    if not value or value.startswith("/") or not all(_PATH_PART.match(part) for part in parts):
        raise InvalidValue(
            field, value, "must be a relative path of letters, digits, '.', '_', '-' without '..'"
        )
    return value


def validate_image_tag(value: str, field: str = "imageTag") -> str:
    """An OCI image tag: up to 128 of letters, digits, '_', '.', '-', not starting with '.' or '-'."""
    if not _IMAGE_TAG.match(value):
        raise InvalidValue(field, value, "must be an image tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
    return value


def validate_model(value: str, field: str = "model") -> str:
    """A model identifier passed to the agent platform (letters, digits and ``._:/@-``)."""
    if not _MODEL.match(value):
        raise InvalidValue(field, value, "must be a model id of letters, digits and ._:/@-")
    return value


def dns_label(text: str, *, max_length: int = 63, fallback: str = "app") -> str:
    """Turn arbitrary text into a DNS-1123 label deterministically.

    Lower-cases, maps every run of other characters to one '-', trims hyphens, and when the result is
    longer than ``max_length`` shortens it and appends 6 hex digits of the original's SHA-256 so that two
    long names sharing a prefix stay distinct.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or fallback
    if len(slug) <= max_length:
        return slug
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:6]
    head = slug[: max_length - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}"


def github_app_bot_login(app: str) -> str:
    """The login a GitHub App acts as (``sender.login`` of the events its pushes cause): its slug, the
    name lower-cased with every run of other characters made one '-', then ``[bot]``
    ("5DLabs-Rex" -> ``5dlabs-rex[bot]``)."""
    return re.sub(r"[^a-z0-9]+", "-", validate_github_app(app).lower()).strip("-") + "[bot]"


def helm_release_name(repo: str, pr: int) -> str:
    """The preview's Helm release: ``<repo>-pr-<pr>``, DNS-1123 and at most 53 characters for any repo."""
    suffix = f"-pr-{pr}"
    return dns_label(repo, max_length=HELM_RELEASE_MAX - len(suffix)) + suffix


PREVIEW_NAMESPACE_PREFIX: Final = "impl-pr-"
_PREVIEW_HASH_LENGTH: Final = 10
_PREVIEW_REPO_PART: Final = "[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
PREVIEW_NAMESPACE_PATTERN: Final = (
    f"^{PREVIEW_NAMESPACE_PREFIX}[1-9][0-9]{{0,9}}-{_PREVIEW_REPO_PART}-[0-9a-f]{{{_PREVIEW_HASH_LENGTH}}}$"
)
"""Every name :func:`preview_namespace` returns (RE2 syntax too: the admission policy matches it)."""


def preview_namespace(owner: str, repo: str, pr: int) -> str:
    """The preview namespace of one pull request of one repository: ``impl-pr-<pr>-<repo>-<hash>``.

    ``<hash>`` is 10 hex digits of the SHA-256 of ``owner/repo`` (lower-cased: GitHub names are
    case-insensitive), so two repositories never share a namespace even when their names shorten to
    the same ``<repo>`` part; ``<repo>`` is the repository as a DNS label, cut to fit 63 characters.
    """
    digest = hashlib.sha256(f"{owner}/{repo}".lower().encode("utf-8")).hexdigest()[:_PREVIEW_HASH_LENGTH]
    head = f"{PREVIEW_NAMESPACE_PREFIX}{pr}-"
    budget = 63 - len(head) - len(digest) - 1
    slug = dns_label(repo)[:budget].rstrip("-") or "app"
    return f"{head}{slug}-{digest}"
