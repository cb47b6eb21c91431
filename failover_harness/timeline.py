"""The timeline: every event from every source on one clock, appended to timeline.jsonl.

One clock: `t` is seconds on the monotonic clock since the run started; `wall` is the UTC
wall time of the same instant (taken once at start, so wall times never jump).

Events (source / kind / subject / data) - the vocabulary every module writes:

- run    / run_start   / run-id        / {playbook, inventory, digests, versions, operator}
- run    / step_start, step_end / step:<n>:<name> / {step}
- run    / run_end     / run-id        / {status: completed|aborted|failed, reason}
- action / action_start, action_done, action_failed / device:<name>/<target>
                                        / {action: shut|no_shut|..., commands, error}
                                          (the fault's action_done `t` is t0 of metrics.md)
- probe  / flow_start  / flow:<id>     / {kind: icmp|tcp, src, dst, dport, sport, interval}
- probe  / loss_start  / flow:<id>     / {seq}    t = send time of the first lost probe
- probe  / loss_end    / flow:<id>     / {seq, lost}  t = send time of the first answered probe
- probe  / flow_stats  / flow:<id>     / {sent, received, lost, rtt_ms_p50, rtt_ms_max}
- device / bgp_state   / device:<name>/neighbor:<ip> / {state, previous}
- azure  / sample      / azure:<op>    / {ok, error, gap_reason}  window = request start..response end
- azure  / bgp_peer    / azure:instance:<local ip>/peer:<ip> / {state, previous}
- azure  / route_next_hops / azure:instance:<local ip>/prefix:<p> / {next_hops, previous}
- azure  / connection  / azure:connection:<name> / {status, previous}
- guard  / gate_failed, guard_tripped / run-id / {reason}

`window` is [earliest, latest]: when a polled change could have happened (from the sample
that still showed the old state to the response that showed the new one).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

Source = Literal["run", "action", "probe", "device", "azure", "guard"]


class Clock:
    """Monotonic seconds since start, with the UTC wall time of the same instant."""

    def __init__(self) -> None:
        self.mono0 = time.monotonic()
        self.wall0 = datetime.now(timezone.utc)

    def now(self) -> float:
        return time.monotonic() - self.mono0

    def from_monotonic(self, mono: float) -> float:
        return mono - self.mono0

    def wall(self, t: float) -> datetime:
        return self.wall0 + timedelta(seconds=t)


class Event(BaseModel):
    seq: int
    t: float
    wall: datetime
    source: Source
    kind: str
    subject: str
    window: tuple[float, float] | None = None
    data: dict[str, Any] = Field(default_factory=dict)


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
             window: tuple[float, float] | None = None, **data: Any) -> Event:
        with self._lock:
            t = self.clock.now() if t is None else t
            event = Event(seq=self._seq, t=round(t, 6), wall=self.clock.wall(t), source=source,
                          kind=kind, subject=subject, window=window, data=data)
            self._seq += 1
            self.events.append(event)
            self._file.write(event.model_dump_json() + "\n")
            self._file.flush()
            return event

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read_timeline(path: Path) -> Iterator[Event]:
    """Events in file order; a torn last line (the run was killed mid-write) is skipped."""
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                yield Event.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValueError):
                continue
