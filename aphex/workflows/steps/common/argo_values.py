"""Values the Argo controller hands to steps in its own wire formats, decoded in one place.

``{{workflow.failures}}`` is ``strconv.Quote(string(json.Marshal(failures)))`` (argo-workflows
workflow/controller/operator.go, operate): a JSON string literal whose content is the JSON list of
failed nodes, and the 6 characters ``"null"`` (quotes included) when no node failed. Steps decode it with
:func:`workflow_failures`, which keeps decoding until it has a list, so the plain list some tests pass
also works.
"""

import json
from typing import Any

from aphex.dsl.names import InvalidValue

__all__ = ["workflow_failures"]

_MAX_DECODES = 3


def workflow_failures(value: str, field: str) -> list[dict[str, Any]]:
    """The failed nodes of ``{{workflow.failures}}``: ``[]`` for ``"null"``, ``null`` or an empty value;
    raises :class:`InvalidValue` (naming ``field``) for anything that is not a list of objects."""
    data: Any = value
    for _ in range(_MAX_DECODES):
        if not isinstance(data, str):
            break
        if data.strip() in ("", "null"):
            return []
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            raise InvalidValue(field, value, "must be Argo's workflow.failures (quoted JSON)") from None
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise InvalidValue(field, value, "must be Argo's workflow.failures (a JSON list of objects)")
    return data
