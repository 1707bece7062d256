"""A local object store standing in for the Kubernetes API of ``resource`` templates.

Objects are JSON files ``<root>/<kind>/<namespace>/<name>.json``. A :class:`ResourceRule` given by the
user completes matching objects (``kind=CodeRun,label:aphex.dev/stage=qa,phase=Failed,after=0.1`` sets
``status.phase`` after 0.1 s); ``successCondition``/``failureCondition`` are evaluated as Argo does, as
comma-separated requirements on JSON paths (``status.phase == Succeeded``, ``status.succeeded > 0``). See
https://argo-workflows.readthedocs.io/en/latest/walk-through/kubernetes-resources/.
"""

import json
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aphex.dsl.errors import InputError

__all__ = [
    "ConditionError",
    "ObjectStore",
    "ResourceRule",
    "RuleError",
    "condition_holds",
    "json_path",
    "parse_condition",
    "parse_rule",
]

_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


class RuleError(InputError):
    """A ``--resource-rule`` is malformed; the message names the part."""


class ConditionError(InputError):
    """A success/failure condition or jsonPath cannot be evaluated."""


@dataclass(frozen=True, kw_only=True)
class ResourceRule:
    """Completes matching objects: sets ``status.phase`` to ``phase`` ``after`` seconds."""

    kind: str | None = None
    name_prefix: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    phase: str
    after: float = 0.0

    def matches(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata", {}) or {}
        if self.kind is not None and obj.get("kind") != self.kind:
            return False
        if self.name_prefix is not None and not str(meta.get("name", "")).startswith(self.name_prefix):
            return False
        labels = meta.get("labels", {}) or {}
        return all(str(labels.get(key)) == value for key, value in self.labels.items())


def parse_rule(text: str) -> ResourceRule:
    """Parse ``kind=K,name=PREFIX,label:KEY=VALUE,phase=P,after=SECONDS`` (``phase`` required)."""
    kind = prefix = phase = None
    after = 0.0
    labels: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise RuleError(f"--resource-rule {text!r}: {part!r} is not key=value")
        if key == "kind":
            kind = value
        elif key == "name":
            prefix = value
        elif key.startswith("label:"):
            labels[key.removeprefix("label:")] = value
        elif key == "phase":
            phase = value
        elif key == "after":
            try:
                after = float(value)
            except ValueError:
                raise RuleError(f"--resource-rule {text!r}: after: {value!r} is not a number") from None
        else:
            raise RuleError(
                f"--resource-rule {text!r}: unknown key {key!r} (kind, name, label:K, phase, after)"
            )
    if not phase:
        raise RuleError(f"--resource-rule {text!r}: phase is required")
    return ResourceRule(kind=kind, name_prefix=prefix, labels=labels, phase=phase, after=after)


_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\[\]-]+)\s*(==|!=|=|>=|<=|>|<)\s*(.*?)\s*$")


def parse_condition(text: str) -> list[tuple[str, str, str]]:
    """``status.phase == Succeeded, status.x > 1`` as (path, operator, value) triples."""
    requirements = []
    for part in text.split(","):
        match = _REQUIREMENT.match(part)
        if not match:
            raise ConditionError(f"cannot parse condition {part.strip()!r}")
        path, operator, value = match.groups()
        requirements.append((path, "==" if operator == "=" else operator, value))
    return requirements


def _lookup(obj: Any, path: str) -> Any:
    current = obj
    for part in filter(None, re.split(r"\.|\[(\d+)\]", path)):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def condition_holds(text: str, obj: Mapping[str, Any]) -> bool:
    """Whether every requirement of a success/failure condition holds for ``obj``."""
    for path, operator, expected in parse_condition(text):
        actual = _lookup(obj, path)
        if operator in ("==", "!="):
            equal = actual is not None and str(actual) == expected
            if equal != (operator == "=="):
                return False
            continue
        left, right = _number(actual), _number(expected)
        if left is None or right is None:
            return False
        if not {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[operator]:
            return False
    return True


def json_path(obj: Mapping[str, Any], expression: str) -> str:
    """Evaluate a simple Kubernetes jsonPath such as ``{.metadata.name}``."""
    match = re.fullmatch(r"\{\.([A-Za-z0-9_.\[\]-]+)\}", expression.strip())
    if not match:
        raise ConditionError(f"jsonPath {expression!r}: only {{.field.path}} is supported")
    value = _lookup(obj, match.group(1))
    if value is None:
        raise ConditionError(f"jsonPath {expression!r}: no such field")
    return value if isinstance(value, str) else json.dumps(value)


class ObjectStore:
    """Objects as JSON files under ``root``; safe for the threads of one run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def _file(self, kind: str, namespace: str, name: str) -> Path:
        return self.root / kind / namespace / f"{name}.json"

    def create(self, manifest: Mapping[str, Any], namespace: str) -> dict[str, Any]:
        """Store a new object; ``generateName`` gets five random characters, as the API server does."""
        obj = json.loads(json.dumps(manifest))
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", namespace)
        with self._lock:
            if not meta.get("name"):
                if not meta.get("generateName"):
                    raise ConditionError("metadata.name or metadata.generateName is required")
                meta["name"] = meta["generateName"] + "".join(
                    secrets.choice(_NAME_ALPHABET) for _ in range(5)
                )
            file = self._file(str(obj.get("kind")), str(meta["namespace"]), str(meta["name"]))
            if file.exists():
                raise ConditionError(f"{obj.get('kind')}/{meta['name']} already exists")
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(json.dumps(obj, indent=2, sort_keys=True))
        return dict(obj)

    def apply(self, manifest: Mapping[str, Any], namespace: str) -> dict[str, Any]:
        """Create or replace an object by name."""
        meta = manifest.get("metadata", {}) or {}
        if meta.get("name"):
            existing = self.get(
                str(manifest.get("kind")), str(meta.get("namespace", namespace)), meta["name"]
            )
            if existing is not None:
                self.delete(existing)
        return self.create(manifest, namespace)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        file = self._file(kind, namespace, name)
        with self._lock:
            return json.loads(file.read_text()) if file.exists() else None

    def update(self, obj: Mapping[str, Any]) -> None:
        meta = obj["metadata"]
        with self._lock:
            self._file(str(obj["kind"]), str(meta["namespace"]), str(meta["name"])).write_text(
                json.dumps(obj, indent=2, sort_keys=True)
            )

    def delete(self, obj: Mapping[str, Any]) -> None:
        meta = obj["metadata"]
        with self._lock:
            self._file(str(obj["kind"]), str(meta["namespace"]), str(meta["name"])).unlink(missing_ok=True)

    def objects(self) -> list[dict[str, Any]]:
        """Every stored object, sorted by path."""
        with self._lock:
            files = sorted(self.root.rglob("*.json")) if self.root.exists() else []
            return [json.loads(file.read_text()) for file in files]

    def delete_owned_by(self, uid: str) -> list[dict[str, Any]]:
        """Delete every object with an ownerReference to ``uid`` (garbage collection); return them."""
        owned = [
            obj
            for obj in self.objects()
            if any(
                ref.get("uid") == uid for ref in (obj.get("metadata", {}) or {}).get("ownerReferences", [])
            )
        ]
        for obj in owned:
            self.delete(obj)
        return owned
