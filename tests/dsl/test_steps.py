"""runner_step: which functions Hera's runner can call in a pod (it imports ``<module>:<name>``), and what a
stage's definition gives its template."""

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from aphex.dsl.errors import DefinitionError
from aphex.dsl.settings import BundleSettings
from aphex.dsl.stage import HEAVY_SCRATCH_SIZE, ON_POD_ERROR, ResourceClass, Stage, StepImage
from aphex.dsl.steps import runner_step
from aphex.workflows.steps.implementation_dag.head import STAGE as RESOLVE_HEAD

SETTINGS = BundleSettings()


def test_a_top_level_function_of_an_importable_module_is_called_by_its_path() -> None:
    script = runner_step(RESOLVE_HEAD, SETTINGS)
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
        runner_step(dataclasses.replace(RESOLVE_HEAD, entrypoint=_nested(), name="x"), SETTINGS)
    with pytest.raises(DefinitionError, match="lambda"):
        runner_step(dataclasses.replace(RESOLVE_HEAD, entrypoint=lambda: None, name="x"), SETTINGS)


def test_the_template_follows_the_stage_and_the_settings() -> None:
    """Image, resources of the class, scratch size, retry, timeout and the account's name come from the
    stage and the values; a heavy builder stage gets the builder image and the heavy class's limits."""
    stage = Stage(
        entrypoint=RESOLVE_HEAD.entrypoint,
        name="heavy-head",
        resources=ResourceClass.HEAVY,
        timeout="2h",
        retry=ON_POD_ERROR,
        account="build",
        image=StepImage.BUILDER,
        scratch_size=HEAVY_SCRATCH_SIZE,
    )
    template = runner_step(stage, SETTINGS, account_name=lambda role: f"team-{role}")._build_template()
    assert template.name == "heavy-head"
    assert template.script is not None
    assert template.script.image == str(SETTINGS.builder_image)
    heavy = SETTINGS.step_resources.heavy
    assert template.script.resources is not None
    assert template.script.resources.limits is not None
    assert template.script.resources.limits["memory"].root == heavy.limits.memory
    assert template.timeout == "2h"
    assert template.service_account_name == "team-build"
    assert template.retry_strategy is not None
    assert template.retry_strategy.retry_policy == "OnError"
    assert template.volumes is not None
    assert template.volumes[0].empty_dir is not None
    assert template.volumes[0].empty_dir.size_limit is not None
    assert template.volumes[0].empty_dir.size_limit.root == HEAVY_SCRATCH_SIZE


def test_a_stage_without_an_account_runs_as_the_workflow() -> None:
    template = runner_step(RESOLVE_HEAD, SETTINGS)._build_template()
    assert template.service_account_name is None
    assert template.script is not None
    assert template.script.image == str(SETTINGS.deployer_image)


@pytest.mark.parametrize("resource_class", list(ResourceClass))
def test_every_resource_class_is_a_values_class(resource_class: ResourceClass) -> None:
    """The enum's values are the keys of workflowPods.resources."""
    assert resource_class.value in SETTINGS.to_values()["workflowPods"]["resources"]
    resources = SETTINGS.step_resources
    assert resources.of(resource_class) is getattr(resources, resource_class.value)
