"""YAML input files: load with line numbers, and turn validation errors into InputErrors
that name file, line and field path (`playbooks/x.yaml:23: field 'method[1].interface': ...`).

Thin I/O layer (reading the file) around pure helpers (line lookup, error wording).
"""

from __future__ import annotations

import difflib
import hashlib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, PrivateAttr, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from failover_harness.errors import InputError

Loc = tuple[int | str, ...]
ModelT = TypeVar("ModelT", bound=BaseModel)

# Alias bombs and absurd files are input errors, not memory exhaustion.
MAX_NODES = 200_000
MAX_FILE_BYTES = 4 * 1024 * 1024


class _DocumentShapeError(Exception):
    """Raised while flattening the parsed document; the caller adds the file."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


class InputErrors(InputError):
    """Several input errors found at once; `errors` holds each, the message lists them all."""

    def __init__(self, errors: Sequence[InputError]) -> None:
        if not errors:
            raise ValueError("InputErrors needs at least one error")
        self.errors = list(errors)
        first = self.errors[0]
        head = f"{len(self.errors)} errors:\n" if len(self.errors) > 1 else ""
        super().__init__(head + "\n".join(str(e) for e in self.errors))
        self.file, self.line, self.field = first.file, first.line, first.field


def raise_all(errors: Sequence[InputError]) -> None:
    """Raise one error as itself, several as InputErrors; nothing if there are none."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InputErrors(errors)


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
        raise InputError(f"top level must be a mapping, found {_kind(data)}", file=path, line=1)
    lines.setdefault((), 1)
    return YamlDocument(path=path, data=data, digest=digest, lines=lines)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _kind(value: Any) -> str:
    return {list: "a list", tuple: "a list", dict: "a mapping", str: "a string", int: "a number",
            float: "a number", bool: "a boolean", type(None): "null"}.get(
                type(value), type(value).__name__)


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


# ---------------------------------------------------------------- validation errors


def validate_document(model: type[ModelT], doc: YamlDocument) -> ModelT:
    """Validate a document against a model; every pydantic error becomes an InputError."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        errors = validation_errors(exc, doc, model)
    raise_all(errors)
    raise AssertionError("unreachable")  # pragma: no cover


def validation_errors(exc: ValidationError, doc: YamlDocument,
                      model: type[BaseModel] | None = None) -> list[InputError]:
    out: list[InputError] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False, include_input=True):
        error = _one_error(err, doc, model)
        if str(error) not in seen:  # union branches repeat the same finding
            seen.add(str(error))
            out.append(error)
    return out


def _one_error(err: ErrorDetails, doc: YamlDocument, model: type[BaseModel] | None) -> InputError:
    raw_loc = tuple(err["loc"])
    ctx = err.get("ctx") or {}
    hint = ctx.get("field_hint") or _DISCRIMINATOR_FIELD.get(err["type"])
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        hint = str(ctx.get("discriminator", "")).strip("'") or None
    if isinstance(hint, str) and hint.isidentifier():
        raw_loc = (*raw_loc, hint)  # point at the field the check is about
    # Only a missing or unknown field is a location that is not in the file.
    keep_last = err["type"] in ("missing", "extra_forbidden") or hint is not None
    loc = list(resolve_loc(doc.data, raw_loc, keep_last=keep_last))
    message = _wording(err, raw_loc, model)
    field_path = format_loc(loc)
    return InputError(message, file=doc.path, line=doc.line_of(tuple(loc)),
                      field=field_path or None)


# Custom discriminator errors (see playbook.Step) and the field they are about.
_DISCRIMINATOR_FIELD = {"unknown_action": "action", "unknown_check": "check"}

# Inputs are echoed only for these error types, and never under a secret-looking field.
_ECHO_INPUT = {"literal_error", "int_parsing", "float_parsing", "ip_any_address",
               "ip_any_network", "ip_v4_address", "ip_v4_network", "bool_parsing", "int_type",
               "float_type", "string_type", "greater_than", "greater_than_equal", "less_than",
               "less_than_equal", "string_pattern_mismatch", "url_parsing", "url_scheme",
               "int_from_float", "value_error"}
_SECRETISH = ("password", "secret", "token", "header", "key", "environment")


def _wording(err: ErrorDetails, raw_loc: Loc, model: type[BaseModel] | None) -> str:
    kind = err["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        name = str(raw_loc[-1]) if raw_loc else "?"
        allowed = sorted(_allowed_fields(model, raw_loc[:-1])) if model else []
        text = f"unknown field '{name}'"
        close = difflib.get_close_matches(name, allowed, n=1)
        if close:
            text += f" (did you mean '{close[0]}'?)"
        if allowed:
            text += f"; allowed: {', '.join(allowed)}"
        return text
    if raw_loc and raw_loc[-1] == "[key]":
        return f"every key here must be a name (text), found {_kind(err.get('input'))}"
    msg = err["msg"]
    if kind == "string_type" and not isinstance(err.get("input"), (dict, list)):
        msg += " (put the value in quotes if it is meant as text)"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if kind in _ECHO_INPUT and not _is_secretish(raw_loc):
        value = err.get("input")
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            shown = repr(value)
            if len(shown) <= 80 and shown not in msg:
                msg += f", got {shown}"
    return msg


def _is_secretish(loc: Loc) -> bool:
    return any(isinstance(p, str) and any(s in p.lower() for s in _SECRETISH) for p in loc)


def _allowed_fields(model: type[BaseModel], loc: Loc) -> set[str]:
    """Field names (aliases where set) of the model found at `loc`, walking types."""
    node: Any = model
    for part in loc:
        node = _descend(node, part)
        if node is None:
            return set()
    found = _as_model(node, None)
    if found is None:
        return set()
    return {f.alias or name for name, f in found.model_fields.items()}


def _descend(tp: Any, part: int | str) -> Any:
    tp = _strip_annotated(tp)
    model = _as_model(tp, part)
    if model is not None and isinstance(part, str):
        for name, f in model.model_fields.items():
            if part in (name, f.alias):
                return f.annotation
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, tuple, set, frozenset, Sequence) and isinstance(part, int):
        return args[0] if args else None
    if origin in (dict, Mapping) and args:
        return args[1]
    if _is_union(tp):
        # A union tag in the location: the member it names.
        for arg in args:
            inner = _strip_annotated(arg)
            tag = _tag_of(arg)
            if part == tag or (isinstance(inner, type) and inner.__name__ == part):
                return inner
        return None
    return None


def _as_model(tp: Any, part: int | str | None) -> type[BaseModel] | None:
    tp = _strip_annotated(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    return None


def _strip_annotated(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _tag_of(tp: Any) -> str | None:
    if typing.get_origin(tp) is typing.Annotated:
        for meta in typing.get_args(tp)[1:]:
            tag = getattr(meta, "tag", None)
            if isinstance(tag, str):
                return tag
    inner = _strip_annotated(tp)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        for key in ("action", "check"):
            f = inner.model_fields.get(key)
            if f is not None:
                args = typing.get_args(f.annotation)
                if len(args) == 1 and isinstance(args[0], str):
                    return args[0]
    return None


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
