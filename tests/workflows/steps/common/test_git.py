"""Private repositories: the pipeline's clone authenticates with the GitHub credentials, against the real
``git http-backend`` of the demo (examples/demo/git_server.py) requiring an installation token."""

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from aphex.workflows.steps.common.git import clone
from aphex.workflows.steps.common.process import CommandError
from examples.demo.git_server import self_signed_certificate, serve_git
from tests.standins.github import github_standin
from tests.workflows.steps.conftest import make_repo

TOKEN = "ghs_private-installation-token-1234"


@dataclass(frozen=True)
class PrivateRepo:
    url: str
    sha: str


@pytest.fixture
def private_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateRepo]:
    source = make_repo(tmp_path / "source", {})
    root = tmp_path / "served"
    (root / "acme").mkdir(parents=True)
    subprocess.run(["git", "clone", "--quiet", "--bare", str(source.work), str(root / "acme" / "shop")],
                   check=True)  # fmt: skip
    certificate, key = self_signed_certificate(tmp_path / "tls")
    for name in ("GITHUB_TOKEN", "GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY", "GIT_CONFIG_COUNT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_SSL_CAINFO", str(certificate))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no user git config or credential helper
    with serve_git(root, certificate, key, token=TOKEN) as url:
        yield PrivateRepo(url=f"{url}/acme/shop", sha=source.head)


def no_secret_on_disk(directory: Path) -> None:
    import base64

    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode())
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert TOKEN.encode() not in data, path
            assert basic not in data, path


def test_a_token_secret_clones_a_private_repository(
    private_repo: PrivateRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    checkout = clone(private_repo.url, private_repo.sha, tmp_path / "checkout")
    assert (checkout / "VERSION").read_text() == "v2\n"
    no_secret_on_disk(tmp_path / "checkout")


def test_a_github_app_installation_token_clones_a_private_repository(
    private_repo: PrivateRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with github_standin() as github:
        github.app_public_key, github.token = public, TOKEN
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        monkeypatch.setenv("GITHUB_APP_ID", github.app_id)
        monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY", private)
        checkout = clone(private_repo.url, private_repo.sha, tmp_path / "checkout")
        # The installation of the URL's owner/repo is asked for, then its token.
        assert github.paths() == ["/repos/acme/shop/installation", "/app/installations/7/access_tokens"]
    assert (checkout / "VERSION").read_text() == "v2\n"
    no_secret_on_disk(tmp_path / "checkout")


def test_without_credentials_the_private_repository_is_refused(
    private_repo: PrivateRepo, tmp_path: Path
) -> None:
    with pytest.raises(CommandError) as caught:
        clone(private_repo.url, private_repo.sha, tmp_path / "checkout")
    # GIT_TERMINAL_PROMPT=0: git fails at once instead of asking for a user name.
    assert "terminal prompts disabled" in str(caught.value)


def test_a_wrong_token_is_refused_and_never_shown(
    private_repo: PrivateRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "ghs_wrong-token-5678"
    monkeypatch.setenv("GITHUB_TOKEN", wrong)
    monkeypatch.setenv("GIT_TRACE_CURL", "1")  # git prints the header unredacted: aphex redacts it
    monkeypatch.setenv("GIT_TRACE_REDACT", "0")
    with pytest.raises(CommandError) as caught:
        clone(private_repo.url, private_repo.sha, tmp_path / "checkout")
    message = str(caught.value)
    assert "Authorization: Basic ***" in message  # the trace shows the header, redacted
    assert wrong not in message
    assert "eC1hY2Nlc3MtdG9rZW46" not in message  # base64 of "x-access-token:"
    no_secret_on_disk(tmp_path / "checkout")
