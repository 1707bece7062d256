"""The build stage: clone the pushed commit, run ``build.commands``, store the artifacts in S3.

The commit is fetched by its SHA (:func:`aphex.workflows.steps.common.git.clone`): a branch that moved since
the push cannot change what is built. The commands come from ``aphex-config.yaml`` at that commit and run in
order, each as one ``bash -c <command>`` in the checkout (they are shell lines by definition; no value is
ever pasted into them) with a timeout and the scrubbed environment of
:func:`aphex.workflows.steps.common.shell.command_environment` plus ``APHEX_COMMIT_SHA`` and ``APHEX_BRANCH``;
the first failure stops the build.

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
import sys
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote

from hera.workflows import Parameter

from aphex.dsl.config import ConfigError, load_config
from aphex.dsl.config.cloudformation import PipelineRole
from aphex.dsl.config.model import CONFIG_FILE
from aphex.dsl.names import InvalidValue, validate_commit_sha, validate_relative_path
from aphex.dsl.stage import HEAVY_SCRATCH_SIZE, ON_POD_ERROR, ResourceClass, Stage, StepImage
from aphex.workflows.steps.common.aws import pod_session, validate_bucket
from aphex.workflows.steps.common.exits import fail
from aphex.workflows.steps.common.git import clone, validate_branch
from aphex.workflows.steps.common.process import StepError
from aphex.workflows.steps.common.scratch import scratch
from aphex.workflows.steps.common.shell import (
    ShellResult,
    command_environment,
    iso_timestamp,
    run_shell,
    utc_now,
)

__all__ = [
    "ARCHIVE_ROOT",
    "STAGE",
    "BuildMetadata",
    "build",
    "fetch_artifacts",
    "package",
    "run_build",
    "s3_client",
    "upload_build",
]

ARCHIVE_ROOT: Final = "artifacts"
EXCLUDED_TOP: Final = frozenset({"cdk.out"})
EXCLUDED_ANYWHERE: Final = frozenset({".git"})
_LOG_TAIL: Final = 4000


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
    """The clock of the build's timestamp (a seam for tests)."""
    return utc_now()


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
    """The pipeline account's S3 client."""
    return pod_session().client("s3")


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


STAGE: Final = Stage(
    entrypoint=build,
    name="build",
    resources=ResourceClass.HEAVY,
    timeout="2h",
    retry=ON_POD_ERROR,
    account=PipelineRole.BUILD.value,
    image=StepImage.BUILDER,
    scratch_size=HEAVY_SCRATCH_SIZE,
)


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
    timestamp = iso_timestamp(_now())

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
