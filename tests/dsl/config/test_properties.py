"""Properties of configuration validation and the model (hypothesis).

Seed properties covered: 6 (N environments -> N environment stages), 8 (every environment has a region,
an account and at least one stack), 9 (stacks deploy in the configured order), 15 (no credentials in the
configuration) and 19 (the configuration is validated before anything runs).
"""

import copy
import string
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aphex.dsl.config import ConfigError, config_from_document, load_config, validate_document, validate_text
from aphex.dsl.config.model import partition_of

REGIONS = {
    "aws": ["us-east-1", "eu-west-1", "ap-southeast-7", "il-central-1", "mx-central-1", "sa-east-1"],
    "aws-us-gov": ["us-gov-west-1", "us-gov-east-1"],
    "aws-cn": ["cn-north-1", "cn-northwest-1"],
    "aws-iso-b": ["us-isob-east-1"],
    "aws-eusc": ["eusc-de-east-1"],
}
ENV_NAMES = st.from_regex(r"[a-z0-9-]{1,40}", fullmatch=True)
STACK_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,30}", fullmatch=True)
ACCOUNTS = st.from_regex(r"[0-9]{12}", fullmatch=True)
PATHS = st.one_of(
    st.just("."), st.from_regex(r"[a-z_][a-z0-9._-]{0,8}(/[a-z0-9_][a-z0-9._-]{0,8}){0,3}", fullmatch=True)
)
COMMANDS = st.lists(
    st.text(alphabet=string.ascii_letters + string.digits + " -_./=$'\"|&;", min_size=1, max_size=40).filter(
        lambda text: text.strip() != ""
    ),
    min_size=1,
    max_size=4,
)


@st.composite
def environments(draw: st.DrawFn, name: str, partition: str) -> dict[str, Any]:
    names = draw(st.lists(STACK_NAMES, min_size=1, max_size=8, unique=True))
    with_dependencies = draw(st.booleans())
    topological = draw(st.permutations(names))
    stacks: list[dict[str, Any]] = []
    for stack_name in names:
        stack: dict[str, Any] = {"name": stack_name, "path": draw(PATHS)}
        earlier = topological[: topological.index(stack_name)]
        if with_dependencies and (earlier or draw(st.booleans())):
            stack["dependsOn"] = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
        stacks.append(stack)
    account = draw(ACCOUNTS)
    region = draw(st.sampled_from(REGIONS[partition]))
    env: dict[str, Any] = {"name": name, "region": region, "account": account, "stacks": stacks}
    role = draw(st.sampled_from(["none", "name", "arn"]))
    if role == "name":
        env["role"] = "aphex-deploy"
    elif role == "arn":
        env["role"] = f"arn:{partition}:iam::{account}:role/deploy"
    if draw(st.booleans()):
        env["tests"] = {"commands": draw(COMMANDS)}
    if draw(st.booleans()):
        env["hooks"] = {"preDeploy": draw(COMMANDS)}
    if draw(st.booleans()):
        env["approval"] = {"required": draw(st.booleans()), "timeout": "24h"}
    return env


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    partition = draw(st.sampled_from(sorted(REGIONS)))
    names = draw(st.lists(ENV_NAMES, min_size=1, max_size=5, unique=True))
    return {
        "version": "1.0",
        "build": {"commands": draw(COMMANDS)},
        "environments": [draw(environments(name, partition)) for name in names],
    }


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_property_6_8_9_valid_configs_round_trip_into_the_model_with_ordered_waves(
    document: dict[str, Any],
) -> None:
    """Properties 6, 8 and 9: N environments in order; each has region, account, >= 1 stack; waves."""
    assert validate_document(document) == []
    config = load_config(yaml.safe_dump(document, sort_keys=False))
    assert config == config_from_document(document)
    assert [env.name for env in config.environments] == [env["name"] for env in document["environments"]]
    for env, source in zip(config.environments, document["environments"], strict=True):
        assert env.region == source["region"]
        assert env.account == source["account"]
        assert len(env.stacks) >= 1
        assert [stack.name for stack in env.stacks] == [stack["name"] for stack in source["stacks"]]
        waves = env.stack_waves()
        assert sorted(name for wave in waves for name in wave) == sorted(stack.name for stack in env.stacks)
        position = {name: index for index, wave in enumerate(waves) for name in wave}
        order = [stack.name for stack in env.stacks]
        for wave in waves:
            assert wave == sorted(wave, key=order.index)
        if not any(stack.depends_on for stack in env.stacks):
            assert waves == [[name] for name in order]
            continue
        for stack in env.stacks:
            assert all(position[dep] < position[stack.name] for dep in stack.depends_on)
            if position[stack.name] > 0:
                assert any(position[dep] == position[stack.name] - 1 for dep in stack.depends_on)
        assert env.partition == partition_of(source["region"])
        if env.role_arn is not None:
            assert env.role_arn.startswith(f"arn:{env.partition}:iam::{env.account}:role/")


@settings(max_examples=100)
@given(configs(), st.sampled_from(["region", "account", "stacks"]), st.integers(min_value=0, max_value=4))
def test_property_8_an_environment_without_region_account_or_stacks_is_refused(
    document: dict[str, Any], field: str, index: int
) -> None:
    """Property 8: every environment has a region, an account and at least one stack."""
    environments = document["environments"]
    env = environments[index % len(environments)]
    where = f"environments[{index % len(environments)}].{field}"
    del env[field]
    assert f"{where}: is required" in [str(problem) for problem in validate_document(document)]
    if field == "stacks":
        env["stacks"] = []
        assert f"{where}: must be a non-empty list of stacks" in [str(p) for p in validate_document(document)]


SECRETS = st.one_of(
    st.from_regex(r"(AKIA|ASIA)[A-Z0-9]{16}", fullmatch=True),
    st.from_regex(r"gh[pousr]_[A-Za-z0-9]{36}", fullmatch=True),
    st.from_regex(r"github_pat_[A-Za-z0-9_]{30}", fullmatch=True),
    st.from_regex(
        r"https://hooks\.slack\.com/services/[A-Z0-9]{9}/[A-Z0-9]{9}/[A-Za-z0-9]{24}", fullmatch=True
    ),
    st.from_regex(r"aws_secret_access_key=[A-Za-z0-9/+]{40}", fullmatch=True),
    st.just("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n-----END EC PRIVATE KEY-----"),
)


def _string_slots(document: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    slots: list[tuple[str | int, ...]] = []
    if isinstance(document, dict):
        for key, value in document.items():
            slots += _string_slots(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            slots += _string_slots(value, (*path, index))
    elif isinstance(document, str):
        slots.append(path)
    return slots


@settings(max_examples=100)
@given(configs(), SECRETS, st.data())
def test_property_15_a_credential_anywhere_is_refused_by_path_without_echoing_it(
    document: dict[str, Any], secret: str, data: st.DataObject
) -> None:
    """Property 15: no credentials in the configuration, and none repeated in a message."""
    slots = _string_slots(document)
    slot = data.draw(st.sampled_from(slots))
    target: Any = document
    for part in slot[:-1]:
        target = target[part]
    target[slot[-1]] = f"{target[slot[-1]]} {secret}"
    problems = validate_document(document)
    location = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in slot).lstrip(".")
    assert any(p.location == location and "credentials never belong" in p.message for p in problems)
    rendered = "\n".join(str(problem) for problem in problems)
    assert secret.split("\n")[0] not in rendered
    assert secret[4:24] not in rendered


@settings(max_examples=100)
@given(configs(), st.data())
def test_property_19_a_broken_config_never_becomes_a_model(
    document: dict[str, Any], data: st.DataObject
) -> None:
    """Property 19: the configuration is validated before execution; invalid input yields no config."""
    env = data.draw(st.sampled_from(document["environments"]))
    breakage = data.draw(
        st.sampled_from(["duplicate-env", "duplicate-stack", "self-dependency", "unknown-key", "int-account"])
    )
    if breakage == "duplicate-env":
        document["environments"].append(copy.deepcopy(env))
    elif breakage == "duplicate-stack":
        env["stacks"].append(copy.deepcopy(env["stacks"][0]))
    elif breakage == "self-dependency":
        env["stacks"][0]["dependsOn"] = [env["stacks"][0]["name"]]
    elif breakage == "unknown-key":
        env["stack"] = env["stacks"]
    else:
        env["account"] = int(env["account"])
    problems = validate_document(document)
    assert problems
    try:
        config_from_document(document)
    except ConfigError as error:
        assert error.problems == tuple(problems)
    else:
        raise AssertionError("an invalid document became a configuration")


FIELDS = ["version", "build", "commands", "environments", "name", "region", "account", "stacks", "path"]
FIELDS += ["dependsOn", "role", "hooks", "tests", "approval", "notifications", "pipeline"]
JSON_LIKE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["1.0", "eu-west-1", "123456789012", "dev", "App", ".", "AKIAIOSFODNN7EXAMPLE"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from([*FIELDS, "x"]) | st.text(max_size=10),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300)
@given(JSON_LIKE)
def test_property_19_any_json_like_document_gives_problems_never_an_exception(document: object) -> None:
    """Property 19: validation turns any structure into problems or a configuration, never a traceback."""
    problems = validate_document(document)
    assert all(str(problem).count(": ") >= 1 for problem in problems)
    try:
        config = config_from_document(document)
    except ConfigError as error:
        assert error.problems == tuple(problems)
        assert problems
    else:
        assert problems == []
        assert config.environments


@st.composite
def mutated_configs(draw: st.DrawFn) -> dict[str, Any]:
    document = draw(configs())
    slots = _string_slots(document)
    slot = draw(st.sampled_from(slots))
    target: Any = document
    for part in slot[:-1]:
        target = target[part]
    target[slot[-1]] = draw(JSON_LIKE)
    return document


@settings(max_examples=150)
@given(mutated_configs())
def test_property_19_near_valid_documents_are_checked_field_by_field(document: dict[str, Any]) -> None:
    """Property 19: one field replaced by anything is either still valid or reported, never a crash."""
    problems = validate_document(document)
    assert problems == sorted(problems, key=lambda problem: problem.sort_key())
    assert len(set(problems)) == len(problems)


YAMLISH = st.text(
    alphabet=st.sampled_from(
        list(":-[]{}&*!|>'\"#%@`,?\n\t ") + list("abcAKIA019.") + ["\x00", "\ufeff", "é"]
    ),
    max_size=200,
)


@settings(max_examples=300)
@given(st.one_of(YAMLISH, st.text(max_size=200), st.binary(max_size=200)))
def test_property_19_arbitrary_text_gives_problems_never_an_exception(text: str | bytes) -> None:
    """Property 19: any text or bytes, read as aphex-config.yaml, gives problems or none, never raises."""
    problems = validate_text(text)
    assert problems
    assert all(str(problem) for problem in problems)
    try:
        load_config(text)
    except ConfigError as error:
        assert list(error.problems) == problems
    else:
        raise AssertionError("a document with problems became a configuration")
