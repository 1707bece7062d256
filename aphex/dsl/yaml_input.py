"""The one YAML reader for every input aphex accepts: values, aphex-config.yaml, manifests to lint or run.

Hardened against hostile or broken files, whichever subcommand reads them:
- UTF-8 only (a byte-order mark is allowed), and at most ``max_bytes`` per file;
- no custom tags (the safe loader constructs plain YAML types only);
- a key that appears twice in one mapping is an error, not a silent overwrite;
- aliases are counted as expanded: a document that would expand past ``max_nodes`` values (an alias
  bomb: nine levels of ten aliases are a billion values) is refused after composing, before anything
  walks it; an alias inside its own anchor (a recursive document) is refused too;
- nesting past ``max_depth`` is refused.
Errors name the file and, where YAML says it, the line and column.
"""

from typing import Any, Final

import yaml

from aphex.dsl.errors import InputError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_NODES",
    "YamlInputError",
    "load_yaml",
    "load_yaml_documents",
]

DEFAULT_MAX_BYTES: Final = 4 << 20
"""Largest file read (4 MiB): above the 1.5 MiB an object may have in etcd, far below memory trouble."""
DEFAULT_MAX_NODES: Final = 1_000_000
"""Most values in one document, every alias counted as expanded (a compiled bundle has a few thousand)."""
DEFAULT_MAX_DEPTH: Final = 100
"""Deepest nesting of one document."""

_MERGE_TAG: Final = "tag:yaml.org,2002:merge"

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlInputError(InputError):
    """An input that cannot be read as YAML within the limits: ``str()`` is ``<source>: <reason>``."""

    def __init__(self, reason: str, *, source: str = "") -> None:
        super().__init__(f"{source}: {reason}" if source else reason)
        self.source = source
        self.reason = reason


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """The safe loader (libyaml's when installed), refusing a key that appears twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                identity = (key_node.tag, key_node.value)
                if identity in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key_node.value[:64]!r}", key_node.start_mark
                    )
                seen.add(identity)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _where(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}"


class _Budget:
    """Counts a composed document's values with every alias expanded, without expanding anything:
    the expanded size of a node is computed once and reused wherever an alias repeats it."""

    def __init__(self, *, max_nodes: int, max_depth: int) -> None:
        self.max_nodes = max_nodes
        self.max_depth = max_depth
        self._sizes: dict[int, int] = {}
        self._open: set[int] = set()

    def check(self, root: yaml.Node) -> None:
        if self._size(root, depth=1) > self.max_nodes:
            raise YamlInputError(f"has more than {self.max_nodes} values (counting YAML aliases expanded)")

    def _size(self, node: yaml.Node, *, depth: int) -> int:
        key = id(node)
        if key in self._sizes:
            return self._sizes[key]
        if depth > self.max_depth:
            raise YamlInputError(f"{_where(node)}: nests deeper than {self.max_depth} levels")
        if key in self._open:
            raise YamlInputError(f"{_where(node)}: an alias refers to the node that contains it")
        self._open.add(key)
        total = 1
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        for child in children:
            total += self._size(child, depth=depth + 1)
            if total > self.max_nodes:
                break  # already too large: the caller reports it
        self._open.discard(key)
        self._sizes[key] = total
        return total


def _decoded(text: str | bytes, *, max_bytes: int) -> str:
    raw = text.encode("utf-8", errors="surrogatepass") if isinstance(text, str) else text
    if len(raw) > max_bytes:
        raise YamlInputError(f"is larger than {max_bytes // 1024} KiB")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise YamlInputError(f"not UTF-8 text (invalid byte at offset {error.start})") from None


def _reason(error: Exception, max_depth: int) -> str:
    if isinstance(error, YamlInputError):
        return error.reason
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        return f"not valid YAML: {where}{error.problem or error.context or 'cannot be parsed'}"
    if isinstance(error, yaml.reader.ReaderError):
        return f"not valid YAML: position {error.position}: {error.reason}"
    if isinstance(error, RecursionError):
        return f"nests deeper than {max_depth} levels"
    if "integer string conversion" in str(error):  # an integer beyond Python's digit limit
        return "not valid YAML: a number is too large"
    return f"not valid YAML: {error}"  # a date such as 2024-13-45


def _load(text: str | bytes, *, single: bool, max_bytes: int, max_nodes: int, max_depth: int) -> list[Any]:
    loader = _Loader(_decoded(text, max_bytes=max_bytes))
    try:
        if single:
            nodes = [loader.get_single_node()]
        else:
            nodes = []
            while loader.check_node():  # also consumes the stream start, which get_node alone does not
                nodes.append(loader.get_node())
        documents: list[Any] = []
        for node in nodes:
            if node is None:
                documents.append(None)
                continue
            _Budget(max_nodes=max_nodes, max_depth=max_depth).check(node)
            documents.append(loader.construct_document(node))
        return documents
    except (yaml.YAMLError, RecursionError, ValueError) as error:
        raise YamlInputError(_reason(error, max_depth)) from None
    finally:
        loader.dispose()


def load_yaml_documents(
    text: str | bytes,
    *,
    source: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> list[Any]:
    """Every document of ``text`` (an empty one as ``None``); raises :class:`YamlInputError` naming
    ``source`` (a file name, or what the text is) when ``text`` breaks a rule of this module."""
    try:
        return _load(text, single=False, max_bytes=max_bytes, max_nodes=max_nodes, max_depth=max_depth)
    except YamlInputError as error:
        raise YamlInputError(error.reason, source=source) from None


def load_yaml(
    text: str | bytes,
    *,
    source: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Any:
    """The one document of ``text`` (``None`` when empty); a second document is an error."""
    try:
        (document,) = _load(text, single=True, max_bytes=max_bytes, max_nodes=max_nodes, max_depth=max_depth)
    except YamlInputError as error:
        raise YamlInputError(error.reason, source=source) from None
    return document
