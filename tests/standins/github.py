"""A GitHub REST API stand-in served over real HTTP on 127.0.0.1.

Keeps issue comments and pull-request reviews in memory, records every request, can be told to answer
the next requests to a path with an error (502, 429 with Retry-After, rate-limited 403), and serves the
GitHub App installation-token exchange, verifying the App's JWT with the test's public key.
"""

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt

from tests.standins.servers import reply, serve


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class GitHubStandIn:
    """State of the stand-in; tests read ``requests`` and script ``failures``."""

    url: str = ""
    head_sha: str = "a" * 40
    head_ref: str = "feature/change"
    pr_state: str = "open"
    head_repository: str | None = None
    """``head.repo.full_name`` of pull requests (None: the repository of the request, not a fork)."""
    branch_tips: dict[str, str] = field(default_factory=dict)
    """Branch -> tip commit; the pull request's ``head_ref`` defaults to ``head_sha``."""
    token: str = "t0ken"
    app_public_key: str | None = None
    app_id: str = "42"
    comments: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    failures: list[tuple[str, int, dict[str, str]]] = field(default_factory=list)
    page_size: int = 30
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, path_pattern: str, status: int, headers: dict[str, str] | None = None) -> None:
        """Answer the next request whose path matches with ``status``."""
        self.failures.append((path_pattern, status, headers or {}))

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.requests if method is None or r.method == method]

    def _authorized(self, request: BaseHTTPRequestHandler, path: str) -> bool:
        auth = request.headers.get("Authorization", "")
        if path.startswith("/app/") or path.endswith("/installation"):
            if self.app_public_key is None:
                return False
            try:
                claims = jwt.decode(auth.removeprefix("Bearer "), self.app_public_key, algorithms=["RS256"])
            except jwt.PyJWTError:
                return False
            return str(claims.get("iss")) == self.app_id
        return auth == f"Bearer {self.token}"

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        path, _, query = request.path.partition("?")
        with self.lock:
            self.requests.append(Recorded(request.command, path, dict(request.headers), body))
            for index, (pattern, status, headers) in enumerate(self.failures):
                if re.search(pattern, path):
                    del self.failures[index]
                    reply(request, status, b'{"message": "scripted failure"}', headers)
                    return
        if not self._authorized(request, path):
            reply(request, 401, b'{"message": "Bad credentials"}')
            return
        status, payload, headers = self._route(request.command, path, query, body)
        reply(request, status, json.dumps(payload).encode(), {"Content-Type": "application/json", **headers})

    def _page(
        self, items: list[dict[str, Any]], path: str, query: str
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        page = int(dict(p.split("=") for p in query.split("&") if "=" in p).get("page", "1"))
        start = (page - 1) * self.page_size
        headers = {}
        if start + self.page_size < len(items):
            headers["Link"] = f'<{self.url}{path}?page={page + 1}>; rel="next"'
        return items[start : start + self.page_size], headers

    def _pull(self, number: int, repository: str) -> dict[str, Any]:
        head_repository = self.head_repository or repository
        return {
            "number": number,
            "state": self.pr_state,
            "head": {"sha": self.head_sha, "ref": self.head_ref, "repo": {"full_name": head_repository}},
            "base": {"ref": "main", "repo": {"full_name": repository}},
        }

    def _route(self, method: str, path: str, query: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            if re.fullmatch(r"/repos/[^/]+/[^/]+/installation", path):
                return 200, {"id": 7}, {}
            if path == "/app/installations/7/access_tokens" and method == "POST":
                return 201, {"token": self.token}, {}
            if re.fullmatch(r"/repos/[^/]+/[^/]+/issues/\d+/comments", path):
                if method == "POST":
                    comment = {"id": 1000 + len(self.comments), "body": body["body"]}
                    self.comments.append(comment)
                    return 201, comment, {}
                items, headers = self._page(self.comments, path, query)
                return 200, items, headers
            if match := re.fullmatch(r"/repos/[^/]+/[^/]+/issues/comments/(\d+)", path):
                comment = next(c for c in self.comments if c["id"] == int(match.group(1)))
                comment["body"] = body["body"]
                return 200, comment, {}
            if re.fullmatch(r"/repos/[^/]+/[^/]+/pulls/\d+/reviews", path):
                if method == "POST":
                    review = {"id": 2000 + len(self.reviews), "state": "APPROVED", **body}
                    self.reviews.append(review)
                    return 200, review, {}
                items, headers = self._page(self.reviews, path, query)
                return 200, items, headers
            if match := re.fullmatch(r"/repos/([^/]+)/([^/]+)/pulls/(\d+)", path):
                repository = f"{match.group(1)}/{match.group(2)}"
                return 200, self._pull(int(match.group(3)), repository), {}
            if match := re.fullmatch(r"/repos/[^/]+/[^/]+/git/ref/heads/(.+)", path):
                tips = {self.head_ref: self.head_sha, **self.branch_tips}
                if match.group(1) in tips:
                    tip = tips[match.group(1)]
                    return 200, {"ref": f"refs/heads/{match.group(1)}", "object": {"sha": tip}}, {}
        return 404, {"message": "Not Found"}, {}


@contextmanager
def github_standin() -> Iterator[GitHubStandIn]:
    """A running stand-in; ``.url`` is its API base URL."""
    state = GitHubStandIn()
    with serve(state.handle) as url:
        state.url = url
        yield state
