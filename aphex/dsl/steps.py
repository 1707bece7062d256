"""Secure step builders: the only way templates that run pods are created in this project.

:func:`runner_step` wraps a plain top-level Python function (the pipelines' are in
``aphex/workflows/steps``) into a Hera runner script
(https://hera.readthedocs.io/en/stable/user-guides/script-runner-io/): Argo hands the inputs to the
function as JSON (``source: '{{inputs.parameters}}'``), so no parameter value is ever pasted into shell
source, ``args`` or ``command``. Every step gets an explicit image, the hardened security contexts, a
scratch emptyDir, requests and limits, and optionally a retry policy with exponential backoff that never
retries an attempt which rejected its input (:mod:`aphex.dsl.exit_codes`). What a step is (name, class of
resources, timeout, retries, image, account) is its :class:`aphex.dsl.stage.Stage`, declared next to the
function.
"""

import sys
from collections.abc import Callable, Sequence
from typing import Any

from hera.workflows import (
    Env,
    FieldEnv,
    Parameter,
    Resources,
    RetryStrategy,
    RunnerScriptConstructor,
    Script,
    SecretEnv,
    SecretVolume,
)
from hera.workflows.models import Backoff

from aphex.dsl.errors import DefinitionError
from aphex.dsl.exit_codes import RETRY_UNLESS_INVALID_INPUT
from aphex.dsl.metrics import PrometheusMetric
from aphex.dsl.security import (
    OUTPUTS_DIRECTORY,
    container_security_context,
    scratch_env,
    scratch_volume,
)
from aphex.dsl.settings import BundleSettings
from aphex.dsl.stage import RetryPolicy, Stage, StepImage

__all__ = [
    "github_credentials_env",
    "retry_strategy",
    "runner_step",
]


def retry_strategy(policy: RetryPolicy) -> RetryStrategy:
    """The Hera retry strategy of ``policy``; an attempt that exited with the invalid-input code is not
    retried."""
    return RetryStrategy(
        limit=policy.limit,
        retry_policy=policy.policy,
        expression=RETRY_UNLESS_INVALID_INPUT,
        backoff=Backoff(duration=policy.duration, factor=policy.factor, max_duration=policy.max_duration),
    )


def runner_step(
    stage: Stage,
    settings: BundleSettings,
    *,
    env: Sequence[Env | SecretEnv | FieldEnv] = (),
    metrics: Sequence[PrometheusMetric] = (),
    outputs: Sequence[Parameter] = (),
    volumes: Sequence[SecretVolume] = (),
    account_name: Callable[[str], str] | None = None,
) -> Script:
    """The hardened Hera runner script of ``stage`` with the resources, image and ServiceAccount
    ``settings`` give its classes; ``account_name`` maps the stage's account role to a ServiceAccount
    name (default: ``settings.names.object``). ``env``, ``metrics``, ``outputs`` (beyond those the
    function returns) and ``volumes`` (beyond the scratch volume) depend on where the stage runs.

    Hera's runner imports the function in the pod as ``<module>:<name>``: it must be a top-level
    function of an importable module."""
    function = stage.entrypoint
    module = sys.modules.get(function.__module__)
    if function.__module__ == "__main__" or getattr(module, function.__qualname__, None) is not function:
        raise DefinitionError(
            f"{stage.name}: a runner function must be a top-level function of an importable module, "
            f"not {function.__module__}:{function.__qualname__}"
        )
    image = settings.builder_image if stage.image == StepImage.BUILDER else settings.deployer_image
    resources = settings.step_resources.of(stage.resources)
    account = None
    if stage.account is not None:
        account = (account_name or settings.names.object)(stage.account)
    scratch = scratch_volume(stage.scratch_size) if stage.scratch_size else scratch_volume()
    extra: dict[str, Any] = {"outputs": list(outputs)} if outputs else {}
    return Script(
        name=stage.name,
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
        volumes=[scratch, *volumes],
        env=[*scratch_env(), *env],
        retry_strategy=retry_strategy(stage.retry) if stage.retry else None,
        timeout=stage.timeout,
        service_account_name=account,
        metrics=list(metrics) or None,
        **extra,
    )


def github_credentials_env(settings: BundleSettings) -> list[Env | SecretEnv | FieldEnv]:
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
