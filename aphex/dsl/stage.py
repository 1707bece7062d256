"""What defines a stage: the pod-time function and how its pod runs, declared next to the function.

Every pod-time entrypoint (``aphex/workflows/steps/<pipeline>/<stage>.py``) has a :class:`Stage` beside it:
its template name, class of resources, timeout, retry policy, image and the role of the ServiceAccount it
runs as. The pipeline definitions turn a stage into a template with :func:`aphex.dsl.steps.runner_step`,
adding only what depends on where it runs (environment, metrics, outputs). This module imports no Hera, so
the pod-time modules that declare stages load nothing more for it.
"""

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "HEAVY_SCRATCH_SIZE",
    "NETWORK_RETRY",
    "ON_POD_ERROR",
    "ResourceClass",
    "RetryPolicy",
    "Stage",
    "StepImage",
]


class ResourceClass(enum.StrEnum):
    """A class of step; the requests and limits of each are values (``workflowPods.resources.<class>``)."""

    LIGHT = "light"
    """Validation and API calls."""
    STANDARD = "standard"
    """git checkouts, Helm and kubectl, HTTP probing."""
    HEAVY = "heavy"
    """The Aphex pipeline's builds, CDK synthesis and deployment, and tests (with node_modules)."""


class StepImage(enum.StrEnum):
    """The image a stage runs in (the values ``deployerImage`` and ``builderImage``)."""

    DEPLOYER = "deployer"
    """Python, git, Helm and kubectl."""
    BUILDER = "builder"
    """The deployer's tools plus the toolchains a repository builds and deploys with (Node.js, the CDK)."""


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Retries with exponential backoff (Argo's ``retryStrategy``); an attempt that exited with the
    invalid-input code is never retried (:mod:`aphex.dsl.exit_codes`)."""

    limit: int = 3
    policy: str = "Always"
    duration: str = "10s"
    factor: int = 2
    max_duration: str = "5m"


NETWORK_RETRY: Final = RetryPolicy()
"""For network-bound steps (git, Helm, the GitHub and Kubernetes APIs): their failures are usually
transient."""
ON_POD_ERROR: Final = RetryPolicy(policy="OnError")
"""For steps that run a repository's code or give a verdict: retried only when the pod itself broke
(eviction, node loss), never after a failed command."""


HEAVY_SCRATCH_SIZE: Final = "8Gi"
"""The scratch of the Aphex pipeline's heavy stages: a checkout, its dependencies and its build output."""


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One stage: the function Hera's runner calls in the pod and how its pod runs."""

    entrypoint: Callable[..., Any]
    """A top-level function of an importable module (Hera's runner imports ``<module>:<name>``)."""
    name: str
    """The template's name."""
    resources: ResourceClass
    timeout: str
    """The template's ``timeout``: an Argo duration (``300s``, ``15m``, ``2h``) for one attempt."""
    retry: RetryPolicy | None = None
    account: str | None = None
    """The role of the ServiceAccount the pod runs as (the pipeline maps it to a name); None: the
    workflow's own."""
    image: StepImage = StepImage.DEPLOYER
    scratch_size: str | None = None
    """The size limit of the scratch emptyDir (:func:`aphex.dsl.security.scratch_volume`); None: its
    default."""
