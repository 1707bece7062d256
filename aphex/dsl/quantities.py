"""Kubernetes resource quantities as the values accept them, and their comparison.

The values accept a subset of the Kubernetes quantity grammar
(https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/, kubernetes
``apimachinery/pkg/api/resource/quantity.go``, ParseQuantity) that the chart's template engine can compare
exactly with integer arithmetic, the same way this module does:

- CPU: whole millicores (``250m``, at most 7 digits) or cores with at most three decimals (``1``, ``1.5``);
- memory and ephemeral storage: a whole number of at most 6 digits and a binary suffix (``Ki``, ``Mi``,
  ``Gi``, ``Ti``; Hera's ``Resources`` accepts no other): ``1.5Gi`` is written ``1536Mi``.

No sign, no exponent, no ``P``/``E``: none is needed for one pod or one preview namespace. Every accepted
string is a valid Kubernetes quantity, and the largest (999999Ti) fits a signed 64-bit integer of bytes.
"""

import re
from dataclasses import dataclass
from typing import Final

from aphex.dsl.errors import InputError

__all__ = [
    "CPU_PATTERN",
    "STORAGE_FACTORS",
    "STORAGE_PATTERN",
    "Quantities",
    "ResourceProfile",
    "base_units",
    "request_excess",
]

CPU_PATTERN: Final = r"^(?:[0-9]{1,7}m|[0-9]{1,4}(?:\.[0-9]{1,3})?)$"
STORAGE_PATTERN: Final = r"^[0-9]{1,6}[KMGT]i$"
_STORAGE = re.compile(r"^([0-9]+)([A-Za-z]*)$")
STORAGE_FACTORS: Final = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
"""Bytes per unit of each storage suffix."""


@dataclass(frozen=True, kw_only=True)
class Quantities:
    """CPU, memory and ephemeral storage of one side (requests or limits) of a container's resources."""

    cpu: str
    memory: str
    ephemeral_storage: str


@dataclass(frozen=True, kw_only=True)
class ResourceProfile:
    """Requests and limits of one class of step (a ``workflowPods.resources`` entry of the values); the
    step builder turns it into the container's ``resources`` (:func:`aphex.dsl.steps.runner_step`)."""

    requests: Quantities
    limits: Quantities


def base_units(resource: str, quantity: str) -> int:
    """``quantity`` in millicores (``cpu``) or bytes (anything else); the string must match the resource's
    pattern (the values schema checks it first), else :class:`aphex.dsl.errors.InputError`."""
    if resource == "cpu":
        if quantity.endswith("m"):
            return int(quantity[:-1])
        whole, _, fraction = quantity.partition(".")
        return int(whole) * 1000 + int((fraction + "000")[:3])
    match = _STORAGE.match(quantity)
    if match is None or match.group(2) not in STORAGE_FACTORS:
        raise InputError(f"not a storage quantity: {quantity!r}")
    return int(match.group(1)) * STORAGE_FACTORS[match.group(2)]


def request_excess(limit_path: str, resource: str, request: str, limit: str) -> str | None:
    """The rule a request above its limit breaks (Kubernetes refuses such a pod or quota), naming the limit
    by its path (``workflowPods.resources.light.limits.cpu``); None when the request fits."""
    if base_units(resource, request) <= base_units(resource, limit):
        return None
    return f"must be at most {limit_path} ({limit})"
