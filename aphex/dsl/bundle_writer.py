"""The bundle writer: every object as deterministic YAML, one file per object, written all or nothing.

Output layout: ``<out>/<kind in lower case>/<name>.yaml``. The same objects always give byte-identical
files (key order as built, block style, fixed width, no anchors), whatever ``PYTHONHASHSEED`` is. The
whole tree is first written into a sibling temporary directory and then swapped into place, so a failed
compile never leaves a half-written bundle behind.
"""

import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from aphex.dsl.errors import DefinitionError, InputError

__all__ = [
    "OUTPUT_MARKER",
    "BundleError",
    "BundlePart",
    "Condition",
    "OutputDirectoryError",
    "check_output_directory",
    "dump_yaml",
    "object_path",
    "write_bundle",
    "write_tree",
]

Condition = tuple[tuple[str, bool], ...]
"""Component toggles (camelCase, as in values) and the value each must have for a part to be installed."""


@dataclass(frozen=True, kw_only=True)
class BundlePart:
    """Objects installed together when every toggle of ``condition`` has its required value.

    The plain manifests are the parts whose condition the settings meet; the Helm chart wraps each part
    in the same condition, so both always agree on what a toggle does. A part built for one entry of the
    ``pipelines`` setting names the entry's index in ``element``; the chart repeats it for every entry.
    ``component`` names what the objects belong to (the implementation DAG, the Aphex pipelines...): the
    chart keeps their templates in a folder of that name.
    """

    component: str
    condition: Condition
    objects: list[dict[str, Any]]
    element: int | None = None

    def applies(self, components: Mapping[str, bool]) -> bool:
        """Whether toggles ``components`` (camelCase names) install this part."""
        return all(components[name] is wanted for name, wanted in self.condition)


_BaseDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    """Safe dumper that never writes anchors: every object is spelled out for the reader and for Helm."""

    def ignore_aliases(self, data: object) -> bool:
        return True


class BundleError(DefinitionError):
    """The objects cannot be written as a bundle (duplicate or unnamed objects)."""


def dump_yaml(obj: Mapping[str, Any]) -> str:
    """Serialize one object deterministically."""
    text: str = yaml.dump(
        dict(obj), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True
    )
    return text


def object_path(obj: Mapping[str, Any]) -> Path:
    """Relative path of an object's file: ``<kind>/<name>.yaml`` (one object per kind and name)."""
    kind = obj.get("kind")
    name = (obj.get("metadata") or {}).get("name")
    if not isinstance(kind, str) or not isinstance(name, str) or not kind or not name:
        raise BundleError(f"object without kind or metadata.name: {kind!r}/{name!r}")
    return Path(kind.lower()) / f"{name}.yaml"


def write_bundle(objects: Iterable[Mapping[str, Any]], out: Path) -> list[Path]:
    """Write ``objects`` under ``out`` (replacing its previous content); return the files, sorted."""
    rendered: dict[Path, str] = {}
    for obj in objects:
        path = object_path(obj)
        if path in rendered:
            raise BundleError(f"two objects would be written to {path}")
        rendered[path] = dump_yaml(obj)
    return write_tree(rendered, out)


OUTPUT_MARKER: Final = ".aphex-output"
"""The file that marks a directory aphex wrote: only such a directory, or an empty one, is replaced."""
_MARKER_TEXT: Final = (
    "Written by aphex (aphex compile / aphex chart). The next run replaces this directory whole;\n"
    "aphex refuses to replace a directory without this file, unless it is empty.\n"
)


class OutputDirectoryError(InputError):
    """The output directory holds files aphex did not write; nothing was touched."""


def check_output_directory(out: Path) -> None:
    """Raise :class:`OutputDirectoryError` unless ``out`` is missing, empty, or marked as aphex's."""
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputDirectoryError(f"{out}: exists and is not a directory; nothing written")
    if (out / OUTPUT_MARKER).is_file() or not any(out.iterdir()):
        return
    raise OutputDirectoryError(
        f"{out}: not empty and not written by aphex (no {OUTPUT_MARKER}); choose a new or empty directory; "
        "nothing written"
    )


def write_tree(rendered: Mapping[Path, str], out: Path) -> list[Path]:
    """Replace directory ``out`` with exactly the files ``rendered`` (relative path -> text) and the
    :data:`OUTPUT_MARKER`, atomically; :class:`OutputDirectoryError` when ``out`` is not aphex's."""
    out = out.resolve()
    check_output_directory(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for path, text in sorted({**rendered, Path(OUTPUT_MARKER): _MARKER_TEXT}.items()):
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        if out.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, retired / out.name)
            os.replace(staging, out)
            shutil.rmtree(retired)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(out / path for path in rendered)
