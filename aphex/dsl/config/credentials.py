"""Credentials in ``aphex-config.yaml``: what looks like one, and how a message avoids repeating it.

Every message about the file goes through :func:`shown`, :func:`plain` or :func:`redact`, so a problem
never repeats a value that looks like a secret; :func:`credential_message` is the finding for one.
"""

import re
from typing import Final

__all__ = [
    "MAX_INT_BITS",
    "credential_message",
    "is_secret_key",
    "plain",
    "redact",
    "secret_kind",
    "shown",
]

MAX_INT_BITS: Final = 64
"""Integers wider than this fit no field; messages do not print them."""
_MAX_SHOWN: Final = 64

_SECRET_PATTERNS: Final = (
    (re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"), "an AWS access key id", "aws"),
    (
        re.compile(r"(?i)secret[_-]?access[_-]?key\W{0,5}[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"),
        "an AWS secret access key",
        "aws",
    ),
    (re.compile(r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,255}"), "a GitHub token", "secret"),
    (re.compile(r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,255}"), "a GitHub token", "secret"),
    (re.compile(r"(?i)hooks\.slack(?:-gov)?\.com/"), "a Slack webhook URL", "slack"),
    (re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}"), "a Slack token", "secret"),
    (re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----"), "a private key", "secret"),
    (re.compile(r"://[^\s/:@]+:(?![$%{])[^\s/@]+@"), "a password in a URL", "secret"),
)
_SECRET_KEYS: Final = (
    "secretaccesskey",
    "sessiontoken",
    "password",
    "passwd",
    "apikey",
    "privatekey",
    "clientsecret",
    "accesstoken",
    "authtoken",
    "secretkey",
)
_HINTS: Final = {
    "aws": "the pipeline authenticates to AWS with its IAM roles; delete it and rotate the key",
    "slack": "keep the URL in a Kubernetes Secret and reference it with notifications.slack.webhookSecret",
    "secret": "keep it in a Kubernetes Secret; delete it here and rotate it",
}


def secret_kind(text: str) -> tuple[str, str] | None:
    """(what it looks like, hint key) when ``text`` contains a credential; ``None`` otherwise."""
    for pattern, kind, hint in _SECRET_PATTERNS:
        if pattern.search(text):
            return kind, hint
    return None


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a secret (``password``, ``apiKey``, ``clientSecret``...)."""
    normalized = re.sub(r"[^a-z0-9]", "", key.lower())
    return normalized in {"token", "secret"} or normalized.endswith(_SECRET_KEYS)


def credential_message(kind: str, hint: str) -> str:
    """The finding for a credential: what it looks like, and where it belongs instead."""
    return f"looks like {kind}; credentials never belong in aphex-config.yaml: {_HINTS[hint]}"


def shown(value: object) -> str:
    """A value for a message: quoted, shortened, and never a secret."""
    if isinstance(value, str):
        if secret_kind(value) is not None:
            return "<redacted>"
        text = value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "..."
        return repr(text)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        return "<a very large number>"
    return repr(value)


def plain(name: str) -> str:
    """A name for a message, unquoted and shortened; a secret redacted."""
    return "<redacted>" if secret_kind(name) is not None else name[:_MAX_SHOWN]


def redact(text: str) -> str:
    """``text`` with every credential in it replaced by ``<redacted>``."""
    for pattern, _, _ in _SECRET_PATTERNS:
        text = pattern.sub("<redacted>", text)
    return text
