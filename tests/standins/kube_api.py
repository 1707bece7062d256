"""A Kubernetes API stand-in served over real HTTP on 127.0.0.1, for the steps that use the client.

It keeps objects in memory by their API path, records every request (method, path, query, content
type, decoded body) and answers as the API server does for the calls the steps make
(https://kubernetes.io/docs/reference/using-api/api-concepts/):

- ``PATCH`` with ``application/apply-patch+yaml`` (server-side apply): creates the object, or merges
  the manager's configuration into it; ``fieldManager`` is required, as the API server requires it;
- ``PATCH`` with ``application/merge-patch+json``: RFC 7386 merge into an existing object (404 if none);
- ``GET`` of one object (404 with a ``Status`` if absent) and of a collection (a ``List`` of the
  objects under the path, narrowed by an equality ``labelSelector``);
- ``DELETE`` of an object (a namespace takes the objects under it along).

Requests without ``Authorization: Bearer <token>`` get 401, unless ``anonymous`` (kubectl sends its
bearer token only over TLS, and the stand-in serves plain HTTP). ``fail_next`` scripts errors (409,
5xx...).
"""

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml

from tests.standins.servers import reply, serve

_COLLECTION = re.compile(
    r"^/(?:api/v1|apis/[a-z0-9.-]+/v1)(?:/namespaces/(?P<namespace>[a-z0-9-]+))?/[a-z]+$"
)
_NAMESPACE = re.compile(r"^/api/v1/namespaces/(?P<name>[a-z0-9-]+)$")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 merge patch (and how apply combines one manager's maps with what others set)."""
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _status(code: int, reason: str, message: str) -> bytes:
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
    ).encode()


def _equality_selector(selector: str) -> dict[str, str]:
    """``k=v,k2=v2`` as a mapping; other selector forms are not modelled (refused loudly)."""
    wanted: dict[str, str] = {}
    for term in filter(None, selector.split(",")):
        key, equals, value = term.partition("=")
        if not equals or value.startswith("=") or key.endswith("!"):
            raise ValueError(f"label selector {selector!r}: only k=v terms are modelled")
        wanted[key] = value
    return wanted


@dataclass
class KubeStandIn:
    """State of the stand-in: ``objects`` by API path, ``requests`` in order, scripted ``failures``."""

    url: str = ""
    token: str = "kube-t0ken"
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    failures: list[tuple[str, str, int, str]] = field(default_factory=list)
    on_change: Callable[[str, dict[str, Any] | None], None] | None = None
    """Called with the path and the new object (None: deleted) after every write."""
    listed: Callable[[str], list[dict[str, Any]]] | None = None
    """Objects kept elsewhere that a collection GET of the path also lists (the demo's Ingresses)."""
    lock: threading.RLock = field(default_factory=threading.RLock)
    anonymous: bool = False
    """Answer requests without the bearer token too (for the real kubectl)."""

    def fail_next(
        self, method: str, path_pattern: str, status: int, message: str = "scripted failure"
    ) -> None:
        """Answer the next ``method`` request whose path matches ``path_pattern`` with ``status``."""
        self.failures.append((method, path_pattern, status, message))

    def put(self, path: str, obj: dict[str, Any]) -> None:
        """Seed an object, as if another client had created it."""
        with self.lock:
            self.objects[path] = obj

    def calls(self) -> list[tuple[str, str]]:
        """``(method, path?query)`` of every request, the query sorted."""
        return [
            (
                r.method,
                r.path + ("?" + "&".join(f"{k}={v}" for k, v in sorted(r.query.items())) if r.query else ""),
            )
            for r in self.requests
        ]

    def kubeconfig(self, path: Path) -> Path:
        """A kubeconfig pointing at this stand-in with its bearer token."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
            "users": [{"name": "deployer", "user": {"token": self.token}}],
            "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "deployer"}}],
            "current-context": "standin",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def _changed(self, path: str, obj: dict[str, Any] | None) -> None:
        if self.on_change is not None:
            self.on_change(path, obj)

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        content_type = request.headers.get("Content-Type", "").split(";")[0]
        body = (yaml.safe_load(raw) if "yaml" in content_type else json.loads(raw)) if raw else None
        path, _, query_text = request.path.partition("?")
        query = {key: values[-1] for key, values in parse_qs(query_text).items()}
        with self.lock:
            self.requests.append(Recorded(request.command, path, query, content_type, body))
            for index, (method, pattern, status, message) in enumerate(self.failures):
                if method == request.command and re.search(pattern, path):
                    del self.failures[index]
                    reply(
                        request,
                        status,
                        _status(status, "Scripted", message),
                        {"Content-Type": "application/json"},
                    )
                    return
            if not self.anonymous and request.headers.get("Authorization") != f"Bearer {self.token}":
                reply(request, 401, _status(401, "Unauthorized", "Unauthorized"))
                return
            status, answer = self._route(request.command, path, query, content_type, body)
        reply(request, status, json.dumps(answer).encode(), {"Content-Type": "application/json"})

    def _route(
        self, method: str, path: str, query: dict[str, str], content_type: str, body: Any
    ) -> tuple[int, dict[str, Any]]:
        name = path.rsplit("/", 1)[-1]
        if method == "GET" and _COLLECTION.match(path) and not _NAMESPACE.match(path):
            items = [obj for key, obj in sorted(self.objects.items()) if key.rsplit("/", 1)[0] == path]
            items += self.listed(path) if self.listed is not None else []
            wanted = _equality_selector(query.get("labelSelector", ""))
            items = [
                obj
                for obj in items
                if all((obj.get("metadata", {}).get("labels") or {}).get(k) == v for k, v in wanted.items())
            ]
            return 200, {"kind": "List", "apiVersion": "v1", "metadata": {}, "items": items}
        existing = self.objects.get(path)
        if method == "GET":
            if existing is None:
                return 404, json.loads(_status(404, "NotFound", f'"{name}" not found'))
            return 200, existing
        if method == "PATCH" and content_type == "application/apply-patch+yaml":
            if not query.get("fieldManager"):
                return 400, json.loads(_status(400, "BadRequest", "PATCH with apply requires fieldManager"))
            updated = _merge(existing or {}, body)
            self.objects[path] = updated
            self._changed(path, updated)
            return (200 if existing else 201), updated
        if method == "PATCH" and content_type == "application/merge-patch+json":
            if existing is None:
                return 404, json.loads(_status(404, "NotFound", f'"{name}" not found'))
            updated = _merge(existing, body)
            self.objects[path] = updated
            self._changed(path, updated)
            return 200, updated
        if method == "DELETE":
            if existing is None:
                return 404, json.loads(_status(404, "NotFound", f'"{name}" not found'))
            del self.objects[path]
            match = _NAMESPACE.match(path)
            if match:
                inside = f"/namespaces/{match['name']}/"
                for key in [key for key in self.objects if inside in key]:
                    del self.objects[key]
            self._changed(path, None)
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": name}}
        return 405, json.loads(_status(405, "MethodNotAllowed", f"{method} {path} is not modelled"))


@contextmanager
def kube_standin() -> Iterator[KubeStandIn]:
    """A running stand-in; ``url`` is its base URL."""
    standin = KubeStandIn()
    with serve(standin.handle) as url:
        standin.url = url
        yield standin
