"""Walking a pydantic model's types along a document location, to name the fields allowed
there (for 'unknown field ... allowed: ...')."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from failover_harness.yamlfile.document import Loc


def allowed_fields(model: type[BaseModel], loc: Loc) -> set[str]:
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
