"""Shared fixtures: the compiled bundle (built once per session)."""

from typing import Any

import pytest


@pytest.fixture(scope="session")
def bundle() -> list[dict[str, Any]]:
    """Every object of the bundle with default settings."""
    from aphex.dsl.settings import BundleSettings
    from aphex.workflows.bundle import build_bundle

    return build_bundle(BundleSettings())


@pytest.fixture(scope="session")
def templates(bundle: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The WorkflowTemplates of the bundle by name."""
    return {obj["metadata"]["name"]: obj for obj in bundle if obj["kind"] == "WorkflowTemplate"}
