"""Git's smart HTTP protocol on 127.0.0.1, served by the real ``git http-backend`` (CGI).

The deploy step fetches ``refs/pull/<N>/head`` with ``--depth=1`` from ``$GITHUB_URL/<owner>/<repo>``.
set-params and the bundle's values accept only http(s) GitHub URLs and the CodeRun input validation
only https ones, so neither file:// nor git's dumb HTTP transport (no shallow fetch) will do: the demo
serves bare repositories under ``ROOT/<owner>/<repo>`` over HTTPS with a self-signed certificate for
127.0.0.1, the way GitHub does. Git trusts it through ``GIT_SSL_CAINFO`` (see
:func:`examples.demo.harness.install_cluster_standins`).
"""

import base64
import datetime
import ipaddress
import os
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["publish_pull_request", "pull_request_branch", "self_signed_certificate", "serve_git"]


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A key and a self-signed certificate for ``127.0.0.1`` (valid one day); returns (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aphex demo git server")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "git-server.crt", directory / "git-server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def _git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def pull_request_branch(pr: int) -> str:
    """The branch of the sample pull request."""
    return f"feature/pr-{pr}"


def publish_pull_request(source: Path, root: Path, owner: str, repo: str, pr: int) -> str:
    """Make a git repository of ``source`` (a base commit on ``main`` and the pull request's commit on
    a branch), push it to the bare repository ``root/owner/repo`` with ``refs/pull/<pr>/head`` as GitHub
    keeps it; return the pull request's head SHA."""
    work = root.parent / f"{repo}-work"
    bare = root / owner / repo
    bare.parent.mkdir(parents=True, exist_ok=True)
    _git("init", "--quiet", "--bare", str(bare))
    _git("init", "--quiet", "--initial-branch=main", str(work))
    identity = ["-c", "user.name=Demo", "-c", "user.email=demo@example.com", "-c", "commit.gpgsign=false"]
    (work / "README.md").write_text((source / "README.md").read_text())
    _git("add", "README.md", cwd=work)
    _git(*identity, "commit", "--quiet", "-m", "Initial commit", cwd=work)
    _git("checkout", "--quiet", "-b", pull_request_branch(pr), cwd=work)
    for file in sorted(source.rglob("*")):
        if file.is_file() and "__pycache__" not in file.parts:
            target = work / file.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.read_bytes())
    _git("add", "--all", cwd=work)
    _git(*identity, "commit", "--quiet", "-m", "Add the sample app and its chart", cwd=work)
    sha = _git("rev-parse", "HEAD", cwd=work).strip()
    _git(
        "push",
        "--quiet",
        str(bare),
        "main:refs/heads/main",
        f"HEAD:refs/heads/{pull_request_branch(pr)}",
        f"HEAD:refs/pull/{pr}/head",
        cwd=work,
    )
    return sha


@contextmanager
def serve_git(root: Path, certificate: Path, key: Path, *, token: str | None = None) -> Iterator[str]:
    """Serve the bare repositories under ``root`` over HTTPS with ``git http-backend``; yield the base
    URL (``https://127.0.0.1:<port>``).

    With ``token``, every request must authenticate as GitHub accepts an installation token over HTTPS,
    ``Authorization: Basic`` of ``x-access-token:<token>``; any other answers 401 with a Basic challenge
    (a private repository)."""
    expected = "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode() if token else None

    class _Handler(BaseHTTPRequestHandler):
        def _cgi(self) -> None:
            if expected is not None and self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="GitHub"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            env = {
                "PATH": os.environ.get("PATH", ""),
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_ADDR": self.client_address[0],
            }
            if self.headers.get("Git-Protocol"):
                env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            done = subprocess.run(
                ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
            )
            head, _, payload = done.stdout.partition(b"\r\n\r\n")
            if not _:
                head, _, payload = done.stdout.partition(b"\n\n")
            headers = [line.split(":", 1) for line in head.decode().splitlines() if ":" in line]
            status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
            self.send_response(status)
            for key, value in headers:
                if key.lower() != "status":
                    self.send_header(key, value.strip())
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _cgi

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
