"""Container image references: every template names its image explicitly.

Hera falls back to ``python:3.10`` for a Script without an image; nothing this project emits may do so.
An :class:`ImageRef` renders ``registry/repository:tag`` or, when a digest is pinned,
``registry/repository@sha256:...`` (the digest wins: it is what the cluster will run).
"""

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["DIGEST_PATTERN", "REGISTRY_PATTERN", "REPOSITORY_PATTERN", "TAG_PATTERN", "ImageRef"]

DIGEST_PATTERN: Final = r"^sha256:[0-9a-f]{64}$"
REPOSITORY_PATTERN: Final = r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*$"
REGISTRY_PATTERN: Final = r"^[A-Za-z0-9.-]+(?::[0-9]+)?$"
TAG_PATTERN: Final = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
_DIGEST = re.compile(DIGEST_PATTERN)
_REPOSITORY = re.compile(REPOSITORY_PATTERN)
_REGISTRY = re.compile(REGISTRY_PATTERN)
_TAG = re.compile(TAG_PATTERN)


@dataclass(frozen=True, kw_only=True)
class ImageRef:
    """An OCI image reference pinned by tag or digest."""

    registry: str
    repository: str
    tag: str
    digest: str = ""

    def __post_init__(self) -> None:
        if not _REGISTRY.match(self.registry):
            raise ValueError(f"image registry: not a registry host: {self.registry!r}")
        if not _REPOSITORY.match(self.repository):
            raise ValueError(f"image repository: not a repository path: {self.repository!r}")
        if not _TAG.match(self.tag):
            raise ValueError(f"image tag: not an image tag: {self.tag!r}")
        if self.digest and not _DIGEST.match(self.digest):
            raise ValueError(f"image digest: must be sha256:<64 hex>: {self.digest!r}")

    def __str__(self) -> str:
        name = f"{self.registry}/{self.repository}"
        return f"{name}@{self.digest}" if self.digest else f"{name}:{self.tag}"
