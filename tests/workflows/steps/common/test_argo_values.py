"""``aphex.workflows.steps.common.argo_values``: ``{{workflow.failures}}`` as Argo's controller delivers it.

argo-workflows workflow/controller/operator.go, operate: the value is
``strconv.Quote(string(json.Marshal(failures)))``, the 6 characters ``"null"`` when nothing failed.
"""

import pytest

from aphex.dsl.names import InvalidValue
from aphex.workflows.steps.common.argo_values import workflow_failures

ARGO_VALUE = (
    '"[{\\"displayName\\":\\"build\\",\\"message\\":\\"Error (exit code 1): \\u003cboom\\u003e\\",'
    '\\"templateName\\":\\"build\\",\\"phase\\":\\"Failed\\",\\"podName\\":\\"wf-build-1\\",'
    '\\"finishedAt\\":\\"2026-01-31T12:00:00Z\\"}]"'
)


def test_argo_quoted_list_decodes_to_the_failed_nodes() -> None:
    assert workflow_failures(ARGO_VALUE, "failures") == [
        {
            "displayName": "build",
            "message": "Error (exit code 1): <boom>",
            "templateName": "build",
            "phase": "Failed",
            "podName": "wf-build-1",
            "finishedAt": "2026-01-31T12:00:00Z",
        }
    ]


@pytest.mark.parametrize("value", ['"null"', "null", "", "[]"])
def test_nothing_failed(value: str) -> None:
    assert workflow_failures(value, "failures") == []


def test_a_plain_list_is_accepted() -> None:
    assert workflow_failures('[{"displayName": "a"}]', "failures") == [{"displayName": "a"}]


@pytest.mark.parametrize("value", ["{", '"[1]"', '{"a": 1}', '"\\"x\\""'])
def test_anything_else_names_the_field(value: str) -> None:
    with pytest.raises(InvalidValue, match=r"^failures: must be Argo's workflow\.failures"):
        workflow_failures(value, "failures")
