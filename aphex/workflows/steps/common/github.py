"""A small GitHub REST client for the steps: token or GitHub App auth, retries, no merging.

Credentials come from env vars set from a Secret: ``GITHUB_TOKEN``, or a GitHub App's ``GITHUB_APP_ID``
and ``GITHUB_APP_PRIVATE_KEY`` (exchanged for an installation token, which lasts one hour; see
https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app). Requests are
retried with exponential backoff on connection errors, 5xx, 429 and rate-limited 403 responses,
honouring ``Retry-After`` and ``X-RateLimit-Reset``. The client has no merge method and refuses any merge
endpoint: the pipeline approves, it never merges.
"""

import base64
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum
from typing import Any, Final

import requests

from aphex.dsl.errors import ExecutionError

__all__ = [
    "GitHubClient",
    "GitHubError",
    "ReviewEvent",
    "api_url_from_env",
    "client_for",
    "git_auth_environment",
    "git_token_environment",
    "resolve_token",
]

DEFAULT_API_URL: Final = "https://api.github.com"
_API_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[A-Za-z0-9._~/-]*)?$")
_MERGE_PATH = re.compile(r"/(?:merge|merges|auto-merge|automerge)(?:/|$)|^/graphql$", re.IGNORECASE)
_MAX_WAIT_SECONDS: Final = 60.0
_HTTPS_REPOSITORY = re.compile(r"^https://[^/]+/(?:[^/]+/)*([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")


class ReviewEvent(StrEnum):
    """The pull-request reviews this pipeline submits (GitHub's review ``event``): it approves, it never
    requests changes, and it never merges."""

    APPROVE = "APPROVE"
    COMMENT = "COMMENT"


class GitHubError(ExecutionError):
    """A GitHub call failed or is not allowed."""


def api_url_from_env(environ: Mapping[str, str]) -> str:
    """The API base URL from ``GITHUB_API_URL`` (default api.github.com), validated."""
    url = environ.get("GITHUB_API_URL") or DEFAULT_API_URL
    if not _API_URL.match(url):
        raise GitHubError(f"GITHUB_API_URL is not an http(s) URL: {url!r}")
    return url.rstrip("/")


def _app_jwt(app_id: str, private_key: str, now: float) -> str:
    # Imported here: signing needs PyJWT and cryptography, which compiling a pipeline never does.
    import jwt

    key = private_key.replace("\\n", "\n").strip() + "\n"
    issued = int(now) - 60
    return jwt.encode({"iat": issued, "exp": issued + 540, "iss": app_id}, key, algorithm="RS256")


def resolve_token(*, owner: str, repo: str, environ: Mapping[str, str] | None = None) -> str | None:
    """A token for ``owner/repo``: ``GITHUB_TOKEN``, else a GitHub App installation token, else None."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_TOKEN"):
        return env["GITHUB_TOKEN"]
    app_id, private_key = env.get("GITHUB_APP_ID"), env.get("GITHUB_APP_PRIVATE_KEY")
    if not app_id or not private_key:
        return None
    if not app_id.isdigit():
        raise GitHubError("GITHUB_APP_ID must be the App's numeric id")
    try:
        app_token = _app_jwt(app_id, private_key, time.time())
    except (ValueError, TypeError) as error:
        raise GitHubError(f"GITHUB_APP_PRIVATE_KEY is not a usable RSA private key: {error}") from None
    app = GitHubClient(api_url_from_env(env), app_token)
    installation = app.request("GET", f"/repos/{owner}/{repo}/installation")
    token = app.request("POST", f"/app/installations/{int(installation['id'])}/access_tokens")
    return str(token["token"])


class GitHubClient:
    """JSON requests against the GitHub REST API with retries and pagination."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep
        self._clock = clock
        self._session = requests.Session()
        self._session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {token}",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "aphex",
            }
        )

    def _delay(self, response: requests.Response | None, attempt: int) -> float:
        backoff: float = self.backoff_seconds * 2.0 ** (attempt - 1)
        if response is None:
            return backoff
        if response.headers.get("Retry-After", "").isdigit():
            return min(float(str(response.headers["Retry-After"])), _MAX_WAIT_SECONDS)
        if (
            response.headers.get("X-RateLimit-Remaining") == "0"
            and response.headers.get("X-RateLimit-Reset", "").isdigit()
        ):
            wait = float(str(response.headers["X-RateLimit-Reset"])) - self._clock()
            return min(max(wait, 1.0), _MAX_WAIT_SECONDS)
        return backoff

    @staticmethod
    def _retryable(response: requests.Response) -> bool:
        if response.status_code >= 500 or response.status_code == 429:
            return True
        return response.status_code == 403 and (
            response.headers.get("X-RateLimit-Remaining") == "0" or "Retry-After" in response.headers
        )

    def _send(self, method: str, url: str, body: Mapping[str, Any] | None) -> requests.Response:
        path = url.removeprefix(self.api_url).split("?", 1)[0]
        if _MERGE_PATH.search(path):
            raise GitHubError(f"refusing {method} {path}: this pipeline approves, it never merges")
        for attempt in range(1, self.max_attempts + 1):
            response: requests.Response | None = None
            try:
                response = self._session.request(method, url, json=body, timeout=30)
            except requests.ConnectionError as error:
                if attempt == self.max_attempts:
                    raise GitHubError(f"{method} {path}: {error}") from None
            else:
                if not self._retryable(response) or attempt == self.max_attempts:
                    break
            delay = self._delay(response, attempt)
            print(f"GitHub {method} {path}: attempt {attempt} failed, retrying in {delay:.0f} s")
            self._sleep(delay)
        assert response is not None
        if response.status_code >= 400:
            raise GitHubError(f"{method} {path}: HTTP {response.status_code}: {response.text[:500]}")
        return response

    def request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """One request; the decoded JSON body (None when empty)."""
        response = self._send(method, f"{self.api_url}{path}", body)
        return response.json() if response.content else None

    def paginate(self, path: str) -> Iterator[Any]:
        """Every item of a list endpoint, following ``Link: rel="next"``."""
        url: str | None = f"{self.api_url}{path}?per_page=100"
        while url:
            response = self._send("GET", url, None)
            yield from response.json()
            url = response.links.get("next", {}).get("url")

    def list_issue_comments(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        """Comments of an issue or pull request."""
        return list(self.paginate(f"/repos/{owner}/{repo}/issues/{number}/comments"))

    def create_issue_comment(self, owner: str, repo: str, number: int, body: str) -> dict[str, Any]:
        """Post a comment."""
        result: dict[str, Any] = self.request(
            "POST", f"/repos/{owner}/{repo}/issues/{number}/comments", {"body": body}
        )
        return result

    def update_issue_comment(self, owner: str, repo: str, comment_id: int, body: str) -> dict[str, Any]:
        """Replace a comment's body."""
        result: dict[str, Any] = self.request(
            "PATCH", f"/repos/{owner}/{repo}/issues/comments/{comment_id}", {"body": body}
        )
        return result

    def list_reviews(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        """Reviews of a pull request."""
        return list(self.paginate(f"/repos/{owner}/{repo}/pulls/{number}/reviews"))

    def create_review(
        self,
        owner: str,
        repo: str,
        number: int,
        *,
        body: str,
        event: ReviewEvent,
        commit_id: str | None = None,
    ) -> dict[str, Any]:
        """Submit a review (``APPROVE`` or ``COMMENT``), pinned to ``commit_id`` when given."""
        if event not in tuple(ReviewEvent):
            raise GitHubError(f"review event {event!r} is not one this pipeline submits")
        payload: dict[str, Any] = {"body": body, "event": str(event)}
        if commit_id:
            payload["commit_id"] = commit_id
        result: dict[str, Any] = self.request(
            "POST", f"/repos/{owner}/{repo}/pulls/{number}/reviews", payload
        )
        return result

    def get_pull(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        """A pull request."""
        result: dict[str, Any] = self.request("GET", f"/repos/{owner}/{repo}/pulls/{number}")
        return result


def client_for(owner: str, repo: str) -> GitHubClient:
    """A client authenticated for ``owner/repo`` from the environment; :class:`GitHubError` without
    credentials."""
    import os

    token = resolve_token(owner=owner, repo=repo)
    if not token:
        raise GitHubError(
            "no GitHub credentials: set GITHUB_TOKEN, or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY, "
            "from the credentials Secret"
        )
    return GitHubClient(api_url_from_env(os.environ), token)


def git_auth_environment(
    repo_url: str, *, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """Environment variables that make git authenticate to ``repo_url`` with the GitHub credentials of
    :func:`resolve_token` (a token, or a GitHub App installation token for the URL's ``<owner>/<repo>``),
    and the values to redact from any output.

    The token travels as an ``http.extraHeader`` (``Authorization: Basic`` of ``x-access-token:<token>``,
    as GitHub documents for installation tokens) set through ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_<n>``/
    ``GIT_CONFIG_VALUE_<n>`` (git-config(1), "ENVIRONMENT"): never in the URL, in a file or in the
    command line. ``GIT_TERMINAL_PROMPT=0`` makes a refused fetch fail instead of prompting. Without
    credentials, or for a URL that is not https, the fetch stays anonymous (a public repository).
    """
    match = _HTTPS_REPOSITORY.match(repo_url)
    no_prompt = {"GIT_TERMINAL_PROMPT": "0"}
    if not match:
        return no_prompt, []
    return git_token_environment(resolve_token(owner=match.group(1), repo=match.group(2), environ=environ))


def git_token_environment(token: str | None) -> tuple[dict[str, str], list[str]]:
    """The environment of :func:`git_auth_environment` for a token already resolved (None: anonymous)."""
    no_prompt = {"GIT_TERMINAL_PROMPT": "0"}
    if not token:
        return no_prompt, []
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    env = {
        **no_prompt,
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }
    return env, [basic, token]
