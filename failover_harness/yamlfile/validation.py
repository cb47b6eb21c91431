"""Validating a document against a pydantic model: every error becomes an InputError with
file, line and field path, in words a user acts on (a close field name, the allowed ones;
inputs echoed only where they cannot be secrets)."""

from __future__ import annotations

import difflib
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from failover_harness.errors import InputError
from failover_harness.yamlfile.document import Loc, YamlDocument, format_loc, resolve_loc, value_kind
from failover_harness.yamlfile.input_errors import raise_all
from failover_harness.yamlfile.model_walk import allowed_fields

ModelT = TypeVar("ModelT", bound=BaseModel)


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
        allowed = sorted(allowed_fields(model, raw_loc[:-1])) if model else []
        text = f"unknown field '{name}'"
        close = difflib.get_close_matches(name, allowed, n=1)
        if close:
            text += f" (did you mean '{close[0]}'?)"
        if allowed:
            text += f"; allowed: {', '.join(allowed)}"
        return text
    if raw_loc and raw_loc[-1] == "[key]":
        return f"every key here must be a name (text), found {value_kind(err.get('input'))}"
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
