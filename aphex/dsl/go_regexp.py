"""Go's regular expressions as Argo Events, Helm and the Kubernetes API server evaluate them (RE2 syntax).

:func:`quote_meta` is Go's ``regexp.QuoteMeta`` (Helm's ``regexQuoteMeta``): it escapes exactly
``\\.+*?()|[]{}^$``, so a filter built from a user's value matches that value literally and nothing else.
"""

import re
from typing import Final

__all__ = ["exact_match", "quote_meta"]

_META: Final = re.compile(r"([\\.+*?()|\[\]{}^$])")


def quote_meta(text: str) -> str:
    """``text`` with every regular-expression metacharacter escaped, as Go's ``regexp.QuoteMeta``."""
    return _META.sub(r"\\\1", text)


def exact_match(text: str) -> str:
    """An anchored pattern matching exactly ``text``."""
    return f"^{quote_meta(text)}$"
