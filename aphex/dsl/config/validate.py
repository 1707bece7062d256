"""Validation of ``aphex-config.yaml``: the JSON Schema, then the rules a schema cannot express.

The schema, ``aphex-config.schema.json`` next to this module (JSON Schema draft 2020-12), is the single
source of the format; the reference in ``docs/configuration.md`` is generated from it. On top of it this
module checks unique environment and stack names, ``dependsOn`` (known stacks, no cycles), one AWS
partition per pipeline, role ARNs that match their environment, and that nothing in the file looks like a
credential. Every finding is a :class:`ConfigProblem` naming the field by its path
(``environments[1].account: must be 12 digits as a string``); malformed input of any kind (broken YAML,
binary junk, huge numbers, alias bombs) becomes a problem, never an exception. A problem never repeats a
value that looks like a secret.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final

from jsonschema import Draft202012Validator, ValidationError, validators

from aphex.dsl.config.model import AphexConfig, config_from_validated, partition_of
from aphex.dsl.errors import InputError
from aphex.dsl.schema_problems import PathPart, PathProblem, problems_of, unknown_key_message
from aphex.dsl.schema_problems import format_path as schema_path
from aphex.dsl.yaml_input import YamlInputError, load_yaml

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_NODES",
    "ConfigError",
    "ConfigProblem",
    "PathPart",
    "config_from_document",
    "config_schema",
    "format_path",
    "load_config",
    "parse_text",
    "read_config_file",
    "validate_document",
    "validate_text",
]

MAX_DOCUMENT_BYTES: Final = 1 << 20
"""Larger files are refused before parsing (1 MiB; a real configuration is a few KiB)."""
MAX_NODES: Final = 100_000
"""Values in the parsed document, counting every expansion of a YAML alias (stops alias bombs)."""
MAX_DEPTH: Final = 64
"""Nesting depth of the parsed document (stops self-referencing aliases and runaway recursion)."""
_MAX_INT_BITS: Final = 64
_MAX_SHOWN: Final = 64

_CUSTOM_MESSAGE_KEYWORDS: Final = frozenset(
    {"type", "pattern", "minLength", "maxLength", "const", "enum", "anyOf", "oneOf", "minItems"}
)


class ConfigProblem(PathProblem):
    """One finding of ``aphex-config.yaml``; a key that looks like a secret is redacted in its path."""

    @property
    def location(self) -> str:
        """The path as written in messages; ``(document)`` for the document as a whole."""
        return format_path(self.path)


class ConfigError(InputError):
    """A configuration is invalid; ``problems`` holds every finding, ``str()`` one per line."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


# --- credentials -------------------------------------------------------------------------------------

_SECRET_PATTERNS: Final = (
    (re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"), "an AWS access key id", "aws"),
    (
        re.compile(r"(?i)secret[_-]?access[_-]?key\W{0,5}[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"),
        "an AWS secret access key",
        "aws",
    ),
    (re.compile(r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,255}"), "a GitHub token", "secret"),
    (re.compile(r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,255}"), "a GitHub token", "secret"),
    (re.compile(r"(?i)hooks\.slack(?:-gov)?\.com/"), "a Slack webhook URL", "slack"),
    (re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}"), "a Slack token", "secret"),
    (re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----"), "a private key", "secret"),
    (re.compile(r"://[^\s/:@]+:(?![$%{])[^\s/@]+@"), "a password in a URL", "secret"),
)
_SECRET_KEYS: Final = (
    "secretaccesskey",
    "sessiontoken",
    "password",
    "passwd",
    "apikey",
    "privatekey",
    "clientsecret",
    "accesstoken",
    "authtoken",
    "secretkey",
)
_HINTS: Final = {
    "aws": "the pipeline authenticates to AWS with its IAM roles; delete it and rotate the key",
    "slack": "keep the URL in a Kubernetes Secret and reference it with notifications.slack.webhookSecret",
    "secret": "keep it in a Kubernetes Secret; delete it here and rotate it",
}


def _secret_kind(text: str) -> tuple[str, str] | None:
    for pattern, kind, hint in _SECRET_PATTERNS:
        if pattern.search(text):
            return kind, hint
    return None


def _is_secret_key(key: str) -> bool:
    normalized = re.sub(r"[^a-z0-9]", "", key.lower())
    return normalized in {"token", "secret"} or normalized.endswith(_SECRET_KEYS)


def _credential_message(kind: str, hint: str) -> str:
    return f"looks like {kind}; credentials never belong in aphex-config.yaml: {_HINTS[hint]}"


def _shown(value: object) -> str:
    """A value for a message: quoted, shortened, and never a secret."""
    if isinstance(value, str):
        if _secret_kind(value) is not None:
            return "<redacted>"
        text = value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "..."
        return repr(text)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _MAX_INT_BITS:
        return "<a very large number>"
    return repr(value)


def _plain(name: str) -> str:
    """A name for a message, unquoted and shortened; a secret redacted."""
    return "<redacted>" if _secret_kind(name) is not None else name[:_MAX_SHOWN]


def _redact(text: str) -> str:
    for pattern, _, _ in _SECRET_PATTERNS:
        text = pattern.sub("<redacted>", text)
    return text


def format_path(path: Sequence[PathPart]) -> str:
    """``environments[1].stacks[0].name``; keys that are not identifiers in brackets, secrets redacted."""
    return schema_path(path, hidden=lambda part: _secret_kind(part) is not None)


def _key(key: object) -> str:
    """A mapping key as a path part (YAML allows non-string keys; this format does not)."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return json.dumps(key)
    return _shown(key)


def _children(value: object) -> Iterator[tuple[PathPart, object, object]]:
    """(path part, original key, child) of a container, in a deterministic order."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield _key(key), key, child
    elif isinstance(value, list | tuple):
        for index, child in enumerate(value):
            yield index, None, child
    elif isinstance(value, set | frozenset):
        for index, child in enumerate(sorted(value, key=lambda item: (type(item).__name__, _shown(item)))):
            yield index, None, child


def _shape_problems(data: object) -> list[ConfigProblem]:
    """Size, depth and number magnitude, checked iteratively before anything recurses into ``data``."""
    problems: list[ConfigProblem] = []
    stack: list[tuple[tuple[PathPart, ...], object]] = [((), data)]
    count = 0
    while stack:
        path, value = stack.pop()
        count += 1
        if count > MAX_NODES:
            return [
                ConfigProblem(
                    path=(), message=f"has more than {MAX_NODES} values (counting YAML aliases expanded)"
                )
            ]
        if len(path) > MAX_DEPTH:
            return [ConfigProblem(path=path[:MAX_DEPTH], message=f"nests deeper than {MAX_DEPTH} levels")]
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _MAX_INT_BITS:
            problems.append(ConfigProblem(path=path, message="is a number too large for any field"))
        stack.extend(((*path, part), child) for part, _, child in _children(value))
    return problems


def _credential_problems(data: object) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    stack: list[tuple[tuple[PathPart, ...], object]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            found = _secret_kind(value)
            if found is not None:
                problems.append(ConfigProblem(path=path, message=_credential_message(*found)))
        for part, key, child in _children(value):
            child_path = (*path, part)
            if isinstance(key, str):
                found = _secret_kind(key)
                if found is not None:
                    problems.append(ConfigProblem(path=child_path, message=_credential_message(*found)))
                elif _is_secret_key(key) and isinstance(child, str | int | float) and str(child).strip():
                    problems.append(
                        ConfigProblem(
                            path=child_path,
                            message=_credential_message(f"a secret under the key {key!r}", "secret"),
                        )
                    )
            stack.append((child_path, child))
    return problems


# --- schema ------------------------------------------------------------------------------------------


@functools.cache
def _schema_text() -> str:
    return (
        resources.files("aphex.dsl.config").joinpath("aphex-config.schema.json").read_text(encoding="utf-8")
    )


def config_schema() -> dict[str, Any]:
    """The JSON Schema of ``aphex-config.yaml`` (draft 2020-12); a fresh copy on every call."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


@functools.cache
def _regex(pattern: str) -> re.Pattern[str]:
    """A schema pattern with ECMA-262 semantics where Python's differ: ``$`` only at the very end.

    Python's ``$`` also matches before a final newline, so ``^[0-9]{12}$`` would accept
    ``"123456789012\\n"`` (a YAML block scalar); ``\\Z`` does not.
    """
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


def _pattern(
    validator: Any, pattern: str, instance: object, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not _regex(pattern).search(instance):
        yield ValidationError(f"does not match {pattern!r}")


@functools.cache
def _validator() -> Any:
    # jsonschema's validators.extend is untyped; it returns a Draft202012Validator subclass.
    strict = validators.extend(Draft202012Validator, {"pattern": _pattern})  # type: ignore[no-untyped-call]
    return strict(config_schema())


def _unknown_field(key: object, known: Sequence[str]) -> str:
    return unknown_key_message(key if isinstance(key, str) and _secret_kind(key) is None else None, known)


def _custom_message(error: ValidationError) -> str | None:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator in _CUSTOM_MESSAGE_KEYWORDS and "x-message" in schema:
        return str(schema["x-message"])
    return None


def _schema_problems(data: object) -> Iterator[ConfigProblem]:
    for problem in problems_of(
        _validator().iter_errors(data), key=_key, unknown=_unknown_field, message=_custom_message
    ):
        yield ConfigProblem(path=problem.path, message=problem.message)


# --- semantic rules ----------------------------------------------------------------------------------

_ROLE_ARN = re.compile(r"^arn:(aws(?:-[a-z-]+)?):iam::([0-9]{12}):role/")
_SNS_ARN = re.compile(r"^arn:(aws(?:-[a-z-]+)?):sns:")


@functools.cache
def _environment_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    properties = config_schema()["$defs"]["environment"]["properties"]
    return _regex(properties["region"]["pattern"]), _regex(properties["account"]["pattern"])


def _valid(pattern: re.Pattern[str], value: object) -> str | None:
    return value if isinstance(value, str) and pattern.search(value) else None


def _semantic_problems(data: object) -> list[ConfigProblem]:
    if not isinstance(data, Mapping) or not isinstance(data.get("environments"), list):
        return []
    region_pattern, account_pattern = _environment_patterns()
    problems: list[ConfigProblem] = []
    first_env: dict[str, int] = {}
    pipeline_partition: tuple[str, int] | None = None
    for index, env in enumerate(data["environments"]):
        if not isinstance(env, Mapping):
            continue
        where: tuple[PathPart, ...] = ("environments", index)
        name = env.get("name")
        if isinstance(name, str):
            if name in first_env:
                problems.append(
                    ConfigProblem(
                        path=(*where, "name"),
                        message=f"duplicate environment name {_shown(name)} "
                        f"(also environments[{first_env[name]}])",
                    )
                )
            else:
                first_env[name] = index
        region = _valid(region_pattern, env.get("region"))
        account = _valid(account_pattern, env.get("account"))
        if region is not None:
            partition = partition_of(region)
            if pipeline_partition is None:
                pipeline_partition = (partition, index)
            elif partition != pipeline_partition[0]:
                problems.append(
                    ConfigProblem(
                        path=(*where, "region"),
                        message=f"{region} is in partition {partition} but environments"
                        f"[{pipeline_partition[1]}] is in {pipeline_partition[0]}; "
                        "one pipeline deploys within one AWS partition",
                    )
                )
        problems += _role_problems(where, env.get("role"), region, account)
        stacks = env.get("stacks")
        if isinstance(stacks, list):
            problems += _stack_problems((*where, "stacks"), name if isinstance(name, str) else None, stacks)
    if pipeline_partition is not None:
        problems += _topic_problems(data, pipeline_partition[0])
    return problems


def _role_problems(
    where: tuple[PathPart, ...], role: object, region: str | None, account: str | None
) -> list[ConfigProblem]:
    match = _ROLE_ARN.match(role) if isinstance(role, str) else None
    if match is None:
        return []
    problems: list[ConfigProblem] = []
    if region is not None and match.group(1) != partition_of(region):
        problems.append(
            ConfigProblem(
                path=(*where, "role"),
                message=f"role ARN is in partition {match.group(1)} but region {region} "
                f"is in {partition_of(region)}",
            )
        )
    if account is not None and match.group(2) != account:
        problems.append(
            ConfigProblem(
                path=(*where, "role"),
                message=f"role ARN is in account {match.group(2)}, not the environment's account {account}",
            )
        )
    return problems


def _topic_problems(data: Mapping[Any, Any], partition: str) -> list[ConfigProblem]:
    notifications = data.get("notifications")
    topics = notifications.get("snsTopicArns") if isinstance(notifications, Mapping) else None
    if not isinstance(topics, list):
        return []
    problems: list[ConfigProblem] = []
    for index, topic in enumerate(topics):
        match = _SNS_ARN.match(topic) if isinstance(topic, str) else None
        if match is not None and match.group(1) != partition:
            problems.append(
                ConfigProblem(
                    path=("notifications", "snsTopicArns", index),
                    message=f"topic is in partition {match.group(1)} but the environments are in {partition}",
                )
            )
    return problems


def _stack_problems(
    where: tuple[PathPart, ...], env_name: str | None, stacks: list[Any]
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    first: dict[str, int] = {}
    in_env = f" in environment {_shown(env_name)}" if env_name is not None else ""
    for index, stack in enumerate(stacks):
        name = stack.get("name") if isinstance(stack, Mapping) else None
        if not isinstance(name, str):
            continue
        if name in first:
            problems.append(
                ConfigProblem(
                    path=(*where, index, "name"),
                    message=f"duplicate stack name {_shown(name)}{in_env} (also stacks[{first[name]}])",
                )
            )
        else:
            first[name] = index
    edges: dict[str, list[str]] = {name: [] for name in first}
    for index, stack in enumerate(stacks):
        if not isinstance(stack, Mapping):
            continue
        name = stack.get("name")
        deps = stack.get("dependsOn")
        if not isinstance(deps, list):
            continue
        for dep_index, dep in enumerate(deps):
            if not isinstance(dep, str):
                continue
            at = (*where, index, "dependsOn", dep_index)
            if dep == name:
                problems.append(ConfigProblem(path=at, message="a stack cannot depend on itself"))
            elif dep not in first:
                known = ", ".join(_shown(known) for known in first) or "none"
                problems.append(
                    ConfigProblem(path=at, message=f"no stack {_shown(dep)}{in_env} (stacks: {known})")
                )
            elif isinstance(name, str) and first.get(name) == index and dep not in edges[name]:
                edges[name].append(dep)
    problems += [
        ConfigProblem(path=where, message="dependency cycle: " + " -> ".join(_plain(n) for n in cycle))
        for cycle in _cycles(edges)
    ]
    return problems


def _cycles(edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One shortest cycle through the earliest member of every strongly connected component."""
    order = list(edges)
    reach: dict[str, set[str]] = {}
    for start in order:
        seen: set[str] = set()
        frontier = list(edges[start])
        while frontier:
            node = frontier.pop()
            if node not in seen:
                seen.add(node)
                frontier.extend(edges[node])
        reach[start] = seen
    cycles: list[list[str]] = []
    covered: set[str] = set()
    for start in order:
        if start in covered or start not in reach[start]:
            continue
        component = {node for node in reach[start] if start in reach[node]}
        covered |= component
        parents: dict[str, str] = {}
        queue = [start]
        found: str | None = None
        while queue and found is None:
            node = queue.pop(0)
            for dep in edges[node]:
                if dep == start:
                    found = node
                    break
                if dep in component and dep not in parents:
                    parents[dep] = node
                    queue.append(dep)
        path = [start]
        node = found if found is not None else start
        trail = []
        while node != start:
            trail.append(node)
            node = parents[node]
        path += reversed(trail)
        cycles.append([*path, start])
    return cycles


# --- entry points ------------------------------------------------------------------------------------


def validate_document(data: object) -> list[ConfigProblem]:
    """Every problem of a parsed document, sorted in document order; ``[]`` when it is valid."""
    problems = _shape_problems(data)
    if not problems:
        problems = [*_schema_problems(data), *_credential_problems(data), *_semantic_problems(data)]
    return sorted(set(problems), key=ConfigProblem.sort_key)


def parse_text(text: str | bytes) -> tuple[object, list[ConfigProblem]]:
    """The YAML document in ``text`` and the problems that prevented reading it (then ``None``)."""
    try:
        data = load_yaml(text, source="aphex-config.yaml", max_bytes=MAX_DOCUMENT_BYTES, max_nodes=MAX_NODES)
    except YamlInputError as error:
        return None, [ConfigProblem(path=(), message=_redact(error.reason))]
    if data is None:
        return None, [
            ConfigProblem(
                path=(), message="is empty; expected a mapping with version, build and environments"
            )
        ]
    return data, []


def validate_text(text: str | bytes) -> list[ConfigProblem]:
    """Every problem of a configuration given as YAML text."""
    data, problems = parse_text(text)
    return problems or validate_document(data)


def read_config_file(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes, reading at most one byte past the size limit; ``OSError`` when unreadable."""
    with Path(path).open("rb") as handle:
        return handle.read(MAX_DOCUMENT_BYTES + 1)


def config_from_document(data: object) -> AphexConfig:
    """Validate a parsed document and build the model; ``ConfigError`` lists every problem."""
    problems = validate_document(data)
    if problems:
        raise ConfigError(problems)
    assert isinstance(data, Mapping)
    return config_from_validated(data)


def load_config(source: str | bytes | os.PathLike[str]) -> AphexConfig:
    """Load a configuration from YAML text (``str`` or ``bytes``) or from a file (a path object).

    Raises ``ConfigError`` with every problem, ``OSError`` when the file cannot be read.
    """
    text = read_config_file(source) if isinstance(source, os.PathLike) else source
    data, problems = parse_text(text)
    if problems:
        raise ConfigError(problems)
    return config_from_document(data)
