"""Per-cluster settings of the bundle: the values a platform team sets when it installs aphex.

The compiler builds every object from one :class:`BundleSettings`. Its defaults give the plain manifests
in ``dist/``; the Helm chart exposes the same fields as values. ``aphex compile --values FILE`` reads a
YAML mapping with the same keys (camelCase, as in ``values.yaml``) and rejects unknown keys by path.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from dsl.images import ImageRef
from dsl.values_schema import values_problems

__all__ = [
    "DEFAULT_INSTANCE",
    "AgentApps",
    "BundleSettings",
    "Components",
    "EventsSettings",
    "GitHubSettings",
    "ObjectNames",
    "SettingsError",
    "load_settings",
]

_VERSION = "0.1.0"
DEFAULT_INSTANCE: Final = "aphex"
"""The instance ``aphex compile`` emits; its WorkflowTemplates keep their bare names."""


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
class EventsSettings:
    """Argo Events: where the GitHub EventSource and Sensors live and what they listen to."""

    namespace: str = "argo-events"
    github_owner: str = "example-org"
    repositories: tuple[str, ...] = ("example-app",)
    main_branch: str = "main"
    issue_label: str = "aphex:implement"
    webhook_secret_name: str = "aphex-github-webhook"
    webhook_secret_key: str = "secret"
    webhook_port: int = 12000
    webhook_endpoint: str = "/github"
    webhook_url: str = "https://aphex-events.example.com"
    """Public base URL GitHub posts to; the hook's payload URL is this plus ``webhook_endpoint``."""
    eventbus_name: str = "default"
    pipeline_template: str = "aphex-pipeline"
    """WorkflowTemplate a push to the main branch runs (the Aphex pipeline of the repository)."""


@dataclass(frozen=True, kw_only=True)
class Components:
    """Which parts of the bundle are installed (the chart's ``components`` toggles)."""

    implementation_dag: bool = True
    docs_stage: bool = True
    events: bool = True


@dataclass(frozen=True, kw_only=True)
class BundleSettings:
    """Everything that varies between clusters; the defaults are the plain manifests in ``dist/``."""

    version: str = _VERSION
    instance: str = DEFAULT_INSTANCE
    namespace: str = "argo"
    components: Components = field(default_factory=Components)
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
    events: EventsSettings = field(default_factory=EventsSettings)

    def __post_init__(self) -> None:
        problems = values_problems(self.to_values())
        if problems:
            raise SettingsError("; ".join(problems))

    def to_values(self) -> dict[str, Any]:
        """These settings as a values mapping (camelCase keys), the inverse of :func:`load_settings`."""
        values = _to_values(self)
        del values["version"]
        return values

    @property
    def names(self) -> "ObjectNames":
        """Names of the objects of this instance."""
        return ObjectNames(instance=self.instance, namespace=self.namespace)

    @property
    def agent_api_version_full(self) -> str:
        """``group/version`` as written in a manifest's ``apiVersion``."""
        return f"{self.agent_api_group}/{self.agent_api_version}"


@dataclass(frozen=True, kw_only=True)
class ObjectNames:
    """Every object name of one instance, so that two instances on one cluster never collide.

    Namespaced objects are ``<instance>-<role>``, cluster-scoped ones ``<instance>-<namespace>-<role>``.
    WorkflowTemplates keep their bare names (``implementation-dag``) in the default instance, because
    that is the name users submit; any other instance prefixes them (``<instance>-implementation-dag``).
    """

    instance: str
    namespace: str

    def object(self, role: str) -> str:
        """``<instance>-<role>``: namespaced objects (ServiceAccounts, Roles, bindings, Sensors)."""
        return f"{self.instance}-{role}"

    def cluster(self, role: str) -> str:
        """``<instance>-<namespace>-<role>``: objects that are cluster-scoped or live in a namespace shared
        by every release (Argo Events'), unique per release and workflows namespace."""
        return f"{self.instance}-{self.namespace}-{role}"

    def template(self, base: str) -> str:
        """The name of a WorkflowTemplate of this instance."""
        return base if self.instance == DEFAULT_INSTANCE else f"{self.instance}-{base}"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _snake(name: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name)


def _to_values(obj: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in dataclasses.fields(obj):
        value = getattr(obj, item.name)
        if dataclasses.is_dataclass(value):
            value = _to_values(value)
        elif isinstance(value, tuple):
            value = list(value)
        values[_camel(item.name)] = value
    return values


def _build(defaults: Any, values: Mapping[str, Any]) -> Any:
    """``defaults`` with schema-valid ``values`` applied, recursing into nested settings sections."""
    changes: dict[str, Any] = {}
    for key, value in values.items():
        name = _snake(key)
        current = getattr(defaults, name)
        if dataclasses.is_dataclass(current):
            value = _build(current, value)
        elif isinstance(current, tuple):
            value = tuple(value)
        changes[name] = value
    return dataclasses.replace(defaults, **changes)


def load_settings(values: Mapping[str, Any] | None = None) -> BundleSettings:
    """Build settings from a values mapping (camelCase keys); every invalid key is named by its path."""
    values = dict(values or {})
    problems = values_problems(values)
    if problems:
        raise SettingsError("; ".join(problems))
    settings: BundleSettings = _build(BundleSettings(), values)
    return settings
