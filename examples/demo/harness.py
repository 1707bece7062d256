"""Everything the demo (and its tests) set up around one local run of the implementation DAG.

Real: the compiled bundle (``aphex compile``), the local interpreter (``aphex run``'s Python API), every
Hera runner step (set-params, the CodeRun input validation, deploy, acceptance, cleanup, keep-preview,
publish-success/-failure) in subprocesses, git (a real repository fetched over git's smart HTTP protocol
from ``git http-backend``), the sample app's HTTP server that acceptance probes.

Stand-ins (doubles that record every call): ``helm`` (:mod:`examples.demo.cluster_standin`), the
Kubernetes API (``tests/standins/kube_api.py``, real HTTP on 127.0.0.1, reached by the steps through
``KUBECONFIG``), the GitHub REST API (``tests/standins/github.py``, real HTTP on 127.0.0.1) and the
agent platform (a resource rule completes each CodeRun with ``status.phase: Succeeded``).
"""

import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aphex.cli import main as aphex
from aphex.dsl.run import Fault, RunOptions, RunResult, run_workflow
from aphex.dsl.run.store import parse_rule
from examples.demo.cluster_standin import ingresses, record_namespace
from examples.demo.git_server import (
    publish_pull_request,
    pull_request_branch,
    self_signed_certificate,
    serve_git,
)
from tests.standins.github import GitHubStandIn, github_standin
from tests.standins.kube_api import KubeStandIn, kube_standin

__all__ = ["OWNER", "PR", "REPO", "Cluster", "DemoEnvironment", "demo_environment"]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_APP = ROOT / "examples" / "sample-app"
STANDIN = Path(__file__).resolve().parent / "cluster_standin.py"
OWNER, REPO, PR = "octo-org", "sample-app", 42


_NAMESPACE_PATH = re.compile(r"^/api/v1/namespaces/(?P<name>[a-z0-9-]+)$")
_INGRESSES_PATH = re.compile(r"^/apis/networking\.k8s\.io/v1/namespaces/(?P<namespace>[a-z0-9-]+)/ingresses$")


@dataclass
class Cluster:
    """The helm stand-in's directory (``bin/`` for PATH, the call log, the state) and the Kubernetes API
    stand-in, which keeps its namespaces in the same state."""

    directory: Path
    api: KubeStandIn

    def api_calls(self) -> list[tuple[str, str]]:
        """``(method, path?query)`` of every Kubernetes API request."""
        return self.api.calls()

    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def bin(self) -> Path:
        return self.directory / "bin"

    def calls(self) -> list[list[str]]:
        log = self.directory / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line)["argv"] for line in log.read_text().splitlines()]

    def calls_starting(self, *prefix: str) -> list[list[str]]:
        return [call for call in self.calls() if call[: len(prefix)] == list(prefix)]

    def state(self) -> dict[str, Any]:
        file = self.directory / "state.json"
        return json.loads(file.read_text()) if file.exists() else {"namespaces": {}, "releases": {}}

    def fail_helm_wait(self) -> None:
        """Make every ``helm upgrade --install`` time out waiting (the release stays, failed)."""
        (self.directory / "faults.json").write_text(json.dumps(["helm-wait-timeout"]))

    def reset(self) -> None:
        self.stop_apps()
        for name in ("calls.jsonl", "state.json", "faults.json"):
            (self.directory / name).unlink(missing_ok=True)
        with self.api.lock:
            self.api.objects.clear()
            self.api.requests.clear()

    def stop_apps(self) -> None:
        """Stop the app processes the helm stand-in started and that are still recorded as releases."""
        for release in self.state()["releases"].values():
            with suppress(ProcessLookupError):
                os.kill(int(release["pid"]), signal.SIGTERM)


def install_cluster_standins(directory: Path, git_ca: Path, api: KubeStandIn) -> Cluster:
    """Write ``bin/helm`` (a wrapper that runs the stand-in with this state directory), ``bin/git``: the
    real git, trusting the demo git server's certificate (``aphex run`` passes a step no host environment
    besides PATH and KUBECONFIG, so ``GIT_SSL_CAINFO`` is set here), and the kubeconfig of ``api``, whose
    namespaces and Ingresses are kept in the helm stand-in's state."""
    cluster = Cluster(directory, api)
    directory.mkdir(parents=True, exist_ok=True)
    api.kubeconfig(cluster.kubeconfig())

    def changed(path: str, obj: dict[str, Any] | None) -> None:
        match = _NAMESPACE_PATH.match(path)
        if match:
            record_namespace(directory, match["name"], None if obj is None else obj.get("metadata", {}))

    def listed(path: str) -> list[dict[str, Any]]:
        match = _INGRESSES_PATH.match(path)
        return ingresses(directory, match["namespace"]) if match else []

    api.on_change = changed
    api.listed = listed
    cluster.bin.mkdir(parents=True, exist_ok=True)
    real_git = shutil.which("git")
    if real_git is None:
        raise RuntimeError("git is not on PATH")
    git = cluster.bin / "git"
    git.write_text(
        f'#!/bin/sh\nGIT_SSL_CAINFO={shlex.quote(str(git_ca))} exec {shlex.quote(real_git)} "$@"\n'
    )
    git.chmod(git.stat().st_mode | stat.S_IEXEC)
    wrapper = cluster.bin / "helm"
    command = shlex.join([sys.executable, str(STANDIN), str(directory), "helm"])
    wrapper.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return cluster


@dataclass
class DemoEnvironment:
    """A compiled bundle, the pull request on a git server, the GitHub and cluster stand-ins."""

    base: Path
    bundle: Path
    git_url: str
    head_sha: str
    github: GitHubStandIn
    cluster: Cluster
    compile_seconds: float
    runs: int = field(default=0)

    def parameters(self, **overrides: str) -> dict[str, str]:
        return {
            "owner": OWNER,
            "repo": REPO,
            "pr": str(PR),
            "acceptance-requests": "20",
            "acceptance-concurrency": "4",
            **overrides,
        }

    def reset(self) -> None:
        """Forget what earlier runs left: cluster state, call logs, comments, reviews, requests."""
        self.cluster.reset()
        with self.github.lock:
            self.github.comments.clear()
            self.github.reviews.clear()
            self.github.requests.clear()

    def run(
        self,
        *,
        faults: Sequence[Fault] = (),
        parameters: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str], None] | None = None,
        template: str = "implementation-dag",
    ) -> RunResult:
        """Run ``template`` (default ``implementation-dag``) from the compiled bundle with ``aphex run``'s
        Python API; its workflow is named ``<template>-demo<N>``."""
        self.runs += 1
        workdir = self.base / f"run-{self.runs}"
        options = RunOptions(
            template=template,
            parameters=parameters if parameters is not None else self.parameters(),
            workdir=workdir,
            workflow_name=f"{template}-demo{self.runs}",
            secrets={"aphex-github/token": self.github.token},
            resource_rules=[
                parse_rule("kind=CodeRun,phase=Succeeded"),
                parse_rule("kind=DocsRun,phase=Succeeded"),
            ],
            faults=faults,
            lock_dir=self.base / "locks",
            python_path=[str(ROOT)],
            sleep=sleep,
            progress=progress,
        )
        saved = os.environ["PATH"]
        saved_kubeconfig = os.environ.get("KUBECONFIG")
        os.environ["PATH"] = f"{self.cluster.bin}{os.pathsep}{saved}"
        os.environ["KUBECONFIG"] = str(self.cluster.kubeconfig())
        try:
            return run_workflow([self.bundle / "workflowtemplate"], options)
        finally:
            os.environ["PATH"] = saved
            if saved_kubeconfig is None:
                del os.environ["KUBECONFIG"]
            else:
                os.environ["KUBECONFIG"] = saved_kubeconfig


def compile_bundle(out: Path, *, api_url: str, web_url: str) -> float:
    """``aphex compile`` with the stand-ins' URLs as values; returns the seconds it took."""
    values = out.parent / "demo-values.yaml"
    values.write_text(yaml.safe_dump({"github": {"apiUrl": api_url, "webUrl": web_url}}))
    started = time.perf_counter()
    if aphex(["compile", "--out", str(out), "--values", str(values)]) != 0:
        raise RuntimeError("aphex compile failed")
    return time.perf_counter() - started


@contextmanager
def demo_environment(base: Path | None = None) -> Iterator[DemoEnvironment]:
    """Set everything up under ``base`` (default: a new temporary directory); tear it down after."""
    with ExitStack() as stack:
        if base is None:
            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aphex-demo-")))
        github = stack.enter_context(github_standin())
        git_root = base / "git"
        head_sha = publish_pull_request(SAMPLE_APP, git_root, OWNER, REPO, PR)
        github.head_sha = head_sha
        github.head_ref = pull_request_branch(PR)
        certificate, key = self_signed_certificate(base / "tls")
        git_url = stack.enter_context(serve_git(git_root, certificate, key))
        seconds = compile_bundle(base / "bundle", api_url=github.url, web_url=git_url)
        api = stack.enter_context(kube_standin())
        cluster = install_cluster_standins(base / "cluster", certificate, api)
        stack.callback(cluster.stop_apps)
        yield DemoEnvironment(
            base=base,
            bundle=base / "bundle",
            git_url=git_url,
            head_sha=head_sha,
            github=github,
            cluster=cluster,
            compile_seconds=seconds,
        )


def runner_startup_seconds(samples: int = 3) -> float:
    """What one Hera runner step costs before the step's own work: a new interpreter importing Hera's
    runner and the step modules (the best of ``samples``)."""
    modules = (
        "hera.workflows.runner",
        "aphex.workflows.steps.implementation_dag.preview",
        "aphex.workflows.steps.implementation_dag.publish",
    )
    code = f"import {', '.join(modules)}"
    best = float("inf")
    for _ in range(samples):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
        best = min(best, time.perf_counter() - started)
    return best
