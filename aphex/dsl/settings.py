"""Per-cluster settings of the bundle: the values a platform team sets when it installs aphex.

The compiler builds every object from one :class:`BundleSettings`. Its defaults give the plain manifests
in ``dist/``; the Helm chart exposes the same fields as values. ``aphex compile --values FILE`` reads a
YAML mapping with the same keys (camelCase, as in ``values.yaml``) and rejects unknown keys by path.

Two settings are not values, in the chart and in ``aphex compile`` alike: the instance is the release name
(``helm install <release>``, ``aphex compile --release``) and the release namespace is where the release
is installed (``helm -n``, ``aphex compile --namespace``). The ``namespace`` value overrides the latter;
empty, it is the release namespace.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from aphex.dsl.errors import InputError
from aphex.dsl.images import ImageRef
from aphex.dsl.quantities import Quantities, ResourceProfile
from aphex.dsl.stage import ResourceClass
from aphex.dsl.values_schema import instance_problems, values_problems
from aphex.dsl.yaml_input import YamlInputError, load_yaml

__all__ = [
    "DEFAULT_INSTANCE",
    "DEFAULT_NAMESPACE",
    "AgentApps",
    "BundleSettings",
    "ClusterPipeline",
    "Components",
    "EventsSettings",
    "GitHubSettings",
    "ObjectNames",
    "PipelineRoles",
    "PreviewQuota",
    "QuotaQuantities",
    "SettingsError",
    "StepResources",
    "WorkflowPods",
    "default_values",
    "load_settings",
    "read_values_file",
    "settings_document",
    "settings_from_document",
]

_VERSION = "0.1.0"
DEFAULT_INSTANCE: Final = "aphex"
"""The release ``aphex compile`` emits without ``--release``; its WorkflowTemplates keep their bare names."""
DEFAULT_NAMESPACE: Final = "argo"
"""The release namespace of ``aphex compile`` without ``--namespace`` (Helm's is ``helm -n``)."""
_RELEASE_NAMESPACE: Final = ""
"""The ``namespace`` value that means the release namespace (its default)."""


class SettingsError(InputError):
    """Settings values are invalid; ``problems`` names each by its path, ``str()`` one per line."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__("\n".join(self.problems))


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


@dataclass(frozen=True, kw_only=True)
class Components:
    """Which parts of the bundle are installed (the chart's ``components`` toggles)."""

    implementation_dag: bool = True
    docs_stage: bool = True
    events: bool = True
    pipeline: bool = True


@dataclass(frozen=True, kw_only=True)
class StepResources:
    """Requests and limits of the steps' containers, by class of step (each step names its class)."""

    light: ResourceProfile = field(
        default_factory=lambda: ResourceProfile(
            requests=Quantities(cpu="50m", memory="128Mi", ephemeral_storage="64Mi"),
            limits=Quantities(cpu="500m", memory="256Mi", ephemeral_storage="1Gi"),
        )
    )
    """Validation and API calls."""
    standard: ResourceProfile = field(
        default_factory=lambda: ResourceProfile(
            requests=Quantities(cpu="250m", memory="256Mi", ephemeral_storage="64Mi"),
            limits=Quantities(cpu="1", memory="1Gi", ephemeral_storage="4Gi"),
        )
    )
    """git checkouts, Helm and kubectl, HTTP probing."""
    heavy: ResourceProfile = field(
        default_factory=lambda: ResourceProfile(
            requests=Quantities(cpu="500m", memory="1Gi", ephemeral_storage="1Gi"),
            limits=Quantities(cpu="2", memory="4Gi", ephemeral_storage="10Gi"),
        )
    )
    """The Aphex pipeline's builds, CDK synthesis and deployment, and tests (with node_modules)."""

    def of(self, resource_class: ResourceClass) -> ResourceProfile:
        """The requests and limits of ``resource_class``."""
        profile: ResourceProfile = getattr(self, resource_class.value)
        return profile


@dataclass(frozen=True, kw_only=True)
class WorkflowPods:
    """What every pod of aphex's workflows gets: the steps' resources by class, and where pods may run
    and pull from (Argo's WorkflowSpec ``nodeSelector``, ``tolerations`` and ``imagePullSecrets``)."""

    resources: StepResources = field(default_factory=StepResources)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    """Kubernetes tolerations as written in a pod (``key``, ``operator``, ``value``, ``effect``,
    ``tolerationSeconds``)."""
    image_pull_secrets: tuple[Mapping[str, str], ...] = ()
    """``{"name": <Secret>}`` entries, as in a pod."""


@dataclass(frozen=True, kw_only=True)
class QuotaQuantities:
    """CPU and memory of one side of a preview's ResourceQuota."""

    cpu: str
    memory: str


@dataclass(frozen=True, kw_only=True)
class PreviewQuota:
    """The ResourceQuota of every preview namespace (``hard``: pods, requests and limits)."""

    pods: int = 20
    requests: QuotaQuantities = field(default_factory=lambda: QuotaQuantities(cpu="2", memory="4Gi"))
    limits: QuotaQuantities = field(default_factory=lambda: QuotaQuantities(cpu="4", memory="8Gi"))


@dataclass(frozen=True, kw_only=True)
class PipelineRoles:
    """IAM roles (IRSA) of an Aphex pipeline's stage ServiceAccounts: the pipeline stack's outputs
    ``BuildRoleArn``, ``DeployRoleArn``, ``MonitorRoleArn``, and the platform's self-update role."""

    build: str
    deploy: str
    monitor: str
    self_update: str


@dataclass(frozen=True, kw_only=True)
class ClusterPipeline:
    """One Aphex pipeline installed on the cluster (an entry of the chart's ``pipelines`` list).

    The chart installs its stage ServiceAccounts (with IRSA annotations) and RBAC, and the push Sensor
    that runs WorkflowTemplate ``name`` for pushes to ``repository``; the WorkflowTemplate itself comes
    from ``aphex compile --config`` (bootstrap) and the pipeline's self-update stage.
    """

    name: str
    """The WorkflowTemplate, ``pipeline.name`` of the repository's ``aphex-config.yaml``."""
    repository: str
    """Repository of ``events.githubOwner`` whose pushes to ``events.mainBranch`` run the pipeline."""
    artifact_bucket: str
    """The pipeline stack's output ``ArtifactBucketName``."""
    role_arns: PipelineRoles
    cluster: str = ""
    """The pipeline stack's output ``Cluster``: names the stack and the OIDC export (empty: none)."""


@dataclass(frozen=True, kw_only=True)
class BundleSettings:
    """Everything that varies between clusters; the defaults are the plain manifests in ``dist/``."""

    version: str = _VERSION
    instance: str = DEFAULT_INSTANCE
    """The release name; never a value."""
    namespace: str = DEFAULT_NAMESPACE
    """The workflows namespace: the ``namespace`` value, or the release namespace when that is empty."""
    components: Components = field(default_factory=Components)
    deployer_image: ImageRef = field(
        default_factory=lambda: ImageRef(registry="ghcr.io", repository="aphex-dev/deployer", tag=_VERSION)
    )
    builder_image: ImageRef = field(
        default_factory=lambda: ImageRef(registry="ghcr.io", repository="aphex-dev/builder", tag=_VERSION)
    )
    agent_api_group: str = "agents.platform"
    agent_api_version: str = "v1"
    agents: AgentApps = field(default_factory=AgentApps)
    agent_model: str = "claude-sonnet-4-5"
    agent_deadline_seconds: int = 2 * 3600
    github: GitHubSettings = field(default_factory=GitHubSettings)
    preview_domain: str = "preview.example.com"
    ingress_namespace: str = "ingress-nginx"
    preview_pod_security: str = "restricted"
    preview_janitor_schedule: str = "17 * * * *"
    """When ``preview-janitor`` removes expired previews (UTC): hourly, off the top of the hour."""
    preview_quota: PreviewQuota = field(default_factory=PreviewQuota)
    preview_lifetime_hours: int = 24
    """How long a kept preview lives after its run succeeded (keep-preview sets the expiry)."""
    argo_ui_url: str = "https://argo.example.com"
    workflow_deadline_seconds: int = 10 * 3600
    """Must cover one run's stages (:func:`aphex.dsl.deadlines.check_run_deadline`), checked at compile."""
    archive_logs: bool = False
    """``spec.archiveLogs`` of the WorkflowTemplates that runs start from (needs an artifact repository)."""
    events: EventsSettings = field(default_factory=EventsSettings)
    pipelines: tuple[ClusterPipeline, ...] = ()
    workflow_pods: WorkflowPods = field(default_factory=WorkflowPods)

    def __post_init__(self) -> None:
        problems = instance_problems(self.instance) + values_problems(self.to_values())
        if not self.namespace:
            problems.append("namespace: the workflows namespace cannot be empty")
        if problems:
            raise SettingsError(problems)

    def to_values(self) -> dict[str, Any]:
        """These settings as a values mapping (camelCase keys, ``namespace`` resolved), which
        :func:`load_settings` turns back into them with the same release."""
        values = _to_values(self)
        del values["version"], values["instance"]
        return values

    @property
    def step_resources(self) -> StepResources:
        """Requests and limits of the steps' containers, by class of step."""
        return self.workflow_pods.resources

    @property
    def names(self) -> "ObjectNames":
        """Names of the objects of this instance."""
        return ObjectNames(instance=self.instance, namespace=self.namespace)

    def pipeline(self, name: str) -> ClusterPipeline | None:
        """The installed pipeline whose WorkflowTemplate is ``name``, if any."""
        return next((pipeline for pipeline in self.pipelines if pipeline.name == name), None)

    @property
    def agent_api_version_full(self) -> str:
        """``group/version`` as written in a manifest's ``apiVersion``."""
        return f"{self.agent_api_group}/{self.agent_api_version}"


@dataclass(frozen=True, kw_only=True)
class ObjectNames:
    """Every object name of one instance, so that two instances on one cluster never collide.

    Namespaced objects are ``<instance>-<role>``, cluster-scoped ones ``<instance>-<namespace>-<role>``.
    WorkflowTemplates, the bundle's and the Aphex pipelines' alike, keep their bare names
    (``implementation-dag``) in the default instance, because that is the name users submit; any other
    instance prefixes them (``<instance>-implementation-dag``). Mutexes derive from the template names.
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


def _plain(element: Any) -> Any:
    """A list element of the values: a section as a mapping, a mapping as a dict."""
    if dataclasses.is_dataclass(element):
        return _to_values(element)
    return dict(element) if isinstance(element, Mapping) else element


def _to_values(obj: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in dataclasses.fields(obj):
        value = getattr(obj, item.name)
        if dataclasses.is_dataclass(value):
            value = _to_values(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        elif isinstance(value, tuple):
            value = [_plain(element) for element in value]
        values[_camel(item.name)] = value
    return values


_LIST_ELEMENTS: Final[dict[str, Any]] = {"pipelines": ClusterPipeline}
"""Settings lists whose elements are sections (by values key), built without defaults."""
_SECTIONS: Final[dict[str, Any]] = {"roleArns": PipelineRoles}


def _section(kind: Any, values: Mapping[str, Any]) -> Any:
    """A section without defaults (a list element) from schema-valid ``values``."""
    return kind(
        **{
            _snake(key): _section(_SECTIONS[key], value) if key in _SECTIONS else value
            for key, value in values.items()
        }
    )


def _build(defaults: Any, values: Mapping[str, Any]) -> Any:
    """``defaults`` with schema-valid ``values`` applied, recursing into nested settings sections."""
    changes: dict[str, Any] = {}
    for key, value in values.items():
        name = _snake(key)
        current = getattr(defaults, name)
        if dataclasses.is_dataclass(current):
            value = _build(current, value)
        elif key in _LIST_ELEMENTS:
            value = tuple(_section(_LIST_ELEMENTS[key], element) for element in value)
        elif isinstance(current, tuple):
            value = tuple(value)
        changes[name] = value
    return dataclasses.replace(defaults, **changes)


def load_settings(
    values: Mapping[str, Any] | None = None,
    *,
    release: str = DEFAULT_INSTANCE,
    release_namespace: str = DEFAULT_NAMESPACE,
) -> BundleSettings:
    """Build the settings of ``release``, installed in ``release_namespace``, from a values mapping
    (camelCase keys); every invalid key is named by its path."""
    values = dict(values or {})
    problems = values_problems(values, requests=False)  # checked on the built settings, defaults merged
    if "instance" in values:
        problems = [problem for problem in problems if not problem.startswith("instance:")]
        problems.append(
            "instance: not a value; the instance is the release name "
            "(helm install <release>, aphex compile --release <release>)"
        )
    if problems:
        raise SettingsError(problems)
    if values.get("namespace", _RELEASE_NAMESPACE) == _RELEASE_NAMESPACE:
        values["namespace"] = release_namespace
        if values_problems({"namespace": release_namespace}) or not release_namespace:
            raise SettingsError(f"release namespace {release_namespace!r}: must be a DNS label")
    settings: BundleSettings = _build(BundleSettings(instance=release), values)
    return settings


def read_values_file(path: Path) -> dict[str, Any]:
    """The values mapping in the YAML file ``path`` (``{}`` when empty), read with the hardened loader;
    raises :class:`SettingsError` naming the file when it cannot be read or is not a mapping."""
    try:
        data = load_yaml(path.read_bytes(), source=str(path))
    except OSError as error:
        raise SettingsError(f"cannot read values file {path}: {error.strerror or error}") from None
    except YamlInputError as error:
        raise SettingsError(f"values file {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"values file {path}: must be a mapping")
    return data


def default_values() -> dict[str, Any]:
    """The chart's default values (``values.yaml``): the default settings, with the namespace left to the
    release."""
    return {**BundleSettings().to_values(), "namespace": _RELEASE_NAMESPACE}


def settings_document(settings: BundleSettings) -> dict[str, Any]:
    """``settings`` as one JSON-able mapping, release included (what the self-update step receives)."""
    return {"release": settings.instance, "values": settings.to_values()}


def settings_from_document(document: Mapping[str, Any]) -> BundleSettings:
    """The inverse of :func:`settings_document`; :class:`SettingsError` names what is wrong."""
    release, values = document.get("release"), document.get("values")
    if set(document) != {"release", "values"} or not isinstance(release, str) or not isinstance(values, dict):
        raise SettingsError("must be a mapping of release (a string) and values (a mapping)")
    return load_settings(values, release=release)
