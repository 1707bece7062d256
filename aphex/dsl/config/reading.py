"""Reading ``aphex-config.yaml``: the file's bytes within the size limit, then its one YAML document.

Parsing goes through the project's hardened loader (:mod:`aphex.dsl.yaml_input`) with this file's own
limits, so broken YAML, binary junk, alias bombs and oversized files become a :class:`ConfigProblem`,
never an exception.
"""

import os
from pathlib import Path
from typing import Final

from aphex.dsl.config.credentials import redact
from aphex.dsl.config.problems import ConfigProblem
from aphex.dsl.yaml_input import YamlInputError, load_yaml

__all__ = ["MAX_DOCUMENT_BYTES", "MAX_NODES", "parse_text", "read_config_file"]

MAX_DOCUMENT_BYTES: Final = 1 << 20
"""Larger files are refused before parsing (1 MiB; a real configuration is a few KiB)."""
MAX_NODES: Final = 100_000
"""Values in the parsed document, counting every expansion of a YAML alias (stops alias bombs); the
loader enforces it while parsing."""


def parse_text(text: str | bytes) -> tuple[object, list[ConfigProblem]]:
    """The YAML document in ``text`` and the problems that prevented reading it (then ``None``)."""
    try:
        data = load_yaml(text, source="aphex-config.yaml", max_bytes=MAX_DOCUMENT_BYTES, max_nodes=MAX_NODES)
    except YamlInputError as error:
        return None, [ConfigProblem(path=(), message=redact(error.reason))]
    if data is None:
        return None, [
            ConfigProblem(
                path=(), message="is empty; expected a mapping with version, build and environments"
            )
        ]
    return data, []


def read_config_file(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes, reading at most one byte past the size limit; ``OSError`` when unreadable."""
    with Path(path).open("rb") as handle:
        return handle.read(MAX_DOCUMENT_BYTES + 1)
