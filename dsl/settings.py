"""Per-cluster settings of the bundle: the values a platform team sets when it installs aphex.

The compiler builds every object from one :class:`BundleSettings`. Its defaults give the plain manifests
in ``dist/``; the Helm chart exposes the same fields as values. ``aphex compile --values FILE`` reads a
YAML mapping with the same keys (camelCase, as in ``values.yaml``) and rejects unknown keys by path.
"""

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dsl.images import ImageRef
from dsl.names import InvalidValue, validate_dns_name, validate_github_app

__all__ = ["AgentApps", "BundleSettings", "GitHubSettings", "SettingsError", "load_settings"]

_VERSION = "0.1.0"
_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[A-Za-z0-9._~/-]*)?$")
_API_GROUP = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")
_API_VERSION = re.compile(r"^v[0-9]+(?:(?:alpha|beta)[0-9]+)?$")
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class SettingsError(ValueError):
    """A settings value is invalid; the message names it by path."""


@dataclass(frozen=True, kw_only=True)
class AgentApps:
    """GitHub App names of the agents (the platform mounts Secret ``github-app-<lowercased name>``)."""

    implementation: str = "5DLabs-Rex"
    lint: str = "5DLabs-Cleo"
    qa: str = "5DLabs-Tess"
    docs: str = "5DLabs-Morgan"


@dataclass(frozen=True, kw_only=True)
class GitHubSettings:
    """Where GitHub is and which Secret holds the credentials of the steps that call it."""

    api_url: str = "https://api.github.com"
    web_url: str = "https://github.com"
    credentials_secret: str = "aphex-github"
    """Secret with key ``token`` (a token) or ``app-id`` + ``private-key`` (the reviewer's GitHub App)."""


@dataclass(frozen=True, kw_only=True)
class BundleSettings:
    """Everything that varies between clusters; the defaults are the plain manifests in ``dist/``."""

    version: str = _VERSION
    namespace: str = "argo"
    deployer_image: ImageRef = field(
        default_factory=lambda: ImageRef(registry="ghcr.io", repository="aphex-dev/deployer", tag=_VERSION)
    )
    agent_api_group: str = "agents.platform"
    agent_api_version: str = "v1"
    agents: AgentApps = field(default_factory=AgentApps)
    agent_model: str = "claude-sonnet-4-5"
    agent_deadline_seconds: int = 4 * 3600
    github: GitHubSettings = field(default_factory=GitHubSettings)
    preview_domain: str = "preview.example.com"
    ingress_namespace: str = "ingress-nginx"
    argo_ui_url: str = "https://argo.example.com"
    workflow_deadline_seconds: int = 6 * 3600

    def __post_init__(self) -> None:
        _check(_K8S_NAME.match(self.namespace) is not None, "namespace", self.namespace)
        _check(
            _K8S_NAME.match(self.ingress_namespace) is not None, "ingressNamespace", self.ingress_namespace
        )
        _check(_API_GROUP.match(self.agent_api_group) is not None, "agentApiGroup", self.agent_api_group)
        _check(
            _API_VERSION.match(self.agent_api_version) is not None, "agentApiVersion", self.agent_api_version
        )
        _check(
            _K8S_NAME.match(self.github.credentials_secret) is not None,
            "github.credentialsSecret",
            self.github.credentials_secret,
        )
        for key, url in (
            ("github.apiUrl", self.github.api_url),
            ("github.webUrl", self.github.web_url),
            ("argoUiUrl", self.argo_ui_url),
        ):
            _check(_URL.match(url) is not None, key, url)
        for key, seconds in (
            ("agentDeadlineSeconds", self.agent_deadline_seconds),
            ("workflowDeadlineSeconds", self.workflow_deadline_seconds),
        ):
            _check(60 <= seconds <= 7 * 24 * 3600, key, seconds)
        try:
            validate_dns_name(self.preview_domain, "previewDomain")
            for role in ("implementation", "lint", "qa", "docs"):
                validate_github_app(getattr(self.agents, role), f"agents.{role}")
        except InvalidValue as error:
            raise SettingsError(str(error)) from None

    @property
    def agent_api_version_full(self) -> str:
        """``group/version`` as written in a manifest's ``apiVersion``."""
        return f"{self.agent_api_group}/{self.agent_api_version}"


def _check(ok: bool, key: str, value: object) -> None:
    if not ok:
        raise SettingsError(f"{key}: invalid value {value!r}")


_SECTIONS: dict[str, tuple[str, type[Any]]] = {
    "agents": ("agents", AgentApps),
    "github": ("github", GitHubSettings),
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _build(cls: type[Any], values: Mapping[str, Any], path: str) -> dict[str, Any]:
    fields = {_camel(f.name): f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key in sorted(values):
        where = f"{path}{key}"
        if key not in fields:
            raise SettingsError(f"{where}: unknown setting (known: {', '.join(sorted(fields))})")
        target = fields[key]
        value = values[key]
        if key in _SECTIONS or key == "deployerImage":
            if not isinstance(value, Mapping):
                raise SettingsError(f"{where}: must be a mapping")
            section_cls = ImageRef if key == "deployerImage" else _SECTIONS[key][1]
            try:
                kwargs[target.name] = section_cls(**_build(section_cls, value, f"{where}."))
            except (TypeError, ValueError) as error:
                raise SettingsError(f"{where}: {error}") from None
            continue
        expected = int if target.type in (int, "int") else str
        if not isinstance(value, expected) or isinstance(value, bool):
            raise SettingsError(f"{where}: must be a {expected.__name__}")
        kwargs[target.name] = value
    return kwargs


def load_settings(values: Mapping[str, Any] | None = None) -> BundleSettings:
    """Build settings from a values mapping (camelCase keys); unknown keys are errors naming their path."""
    return BundleSettings(**_build(BundleSettings, values or {}, ""))
