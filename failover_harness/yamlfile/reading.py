"""Reading a YAML file: bounded (size, node count, recursion), every problem an InputError
with the file and line (never a snippet of the line: it may hold a secret), and the data
flattened to plain Python with the line of every node."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from failover_harness.errors import InputError
from failover_harness.yamlfile.document import Loc, YamlDocument, value_kind

# Alias bombs and absurd files are input errors, not memory exhaustion.
MAX_NODES = 200_000
MAX_FILE_BYTES = 4 * 1024 * 1024


class _DocumentShapeError(Exception):
    """Raised while flattening the parsed document; the caller adds the file."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


def read_yaml(path: str | Path) -> YamlDocument:
    """Read and parse one YAML file; any problem with it is an InputError."""
    shown = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", file=shown) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a YAML file", file=shown) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=shown) from None
    return parse_yaml(raw, shown)


def parse_yaml(raw: bytes, path: str) -> YamlDocument:
    """Parse bytes as one YAML document; pure apart from the parser itself."""
    digest = hashlib.sha256(raw).hexdigest()
    if len(raw) > MAX_FILE_BYTES:
        raise InputError(f"file too large ({len(raw)} bytes, limit {MAX_FILE_BYTES})", file=path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=path, line=line) from None
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        node = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at: int | None = mark.line + 1 if mark is not None else None
        # Only the parser's words, never its snippet of the line (it may hold a secret).
        what = "; ".join(p for p in (exc.context, exc.problem) if p)
        what = what.replace("\n", " ")
        raise InputError(f"YAML syntax error: {what or 'cannot parse'}", file=path,
                         line=at) from None
    except YAMLError as exc:
        raise InputError(f"YAML error: {_first_line(exc)}", file=path) from None
    except RecursionError:
        raise InputError("YAML nested too deeply", file=path) from None
    except (ValueError, TypeError, OverflowError, KeyError, AttributeError) as exc:
        # The parser's own constructors (dates, numbers, merge keys) fail this way on odd input.
        raise InputError(f"YAML value cannot be read: {_first_line(exc)}", file=path) from None
    lines: dict[Loc, int] = {}
    try:
        data = _plain(node, (), lines, set(), [0])
    except RecursionError:
        raise InputError("YAML nested too deeply", file=path) from None
    except _DocumentShapeError as exc:
        raise InputError(exc.message, file=path, line=exc.line) from None
    if data is None:
        raise InputError("file is empty", file=path, line=1)
    if not isinstance(data, dict):
        raise InputError(f"top level must be a mapping, found {value_kind(data)}", file=path, line=1)
    lines.setdefault((), 1)
    return YamlDocument(path=path, data=data, digest=digest, lines=lines)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _plain(node: Any, loc: Loc, lines: dict[Loc, int], active: set[int], count: list[int]) -> Any:
    """ruamel's round-trip nodes -> plain Python, recording each node's line.

    Aliases make graphs: a node seen again on the current path is a cycle (an error); nodes
    shared elsewhere are copied, but the total node count is bounded.
    """
    count[0] += 1
    if count[0] > MAX_NODES:
        raise _DocumentShapeError(f"more than {MAX_NODES} YAML nodes (alias expansion?)")
    if isinstance(node, (CommentedMap, CommentedSeq)):
        if id(node) in active:
            raise _DocumentShapeError("an alias refers to its own ancestor (recursive YAML)",
                                      line=lines.get(loc))
        active.add(id(node))
        try:
            if isinstance(node, CommentedMap):
                mapping: dict[Any, Any] = {}
                for key in node:
                    plain_key = _plain_key(key)
                    child = (*loc, plain_key)
                    pos = _lc(node, "key", key)
                    if pos is not None:
                        lines[child] = pos
                    mapping[plain_key] = _plain(node[key], child, lines, active, count)
                return mapping
            items: list[Any] = []
            for i, item in enumerate(node):
                child = (*loc, i)
                pos = _lc(node, "item", i)
                if pos is not None:
                    lines[child] = pos
                items.append(_plain(item, child, lines, active, count))
            return items
        finally:
            active.discard(id(node))
    if isinstance(node, Mapping):
        return {_plain_key(k): _plain(v, (*loc, _plain_key(k)), lines, active, count)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v, (*loc, i), lines, active, count) for i, v in enumerate(node)]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    # Tagged scalars, dates, sets, binary: kept as they are; validation rejects them.
    return node


def _plain_key(key: Any) -> Any:
    # Names are text: `65010:` or `1.5:` as a key means the name "65010"/"1.5".
    if isinstance(key, str):
        return str(key)
    if isinstance(key, bool) or key is None:
        return key
    if isinstance(key, (int, float)):
        return str(key)
    if isinstance(key, tuple):  # `? [a, b]` complex keys
        return tuple(key)
    try:
        hash(key)
    except TypeError:
        return repr(key)
    return key


def _lc(node: CommentedMap | CommentedSeq, kind: str, key: Any) -> int | None:
    try:
        pos = node.lc.key(key) if kind == "key" else node.lc.item(key)
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    if not pos:
        return None
    line = pos[0]
    return line + 1 if isinstance(line, int) else None
