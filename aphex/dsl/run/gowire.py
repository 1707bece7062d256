"""Byte-exact Go encodings the Argo controller puts into variables: ``json.Marshal`` and ``strconv.Quote``.

``{{workflow.failures}}`` is ``strconv.Quote(string(json.Marshal(failures)))`` (argo-workflows
workflow/controller/operator.go, operate), so a local run must reproduce both Go encoders:

- :func:`go_json` writes what Go's ``encoding/json`` ``Marshal`` writes: no spaces, keys in the order
  given (Go uses struct field order), UTF-8 kept as is except that ``<``, ``>``, ``&``, U+2028 and
  U+2029 are escaped as ``\\u003c``..., control characters as ``\\b \\f \\n \\r \\t`` or ``\\u00XX``
  (Go 1.22 and later), lone surrogates replaced by U+FFFD (Go replaces invalid UTF-8);
- :func:`go_quote` writes what ``strconv.Quote`` writes: a double-quoted literal where ``"`` and ``\\``
  are escaped, printable runes (Go's ``unicode.IsPrint``: letters, marks, numbers, punctuation, symbols
  and the ASCII space) stay as they are, ``\\a \\b \\f \\n \\r \\t \\v`` use their short forms, other
  ASCII controls and DEL become ``\\xNN`` and any other non-printable rune ``\\uXXXX`` or
  ``\\UXXXXXXXX``. Python's ``str.isprintable`` uses the same categories (not Other, not Separator,
  except the space).
"""

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

__all__ = ["go_float", "go_json", "go_quote"]

_HTML_SAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _go_string(text: str) -> str:
    cleaned = "".join("\ufffd" if 0xD800 <= ord(char) <= 0xDFFF else char for char in text)
    encoded = json.dumps(cleaned, ensure_ascii=False)
    return "".join(_HTML_SAFE.get(char, char) for char in encoded)


def go_json(value: Any) -> str:
    """``encoding/json.Marshal(value)`` for JSON-like Python values (``None`` is ``null``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_go_string(str(key))}:{go_json(item)}" for key, item in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(go_json(item) for item in value) + "]"
    raise TypeError(f"go_json: cannot encode {type(value).__name__}")


def go_quote(text: str) -> str:
    """``strconv.Quote(text)``."""
    parts = ['"']
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            parts.append("\\" + char)
        elif 0xD800 <= code <= 0xDFFF:
            parts.append("\\ufffd")
        elif char.isprintable():
            parts.append(char)
        elif char in _SHORT_ESCAPES:
            parts.append(_SHORT_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            parts.append(f"\\x{code:02x}")
        elif code < 0x10000:
            parts.append(f"\\u{code:04x}")
        else:
            parts.append(f"\\U{code:08x}")
    parts.append('"')
    return "".join(parts)


def go_float(value: float) -> str:
    """``fmt.Sprint(value)`` for a float64: Go's ``%v`` is ``%g`` with the shortest digits, in exponent
    form (``1.234567e+06``, ``1e-05``) when the decimal exponent is below -4 or at least 6."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    digits_tuple, exponent_of_last = Decimal(repr(abs(value))).normalize().as_tuple()[1:]
    digits = "".join(map(str, digits_tuple))
    exponent = len(digits) - 1 + int(exponent_of_last)
    if -4 <= exponent < 6:
        return sign + repr(abs(value)).removesuffix(".0")
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
