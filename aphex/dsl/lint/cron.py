"""Cron schedules and time zones of a CronWorkflow, checked as Argo checks them.

Argo validates each schedule with robfig/cron's ``ParseStandard`` (five fields: minute, hour, day of
month, month, day of week; or a descriptor such as ``@daily`` or ``@every 1h``; an optional ``TZ=`` or
``CRON_TZ=`` prefix) and the time zone with Go's ``time.LoadLocation`` (argo-workflows
``workflow/validate/validate.go``, ``CronWorkflow``). Python's ``zoneinfo`` reads the same IANA database.
"""

import re
import zoneinfo

__all__ = ["schedule_problem", "timezone_problem"]

_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# (name, lowest, highest, names)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    ("day of week", 0, 6, {name: i for i, name in enumerate(_DAYS)}),
)
_DURATION = re.compile(r"^([0-9]*(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$")


def _value(text: str, names: dict[str, int]) -> int | None:
    if text.lower() in names:
        return names[text.lower()]
    return int(text) if text.isdigit() else None


def _field_problem(text: str, name: str, low: int, high: int, names: dict[str, int]) -> str | None:
    for part in text.split(","):
        span, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return f"{name}: invalid step {step!r}"
        if span in ("*", "?"):
            continue
        start_text, dash, end_text = span.partition("-")
        start = _value(start_text, names)
        end = _value(end_text, names) if dash else start
        if start is None or end is None:
            return f"{name}: failed to parse {span!r}"
        if start < low or end > high or start > end:
            return f"{name}: {span!r} out of range [{low}, {high}]"
    return None


def schedule_problem(schedule: str) -> str | None:
    """Why robfig/cron's standard parser refuses ``schedule``, or None."""
    spec = schedule.strip()
    if spec.startswith(("TZ=", "CRON_TZ=")):
        zone, _, spec = spec.partition(" ")
        problem = timezone_problem(zone.partition("=")[2])
        if problem:
            return problem
        spec = spec.strip()
    if spec.startswith("@"):
        if spec in _DESCRIPTORS:
            return None
        if spec.startswith("@every "):
            return None if _DURATION.match(spec.removeprefix("@every ").strip()) else "invalid duration"
        return f"unrecognized descriptor: {spec}"
    fields = spec.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: {spec!r}"
    for text, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        problem = _field_problem(text, name, low, high, names)
        if problem:
            return problem
    return None


def timezone_problem(zone: str) -> str | None:
    """Why Go's ``time.LoadLocation`` refuses ``zone``, or None."""
    if zone in ("", "UTC", "Local"):
        return None
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {zone}"
    return None
