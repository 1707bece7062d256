"""Secure step builders: the only way templates that run pods are created in this project.

:func:`runner_step` wraps a plain top-level Python function (the pipelines' are in
``aphex/workflows/steps``) into a Hera runner script
(https://hera.readthedocs.io/en/stable/user-guides/script-runner-io/): Argo hands the inputs to the
function as JSON (``source: '{{inputs.parameters}}'``), so no parameter value is ever pasted into shell
source, ``args`` or ``command``. Every step gets an explicit image, the hardened security contexts, a
scratch emptyDir, requests and limits, and optionally a retry policy with exponential backoff that never
retries an attempt which rejected its input (:mod:`aphex.dsl.exit_codes`).
"""

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hera.workflows import Env, FieldEnv, Resources, RetryStrategy, RunnerScriptConstructor, Script, SecretEnv
from hera.workflows.models import Backoff, LocalObjectReference, Toleration

from aphex.dsl.errors import DefinitionError
from aphex.dsl.exit_codes import RETRY_UNLESS_INVALID_INPUT
from aphex.dsl.images import ImageRef
from aphex.dsl.quantities import ResourceProfile

if TYPE_CHECKING:
    from aphex.dsl.settings import BundleSettings
from aphex.dsl.security import (
    OUTPUTS_DIRECTORY,
    container_security_context,
    scratch_env,
    scratch_volume,
)

__all__ = [
    "RetryPolicy",
    "github_credentials_env",
    "network_retry",
    "runner_step",
    "workflow_pod_placement",
]


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Retries with exponential backoff for steps whose failures are usually transient."""

    limit: int = 3
    policy: str = "Always"
    duration: str = "10s"
    factor: int = 2
    max_duration: str = "5m"

    def build(self) -> RetryStrategy:
        """The Hera retry strategy; an attempt that exited with the invalid-input code is not retried."""
        return RetryStrategy(
            limit=self.limit,
            retry_policy=self.policy,
            expression=RETRY_UNLESS_INVALID_INPUT,
            backoff=Backoff(duration=self.duration, factor=self.factor, max_duration=self.max_duration),
        )


def network_retry() -> RetryPolicy:
    """The default policy for network-bound steps (Git, Helm, GitHub API)."""
    return RetryPolicy()


def runner_step(
    function: Callable[..., Any],
    *,
    name: str,
    image: ImageRef,
    resources: ResourceProfile,
    env: Sequence[Env | SecretEnv | FieldEnv] = (),
    retry: RetryPolicy | None = None,
    timeout: str | None = None,
    service_account: str | None = None,
) -> Script:
    """A hardened Hera runner script that calls ``function``, which Hera's runner imports in the pod as
    ``<module>:<name>``: it must be a top-level function of an importable module."""
    module = sys.modules.get(function.__module__)
    if function.__module__ == "__main__" or getattr(module, function.__qualname__, None) is not function:
        raise DefinitionError(
            f"{name}: a runner function must be a top-level function of an importable module, "
            f"not {function.__module__}:{function.__qualname__}"
        )
    return Script(
        name=name,
        source=function,
        constructor=RunnerScriptConstructor(outputs_directory=OUTPUTS_DIRECTORY),
        image=str(image),
        image_pull_policy="IfNotPresent",
        command=["python"],
        add_cwd_to_sys_path=False,
        security_context=container_security_context(),
        resources=Resources(
            cpu_request=resources.requests.cpu,
            cpu_limit=resources.limits.cpu,
            memory_request=resources.requests.memory,
            memory_limit=resources.limits.memory,
            ephemeral_request=resources.requests.ephemeral_storage,
            ephemeral_limit=resources.limits.ephemeral_storage,
        ),
        volumes=[scratch_volume()],
        env=[*scratch_env(), *env],
        retry_strategy=retry.build() if retry else None,
        timeout=timeout,
        service_account_name=service_account,
    )


def github_credentials_env(settings: "BundleSettings") -> list[Env | SecretEnv | FieldEnv]:
    """The GitHub API and web URLs and the credentials Secret's keys (each optional: a token, or a GitHub
    App's id and private key), as the steps that call GitHub or clone a private repository read them
    (:func:`aphex.workflows.steps.common.github.resolve_token`)."""
    secret = settings.github.credentials_secret
    return [
        Env(name="GITHUB_API_URL", value=settings.github.api_url),
        Env(name="GITHUB_URL", value=settings.github.web_url),
        SecretEnv(name="GITHUB_TOKEN", secret_name=secret, secret_key="token", optional=True),
        SecretEnv(name="GITHUB_APP_ID", secret_name=secret, secret_key="app-id", optional=True),
        SecretEnv(name="GITHUB_APP_PRIVATE_KEY", secret_name=secret, secret_key="private-key", optional=True),
    ]


def workflow_pod_placement(settings: "BundleSettings") -> dict[str, Any]:
    """The WorkflowTemplate keywords that put every pod of a workflow where ``workflowPods`` says: the
    spec-level ``nodeSelector``, ``tolerations`` and ``imagePullSecrets``, each left out when empty.

    Argo copies them into every pod it creates, the resource steps' included: spec-level nodeSelector
    and tolerations unless a template sets its own (argo-workflows workflow/controller/workflowpod.go,
    addSchedulingConstraints), imagePullSecrets always (the pod builder in the same file).
    """
    pods = settings.workflow_pods
    return {
        "node_selector": dict(pods.node_selector) or None,
        "tolerations": [Toleration(**toleration) for toleration in pods.tolerations] or None,
        "image_pull_secrets": [
            LocalObjectReference(name=secret["name"]) for secret in pods.image_pull_secrets
        ]
        or None,
    }
