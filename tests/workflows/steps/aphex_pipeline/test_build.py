"""The build stage against real git remotes (file://) and a moto S3: clone, commands, archive, upload."""

import contextlib
import io
import json
import os
import tarfile
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aphex.dsl.config import load_config
from aphex.dsl.config.cloudformation import pipeline_resources_template
from aphex.dsl.names import InvalidValue
from aphex.workflows.steps.aphex_pipeline import build
from aphex.workflows.steps.common import git as git_step
from aphex.workflows.steps.common import shell
from aphex.workflows.steps.common.process import StepError
from tests.workflows.steps.conftest import AppRepo, AwsCalls, git, make_repo, reset_moto, role_statements

BUCKET = "aphex-artifacts"
FAST = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def s3() -> object:
    return boto3.client("s3")


def bucket() -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)


def archive_members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return {member.name: member for member in archive.getmembers()}


def archive_file(data: bytes, name: str) -> str:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        handle = archive.extractfile(name)
        assert handle is not None
        return handle.read().decode()


def run_build(repo: AppRepo, commit: str, **overrides: object) -> str:
    args: dict[str, object] = {
        "repo_url": repo.url,
        "commit_sha": commit,
        "branch": "refs/heads/main",
        "bucket": BUCKET,
        "artifact_path": ".",
        "command_timeout": 60,
    }
    args.update(overrides)
    return build.build(**args)  # type: ignore[arg-type]


def test_a_commit_that_is_not_head_is_built_and_uploaded(
    moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket()
    repo = make_repo(
        tmp_path / "repo",
        {},
        [
            "echo one >> order.txt",
            "echo two >> order.txt",
            "cat VERSION > built-version.txt",
            "mkdir -p cdk.out",
        ],
    )
    moment = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    monkeypatch.setattr(build, "_now", lambda: moment)
    uri = run_build(repo, repo.old)
    assert uri == f"s3://{BUCKET}/{repo.old}/artifacts.tar.gz"
    obj = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"{repo.old}/artifacts.tar.gz")
    data = obj["Body"].read()
    members = archive_members(data)
    assert archive_file(data, "artifacts/built-version.txt") == "v1\n"
    assert archive_file(data, "artifacts/order.txt") == "one\ntwo\n"
    assert not any(name.startswith("artifacts/.git") or "/cdk.out" in name for name in members)
    assert "artifacts/app.py" in members
    inner = json.loads(archive_file(data, "metadata.json"))
    stored = json.loads(
        boto3.client("s3").get_object(Bucket=BUCKET, Key=f"{repo.old}/metadata.json")["Body"].read()
    )
    assert inner == stored
    assert stored["commit_sha"] == repo.old
    assert stored["branch"] == "refs/heads/main"
    assert stored["build_timestamp"] == "2026-03-04T05:06:07.000000Z"
    assert stored["succeeded"] is True
    assert [c["command"] for c in stored["commands"]] == [
        "echo one >> order.txt",
        "echo two >> order.txt",
        "cat VERSION > built-version.txt",
        "mkdir -p cdk.out",
    ]
    assert [c["exit_code"] for c in stored["commands"]] == [0, 0, 0, 0]
    assert all(c["duration_seconds"] >= 0 for c in stored["commands"])
    # The log of a successful build is kept too: the pod that ran it is garbage-collected.
    log = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"{repo.old}/build.log")["Body"].read().decode()
    assert log.startswith("build succeeded (4 commands)\n\n$ echo one >> order.txt\n[exit 0 after ")
    assert "\n$ mkdir -p cdk.out\n[exit 0 after " in log
    assert obj["Metadata"] == {
        "commit-sha": repo.old,
        "build-timestamp": "2026-03-04T05:06:07.000000Z",
        "branch": "refs/heads/main",
    }
    tags = boto3.client("s3").get_object_tagging(Bucket=BUCKET, Key=f"{repo.old}/artifacts.tar.gz")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {
        "commit-sha": repo.old,
        "build-timestamp": "2026-03-04T05:06:07.000000Z",
    }


def test_the_first_failing_command_stops_the_build_and_its_log_is_stored(
    moto: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket()
    repo = make_repo(tmp_path / "repo", {}, ["echo fine", "echo boom >&2; exit 3", "echo never > never.txt"])
    with pytest.raises(SystemExit) as caught:
        run_build(repo, repo.head)
    assert caught.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "build command 2 `echo boom >&2; exit 3` exited 3: boom" in err[0]
    client = boto3.client("s3")
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {f"{repo.head}/build.log", f"{repo.head}/metadata.json"}
    log = client.get_object(Bucket=BUCKET, Key=f"{repo.head}/build.log")["Body"].read().decode()
    assert log.startswith("build failed: build command 2 `echo boom >&2; exit 3` exited 3: boom\n")
    assert "$ echo fine\n[exit 0" in log
    assert "boom" in log
    assert "never" not in log.split("exited 3")[-1]
    metadata = json.loads(client.get_object(Bucket=BUCKET, Key=f"{repo.head}/metadata.json")["Body"].read())
    assert metadata["succeeded"] is False
    assert [c["exit_code"] for c in metadata["commands"]] == [0, 3]


def test_a_command_past_its_timeout_is_killed(
    moto: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket()
    repo = make_repo(tmp_path / "repo", {}, ["(sleep 30; echo late) & sleep 30"])
    started = time.monotonic()
    with pytest.raises(SystemExit):
        run_build(repo, repo.head, command_timeout=1)
    assert time.monotonic() - started < 15
    assert "timed out after 1 s" in capsys.readouterr().err


def test_commands_do_not_see_the_pods_credentials(
    moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket()
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/token")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    repo = make_repo(tmp_path / "repo", {}, ["env > env.txt"])
    run_build(repo, repo.head, branch="main")
    data = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"{repo.head}/artifacts.tar.gz")["Body"].read()
    env = dict(
        line.split("=", 1) for line in archive_file(data, "artifacts/env.txt").splitlines() if "=" in line
    )
    assert not [key for key in env if key.startswith("AWS_") or key == "GITHUB_TOKEN"]
    assert env["APHEX_COMMIT_SHA"] == repo.head
    assert env["APHEX_BRANCH"] == "main"
    assert env["CI"] == "true"
    assert env["HTTPS_PROXY"] == "http://proxy.example:3128"
    assert env["HOME"].startswith(str(tmp_path / "scratch"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"commit_sha": "abc123"}, "invalid parameter commit-sha:"),
        ({"commit_sha": "A" * 40}, "invalid parameter commit-sha:"),
        ({"branch": "main;rm -rf /"}, "invalid parameter branch:"),
        ({"bucket": "Not_A_Bucket"}, "invalid parameter bucket:"),
        ({"artifact_path": "../etc"}, "invalid parameter artifact-path:"),
        ({"command_timeout": 0}, "invalid parameter command-timeout:"),
    ],
)
def test_bad_parameters_are_named(
    moto: str,
    app_repo: AppRepo,
    capsys: pytest.CaptureFixture[str],
    overrides: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(SystemExit):
        run_build(app_repo, app_repo.head, **overrides)
    assert capsys.readouterr().err.startswith(message)


def test_an_unknown_commit_fails_and_is_logged(
    moto: str, app_repo: AppRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket()
    with pytest.raises(SystemExit):
        run_build(app_repo, "f" * 40)
    assert "`git fetch" in capsys.readouterr().err
    log = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"{'f' * 40}/build.log")["Body"].read()
    assert b"git fetch" in log


def test_an_unsafe_repository_url_is_refused(tmp_path: Path) -> None:
    for url in [
        "ext::sh -c touch% /tmp/pwned",
        "ssh://git@example.com/x",
        "https://example.com/../x",
        "-uhelp",
    ]:
        with pytest.raises(InvalidValue) as caught:
            git_step.clone(url, "a" * 40, tmp_path / "c")
        assert caught.value.field == "repo-url"


ENVIRONMENTS = (
    "environments: [{name: staging, region: eu-west-1, account: '111122223333', "
    "stacks: [{name: AppStack, path: .}]}]\n"
)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ("version: '1.0'\n" + ENVIRONMENTS, "build"),
        ("version: '1.0'\nbuild:\n  commands: []\n" + ENVIRONMENTS, "build.commands"),
        ("version: '1.0'\nbuild:\n  commands: echo hi\n" + ENVIRONMENTS, "build.commands"),
        ("version: '1.0'\nbuild:\n  commands: ['make', 3]\n" + ENVIRONMENTS, "build.commands[1]"),
        ("build: [\n", "aphex-config.yaml"),
    ],
)
def test_build_commands_are_validated_by_the_config_loader(tmp_path: Path, config: str, field: str) -> None:
    (tmp_path / "aphex-config.yaml").write_text(config)
    with pytest.raises(InvalidValue) as caught:
        build._build_commands(tmp_path)
    assert caught.value.field == field


def test_the_commands_of_a_valid_config_are_returned_in_order(tmp_path: Path) -> None:
    (tmp_path / "aphex-config.yaml").write_text(
        "version: '1.0'\nbuild:\n  commands: [npm ci, npm run build]\n" + ENVIRONMENTS
    )
    assert build._build_commands(tmp_path) == ["npm ci", "npm run build"]


def test_a_missing_config_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match="does not exist at this commit"):
        build._build_commands(tmp_path)


def metadata(sha: str = "a" * 40, timestamp: str = "2026-01-01T00:00:00.000000Z") -> build.BuildMetadata:
    return build.BuildMetadata(
        commit_sha=sha,
        branch="main",
        build_timestamp=timestamp,
        artifact_path=".",
        commands=[],
        succeeded=True,
    )


def test_the_archive_is_deterministic(tmp_path: Path) -> None:
    source = tmp_path / "out"
    (source / "bin").mkdir(parents=True)
    (source / "bin" / "run").write_text("#!/bin/sh\n")
    (source / "bin" / "run").chmod(0o750)
    (source / "a.txt").write_text("a")
    (source / "link").symlink_to("a.txt")
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref")
    first = build.package(source, metadata())
    os.utime(source / "a.txt", (1, 1))
    (source / "a.txt").chmod(0o600)
    assert build.package(source, metadata()) == first
    members = archive_members(first)
    assert list(members) == ["metadata.json", "artifacts", "artifacts/a.txt", "artifacts/bin",
                             "artifacts/bin/run", "artifacts/link"]  # fmt: skip
    assert members["artifacts/bin/run"].mode == 0o755
    assert members["artifacts/a.txt"].mode == 0o644
    assert members["artifacts/link"].issym()
    assert members["artifacts/link"].linkname == "a.txt"
    assert {m.mtime for m in members.values()} == {0}
    assert first[4:8] == b"\0\0\0\0"  # gzip header without a timestamp


def test_fetching_refuses_artifacts_of_another_commit(moto: str, tmp_path: Path) -> None:
    bucket()
    (tmp_path / "src").mkdir()
    data = build.package(tmp_path / "src", metadata("b" * 40))
    boto3.client("s3").put_object(Bucket=BUCKET, Key=f"{'a' * 40}/artifacts.tar.gz", Body=data)
    with pytest.raises(StepError, match="were built from 'bbbb"):
        build.fetch_artifacts(s3(), bucket=BUCKET, commit_sha="a" * 40, destination=tmp_path / "dst")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    """A remote whose main has 6 commits; commit i has ``n.txt`` = i."""
    root = tmp_path_factory.mktemp("history")
    work = root / "work"
    work.mkdir()
    git("init", "--quiet", "--initial-branch=main", cwd=work)
    git("config", "user.email", "dev@example.com", cwd=work)
    git("config", "user.name", "dev", cwd=work)
    shas = []
    for index in range(6):
        (work / "n.txt").write_text(str(index))
        git("add", ".", cwd=work)
        git("commit", "--quiet", "-m", str(index), cwd=work)
        shas.append(git("rev-parse", "HEAD", cwd=work))
    git("clone", "--quiet", "--bare", str(work), str(root / "remote.git"), cwd=root)
    return f"file://{root / 'remote.git'}", shas


# Property 2: the checkout is exactly the requested commit, wherever it is in the history.
@FAST
@given(index=st.integers(0, 5))
def test_property_2_clone_at_exactly_that_commit(
    history: tuple[str, list[str]], tmp_path_factory: pytest.TempPathFactory, index: int
) -> None:
    url, shas = history
    checkout = git_step.clone(url, shas[index], tmp_path_factory.mktemp("clone") / "c")
    assert git("rev-parse", "HEAD", cwd=checkout) == shas[index]
    assert (checkout / "n.txt").read_text() == str(index)


# Property 3: build commands run in the configured order.
@FAST
@given(tokens=st.lists(st.from_regex(r"\A[a-z0-9]{1,8}\Z"), min_size=1, max_size=6))
def test_property_3_build_commands_run_in_order(
    tmp_path_factory: pytest.TempPathFactory, tokens: list[str]
) -> None:
    work = tmp_path_factory.mktemp("order")
    commands = [f"echo {token} >> order.txt" for token in tokens]
    env = shell.command_environment(work / "home")
    results = build.run_build(commands, checkout=work, env=env, timeout=30, logs=work / "logs")
    assert [r.command for r in results] == commands
    assert (work / "order.txt").read_text().split() == tokens


# Property 4: artifacts are tagged with the commit SHA and the build timestamp.
@FAST
@given(
    sha=st.from_regex(r"\A[0-9a-f]{40}\Z"),
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2099, 12, 31),
        timezones=st.just(UTC),
    ),
)
def test_property_4_artifacts_tagged_with_sha_and_timestamp(
    moto: str, tmp_path_factory: pytest.TempPathFactory, sha: str, moment: datetime
) -> None:
    reset_moto(moto)
    bucket()
    timestamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    source = tmp_path_factory.mktemp("src")
    (source / "x").write_text("x")
    record = metadata(sha, timestamp)
    build.upload_build(s3(), bucket=BUCKET, metadata=record, archive=build.package(source, record), log="")
    client = boto3.client("s3")
    for key in (f"{sha}/artifacts.tar.gz", f"{sha}/metadata.json"):
        head = client.head_object(Bucket=BUCKET, Key=key)
        assert head["Metadata"]["commit-sha"] == sha
        assert head["Metadata"]["build-timestamp"] == timestamp
        tags = {t["Key"]: t["Value"] for t in client.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}
        assert tags == {"commit-sha": sha, "build-timestamp": timestamp}
    data = client.get_object(Bucket=BUCKET, Key=f"{sha}/artifacts.tar.gz")["Body"].read()
    inner = json.loads(archive_file(data, "metadata.json"))
    assert (inner["commit_sha"], inner["build_timestamp"]) == (sha, timestamp)


# Property 5: what the build uploads is exactly what a later stage downloads.
@FAST
@given(
    files=st.dictionaries(
        st.lists(st.from_regex(r"\A[a-z][a-z0-9_.-]{0,8}\Z"), min_size=1, max_size=3).map("/".join),
        st.binary(max_size=2048),
        min_size=1,
        max_size=6,
    )
)
def test_property_5_s3_round_trip(
    moto: str, tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes]
) -> None:
    reset_moto(moto)
    bucket()
    source = tmp_path_factory.mktemp("src")
    written = {}
    for name, content in files.items():
        path = source / name
        if any(parent.is_file() for parent in path.parents) or path.is_dir():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written[name] = content
    record = metadata("c" * 40)
    build.upload_build(s3(), bucket=BUCKET, metadata=record, archive=build.package(source, record), log="")
    root = build.fetch_artifacts(
        s3(), bucket=BUCKET, commit_sha="c" * 40, destination=tmp_path_factory.mktemp("dst")
    )
    fetched = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert fetched == written


@pytest.mark.parametrize("commands", [["echo ok"], ["exit 4"]])
def test_every_call_of_the_build_step_is_allowed_by_the_build_role(
    moto: str, tmp_path: Path, aws_calls: AwsCalls, commands: list[str]
) -> None:
    """Artifacts, metadata and the log, for a successful and a failed build, under the generated policy."""
    bucket()
    repo = make_repo(tmp_path / "repo", {}, commands)
    aws_calls.calls.clear()
    with contextlib.suppress(SystemExit):
        run_build(repo, repo.head)
    assert {call.operation for call in aws_calls.made_with("testing")} == {"PutObject"}
    template = pipeline_resources_template(
        load_config((tmp_path / "repo" / "work" / "aphex-config.yaml").read_text()),
        pipeline_name="shop",
        namespace="argo",
    )
    statements = role_statements(template, "BuildRole", {"ArtifactBucket.Arn": f"arn:aws:s3:::{BUCKET}"})
    assert aws_calls.denied(statements) == []
    assert aws_calls.denied(
        role_statements(template, "MonitorRole", {"ArtifactBucket.Arn": f"arn:aws:s3:::{BUCKET}"})
    )


def test_with_an_artifact_key_every_object_is_encrypted_with_it_and_the_build_role_may_use_it(
    moto: str, tmp_path: Path, aws_calls: AwsCalls
) -> None:
    """``pipeline.artifactKmsKeyArn``: the step sends no encryption header, S3 applies the bucket's default
    (the template's) to every object, and asks KMS with the build role's rights (kms:GenerateDataKey)."""
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    repo = make_repo(tmp_path / "repo", {}, ["echo ok"])
    document = load_config((tmp_path / "repo" / "work" / "aphex-config.yaml").read_text())
    config = load_config(
        json.dumps({"version": "1.0", "build": {"commands": list(document.build.commands)},
                    "environments": [{"name": "dev", "region": "us-east-1", "account": "123456789012",
                                      "stacks": [{"name": "App", "path": "."}]}],
                    "pipeline": {"artifactKmsKeyArn": key}})
    )  # fmt: skip
    template = pipeline_resources_template(config, pipeline_name="shop", namespace="argo")
    (rule,) = template["Resources"]["ArtifactBucket"]["Properties"]["BucketEncryption"][
        "ServerSideEncryptionConfiguration"
    ]
    bucket()
    boto3.client("s3").put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                       "BucketKeyEnabled": rule["BucketKeyEnabled"]}]
        },
    )  # fmt: skip
    aws_calls.calls.clear()
    run_build(repo, repo.head)
    puts = [call for call in aws_calls.made_with("testing") if call.operation == "PutObject"]
    assert puts
    assert not [call for call in puts if any(name.startswith("SSE") for name in call.params)]
    for call in puts:
        head = boto3.client("s3").head_object(Bucket=BUCKET, Key=call.params["Key"])
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key)
    statements = role_statements(template, "BuildRole", {"ArtifactBucket.Arn": f"arn:aws:s3:::{BUCKET}"})
    assert aws_calls.denied(statements, bucket_key=key) == []
    without_key = [statement for statement in statements if statement["Sid"] != "ArtifactKey"]
    assert aws_calls.denied(without_key, bucket_key=key) == [f"kms:GenerateDataKey on {key} {{}}"] * len(puts)
