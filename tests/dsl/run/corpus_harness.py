"""Reads a corpus file's header: ``# args: [...]`` and ``# expect: ...`` (YAML in comments)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Case", "read_case"]


@dataclass(frozen=True, kw_only=True)
class Case:
    """One corpus file: the CLI arguments and the expected outcome."""

    path: Path
    args: list[str]
    expect: dict[str, Any]


def read_case(path: Path) -> Case:
    header: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line[2:] if line.startswith("# ") else line[1:])
    data = yaml.safe_load("\n".join(header[1:])) or {}
    if "expect" not in data:
        raise ValueError(f"{path}: no '# expect:' header")
    return Case(path=path, args=[str(a) for a in data.get("args", [])], expect=data["expect"])
