"""Fixtures of the step tests: the GitHub API stand-in, wired into the environment the steps read."""

from collections.abc import Iterator

import pytest

from tests.steps.github_standin import GitHubStandIn, github_standin


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubStandIn]:
    with github_standin() as standin:
        monkeypatch.setenv("GITHUB_API_URL", standin.url)
        monkeypatch.setenv("GITHUB_TOKEN", standin.token)
        monkeypatch.delenv("GITHUB_APP_ID", raising=False)
        monkeypatch.delenv("GITHUB_APP_PRIVATE_KEY", raising=False)
        monkeypatch.setattr("time.sleep", lambda seconds: None)
        yield standin
        assert not any("merge" in path for path in standin.paths()), "a merge request reached GitHub"
