"""Core Kubernetes objects of the bundle pass kubernetes-validate in strict mode."""

from typing import Any

import kubernetes_validate
import pytest

KUBERNETES_VERSION = "1.31.0"


def test_core_objects_are_valid_kubernetes(bundle: list[dict[str, Any]]) -> None:
    core = [obj for obj in bundle if not obj["apiVersion"].startswith("argoproj.io/")]
    assert core
    for obj in core:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_strict_mode_rejects_an_unknown_field() -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "x"},
        "rulez": [],
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(role, KUBERNETES_VERSION, strict=True)
