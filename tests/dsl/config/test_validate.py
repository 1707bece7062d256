"""aphex-config.yaml validation (aphex.dsl.config.validate): the schema, the semantic rules, the messages."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from aphex.dsl.config import ConfigError, ConfigProblem, load_config, validate_document, validate_text
from aphex.dsl.config.problems import format_path
from aphex.dsl.config.reading import MAX_DOCUMENT_BYTES, MAX_NODES
from aphex.dsl.config.schema import config_schema
from aphex.dsl.config.validate import MAX_DEPTH
from aphex.dsl.names import KMS_KEY_ARN_PATTERN

EXAMPLES = Path(__file__).parent / "examples"
VALID = sorted(EXAMPLES.glob("valid-*.yaml"))
INVALID = sorted(EXAMPLES.glob("invalid-*.yaml"))
MINIMAL = (EXAMPLES / "valid-minimal.yaml").read_text(encoding="utf-8")


def minimal() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MINIMAL)
    return data


def messages(data: object) -> list[str]:
    return [str(problem) for problem in validate_document(data)]


def _objects(node: object) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "object":
            found.append(node)
        for value in node.values():
            found += _objects(value)
    elif isinstance(node, list):
        for value in node:
            found += _objects(value)
    return found


def _string_schemas(node: object) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "pattern" in node and "type" in node:
            found.append(node)
        for value in node.values():
            found += _string_schemas(value)
    elif isinstance(node, list):
        for value in node:
            found += _string_schemas(value)
    return found


def test_the_schema_is_valid_draft_2020_12() -> None:
    schema = config_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_object_of_the_schema_refuses_unknown_keys() -> None:
    objects = _objects(config_schema())
    assert len(objects) == 12
    assert all(obj.get("additionalProperties") is False for obj in objects)


def test_every_pattern_has_a_message_a_person_can_act_on() -> None:
    for node in _string_schemas(config_schema()):
        assert "x-message" in node, node["pattern"]
        assert node["x-message"].startswith("must ")


@pytest.mark.parametrize("path", VALID, ids=lambda path: path.name)
def test_valid_examples_have_no_problems(path: Path) -> None:
    assert validate_text(path.read_text(encoding="utf-8")) == []
    assert load_config(path).version == "1.0"


@pytest.mark.parametrize("path", INVALID, ids=lambda path: path.name)
def test_invalid_examples_report_exactly_their_expected_problems(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    expected = [
        line.removeprefix("# expect: ") for line in text.splitlines() if line.startswith("# expect: ")
    ]
    assert expected
    assert [str(problem) for problem in validate_text(text)] == expected
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value).splitlines() == expected


def test_the_invalid_examples_cover_the_required_cases() -> None:
    names = {path.stem for path in INVALID}
    assert {
        "invalid-unknown-key",
        "invalid-duplicate-environment",
        "invalid-duplicate-stack",
        "invalid-cycle",
        "invalid-credentials",
        "invalid-account-integer",
        "invalid-region",
        "invalid-empty-stacks",
        "invalid-path",
    } <= names


@pytest.mark.parametrize(
    "region",
    [
        "us-east-1",
        "eu-west-1",
        "ap-southeast-7",
        "ca-west-1",
        "me-central-1",
        "af-south-1",
        "sa-east-1",
        "il-central-1",
        "mx-central-1",
        "us-gov-west-1",
        "us-gov-east-1",
        "cn-north-1",
        "cn-northwest-1",
        "us-iso-east-1",
        "us-isob-east-1",
        "eu-isoe-west-1",
        "us-isof-south-1",
        "eusc-de-east-1",
    ],
)
def test_regions_of_every_partition_are_accepted(region: str) -> None:
    data = minimal()
    data["environments"][0]["region"] = region
    assert messages(data) == []


@pytest.mark.parametrize(
    "region",
    ["us-east", "eu-west-1a", "US-EAST-1", "xx-east-1", "europe-west1", "us_east_1", "", " us-east-1"],
)
def test_region_typos_are_refused(region: str) -> None:
    data = minimal()
    data["environments"][0]["region"] = region
    assert messages(data) == [
        "environments[0].region: must be an AWS region name such as eu-west-1, us-gov-west-1 or cn-north-1"
    ]


@pytest.mark.parametrize(
    ("role", "region"),
    [
        ("deploy", "eu-west-1"),
        ("aphex+deploy@team=a,b.c_d-e", "eu-west-1"),
        ("arn:aws:iam::012345678901:role/deploy", "eu-west-1"),
        ("arn:aws:iam::012345678901:role/path/to/deploy", "eu-west-1"),
        ("arn:aws-us-gov:iam::012345678901:role/deploy", "us-gov-west-1"),
        ("arn:aws-cn:iam::012345678901:role/deploy", "cn-north-1"),
        ("arn:aws-iso-b:iam::012345678901:role/deploy", "us-isob-east-1"),
        ("arn:aws-eusc:iam::012345678901:role/deploy", "eusc-de-east-1"),
    ],
)
def test_roles_are_names_or_arns_of_the_environment(role: str, region: str) -> None:
    data = minimal()
    data["environments"][0].update(role=role, region=region)
    assert messages(data) == []


@pytest.mark.parametrize(
    "role",
    ["", "a" * 65, "arn:aws:iam::12345:role/deploy", "arn:aws:iam::012345678901:user/deploy", "de ploy"],
)
def test_malformed_roles_are_refused(role: str) -> None:
    data = minimal()
    data["environments"][0]["role"] = role
    assert messages(data) == [
        "environments[0].role: must be an IAM role name or a role ARN such as "
        "arn:aws:iam::123456789012:role/deploy"
    ]


@pytest.mark.parametrize("account", ["12345678901", "1234567890123", "12345678901a", "", "1234-5678-9012"])
def test_accounts_are_twelve_digits(account: str) -> None:
    data = minimal()
    data["environments"][0]["account"] = account
    assert messages(data) == ["environments[0].account: must be 12 digits as a string"]


@pytest.mark.parametrize("path", [".", "infra", "infra/cdk", "a.b/c_d/e-f", "cdk..app"])
def test_relative_stack_paths_are_accepted(path: str) -> None:
    data = minimal()
    data["environments"][0]["stacks"][0]["path"] = path
    assert messages(data) == []


@pytest.mark.parametrize(
    "path", ["..", "../x", "a/../b", "a/..", "/abs", "a//b", "a/", "./a", "a b", "~/x", ""]
)
def test_stack_paths_leaving_the_repository_are_refused(path: str) -> None:
    data = minimal()
    data["environments"][0]["stacks"][0]["path"] = path
    assert messages(data) == [
        "environments[0].stacks[0].path: must be a relative path in the repository: names of letters, "
        "digits, '.', '_', '-' separated by '/', or '.'; no '..', no leading '/'"
    ]


@pytest.mark.parametrize("name", ["1stack", "my_stack", "my stack", "a" * 129, "Prod/Api"])
def test_stack_names_follow_cloudformation(name: str) -> None:
    data = minimal()
    data["environments"][0]["stacks"][0]["name"] = name
    assert messages(data) == [
        "environments[0].stacks[0].name: must be a CloudFormation stack name: a letter, then letters, "
        "digits or '-', at most 128 characters"
    ]


@pytest.mark.parametrize("name", ["Prod", "prod_1", "a" * 41, "", "prod env"])
def test_environment_names_are_lowercase_and_short(name: str) -> None:
    data = minimal()
    data["environments"][0]["name"] = name
    assert messages(data) == ["environments[0].name: must be 1-40 lowercase letters, digits or '-'"]


def test_a_forty_character_environment_name_is_accepted() -> None:
    data = minimal()
    data["environments"][0]["name"] = "a" * 40
    assert messages(data) == []


def test_unknown_keys_name_the_key_and_suggest_the_closest_known_one() -> None:
    data = minimal()
    data["enviroments"] = []
    data["environments"][0]["stacks"][0]["dependson"] = []
    data["build"]["image"] = "node"
    assert messages(data) == [
        "build.image: unknown field (allowed: commands)",
        "enviroments: unknown field (did you mean environments?)",
        "environments[0].stacks[0].dependson: unknown field (did you mean dependsOn?)",
    ]


def test_missing_required_fields_are_named_by_their_path() -> None:
    assert messages({}) == ["build: is required", "environments: is required", "version: is required"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "(document): must be a mapping with version, build and environments"),
        ("version: 1.0", "(document): must be a mapping with version, build and environments"),
        (None, "(document): must be a mapping with version, build and environments"),
    ],
)
def test_a_document_that_is_not_a_mapping_is_one_problem(document: object, message: str) -> None:
    assert messages(document) == [message]


def test_empty_lists_and_wrong_types() -> None:
    data = minimal()
    data["environments"][0]["tests"] = {"commands": [], "timeoutSeconds": 0}
    data["environments"][0]["hooks"] = {"preDeploy": ["   "], "postDeploy": "make"}
    data["environments"][0]["approval"] = {"required": "yes"}
    data["pipeline"] = {"artifactRetentionDays": 4000, "name": "-x"}
    assert messages(data) == [
        "environments[0].approval.required: must be true or false",
        "environments[0].hooks.postDeploy: must be a non-empty list of shell commands",
        "environments[0].hooks.preDeploy[0]: must be a non-blank shell command of at most 4096 characters",
        "environments[0].tests.commands: must be a non-empty list of shell commands",
        "environments[0].tests.timeoutSeconds: must be at least 1",
        "pipeline.artifactRetentionDays: must be at most 3650",
        "pipeline.name: must be a DNS label: lowercase letters, digits and inner '-', at most 19 characters",
    ]


KMS_MESSAGE = (
    "pipeline.artifactKmsKeyArn: must be a KMS key ARN such as "
    "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab "
    "(not an alias: IAM grants the pipeline's roles the key itself)"
)


@pytest.mark.parametrize(
    ("key", "problems"),
    [
        ("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", []),
        ("arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab", []),
        ("arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", []),
        ("alias/aphex-artifacts", [KMS_MESSAGE]),
        ("arn:aws:kms:eu-west-1:123456789012:alias/aphex-artifacts", [KMS_MESSAGE]),
        ("1234abcd-12ab-34cd-56ef-1234567890ab", [KMS_MESSAGE]),  # a key id: IAM needs the ARN
        ("arn:aws:kms:eu-west-1:123456789012:key/*", [KMS_MESSAGE]),
        ("arn:aws:s3:::bucket", [KMS_MESSAGE]),
    ],
)
def test_the_artifact_key_must_be_a_key_arn(key: str, problems: list[str]) -> None:
    data = minimal()
    data["pipeline"] = {"artifactKmsKeyArn": key}
    assert messages(data) == problems
    if not problems:
        assert load_config(yaml.safe_dump(data)).pipeline.artifact_kms_key_arn == key


def test_the_schema_checks_the_key_as_the_templates_do() -> None:
    """One pattern: the schema's and the CloudFormation generator's (aphex.dsl.names.KMS_KEY_ARN_PATTERN)."""
    field = config_schema()["$defs"]["pipeline"]["properties"]["artifactKmsKeyArn"]
    assert field["pattern"] == KMS_KEY_ARN_PATTERN


def test_problems_are_sorted_in_document_order_with_numeric_indices() -> None:
    data = minimal()
    environment = data["environments"][0]
    data["environments"] = [dict(environment, name=f"e{index}") for index in range(12)]
    data["environments"][2]["account"] = 1
    data["environments"][10]["account"] = 1
    assert messages(data) == [
        "environments[2].account: must be 12 digits as a string",
        "environments[10].account: must be 12 digits as a string",
    ]


def test_notifications_reference_a_secret_and_topics_of_the_pipeline_partition() -> None:
    data = minimal()
    data["notifications"] = {
        "snsTopicArns": ["arn:aws-cn:sns:cn-north-1:123456789012:t", "arn:aws:sns:eu-west-1:123456789012:x"],
        "slack": {"webhookSecret": {"name": "Slack", "key": "url"}},
    }
    assert messages(data) == [
        "notifications.slack.webhookSecret.name: must be a Kubernetes Secret name: lowercase letters, "
        "digits, '-' and '.', at most 253 characters",
        "notifications.snsTopicArns[0]: topic is in partition aws-cn but the environments are in aws",
    ]


def test_every_cycle_is_reported_once() -> None:
    data = minimal()
    data["environments"][0]["stacks"] = [
        {"name": "A", "path": ".", "dependsOn": ["B"]},
        {"name": "B", "path": ".", "dependsOn": ["A"]},
        {"name": "C", "path": ".", "dependsOn": ["D", "A"]},
        {"name": "D", "path": ".", "dependsOn": ["C"]},
    ]
    assert messages(data) == [
        "environments[0].stacks: dependency cycle: A -> B -> A",
        "environments[0].stacks: dependency cycle: C -> D -> C",
    ]


SECRETS = [
    ("AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
    ("ASIAY34FZKBOKMUTVV7A", "an AWS access key id"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "an AWS secret access key"),
    ('"aws-secret-access-key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"', "an AWS secret access key"),
    ("ghp_" + "a1B2" * 9, "a GitHub token"),
    ("ghs_" + "Z9y8" * 9, "a GitHub token"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "a GitHub token"),
    ("https://hooks.slack.com/services/T000/B000/XXXX", "a Slack webhook URL"),
    ("xoxb-123456789012-abcdefghij", "a Slack token"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n", "a private key"),
    ("-----BEGIN PRIVATE KEY-----", "a private key"),
    ("git clone https://bot:hunter2@github.com/o/r", "a password in a URL"),
]


@pytest.mark.parametrize(("secret", "kind"), SECRETS)
def test_credentials_are_refused_without_repeating_them(secret: str, kind: str) -> None:
    data = minimal()
    data["build"]["commands"].append(f"echo {secret}")
    problems = messages(data)
    assert len(problems) == 1
    assert problems[0].startswith(f"build.commands[1]: looks like {kind}; credentials never belong in ")
    assert secret.split("\n")[0] not in problems[0]


@pytest.mark.parametrize(
    "harmless",
    [
        "export AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID",
        "aws configure set aws_secret_access_key $SECRET",
        "git clone https://x-access-token:${GITHUB_TOKEN}@github.com/o/r",
        "git clone ssh://git@github.com/o/r",
        "echo AKIA",
        "npm run ghp_pages",
        "curl https://hooks.example.com/slack",
        "openssl genpkey -out key.pem",
    ],
)
def test_credential_lookalikes_are_not_refused(harmless: str) -> None:
    data = minimal()
    data["build"]["commands"].append(harmless)
    assert messages(data) == []


def test_a_secret_under_a_credential_key_is_refused_anywhere() -> None:
    data = minimal()
    data["environments"][0]["secretAccessKey"] = "not-a-recognisable-format"
    data["pipeline"] = {"password": 1234}
    assert messages(data) == [
        "environments[0].secretAccessKey: looks like a secret under the key 'secretAccessKey'; credentials "
        "never belong in aphex-config.yaml: keep it in a Kubernetes Secret; delete it here and rotate it",
        "environments[0].secretAccessKey: unknown field (allowed: account, approval, cdkContext, hooks, "
        "name, region, role, stacks, tests)",
        "pipeline.password: looks like a secret under the key 'password'; credentials never belong in "
        "aphex-config.yaml: keep it in a Kubernetes Secret; delete it here and rotate it",
        "pipeline.password: unknown field (allowed: artifactKmsKeyArn, artifactRetentionDays, name)",
    ]


def test_a_secret_used_as_a_key_or_a_stack_name_is_redacted_everywhere() -> None:
    key = "AKIAIOSFODNN7EXAMPLE"
    data = minimal()
    data["build"][key] = "x"
    data["environments"][0]["stacks"].append({"name": key, "path": ".", "dependsOn": ["App"]})
    data["environments"][0]["stacks"][0]["dependsOn"] = [key]
    text = "\n".join(messages(data))
    assert key not in text
    assert "build[<redacted>]: looks like an AWS access key id" in text
    assert "dependency cycle: App -> <redacted> -> App" in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "(document): is empty; expected a mapping with version, build and environments"),
        (
            "# only a comment\n",
            "(document): is empty; expected a mapping with version, build and environments",
        ),
        (
            "key: [unclosed",
            "(document): not valid YAML: line 2, column 1: did not find expected ',' or ']'",
        ),
        (
            "\tbad: indentation",
            "(document): not valid YAML: line 1, column 1: found character that cannot start any token",
        ),
        ("a: 1\n---\nb: 2\n", "(document): not valid YAML: line 2, column 1: but found another document"),
        (
            "a: !!python/object:os.system x",
            "(document): not valid YAML: line 1, column 4: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("a: \x00", "(document): not valid YAML: position 3: control characters are not allowed"),
        ("account: " + "9" * 5000, "(document): not valid YAML: a number is too large"),
        ("[" * 5000 + "]" * 5000, "(document): line 1, column 101: nests deeper than 100 levels"),
        ("when: 2024-13-45", "(document): not valid YAML: month must be in 1..12"),
    ],
)
def test_unreadable_text_is_one_problem_never_an_exception(text: str, message: str) -> None:
    assert [str(problem) for problem in validate_text(text)] == [message]


def test_yaml_errors_do_not_repeat_a_secret() -> None:
    token = "ghp_" + "a" * 36
    problems = validate_text(f"key: {token}: [")
    assert len(problems) == 1
    assert problems[0].message.startswith("not valid YAML: line 1, column ")
    assert token not in str(problems[0])


def test_binary_junk_is_a_problem() -> None:
    assert [str(p) for p in validate_text(b"\x89PNG\r\n\x1a\n\x00\xff")] == [
        "(document): not UTF-8 text (invalid byte at offset 0)"
    ]


def test_a_utf8_byte_order_mark_is_accepted() -> None:
    assert validate_text(b"\xef\xbb\xbf" + MINIMAL.encode()) == []


def test_documents_over_the_size_limit_are_refused_before_parsing() -> None:
    text = MINIMAL + "#" * MAX_DOCUMENT_BYTES
    assert [str(p) for p in validate_text(text)] == ["(document): is larger than 1024 KiB"]


def test_an_alias_bomb_is_refused() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    problems = validate_text("\n".join(lines))
    assert [str(p) for p in problems] == [
        f"(document): has more than {MAX_NODES} values (counting YAML aliases expanded)"
    ]


def test_a_self_referencing_alias_is_refused() -> None:
    problems = validate_text("version: &v [*v]")
    assert [str(p) for p in problems] == [
        "(document): line 1, column 10: an alias refers to the node that contains it"
    ]


def test_deep_nesting_is_refused_at_its_path() -> None:
    problems = validate_text("version: " + "[" * 80 + "]" * 80)
    assert [str(p) for p in problems] == [
        "version" + "[0]" * (MAX_DEPTH - 1) + f": nests deeper than {MAX_DEPTH} levels"
    ]


def test_aliases_and_merge_keys_within_the_limits_work() -> None:
    text = MINIMAL.replace("environments:", "x-common: &common\n  region: eu-west-1\nenvironments:")
    assert messages(yaml.safe_load(text)) == [
        "x-common: unknown field (allowed: build, environments, notifications, pipeline, version)"
    ]
    merged = MINIMAL.replace(
        "  - name: dev\n    region: eu-west-1", "  - &dev\n    name: dev\n    region: eu-west-1"
    )
    merged += "  - <<: *dev\n    name: prod\n"
    config = load_config(merged)
    assert [(env.name, env.region) for env in config.environments] == [
        ("dev", "eu-west-1"),
        ("prod", "eu-west-1"),
    ]


def test_huge_integers_in_a_document_are_problems() -> None:
    data = minimal()
    data["environments"][0]["account"] = 10**5000
    assert messages(data) == ["environments[0].account: is a number too large for any field"]


def test_non_string_keys_are_unknown_fields_with_a_readable_path() -> None:
    data: dict[Any, Any] = minimal()
    data[1] = "x"
    data["build"][None] = "y"
    assert messages(data) == [
        '["1"]: unknown field (allowed: build, environments, notifications, pipeline, version)',
        "build.null: unknown field (allowed: commands)",
    ]


def test_format_path() -> None:
    assert format_path(()) == "(document)"
    assert format_path(("environments", 1, "account")) == "environments[1].account"
    assert format_path(("a b", 0)) == '["a b"][0]'
    assert format_path(("x", "ghp_" + "a" * 36)) == "x[<redacted>]"
    assert str(ConfigProblem(path=("version",), message="m")) == "version: m"


def test_load_config_reads_text_bytes_and_paths(tmp_path: Path) -> None:
    file = tmp_path / "aphex-config.yaml"
    file.write_text(MINIMAL, encoding="utf-8")
    assert load_config(file) == load_config(MINIMAL) == load_config(MINIMAL.encode())
    with pytest.raises(OSError, match="No such file"):
        load_config(tmp_path / "missing.yaml")


def test_config_error_carries_every_problem() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(json.dumps({"version": "2.0"}))
    assert [str(p) for p in raised.value.problems] == [
        "build: is required",
        "environments: is required",
        'version: must be the string "1.0" (quoted, so that YAML does not read a number)',
    ]


def test_messages_never_contain_jsonschema_reprs() -> None:
    data = minimal()
    data["environments"][0]["account"] = ["a list", {"of": "things"}]
    data["environments"][0]["stacks"][0]["path"] = "x" * 2000
    for problem in messages(data):
        assert not re.search(r"is not of type|does not match|\{'of'", problem), problem
        assert "x" * 100 not in problem


@pytest.mark.parametrize(
    ("field", "value"),
    [("account", "123456789012\n"), ("name", "dev\n"), ("region", "eu-west-1\n"), ("role", "deploy\n")],
)
def test_a_trailing_newline_from_a_yaml_block_scalar_is_refused(field: str, value: str) -> None:
    data = minimal()
    data["environments"][0][field] = value
    assert [problem.location for problem in validate_document(data)] == [f"environments[0].{field}"]


def test_pipeline_name_is_as_long_as_its_entry_in_the_values_may_be() -> None:
    """``pipeline.name`` names the cluster's ``pipelines`` entry: the config allows what the values allow."""
    from aphex.dsl.values_schema import PIPELINE_NAME_MAX

    data = minimal()
    data["pipeline"] = {"name": "a" * PIPELINE_NAME_MAX}
    assert messages(data) == []
    data["pipeline"] = {"name": "a" * (PIPELINE_NAME_MAX + 1)}
    assert messages(data) == [
        f"pipeline.name: must be a DNS label: lowercase letters, digits and inner '-', at most "
        f"{PIPELINE_NAME_MAX} characters"
    ]
