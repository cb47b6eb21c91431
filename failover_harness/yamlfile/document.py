"""A parsed YAML file as plain data with the line of every node, and the places in it:
`format_loc` words a location ('method[1].interface'), `resolve_loc` keeps the parts of a
pydantic location that exist in the file, `Problem` is a cross check's finding."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, PrivateAttr

from failover_harness.errors import InputError

Loc = tuple[int | str, ...]


@dataclass(frozen=True)
class Problem:
    """A finding of a cross-field check: where (path in the document) and what."""

    loc: Loc
    message: str


@dataclass
class YamlDocument:
    """A parsed file: plain data (dicts, lists, scalars), line of every node, digest of the bytes."""

    path: str
    data: Any
    digest: str
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Sequence[int | str]) -> int | None:
        """Line (1-based) of the deepest node of `loc` that exists in the file."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), None)

    def error(self, loc: Sequence[int | str], message: str) -> InputError:
        data_loc = resolve_loc(self.data, loc)
        return InputError(message, file=self.path, line=self.line_of(data_loc),
                          field=format_loc(data_loc) or None)

    def problems_error(self, problems: Iterable[Problem]) -> list[InputError]:
        return [self.error(p.loc, p.message) for p in problems]


def format_loc(loc: Sequence[int | str]) -> str:
    """('method', 1, 'interface') -> 'method[1].interface'."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def resolve_loc(data: Any, loc: Sequence[int | str], keep_last: bool = True) -> Loc:
    """Keep only the parts of a pydantic location that exist in the data (drops union tags
    such as 'shut_interface' or 'EnvRef'); a last part that names a missing key is kept
    if `keep_last`."""
    out: list[int | str] = []
    node = data
    for i, part in enumerate(loc):
        in_mapping = isinstance(node, Mapping) and _has_key(node, part)
        if in_mapping or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            node = node[part]
            out.append(part)
        elif keep_last and i == len(loc) - 1 and isinstance(node, Mapping) and part != "[key]":
            out.append(part)  # e.g. a missing required field
    return tuple(out)


def _has_key(mapping: Mapping[Any, Any], key: Any) -> bool:
    try:
        return key in mapping
    except TypeError:
        return False


def value_kind(value: Any) -> str:
    """How a YAML value is named in an error ('a list', 'a number')."""
    return {list: "a list", tuple: "a list", dict: "a mapping", str: "a string", int: "a number",
            float: "a number", bool: "a boolean", type(None): "null"}.get(
                type(value), type(value).__name__)


class LoadedFromFile(BaseModel):
    """A model read from a YAML file remembers which file and its sha256 (for reports)."""

    _digest: str | None = PrivateAttr(default=None)
    _source: str | None = PrivateAttr(default=None)

    @property
    def digest(self) -> str | None:
        """sha256 of the file's bytes; None when built in code."""
        return self._digest

    @property
    def source(self) -> str | None:
        return self._source

    def loaded_from(self, doc: YamlDocument) -> None:
        self._digest = doc.digest
        self._source = doc.path
