"""A recording stand-in for ``helm``: a one-machine "cluster" kept in a state directory.

Run as ``python cluster_standin.py STATE_DIR helm ARGS...`` through the small wrapper that
:func:`examples.demo.harness.install_cluster_standins` writes (``bin/helm``), put first on PATH. Every
call is appended to ``STATE_DIR/calls.jsonl`` (argv and stdin) before it is answered. State (namespaces
with labels and annotations, releases) lives in ``STATE_DIR/state.json`` under a file lock; the
Kubernetes API stand-in of the demo (``tests/standins/kube_api.py``) keeps its namespaces there through
:func:`record_namespace` and lists the releases' Ingresses with :func:`ingresses`: one Ingress per
release, whose rule host is the address the "ingress controller" serves it on:
``127.0.0.1:<port of the release's app>`` (there is no DNS and no ingress controller on a laptop; the
chart's host is kept in the ``aphex.dev/chart-host`` annotation).

What it models, and only that (anything else exits 1 with "unsupported"):

- ``helm upgrade --install RELEASE CHART -n NS --values F --set-string k=v ... --wait``: checks that the
  chart has ``Chart.yaml`` and an Ingress template, then starts the repository's ``app.py`` (the
  "image") on 127.0.0.1 with a free port and, with ``--wait``, waits until ``/healthz`` answers;
  With the fault ``helm-wait-timeout`` (``faults.json`` in the state directory) the release is kept
  in status ``failed`` and helm exits 1, as ``--wait`` without ``--atomic`` does on a timeout;
- ``helm status``, ``helm get values``, ``helm list -n NS --short --all``, ``helm uninstall`` (stops the
  app).
"""

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

__all__ = ["helm", "ingresses", "main", "record_namespace"]


class Unsupported(Exception):
    pass


def _option(args: list[str], *names: str) -> str | None:
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def _positionals(args: list[str], with_value: set[str]) -> list[str]:
    found: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in with_value:
            skip = True
        elif not arg.startswith("-"):
            found.append(arg)
    return found


@contextlib.contextmanager
def _state(directory: Path) -> Iterator[dict[str, Any]]:
    with open(directory / "state.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        file = directory / "state.json"
        state = json.loads(file.read_text()) if file.exists() else {"namespaces": {}, "releases": {}}
        yield state
        file.write_text(json.dumps(state, indent=2, sort_keys=True))


def _set(values: dict[str, Any], dotted: str, value: str) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        values = values.setdefault(key, {})
    values[last] = value


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _repository_root(chart: Path) -> Path:
    for directory in [chart, *chart.parents]:
        if (directory / ".git").exists():
            return directory
    raise Unsupported(f"chart {chart} is not inside a git checkout")


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _stop(release: dict[str, Any]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(release["pid"]), signal.SIGTERM)


def _fault(directory: Path, name: str) -> bool:
    """Scripted faults: ``faults.json`` in the state directory lists their names."""
    file = directory / "faults.json"
    return file.exists() and name in json.loads(file.read_text())


def _helm_install(directory: Path, args: list[str]) -> str:
    release_name, chart_arg = _positionals(
        args, {"--namespace", "-n", "--values", "-f", "--set-string", "--set", "--timeout", "--history-max"}
    )[1:3]
    namespace = _option(args, "--namespace", "-n") or "default"
    chart = Path(chart_arg)
    if not (chart / "Chart.yaml").is_file():
        raise Unsupported(f"Error: {chart}: Chart.yaml not found")
    templates = chart / "templates"
    if not any("kind: Ingress" in t.read_text() for t in templates.glob("*.yaml")):
        raise Unsupported(f"Error: {chart}: no Ingress template")
    values: dict[str, Any] = yaml.safe_load((chart / "values.yaml").read_text()) or {}
    for index, arg in enumerate(args):
        if arg in ("--values", "-f"):
            values = _merge(values, yaml.safe_load(Path(args[index + 1]).read_text()) or {})
        if arg == "--set-string":
            key, _, value = args[index + 1].partition("=")
            _set(values, key, value)
    root = _repository_root(chart)
    key = f"{namespace}/{release_name}"
    with _state(directory) as state:
        if namespace not in state["namespaces"]:
            raise Unsupported(f'Error: create: namespaces "{namespace}" not found')
        if key in state["releases"]:
            _stop(state["releases"][key])
        port_file = directory / f"{namespace}-{release_name}.port"
        port_file.unlink(missing_ok=True)
        log = open(directory / f"{namespace}-{release_name}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, str(root / "app.py"), "--port", "0", "--port-file", str(port_file)],
            cwd=root,
            env={
                "PATH": os.environ.get("PATH", ""),
                "RELEASE": release_name,
                "IMAGE_TAG": str(values.get("image", {}).get("tag", "")),
                "GREETING": str(values.get("greeting", "")),
            },
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        port = 0
        while time.monotonic() < deadline:
            if port_file.exists():
                port = int(port_file.read_text())
                if "--wait" not in args or _healthy(port):
                    break
            if process.poll() is not None:
                raise Unsupported(f"Error: release {release_name}: the app exited with {process.returncode}")
            time.sleep(0.02)
        else:
            process.kill()
            raise Unsupported(f"Error: release {release_name}: timed out waiting for the condition")
        revision = state["releases"].get(key, {}).get("revision", 0) + 1
        state["releases"][key] = {
            "name": release_name,
            "namespace": namespace,
            "pid": process.pid,
            "port": port,
            "chart_host": str(values.get("ingress", {}).get("host", "")),
            "tls": bool(values.get("ingress", {}).get("tls")),
            "values": values,
            "revision": revision,
            "status": "deployed",
        }
        if _fault(directory, "helm-wait-timeout"):
            state["releases"][key]["status"] = "failed"
    if _fault(directory, "helm-wait-timeout"):
        raise Unsupported(f"Error: UPGRADE FAILED: release {release_name} failed: context deadline exceeded")
    return f'Release "{release_name}" has been upgraded. Happy Helming!\nREVISION: {revision}\n'


def helm(directory: Path, args: list[str]) -> str:
    namespace = _option(args, "--namespace", "-n") or "default"
    if args[:2] == ["upgrade", "--install"]:
        return _helm_install(directory, args)
    with _state(directory) as state:
        releases = state["releases"]
        if args[:1] == ["status"]:
            release = releases.get(f"{namespace}/{args[1]}")
            if release is None:
                raise Unsupported("Error: release: not found")
            return (
                f"NAME: {args[1]}\nNAMESPACE: {namespace}\n"
                f"STATUS: {release['status']}\nREVISION: {release['revision']}\n"
            )
        if args[:2] == ["get", "values"]:
            release = releases.get(f"{namespace}/{args[2]}")
            if release is None:
                raise Unsupported("Error: release: not found")
            return str(yaml.safe_dump(release["values"], sort_keys=True))
        if args[:1] == ["list"]:
            names = sorted(r["name"] for r in releases.values() if r["namespace"] == namespace)
            return "".join(f"{name}\n" for name in names)
        if args[:1] == ["uninstall"]:
            release = releases.pop(f"{namespace}/{args[1]}", None)
            if release is None:
                if "--ignore-not-found" in args:
                    return f"release {args[1]} not found, ignoring\n"
                raise Unsupported("Error: uninstall: Release not loaded: not found")
            _stop(release)
            return f'release "{args[1]}" uninstalled\n'
    raise Unsupported(f"unsupported: helm {' '.join(args)}")


def _ingresses(state: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    items = []
    for release in state["releases"].values():
        if release["namespace"] != namespace:
            continue
        host = f"127.0.0.1:{release['port']}"
        spec: dict[str, Any] = {"rules": [{"host": host, "http": {"paths": [{"path": "/"}]}}]}
        if release["tls"]:
            spec["tls"] = [{"hosts": [host]}]
        items.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    "name": release["name"],
                    "namespace": namespace,
                    "annotations": {"aphex.dev/chart-host": release["chart_host"]},
                },
                "spec": spec,
            }
        )
    return items


def ingresses(directory: Path, namespace: str) -> list[dict[str, Any]]:
    """The Ingresses of the releases in ``namespace``."""
    with _state(directory) as state:
        return _ingresses(state, namespace)


def record_namespace(directory: Path, name: str, metadata: dict[str, Any] | None) -> None:
    """Keep a namespace's labels and annotations; ``None``: it was deleted, and its releases with it."""
    with _state(directory) as state:
        if metadata is not None:
            state["namespaces"][name] = {
                "labels": dict(metadata.get("labels") or {}),
                "annotations": dict(metadata.get("annotations") or {}),
            }
            return
        state["namespaces"].pop(name, None)
        for key in [k for k, r in state["releases"].items() if r["namespace"] == name]:
            _stop(state["releases"].pop(key))


def main(argv: list[str]) -> int:
    directory, tool, args = Path(argv[0]), argv[1], argv[2:]
    stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    with open(directory / "calls.jsonl", "a") as log:
        log.write(json.dumps({"argv": [tool, *args], "stdin": stdin}) + "\n")
    try:
        if tool != "helm":
            raise Unsupported(f"unsupported tool: {tool}")
        sys.stdout.write(helm(directory, args))
    except Unsupported as error:
        sys.stderr.write(f"{error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
