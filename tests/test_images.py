"""The container images: build.sh against recording docker/git/aws stand-ins, and the Dockerfiles' rules."""

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.standins.commands import StandIns, install

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "images" / "build.sh"
DOCKERFILES = sorted((ROOT / "images").glob("*/Dockerfile"))
HADOLINT = ROOT / ".venv-tools" / "bin" / "hadolint"
SHA = "0123456789abcdef0123456789abcdef01234567"
SHORT = SHA[:12]
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
OCI_LABELS = ("title", "description", "version", "revision", "licenses")


@pytest.fixture
def tools(tmp_path: Path) -> StandIns:
    standins = install(tmp_path / "standins", ["docker", "git", "aws"])
    standins.on("git", "rev-parse", "HEAD", stdout=f"{SHA}\n")
    standins.on("aws", "ecr", "get-login-password", stdout="ecr-password\n")
    return standins


def build(tools: StandIns, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(BUILD), *args],
        cwd=cwd,  # anywhere: the script moves to the repository root itself
        env={**os.environ, **tools.environment()},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )


def docker_build(image: str, prefix: str = "", short: str = SHORT) -> list[str]:
    name = f"{prefix}aphex-dev/{image}"
    return [
        "docker", "build", "--file", f"images/{image}/Dockerfile",
        "--build-arg", f"VERSION={VERSION}", "--build-arg", f"REVISION={SHA}",
        "--tag", f"{name}:{VERSION}", "--tag", f"{name}:{short}", ".",
    ]  # fmt: skip


GIT_CALLS = [["git", "rev-parse", "HEAD"], ["git", "status", "--porcelain", "--untracked-files=no"]]


def test_build_tags_both_images_with_version_and_sha(tools: StandIns, tmp_path: Path) -> None:
    result = build(tools, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert tools.calls() == [*GIT_CALLS, docker_build("deployer"), docker_build("builder")]


def test_push_logs_in_to_ecr_and_pushes_both_tags(tools: StandIns, tmp_path: Path) -> None:
    result = build(tools, "--push", "--registry", REGISTRY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    prefix = f"{REGISTRY}/"
    assert tools.calls() == [
        *GIT_CALLS,
        docker_build("deployer", prefix),
        docker_build("builder", prefix),
        ["aws", "ecr", "get-login-password", "--region", "eu-west-1"],
        ["docker", "login", "--username", "AWS", "--password-stdin", REGISTRY],
        ["docker", "push", f"{prefix}aphex-dev/deployer:{VERSION}"],
        ["docker", "push", f"{prefix}aphex-dev/deployer:{SHORT}"],
        ["docker", "push", f"{prefix}aphex-dev/builder:{VERSION}"],
        ["docker", "push", f"{prefix}aphex-dev/builder:{SHORT}"],
    ]
    assert tools.stdin_of("docker", "login") == "ecr-password\n"


def test_dry_run_prints_the_commands_and_runs_none(tools: StandIns, tmp_path: Path) -> None:
    result = build(tools, "--dry-run", "--push", f"--registry={REGISTRY}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert tools.calls() == GIT_CALLS
    prefix = f"{REGISTRY}/"
    assert result.stdout.splitlines() == [
        " ".join(docker_build("deployer", prefix)),
        " ".join(docker_build("builder", prefix)),
        "aws ecr get-login-password --region eu-west-1 | "
        f"docker login --username AWS --password-stdin {REGISTRY}",
        f"docker push {prefix}aphex-dev/deployer:{VERSION}",
        f"docker push {prefix}aphex-dev/deployer:{SHORT}",
        f"docker push {prefix}aphex-dev/builder:{VERSION}",
        f"docker push {prefix}aphex-dev/builder:{SHORT}",
    ]


def test_a_dirty_tree_is_tagged_dirty_and_never_pushed(tools: StandIns, tmp_path: Path) -> None:
    tools.on("git", "status", stdout=" M aphex/dsl/steps.py\n")
    result = build(tools, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert tools.calls()[2:] == [
        docker_build("deployer", short=f"{SHORT}-dirty"),
        docker_build("builder", short=f"{SHORT}-dirty"),
    ]
    pushed = build(tools, "--push", "--registry", REGISTRY, cwd=tmp_path)
    assert pushed.returncode == 2
    assert "refusing to push" in pushed.stderr
    assert [call for call in tools.calls() if call[0] != "git"] == tools.calls()[2:4]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--push"], "--push needs --registry"),
        (["--registry"], "--registry needs a value"),
        (["--registry", "ghcr.io"], "--registry must be an ECR registry"),
        (["--registry", "12345.dkr.ecr.eu-west-1.amazonaws.com"], "--registry must be an ECR registry"),
        (["--push", "--registry="], "--registry must be an ECR registry"),
        (["--tag", "latest"], "unknown argument: --tag"),
    ],
)
def test_bad_arguments_exit_2_with_a_message_and_build_nothing(
    tools: StandIns, tmp_path: Path, args: list[str], message: str
) -> None:
    result = build(tools, *args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"build.sh: {message}")
    assert tools.calls() == []


def test_outside_a_git_checkout_nothing_is_built(tools: StandIns, tmp_path: Path) -> None:
    tools.rules.clear()
    tools.on("git", "rev-parse", stderr="fatal: not a git repository\n", exit=128)
    result = build(tools, cwd=tmp_path)
    assert result.returncode != 0
    assert "not a git repository" in result.stderr
    assert [call[0] for call in tools.calls()] == ["git"]


def test_help_exits_0(tools: StandIns, tmp_path: Path) -> None:
    result = build(tools, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: images/build.sh")
    assert tools.calls() == []


def test_build_script_is_executable() -> None:
    assert os.access(BUILD, os.X_OK)


# The Dockerfiles.


def _final_stage(dockerfile: Path) -> str:
    """The instructions after the last FROM (what the image is), backslash continuations joined."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    return re.split(r"(?m)^FROM ", text)[-1]


def test_there_are_both_dockerfiles() -> None:
    assert [path.parent.name for path in DOCKERFILES] == ["builder", "deployer"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_the_image_runs_as_a_non_root_user(dockerfile: Path) -> None:
    users = re.findall(r"(?m)^USER\s+(\S+)", _final_stage(dockerfile))
    assert users, f"{dockerfile}: no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user.isdigit(), f"{dockerfile}: USER {users[-1]} is not a numeric uid"
    assert int(user) != 0, f"{dockerfile}: USER {users[-1]} is root"
    assert re.search(r"(?m)^ENV .*\bHOME=/tmp\b", _final_stage(dockerfile))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_the_image_carries_oci_labels(dockerfile: Path) -> None:
    labels = set(re.findall(r"org\.opencontainers\.image\.([a-z]+)=", _final_stage(dockerfile)))
    required = {*OCI_LABELS, "source"}
    assert required <= labels, f"{dockerfile}: missing {sorted(required - labels)}"
    assert "${VERSION}" in _final_stage(dockerfile)
    assert "${REVISION}" in _final_stage(dockerfile)


def test_both_images_share_the_base_and_install_this_package_the_same_way() -> None:
    bases = {re.search(r"(?m)^ARG PYTHON_IMAGE=(\S+)$", path.read_text()) for path in DOCKERFILES}
    assert None not in bases
    assert len({match.group(1) for match in bases if match}) == 1
    for path in DOCKERFILES:
        assert "pip install --no-cache-dir -c constraints.txt ." in _final_stage(path), path


def test_the_builder_pins_node_and_the_cdk_cli() -> None:
    text = (ROOT / "images" / "builder" / "Dockerfile").read_text()
    assert re.search(r"(?m)^ARG NODE_VERSION=v[0-9]+\.[0-9]+\.[0-9]+$", text)
    assert re.search(r"(?m)^ARG AWS_CDK_VERSION=[0-9]+\.[0-9]+\.[0-9]+$", text)
    assert 'npm install --global --ignore-scripts --no-audit --no-fund "aws-cdk@${AWS_CDK_VERSION}"' in text
    assert "sha256sum -c -" in text


@pytest.mark.skipif(
    not HADOLINT.exists(), reason="hadolint is not installed in .venv-tools (make gates runs it)"
)
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    result = subprocess.run(
        [str(HADOLINT), str(dockerfile)], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
