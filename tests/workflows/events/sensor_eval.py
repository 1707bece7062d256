"""An offline evaluator of the part of Argo Events (v1.9) that aphex's Sensors use.

It mirrors, for the subset emitted by ``aphex/workflows/events.py``:

- how the GitHub EventSource turns a delivery into event data
  (``pkg/eventsources/sources/github/start.go``): ``{"headers": <http.Header>, "body": <payload>}``, header
  names canonicalized by Go (``X-GitHub-Event`` becomes ``X-Github-Event``) with a list of values each,
  and the ``X-GitHub-Event``/``X-GitHub-Delivery`` header values also copied into the body;
- dependency filters (``pkg/sensors/dependencies/filter.go``): ``exprs`` then ``data``, combined by
  ``filtersLogicalOperator``; data filters of type ``string`` (each value a Go regular expression matched
  *anywhere* in the value, not anchored), ``number`` (with ``comparator``) and ``bool``; a missing path is
  an error, which fails the filter; expr filters bind only their ``fields`` (gjson paths) and evaluate the
  expression (govaluate), of which only ``a == b`` and ``a != b`` between names are supported here;
- a ``k8s`` trigger with ``operation: create`` (``sensors/triggers/standard-k8s``): the inline
  ``source.resource`` with ``parameters`` applied (``sensors/triggers/params.go``): each ``src.dataKey``
  is looked up with gjson and its string form set at ``dest``; a missing key falls back to ``src.value``
  and, without one, to the whole event data, as Argo Events does.

gjson paths are supported as dotted keys with numeric array indexes and ``\\.`` escapes; wildcards,
queries and modifiers are refused. Anything else outside this subset raises :class:`Unsupported`, so a
change to the emitted objects cannot silently escape the tests.
"""

import copy
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EventData",
    "FilterError",
    "Unsupported",
    "canonical_header",
    "evaluate_dependency",
    "event_data",
    "fire",
    "gjson_get",
    "gjson_string",
]

_MISSING = object()
_GJSON_SPECIAL = set("*?#@|!=<>%")


class Unsupported(ValueError):
    """The object uses Argo Events semantics this evaluator does not model."""


class FilterError(ValueError):
    """Argo Events reports an error for this filter (it then does not pass)."""


@dataclass(frozen=True, kw_only=True)
class EventData:
    """One event as the Sensor receives it from the EventBus."""

    event_source: str
    event_name: str
    data: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """Whether a dependency passed its filters, and why not."""

    passed: bool
    reasons: list[str] = field(default_factory=list)


def canonical_header(name: str) -> str:
    """Go's ``textproto.CanonicalMIMEHeaderKey`` for ASCII header names."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def event_data(
    headers: Mapping[str, str], body: Mapping[str, Any], *, event_source: str, event_name: str
) -> EventData:
    """What the GitHub EventSource publishes for one (signature-checked) delivery."""
    canonical: dict[str, list[str]] = {}
    for name, value in headers.items():
        canonical.setdefault(canonical_header(name), []).append(value)
    payload = dict(copy.deepcopy(body))
    for header in ("X-GitHub-Event", "X-GitHub-Delivery"):
        values = canonical.get(canonical_header(header), [])
        payload[header] = values[0] if values else ""
    # The EventSource decodes the body into Go values and encodes it again: numbers become float64.
    payload = json.loads(json.dumps(payload), parse_int=float)
    return EventData(
        event_source=event_source, event_name=event_name, data={"headers": canonical, "body": payload}
    )


def _path_keys(path: str) -> list[str]:
    if not path or any(char in _GJSON_SPECIAL for char in path):
        raise Unsupported(f"gjson path {path!r}: only dotted keys and array indexes are modelled")
    keys: list[str] = []
    current = ""
    chars = iter(path)
    for char in chars:
        if char == "\\":
            current += next(chars, "")
        elif char == ".":
            keys.append(current)
            current = ""
        else:
            current += char
    keys.append(current)
    return keys


def gjson_get(data: Any, path: str) -> Any:
    """The value at a gjson path, or the module's missing marker (``Result.Exists()`` is false)."""
    value = data
    for key in _path_keys(path):
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return _MISSING
    return value


def _go_number(number: float) -> str:
    """Go's encoding of a float64 in JSON, as gjson's ``String()`` returns it for integral values."""
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    if math.isfinite(number):
        return repr(number)
    raise Unsupported(f"number {number!r} cannot appear in JSON")


def gjson_string(value: Any) -> str:
    """gjson ``Result.String()``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return _go_number(float(value))
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _gjson_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() in {"1", "t", "true"}
    if isinstance(value, int | float):
        return value != 0
    return False


def _gjson_float(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return 0.0
    return 0.0


def _translate(pattern: str) -> str:
    """A Go (RE2) pattern as a Python pattern, refusing syntax on which the two disagree.

    Go's ``$`` (without the m flag) matches only at the very end of the text, as Python's ``\\Z`` does;
    lookarounds, backreferences and named groups ``(?P...)`` are not RE2; only the ``i`` flag is modelled.
    """
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escaped = pattern[index + 1 : index + 2]
            if escaped.isdigit() or escaped in {"p", "P", "z", "Z", "A", ""}:
                raise Unsupported(f"regular expression {pattern!r}: escape \\{escaped} is not modelled")
            out.append(char + escaped)
            index += 2
            continue
        if char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "(" and not in_class and pattern.startswith("(?:", index):
            pass  # a non-capturing group means the same in Go's RE2 syntax and Python's
        elif char == "(" and not in_class and pattern.startswith("(?", index):
            flags = re.match(r"\(\?([a-zA-Z]*)\)", pattern[index:])
            if flags is None or set(flags.group(1)) - {"i"}:
                raise Unsupported(f"regular expression {pattern!r}: only (?i) and (?: groups are modelled")
        elif char == "$" and not in_class:
            out.append("\\Z")
            index += 1
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _go_regex(pattern: str) -> re.Pattern[str]:
    translated = _translate(pattern)
    try:
        return re.compile(translated, re.ASCII)
    except re.error as error:
        raise FilterError(f"data filter error ({error})") from None


def _parse_go_bool(text: str) -> bool:
    if text in {"1", "t", "T", "TRUE", "true", "True"}:
        return True
    if text in {"0", "f", "F", "FALSE", "false", "False"}:
        return False
    raise FilterError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def _number_matches(comparator: str, event: float, wanted: float) -> bool:
    comparisons = {
        "": event == wanted,
        "=": event == wanted,
        "!=": event != wanted,
        ">": event > wanted,
        ">=": event >= wanted,
        "<": event < wanted,
        "<=": event <= wanted,
    }
    if comparator not in comparisons:
        return False
    return comparisons[comparator]


def _data_filter_passes(data_filter: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    """One data filter (AND semantics): raises FilterError where Argo Events reports an error."""
    known = {"path", "type", "value", "comparator"}
    if set(data_filter) - known:
        raise Unsupported(f"data filter keys {sorted(set(data_filter) - known)} are not modelled")
    path = data_filter["path"]
    value = gjson_get(data, path)
    if value is _MISSING:
        raise FilterError(f"data filter error (path '{path}' does not exist)")
    values: Sequence[str] = data_filter.get("value") or []
    if not values:
        raise FilterError("data filter error (no values specified)")
    comparator = data_filter.get("comparator", "")
    kind = data_filter.get("type")
    if kind == "bool":
        return any(_parse_go_bool(wanted) == _gjson_bool(value) for wanted in values)
    if kind == "number":
        event = _gjson_float(value)
        for wanted in values:
            try:
                number = float(wanted)
            except ValueError:
                raise FilterError(f'strconv.ParseFloat: parsing "{wanted}": invalid syntax') from None
            if _number_matches(comparator, event, number):
                return True
        return False
    if kind == "string":
        text = gjson_string(value)
        for wanted in values:
            found = _go_regex(wanted).search(text) is not None
            if comparator in {"", "="} and found:
                return True
            if comparator == "!=" and not found:
                return True
        return False
    raise FilterError(f"data filter error (unsupported JSON type '{kind}')")


_EXPRESSION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(==|!=)\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")


def _go_value(value: Any) -> Any:
    """gjson ``Result.Value()``: JSON numbers are float64."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def _expr_passes(expr_filter: Mapping[str, Any], data: Mapping[str, Any]) -> bool | None:
    """One expr filter; None when it binds no field (Argo Events then skips it)."""
    if set(expr_filter) - {"expr", "fields"}:
        raise Unsupported(f"expr filter keys {sorted(set(expr_filter) - {'expr', 'fields'})}")
    parameters: dict[str, Any] = {}
    for bound in expr_filter.get("fields") or []:
        value = gjson_get(data, bound["path"])
        if value is _MISSING:
            raise FilterError(f"expr filter error (path '{bound['path']}' does not exist)")
        parameters[bound["name"]] = _go_value(value)
    if not parameters:
        return None
    match = _EXPRESSION.match(expr_filter["expr"])
    if match is None:
        raise Unsupported(f"expression {expr_filter['expr']!r}: only 'a == b' and 'a != b' are modelled")
    left, operator, right = match.groups()
    for name in (left, right):
        if name not in parameters:
            raise FilterError(f"expr filter error (No parameter '{name}' found.)")
    a, b = parameters[left], parameters[right]
    # govaluate compares with reflect.DeepEqual: values of different Go types are never equal.
    equal = type(a) is type(b) and a == b
    return equal if operator == "==" else not equal


def _combine(results: list[bool], operator: str) -> bool:
    if operator in {"", "and"}:
        return all(results)
    if operator == "or":
        return any(results)
    raise Unsupported(f"logical operator {operator!r}")


def _run_data(filters: Mapping[str, Any], data: Mapping[str, Any], operator: str) -> tuple[bool, str]:
    results: list[bool] = []
    for data_filter in filters.get("data") or []:
        try:
            results.append(_data_filter_passes(data_filter, data))
        except FilterError as error:
            if operator != "or":
                return False, str(error)
            results.append(False)
        if operator != "or" and not results[-1]:
            return False, f"data filter on {data_filter['path']} did not match"
    return _combine(results, operator) if results else True, ""


def _run_exprs(filters: Mapping[str, Any], data: Mapping[str, Any], operator: str) -> tuple[bool, str]:
    results: list[bool] = []
    for expr_filter in filters.get("exprs") or []:
        try:
            result = _expr_passes(expr_filter, data)
        except FilterError as error:
            if operator != "or":
                return False, str(error)
            result = False
        if result is None:
            continue
        if operator != "or" and not result:
            return False, f"expression {expr_filter['expr']!r} is false"
        results.append(result)
    return _combine(results, operator) if results else operator != "or", ""


def evaluate_dependency(dependency: Mapping[str, Any], event: EventData) -> Outcome:
    """Whether ``event`` satisfies one Sensor dependency."""
    known = {"name", "eventSourceName", "eventName", "filters", "filtersLogicalOperator"}
    if set(dependency) - known:
        raise Unsupported(f"dependency keys {sorted(set(dependency) - known)} are not modelled")
    if (dependency["eventSourceName"], dependency["eventName"]) != (event.event_source, event.event_name):
        return Outcome(passed=False, reasons=["event from another event source"])
    filters: Mapping[str, Any] = dependency.get("filters") or {}
    if set(filters) - {"data", "exprs", "dataLogicalOperator", "exprLogicalOperator"}:
        raise Unsupported(f"filter kinds {sorted(filters)} are not modelled")
    operator = dependency.get("filtersLogicalOperator", "and")
    expr_ok, expr_reason = _run_exprs(filters, event.data, filters.get("exprLogicalOperator", "and"))
    data_ok, data_reason = _run_data(filters, event.data, filters.get("dataLogicalOperator", "and"))
    reasons = [reason for reason in (expr_reason, data_reason) if reason]
    if operator in {"", "and"}:
        return Outcome(passed=expr_ok and data_ok, reasons=reasons)
    if operator == "or":
        passed = ("exprs" in filters and expr_ok) or ("data" in filters and data_ok)
        return Outcome(passed=passed, reasons=reasons)
    raise Unsupported(f"filtersLogicalOperator {operator!r}")


def _resolve(source: Mapping[str, Any], events: Mapping[str, EventData]) -> str | None:
    if set(source) - {"dependencyName", "dataKey", "value"}:
        raise Unsupported(f"parameter source keys {sorted(source)} are not modelled")
    event = events.get(source["dependencyName"])
    if event is None:
        return source.get("value")
    key = source.get("dataKey", "")
    if key:
        value = gjson_get(event.data, key)
        if value is not _MISSING:
            return gjson_string(value)
    if "value" in source:
        return str(source["value"])
    return json.dumps(event.data, separators=(",", ":"))


def _set(resource: dict[str, Any], dest: str, value: str) -> None:
    """sjson ``SetBytes`` for object keys and existing (or next) array indexes."""
    keys = _path_keys(dest)
    target: Any = resource
    for position, key in enumerate(keys):
        last = position == len(keys) - 1
        if isinstance(target, dict):
            if last:
                target[key] = value
            else:
                target = target.setdefault(key, {})
        elif isinstance(target, list) and key.isdigit() and int(key) <= len(target):
            if int(key) == len(target):
                target.append(value if last else {})
            elif last:
                target[int(key)] = value
            target = target[int(key)]
        else:
            raise Unsupported(f"sjson destination {dest!r} at {key!r}")


def fire(sensor: Mapping[str, Any], event: EventData) -> list[dict[str, Any]]:
    """The objects the Sensor creates for one event: one per trigger, none when the filters fail."""
    spec = sensor["spec"]
    dependencies = spec["dependencies"]
    if len(dependencies) != 1:
        raise Unsupported("only Sensors with exactly one dependency are modelled")
    dependency = dependencies[0]
    if not evaluate_dependency(dependency, event).passed:
        return []
    events = {dependency["name"]: event}
    created: list[dict[str, Any]] = []
    for trigger in spec["triggers"]:
        if set(trigger) - {"template", "retryStrategy"}:
            raise Unsupported(f"trigger keys {sorted(trigger)} are not modelled")
        template = trigger["template"]
        if set(template) != {"name", "k8s"}:
            raise Unsupported(f"trigger template {sorted(template)}: only k8s triggers are modelled")
        k8s = template["k8s"]
        if k8s.get("operation", "create") != "create" or set(k8s) - {"operation", "source", "parameters"}:
            raise Unsupported(f"k8s trigger {sorted(k8s)} with operation {k8s.get('operation')!r}")
        resource = copy.deepcopy(k8s["source"]["resource"])
        for parameter in k8s.get("parameters") or []:
            if set(parameter) - {"src", "dest"}:
                raise Unsupported(f"trigger parameter keys {sorted(parameter)} are not modelled")
            value = _resolve(parameter["src"], events)
            if value is not None:
                _set(resource, parameter["dest"], value)
        metadata = resource.setdefault("metadata", {})
        metadata.setdefault("namespace", sensor["metadata"]["namespace"])
        created.append(resource)
    return created
