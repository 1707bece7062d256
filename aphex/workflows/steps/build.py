"""The build stage: clone the pushed commit, run ``build.commands``, store the artifacts in S3.

The commit is fetched by its SHA into an empty repository (``git init`` + ``git fetch <url> <sha>`` +
``git checkout --detach FETCH_HEAD``) and ``git rev-parse HEAD`` must equal it: a branch that moved since
the push cannot change what is built. The commands come from ``aphex-config.yaml`` at that commit and run
in order, each as one ``bash -c <command>`` in the checkout (they are shell lines by definition; no value
is ever pasted into them) with a timeout; the first failure stops the build.

The commands get a scrubbed environment (:func:`command_environment`): ``PATH``, locale, proxy and
certificate variables, ``HOME`` and ``TMPDIR`` on the scratch volume, ``CI=true``, ``APHEX_COMMIT_SHA`` and
``APHEX_BRANCH`` and nothing else; the pod's AWS, Kubernetes and GitHub credentials are not passed on.

Layout in the artifact bucket (``s3://<bucket>/<commit-sha>/``): ``artifacts.tar.gz`` (``artifacts/`` holds
the artifact directory without ``.git`` and ``cdk.out``; ``metadata.json`` at the root), ``metadata.json``
(commit, branch, UTC build timestamp, commands with durations and exit codes), and for every build,
successful or not, ``build.log`` (each command with its state, duration and output; on failure headed by
the error): the pods are garbage-collected, the log stays. The archive is deterministic: sorted entries,
fixed owner, mode and mtime, and a gzip header without a timestamp. The objects carry the commit and
timestamp as S3 metadata and tags.
"""

import gzip
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote

from hera.workflows import Parameter

from aphex.dsl.config import ConfigError, load_config
from aphex.dsl.names import InvalidValue, validate_commit_sha, validate_relative_path
from aphex.workflows.steps.aws import validate_bucket
from aphex.workflows.steps.exits import fail
from aphex.workflows.steps.kube import StepError, run

__all__ = [
    "ARCHIVE_ROOT",
    "CONFIG_FILE",
    "BuildMetadata",
    "ShellResult",
    "build",
    "clone",
    "command_environment",
    "fetch_artifacts",
    "package",
    "run_build",
    "run_logged",
    "run_shell",
    "s3_client",
    "scratch",
    "upload_build",
    "validate_branch",
]

CONFIG_FILE: Final = "aphex-config.yaml"
ARCHIVE_ROOT: Final = "artifacts"
EXCLUDED_TOP: Final = frozenset({"cdk.out"})
EXCLUDED_ANYWHERE: Final = frozenset({".git"})
PASSED_THROUGH: Final = (
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
)
"""Variables a repository's commands inherit from the pod; everything else is dropped."""

_LOG_TAIL: Final = 4000
_BRANCH = re.compile(r"^(?:refs/heads/)?[A-Za-z0-9._/-]{1,244}$")
_REPO_URL = re.compile(r"^(?:https://[A-Za-z0-9.-]+(?::[0-9]+)?/|file:///)[A-Za-z0-9._~/-]+$")


@dataclass(frozen=True, kw_only=True)
class ShellResult:
    """One command's outcome; ``exit_code`` is None when it was killed at its timeout."""

    command: str
    exit_code: int | None
    timed_out: bool
    started_at: str
    finished_at: str
    duration_seconds: float
    log: Path

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0

    def output(self) -> str:
        """The command's combined stdout and stderr."""
        return self.log.read_text(encoding="utf-8", errors="replace")


@dataclass(frozen=True, kw_only=True)
class BuildMetadata:
    """What ``metadata.json`` records about one build."""

    commit_sha: str
    branch: str
    build_timestamp: str
    artifact_path: str
    commands: list[dict[str, Any]]
    succeeded: bool

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def _now() -> datetime:
    """The clock (a seam for tests)."""
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def scratch(prefix: str) -> Path:
    """A fresh directory on the scratch volume (``APHEX_SCRATCH``, else the system temp directory)."""
    base = Path(os.environ.get("APHEX_SCRATCH") or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def validate_branch(value: str, field: str = "branch") -> str:
    """A branch name or ``refs/heads/<name>`` as a push event carries it."""
    if not _BRANCH.match(value) or ".." in value or value.endswith("/") or "//" in value:
        raise InvalidValue(field, value, "must be a branch name or refs/heads/<name>")
    return value


def command_environment(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a repository command: :data:`PASSED_THROUGH` variables, ``HOME``/``TMPDIR``
    under ``home``, ``CI=true`` and ``extra``; never the pod's credentials."""
    env = {key: os.environ[key] for key in PASSED_THROUGH if key in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env.update({"HOME": str(home), "TMPDIR": str(home / "tmp"), "CI": "true"})
    env.update(extra or {})
    return env


def run_shell(command: str, *, cwd: Path, env: Mapping[str, str], timeout: float, log: Path) -> ShellResult:
    """Run ``bash -c command`` in ``cwd`` with exactly ``env``; stdout and stderr go to ``log``."""
    return run_logged(["bash", "-c", command], cwd=cwd, env=env, timeout=timeout, log=log, label=command)


def run_logged(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    log: Path,
    label: str | None = None,
) -> ShellResult:
    """Run ``argv`` in ``cwd`` with exactly ``env``, stdout and stderr into ``log``; never raises on failure.

    The process runs in its own session, so the whole process group is killed at the timeout (a build
    tool's children cannot keep it alive). ``label`` is what the result calls the command.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    started = _now()
    clock = time.monotonic()
    timed_out = False
    with log.open("wb") as sink:
        try:
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise StepError(f"`{argv[0]}` is not installed in this image") from None
        try:
            code: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            code = None
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    duration = round(time.monotonic() - clock, 3)
    if timed_out:
        with log.open("a", encoding="utf-8") as sink:
            sink.write(f"\n[aphex] killed after {timeout:g} s (timeout)\n")
    return ShellResult(
        command=label if label is not None else " ".join(argv),
        exit_code=code,
        timed_out=timed_out,
        started_at=_iso(started),
        finished_at=_iso(_now()),
        duration_seconds=duration,
        log=log,
    )


def clone(repo_url: str, commit_sha: str, destination: Path) -> Path:
    """Fetch exactly ``commit_sha`` of ``repo_url`` into ``destination`` and check it out (detached).

    A private repository is fetched with the GitHub credentials of the step's environment
    (:func:`aphex.workflows.steps.github.git_auth_environment`: an http header in git's environment, redacted
    from errors); nothing of them is written to the checkout's configuration.
    """
    from aphex.workflows.steps.github import GitHubError, git_auth_environment

    validate_commit_sha(commit_sha, "commit-sha", allow_empty=False)
    if len(commit_sha) != 40:
        raise InvalidValue("commit-sha", commit_sha, "must be a 40-character hex commit id")
    if not _REPO_URL.match(repo_url) or ".." in repo_url:
        raise InvalidValue("repo-url", repo_url, "must be an https:// (or file://) repository URL")
    try:
        auth, secrets = git_auth_environment(repo_url)
    except GitHubError as error:
        raise StepError(f"repo-url: no GitHub credentials for {repo_url}: {error}") from None
    run(["git", "init", "--quiet", str(destination)])
    run(
        ["git", "fetch", "--quiet", "--depth=1", repo_url, commit_sha],
        cwd=destination,
        env=auth,
        redact=secrets,
    )
    run(["git", "checkout", "--quiet", "--detach", "FETCH_HEAD"], cwd=destination)
    head = run(["git", "rev-parse", "HEAD"], cwd=destination).stdout.strip()
    if head != commit_sha:
        raise StepError(f"commit-sha: checked out {head}, expected {commit_sha}")
    return destination


def _build_commands(checkout: Path) -> list[str]:
    """``build.commands`` of the ``aphex-config.yaml`` at the checked-out commit, read and validated by
    the same loader as every other stage (:func:`aphex.dsl.config.load.load_config`)."""
    path = checkout / CONFIG_FILE
    if not path.is_file():
        raise InvalidValue(CONFIG_FILE, str(path.name), "does not exist at this commit")
    try:
        config = load_config(path)
    except ConfigError as error:
        first = error.problems[0]
        raise InvalidValue(
            first.location if first.path else CONFIG_FILE, CONFIG_FILE, str(error).replace("\n", "; ")
        ) from None
    return list(config.build.commands)


def run_build(
    commands: Sequence[str], *, checkout: Path, env: Mapping[str, str], timeout: float, logs: Path
) -> list[ShellResult]:
    """Run ``commands`` in order in ``checkout``; stop after the first that fails."""
    results = []
    for index, command in enumerate(commands, start=1):
        print(f"[aphex] build command {index}/{len(commands)}: {command}", flush=True)
        result = run_shell(command, cwd=checkout, env=env, timeout=timeout, log=logs / f"{index:02d}.log")
        sys.stdout.write(result.output())
        results.append(result)
        if not result.succeeded:
            break
    return results


def _command_record(result: ShellResult) -> dict[str, Any]:
    return {
        "command": result.command,
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "duration_seconds": result.duration_seconds,
    }


def _tar_info(name: str, source: Path | None, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if source is None:
        info.type, info.mode, info.size = tarfile.REGTYPE, 0o644, size
    elif source.is_symlink():
        info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, os.readlink(source)
    elif source.is_dir():
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    else:
        executable = source.stat().st_mode & 0o111
        info.type, info.mode, info.size = tarfile.REGTYPE, 0o755 if executable else 0o644, size
    return info


def _members(root: Path) -> list[Path]:
    found: list[Path] = []
    for directory, subdirectories, files in os.walk(root):
        here = Path(directory)
        subdirectories[:] = sorted(
            d
            for d in subdirectories
            if d not in EXCLUDED_ANYWHERE and not (here == root and d in EXCLUDED_TOP)
        )
        for name in [*subdirectories, *files]:
            if name in EXCLUDED_ANYWHERE or (here == root and name in EXCLUDED_TOP):
                continue
            found.append(here / name)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def package(source: Path, metadata: BuildMetadata) -> bytes:
    """The deterministic ``artifacts.tar.gz`` of ``source`` with ``metadata.json`` at its root."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        body = metadata.to_json().encode()
        archive.addfile(_tar_info("metadata.json", None, len(body)), io.BytesIO(body))
        archive.addfile(_tar_info(ARCHIVE_ROOT, source))
        for path in _members(source):
            name = f"{ARCHIVE_ROOT}/{path.relative_to(source).as_posix()}"
            if path.is_file() and not path.is_symlink():
                with path.open("rb") as handle:
                    archive.addfile(_tar_info(name, path, path.stat().st_size), handle)
            else:
                archive.addfile(_tar_info(name, path))
    return buffer.getvalue()


def s3_client() -> Any:
    """The pipeline account's S3 client (boto3 resolves region, credentials and endpoint)."""
    import boto3  # type: ignore[import-untyped]

    return boto3.Session().client("s3")


def _tags(metadata: BuildMetadata) -> tuple[dict[str, str], str]:
    values = {"commit-sha": metadata.commit_sha, "build-timestamp": metadata.build_timestamp}
    return values, "&".join(f"{k}={quote(v, safe='')}" for k, v in values.items())


def upload_build(s3: Any, *, bucket: str, metadata: BuildMetadata, archive: bytes | None, log: str) -> str:
    """Store the build under ``<commit-sha>/``; return the artifact URI (without artifacts, the log's)."""
    prefix = metadata.commit_sha
    values, tagging = _tags(metadata)
    extra = {"Metadata": {**values, "branch": metadata.branch}, "Tagging": tagging}
    if archive is not None:
        s3.put_object(
            Bucket=bucket,
            Key=f"{prefix}/artifacts.tar.gz",
            Body=archive,
            ContentType="application/gzip",
            **extra,
        )
    s3.put_object(
        Bucket=bucket,
        Key=f"{prefix}/metadata.json",
        Body=metadata.to_json().encode(),
        ContentType="application/json",
        **extra,
    )
    s3.put_object(
        Bucket=bucket,
        Key=f"{prefix}/build.log",
        Body=log.encode(),
        ContentType="text/plain; charset=utf-8",
        **extra,
    )
    if archive is None:
        return f"s3://{bucket}/{prefix}/build.log"
    return f"s3://{bucket}/{prefix}/artifacts.tar.gz"


def fetch_artifacts(s3: Any, *, bucket: str, commit_sha: str, destination: Path) -> Path:
    """Download and unpack ``<commit-sha>/artifacts.tar.gz``; return the unpacked artifact directory.

    The archive's ``metadata.json`` must name ``commit_sha``; entries leaving the destination are refused.
    """
    body = s3.get_object(Bucket=bucket, Key=f"{commit_sha}/artifacts.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        archive.extractall(destination, filter="data")
    metadata = json.loads((destination / "metadata.json").read_text(encoding="utf-8"))
    if metadata.get("commit_sha") != commit_sha:
        raise StepError(
            f"commit-sha: the artifacts in s3://{bucket}/{commit_sha}/ were built from "
            f"{metadata.get('commit_sha')!r}"
        )
    return destination / ARCHIVE_ROOT


def _build_log(results: Sequence[ShellResult], error: str | None) -> str:
    parts = [f"build failed: {error}\n" if error else f"build succeeded ({len(results)} commands)\n"]
    for result in results:
        state = "timed out" if result.timed_out else f"exit {result.exit_code}"
        parts.append(f"\n$ {result.command}\n[{state} after {result.duration_seconds} s]\n{result.output()}")
    return "".join(parts)


def build(
    repo_url: str,
    commit_sha: str,
    branch: str,
    bucket: str,
    artifact_path: str = ".",
    command_timeout: int = 1800,
) -> Annotated[str, Parameter(name="artifact-uri")]:
    """Runner entrypoint: build the commit and upload its artifacts; outputs their S3 URI."""
    try:
        return _build(
            repo_url=repo_url,
            commit_sha=commit_sha,
            branch=branch,
            bucket=bucket,
            artifact_path=artifact_path,
            command_timeout=command_timeout,
            s3=s3_client(),
        )
    except (InvalidValue, StepError) as error:
        raise fail(error) from None


def _build(
    *,
    repo_url: str,
    commit_sha: str,
    branch: str,
    bucket: str,
    artifact_path: str,
    command_timeout: int,
    s3: Any,
) -> str:
    validate_commit_sha(commit_sha, "commit-sha", allow_empty=False)
    if len(commit_sha) != 40:
        raise InvalidValue("commit-sha", commit_sha, "must be a 40-character hex commit id")
    validate_branch(branch)
    validate_bucket(bucket)
    if artifact_path != ".":
        validate_relative_path(artifact_path, "artifact-path")
    if not 1 <= command_timeout <= 6 * 3600:
        raise InvalidValue("command-timeout", command_timeout, "must be between 1 and 21600 seconds")
    work = scratch("build-")
    checkout = work / "checkout"
    results: list[ShellResult] = []
    commands: list[str] = []
    timestamp = _iso(_now())

    def metadata(succeeded: bool) -> BuildMetadata:
        return BuildMetadata(
            commit_sha=commit_sha,
            branch=branch,
            build_timestamp=timestamp,
            artifact_path=artifact_path,
            commands=[_command_record(r) for r in results],
            succeeded=succeeded,
        )

    try:
        clone(repo_url, commit_sha, checkout)
        commands = _build_commands(checkout)
        env = command_environment(work / "home", {"APHEX_COMMIT_SHA": commit_sha, "APHEX_BRANCH": branch})
        results = run_build(commands, checkout=checkout, env=env, timeout=command_timeout, logs=work / "logs")
        last = results[-1]
        if not last.succeeded:
            state = f"timed out after {command_timeout} s" if last.timed_out else f"exited {last.exit_code}"
            tail = last.output()[-_LOG_TAIL:].strip().splitlines()
            reason = tail[-1] if tail else "no output"
            raise StepError(f"build command {len(results)} `{last.command}` {state}: {reason}")
        output = (checkout / artifact_path).resolve()
        if not output.is_relative_to(checkout.resolve()) or not output.is_dir():
            raise InvalidValue("artifact-path", artifact_path, "is not a directory inside the checkout")
        archive = package(output, metadata(True))
    except (InvalidValue, StepError) as error:
        uri = upload_build(
            s3,
            bucket=bucket,
            metadata=metadata(False),
            archive=None,
            log=_build_log(results, str(error)),
        )
        raise StepError(f"{error} (log: {uri})") from None
    uri = upload_build(
        s3, bucket=bucket, metadata=metadata(True), archive=archive, log=_build_log(results, None)
    )
    print(f"built {commit_sha} ({len(commands)} commands): {uri}")
    return uri
