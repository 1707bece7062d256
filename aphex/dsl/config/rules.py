"""The rules of ``aphex-config.yaml`` that a JSON Schema cannot express.

Unique environment names, one AWS partition per pipeline (regions, role ARNs and SNS topics agree), role
ARNs in their environment's account, the stack rules of :mod:`.stack_rules`, and nothing in the file that
looks like a credential.
"""

import functools
import re
from collections.abc import Mapping
from typing import Any

from aphex.dsl.config.credentials import credential_message, is_secret_key, secret_kind, shown
from aphex.dsl.config.model import partition_of
from aphex.dsl.config.problems import ConfigProblem, PathPart, children
from aphex.dsl.config.schema import config_schema, schema_regex
from aphex.dsl.config.stack_rules import stack_problems

__all__ = ["credential_problems", "semantic_problems"]

_ROLE_ARN = re.compile(r"^arn:(aws(?:-[a-z-]+)?):iam::([0-9]{12}):role/")
_SNS_ARN = re.compile(r"^arn:(aws(?:-[a-z-]+)?):sns:")


@functools.cache
def _environment_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    properties = config_schema()["$defs"]["environment"]["properties"]
    return schema_regex(properties["region"]["pattern"]), schema_regex(properties["account"]["pattern"])


def _valid(pattern: re.Pattern[str], value: object) -> str | None:
    return value if isinstance(value, str) and pattern.search(value) else None


def semantic_problems(data: object) -> list[ConfigProblem]:
    """Environment names, partitions, role ARNs, SNS topics and stacks of a document."""
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
                        message=f"duplicate environment name {shown(name)} "
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
            problems += stack_problems((*where, "stacks"), name if isinstance(name, str) else None, stacks)
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


def credential_problems(data: object) -> list[ConfigProblem]:
    """Every value or key that looks like a credential, and every secret-named key with a value."""
    problems: list[ConfigProblem] = []
    stack: list[tuple[tuple[PathPart, ...], object]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            found = secret_kind(value)
            if found is not None:
                problems.append(ConfigProblem(path=path, message=credential_message(*found)))
        for part, key, child in children(value):
            child_path = (*path, part)
            if isinstance(key, str):
                found = secret_kind(key)
                if found is not None:
                    problems.append(ConfigProblem(path=child_path, message=credential_message(*found)))
                elif is_secret_key(key) and isinstance(child, str | int | float) and str(child).strip():
                    problems.append(
                        ConfigProblem(
                            path=child_path,
                            message=credential_message(f"a secret under the key {key!r}", "secret"),
                        )
                    )
            stack.append((child_path, child))
    return problems
