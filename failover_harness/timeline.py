"""The timeline: every event from every source on one clock, appended to timeline.jsonl.

One clock: `t` is seconds on the monotonic clock since the run started; `wall` is the UTC
wall time of the same instant (taken once at start, so wall times never jump). What each kind
of event carries is defined once, in failover_harness/events.py; `emit` validates its fields
against that model and reading validates every line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from failover_harness.errors import InputError
from failover_harness.events import EVENT_ADAPTER, Event, Source, Window

__all__ = ["Clock", "Event", "LoadedTimeline", "Timeline", "TimelineEventError", "load_timeline",
           "read_timeline"]


class TimelineEventError(ValueError):
    """A writer emitted an event its kind's model does not allow (a bug, not bad input)."""


class Clock:
    """Monotonic seconds since start, with the UTC wall time of the same instant."""

    def __init__(self) -> None:
        self.mono0 = time.monotonic()
        self.wall0 = datetime.now(UTC)

    def now(self) -> float:
        return time.monotonic() - self.mono0

    def from_monotonic(self, mono: float) -> float:
        return mono - self.mono0

    def wall(self, t: float) -> datetime:
        return self.wall0 + timedelta(seconds=t)


def _where(error: ValidationError) -> tuple[str | None, str]:
    """(field, message) of a validation error's first problem; the union's tag is dropped."""
    first = error.errors()[0]
    if first["type"] in ("union_tag_not_found", "union_tag_invalid"):
        return "kind", first["msg"]
    loc = [str(p) for p in first["loc"]]
    if loc and loc[0] not in ("seq", "t", "wall", "source", "kind", "subject", "window", "data"):
        loc = loc[1:]  # the discriminator's tag, e.g. 'flow_start'
    return (".".join(loc) or None), first["msg"]


class Timeline:
    """Append-only, flushed on every event, safe to call from several threads."""

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = path
        self.clock = clock or Clock()
        self._lock = threading.Lock()
        self._seq = 0
        self.events: list[Event] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")

    def emit(self, source: Source, kind: str, subject: str, *, t: float | None = None,
             window: Window | None = None, **fields: Any) -> Event:
        """Append one event; `fields` are validated into the model of `kind` (events.py)."""
        with self._lock:
            t = self.clock.now() if t is None else t
            raw = {"seq": self._seq, "t": round(t, 6), "wall": self.clock.wall(t),
                   "source": source, "kind": kind, "subject": subject, "window": window,
                   "data": fields}
            try:
                event = EVENT_ADAPTER.validate_python(raw)
            except ValidationError as err:
                field, message = _where(err)
                raise TimelineEventError(f"{source}/{kind} {subject}: field '{field}': "
                                         f"{message}") from err
            self._seq += 1
            self.events.append(event)
            self._file.write(event.model_dump_json() + "\n")
            self._file.flush()
            return event

    def close(self) -> None:
        with self._lock:
            self._file.close()


class LoadedTimeline(BaseModel):
    """A timeline file's events, and what was skipped (a torn last line) to say so."""

    events: list[Event]
    notes: list[str]


def load_timeline(path: Path) -> LoadedTimeline:
    """Every line validated against events.py. A torn last line (the run was killed mid-write)
    is skipped and noted; any other bad line (corrupt, or not an event of this version) is an
    InputError naming file, line and field."""
    if not path.is_file():
        raise InputError("no timeline here (expected the run directory of a game-day)",
                         file=str(path))
    lines = path.read_text(encoding="utf-8").splitlines()
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    events: list[Event] = []
    notes: list[str] = []
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            events.append(EVENT_ADAPTER.validate_json(line))
        except ValidationError as err:
            torn = err.errors()[0]["type"] == "json_invalid"
            if index == last and torn:
                notes.append(f"{path.name}:{index + 1}: torn last line skipped (the run was "
                             "killed while writing it)")
                break
            field, message = _where(err)
            if torn:
                field, message = None, f"not a JSON line ({message})"
            raise InputError(f"{message} (not an event of this failover-harness version?)",
                             file=str(path), line=index + 1, field=field) from err
    return LoadedTimeline(events=events, notes=notes)


def read_timeline(path: Path) -> Iterator[Event]:
    """Events in file order; see `load_timeline`."""
    yield from load_timeline(path).events
