"""Hardened pod and container defaults applied to every template aphex emits.

Pods run as a fixed non-root user with the RuntimeDefault seccomp profile; containers drop every
capability, cannot escalate privileges and have a read-only root filesystem. Scratch space (``/tmp``,
which also holds Hera's runner outputs and ``HOME``) is an emptyDir with a size limit. See
https://kubernetes.io/docs/concepts/security/pod-security-standards/ (the "restricted" profile).
"""

from typing import Final

from hera.workflows import EmptyDirVolume, Env
from hera.workflows.models import (
    Capabilities,
    PodSecurityContext,
    Quantity,
    SeccompProfile,
    SecurityContext,
)

__all__ = [
    "NON_ROOT_UID",
    "OUTPUTS_DIRECTORY",
    "SCRATCH_PATH",
    "container_security_context",
    "pod_security_context",
    "scratch_env",
    "scratch_volume",
]

NON_ROOT_UID: Final = 65532
SCRATCH_PATH: Final = "/tmp"  # noqa: S108 - an emptyDir mount, not the host's /tmp
OUTPUTS_DIRECTORY: Final = f"{SCRATCH_PATH}/hera-outputs"
"""Where Hera's runner writes output parameters and artifacts: inside the scratch emptyDir."""


def pod_security_context() -> PodSecurityContext:
    """Pod-level context: non-root user and group, fsGroup for the emptyDir, RuntimeDefault seccomp."""
    return PodSecurityContext(
        run_as_non_root=True,
        run_as_user=NON_ROOT_UID,
        run_as_group=NON_ROOT_UID,
        fs_group=NON_ROOT_UID,
        seccomp_profile=SeccompProfile(type="RuntimeDefault"),
    )


def container_security_context() -> SecurityContext:
    """Container-level context: no escalation, no capabilities, read-only root filesystem."""
    return SecurityContext(
        run_as_non_root=True,
        run_as_user=NON_ROOT_UID,
        run_as_group=NON_ROOT_UID,
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        capabilities=Capabilities(drop=["ALL"]),
        seccomp_profile=SeccompProfile(type="RuntimeDefault"),
    )


def scratch_volume(size_limit: str = "1Gi") -> EmptyDirVolume:
    """The writable scratch emptyDir mounted at ``/tmp``."""
    return EmptyDirVolume(name="scratch", mount_path=SCRATCH_PATH, size_limit=Quantity(size_limit))


def scratch_env() -> list[Env]:
    """Point HOME and tool caches at the scratch volume (git, helm and kubectl write under HOME)."""
    return [
        Env(name="HOME", value=SCRATCH_PATH),
        Env(name="XDG_CACHE_HOME", value=f"{SCRATCH_PATH}/.cache"),
        Env(name="XDG_CONFIG_HOME", value=f"{SCRATCH_PATH}/.config"),
        Env(name="APHEX_SCRATCH", value=f"{SCRATCH_PATH}/work"),
    ]
