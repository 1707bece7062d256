"""Standard Kubernetes labels (``app.kubernetes.io/*``) and the keys aphex puts on what it creates.

See https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/.
"""

from typing import Final

__all__ = ["LABEL_PREFIX", "MANAGED_BY", "PART_OF", "standard_labels"]

PART_OF: Final = "aphex"
MANAGED_BY: Final = "aphex"
LABEL_PREFIX: Final = "aphex.dev/"
"""Prefix of aphex's own label and annotation keys (preview, pr, repo, owner, workflow, stage...)."""


def standard_labels(*, name: str, component: str, version: str, instance: str = "aphex") -> dict[str, str]:
    """The recommended label set for one object of the bundle."""
    return {
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/version": version,
    }
