"""Loops of a DAG task or step: the items of ``withItems``, ``withParam`` or ``withSequence``, each item's
label in its node name (``task(0:item)``) and the ``item`` variables it gives."""

import json
from collections.abc import Mapping
from typing import Any

from aphex.dsl.run.nodes import RunError
from aphex.dsl.run.substitution import substitute, substitute_tree

__all__ = ["item_label", "item_variables", "loop_items"]


def loop_items(task: Mapping[str, Any], variables: Mapping[str, str]) -> list[Any] | None:
    """The items ``task`` loops over, or None when it has no loop; raises :class:`RunError`."""
    if task.get("withItems") is not None:
        return list(substitute_tree(task["withItems"], variables, "withItems"))
    if task.get("withParam") is not None:
        text = substitute(str(task["withParam"]), variables, "withParam")
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            raise RunError(f"withParam: {text!r} is not a JSON list") from None
        if not isinstance(items, list):
            raise RunError(f"withParam: {text!r} is not a JSON list")
        return items
    sequence = task.get("withSequence")
    if sequence is None:
        return None
    sequence = substitute_tree(sequence, variables, "withSequence")
    try:
        start = int(sequence.get("start", 0))
        if sequence.get("count") is not None:
            end = start + int(sequence["count"]) - 1
        else:
            end = int(sequence.get("end", 0))
    except (TypeError, ValueError):
        raise RunError(f"withSequence: {sequence!r}: count, start and end must be integers") from None
    step = 1 if end >= start else -1
    numbers = range(start, end + step, step)
    form = sequence.get("format")
    return [str(form) % number if form else str(number) for number in numbers]


def item_label(item: Any) -> str:
    """How ``item`` shows in its node's name."""
    if isinstance(item, Mapping):
        return ",".join(f"{key}:{value}" for key, value in item.items())
    return item if isinstance(item, str) else json.dumps(item)


def item_variables(item: Any) -> dict[str, str]:
    """``item`` and, for a map, ``item.KEY``."""
    if isinstance(item, str):
        return {"item": item}
    variables = {"item": json.dumps(item) if not isinstance(item, int | float) else str(item)}
    if isinstance(item, Mapping):
        for key, value in item.items():
            variables[f"item.{key}"] = value if isinstance(value, str) else json.dumps(value)
    return variables
