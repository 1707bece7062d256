"""runner_step: which functions Hera's runner can call in a pod (it imports ``<module>:<name>``)."""

from collections.abc import Callable
from typing import Any

import pytest

from aphex.dsl.errors import DefinitionError
from aphex.dsl.images import ImageRef
from aphex.dsl.settings import StepResources
from aphex.dsl.steps import runner_step
from aphex.workflows.steps.implementation_dag.head import resolve_head

IMAGE = ImageRef(registry="ghcr.io", repository="aphex-dev/deployer", tag="0.1.0")
LIGHT = StepResources().light


def test_a_top_level_function_of_an_importable_module_is_called_by_its_path() -> None:
    script = runner_step(resolve_head, name="head", image=IMAGE, resources=LIGHT)
    assert script.args == [
        "-m",
        "hera.workflows.runner",
        "-e",
        "aphex.workflows.steps.implementation_dag.head:resolve_head",
    ]


def _nested() -> Callable[..., Any]:
    def inner() -> None:
        """Not reachable as ``module:name``."""

    return inner


def test_a_function_the_runner_cannot_import_is_refused() -> None:
    with pytest.raises(DefinitionError, match=r"^x: a runner function must be a top-level function .*inner"):
        runner_step(_nested(), name="x", image=IMAGE, resources=LIGHT)
    with pytest.raises(DefinitionError, match="lambda"):
        runner_step(lambda: None, name="x", image=IMAGE, resources=LIGHT)
