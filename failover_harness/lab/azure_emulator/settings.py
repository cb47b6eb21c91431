"""Behaviours of the emulator that tests change: LRO timing and injected Azure faults.

`EmulatorSettings` is set at start (JSON file or defaults) and patched at run time through
the control endpoint; `Fault`s are rules consumed by matching ARM requests.
"""

from __future__ import annotations

import random
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SnapshotAt = Literal["start", "end", "random"]
LroStyle = Literal["location", "async_operation"]
FaultKind = Literal["throttle", "error", "stall", "fail_lro", "not_found", "forbidden"]


class EmulatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    lro_latency_s: float = Field(2.0, ge=0, le=120)  # how long each LRO takes
    lro_retry_after_s: int = Field(1, ge=0, le=60)  # integer Retry-After on 202s (ARM sends ints)
    lro_style: LroStyle = "location"  # 202+Location, or Azure-AsyncOperation status polling
    snapshot_at: SnapshotAt = "end"  # when inside the LRO the lab is read
    token_lifetime_s: int = Field(3600, ge=1)  # access tokens from the identity endpoint
    page_size: int = Field(50, ge=1)  # connections per page of a list (nextLink beyond)


class Fault(BaseModel):
    """One injected misbehaviour. Applies to ARM requests whose path contains `match`
    (all ARM requests when None), for the next `count` requests or for `duration_s` seconds
    from when it was added (whichever is given; neither = until cleared)."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    match: str | None = None  # e.g. "getBgpPeerStatus", "connections/cn-edge1-t1"
    count: int | None = Field(None, ge=1)
    duration_s: float | None = Field(None, gt=0)
    status: int = Field(500, ge=400, le=599)  # for kind=error
    retry_after_s: int = Field(1, ge=0)  # for kind=throttle
    stall_s: float = Field(5.0, ge=0)  # for kind=stall
    probability: float = Field(1.0, ge=0, le=1)  # hit only this share of matching requests

    @model_validator(mode="after")
    def _not_both(self) -> Fault:
        if self.count is not None and self.duration_s is not None:
            raise ValueError("give count or duration_s, not both")
        return self


class ActiveFault(BaseModel):
    fault: Fault
    added_monotonic: float
    remaining: int | None
    hits: int = 0

    def expired(self, now: float) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return True
        d = self.fault.duration_s
        return d is not None and now - self.added_monotonic >= d


class FaultBook:
    """The active faults; `take` returns the fault (if any) a request runs into."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._faults: list[ActiveFault] = []
        self._rng = rng or random.Random()

    def add(self, fault: Fault) -> None:
        self._faults.append(ActiveFault(fault=fault, added_monotonic=time.monotonic(),
                                        remaining=fault.count))

    def clear(self) -> None:
        self._faults.clear()

    def active(self) -> list[ActiveFault]:
        now = time.monotonic()
        self._faults = [f for f in self._faults if not f.expired(now)]
        return list(self._faults)

    def take(self, path: str, kinds: set[FaultKind]) -> Fault | None:
        for active in self.active():
            f = active.fault
            if f.kind not in kinds or (f.match is not None and f.match not in path):
                continue
            if f.probability < 1 and self._rng.random() >= f.probability:
                continue
            if active.remaining is not None:
                active.remaining -= 1
            active.hits += 1
            return f
        return None


class SettingsPatch(BaseModel):
    """Partial update of EmulatorSettings (control endpoint)."""

    model_config = ConfigDict(extra="forbid")

    lro_latency_s: float | None = None
    lro_retry_after_s: int | None = None
    lro_style: LroStyle | None = None
    snapshot_at: SnapshotAt | None = None
    token_lifetime_s: int | None = None
    page_size: int | None = None

    def apply(self, settings: EmulatorSettings) -> EmulatorSettings:
        merged = settings.model_dump() | self.model_dump(exclude_none=True)
        return EmulatorSettings.model_validate(merged)


class ControlState(BaseModel):
    settings: EmulatorSettings
    faults: list[ActiveFault]
    counters: dict[str, int]  # requests seen per kind, for tests ("arm", "token", "lro_poll", ...)
