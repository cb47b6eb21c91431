"""Behaviours of the emulator that tests change: LRO timing, ARM throttling, gateway resets
and injected Azure faults.

`EmulatorSettings` is set at start (JSON file or defaults) and patched at run time through
the control endpoint (PATCH /_lab/control/settings with any subset of its fields);
`Fault`s are rules consumed by matching ARM requests (POST /_lab/control/faults).
"""

from __future__ import annotations

import random
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

SnapshotAt = Literal["start", "end", "random"]
LroStyle = Literal["location", "async_operation"]
# null_body: getLearnedRoutes answering 200 with a JSON null body (azure-rest-api-specs #34019);
# no_status: an LRO whose Azure-AsyncOperation status resource carries no "status" field,
# only the result (same issue; azure-powershell #4714 shows empty results while polling).
FaultKind = Literal["throttle", "error", "stall", "fail_lro", "not_found", "forbidden", "null_body", "no_status"]
NullBodyAt = Literal["start", "result"]

# LRO latency: Microsoft publishes no figure for getBgpPeerStatus/getLearnedRoutes and none
# was measured here; users report seconds to tens of seconds. 3 s +/- 1 s (uniform) is
# "several seconds with jitter" at the low end: the default lab's Tunnel1 game-day bounds
# azure_detection_s by 10 s, and its detection window grows with the latency (measured on a
# loaded 2-core machine, one run each: 8.3 s at 3 +/- 1 s, 8.6 s at 5 +/- 2 s). Slower Azure: `lab up
# --azure-lro-latency 10 --azure-lro-jitter 3`, or the control endpoint.
DEFAULT_LRO_LATENCY_S = 3.0
DEFAULT_LRO_JITTER_S = 1.0

# ARM's token buckets per subscription, per region, per principal (Microsoft Learn,
# "Understand how Azure Resource Manager throttles requests", regional throttling and token
# bucket algorithm, 2024): reads 250 tokens refilled at 25/s, writes 200 at 10/s, deletes
# 200 at 10/s. POST actions (getBgpPeerStatus, reset, ...) are writes.
ARM_READS_BUCKET, ARM_READS_REFILL_PER_S = 250, 25.0
ARM_WRITES_BUCKET, ARM_WRITES_REFILL_PER_S = 200, 10.0

# How long a reset instance is gone (uniform in [lo, hi] seconds). Microsoft Learn,
# vpn-gateway/reset-gateway.md (older revisions): the gap of a gateway reset is "less than
# one minute"; vpn-gateway-highlyavailable.md: planned maintenance restores in 10-15 s. A
# reset is a planned reboot of one instance, so it defaults to the planned 10-15 s; set
# (e.g.) [45, 60] to model the documented upper bound.
DEFAULT_RESET_OUTAGE_S = (10.0, 15.0)
# Active-standby: how long after the active instance goes down the standby holds the VIP and
# BGP address (uniform in [lo, hi]). vpn-gateway-highlyavailable.md: planned maintenance
# (a reset is one) restores in 10-15 s; unplanned issues about 1-3 min (set [60, 180]).
DEFAULT_STANDBY_TAKEOVER_S = (10.0, 15.0)


class EmulatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    lro_latency_s: float = Field(DEFAULT_LRO_LATENCY_S, ge=0, le=120)  # how long each LRO takes (mean)
    lro_jitter_s: float = Field(DEFAULT_LRO_JITTER_S, ge=0, le=60)  # +/- uniform around the mean, floor 0
    lro_retry_after_s: int = Field(1, ge=0, le=60)  # integer Retry-After on 202s (ARM sends ints)
    lro_style: LroStyle = "location"  # 202+Location, or Azure-AsyncOperation status polling
    snapshot_at: SnapshotAt = "end"  # when inside the LRO the lab is read
    token_lifetime_s: int = Field(3600, ge=1)  # access tokens from the identity endpoint
    page_size: int = Field(50, ge=1)  # resources per page of a list (nextLink beyond)
    # ARM throttling (token buckets per subscription); throttle=False turns it off.
    throttle: bool = True
    reads_bucket: int = Field(ARM_READS_BUCKET, ge=1)
    reads_refill_per_s: float = Field(ARM_READS_REFILL_PER_S, gt=0)
    writes_bucket: int = Field(ARM_WRITES_BUCKET, ge=1)
    writes_refill_per_s: float = Field(ARM_WRITES_REFILL_PER_S, gt=0)
    # Gateway: active-active (two instances, two public IPs) or active-standby (one ip
    # configuration; set at start from the lab's mode; False on an active-active lab models
    # the resource with instance 0 only).
    active_active: bool = True
    reset_outage_s: tuple[float, float] = DEFAULT_RESET_OUTAGE_S  # instance reset: BGP+IKE gone
    standby_takeover_s: tuple[float, float] = DEFAULT_STANDBY_TAKEOVER_S  # active-standby only
    reset_connection_outage_s: float = Field(0.0, ge=0, le=300)  # connection reset: IKE SA gone

    @model_validator(mode="after")
    def _ordered(self) -> EmulatorSettings:
        for name in ("reset_outage_s", "standby_takeover_s"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi <= 600:
                raise ValueError(f"{name} must be [lo, hi] with 0 <= lo <= hi <= 600")
        return self

    def lro_latency(self, rng: random.Random) -> float:
        j = self.lro_jitter_s
        return max(0.0, self.lro_latency_s + (rng.uniform(-j, j) if j else 0.0))

    def reset_outage(self, rng: random.Random) -> float:
        lo, hi = self.reset_outage_s
        return rng.uniform(lo, hi)

    def standby_takeover(self, rng: random.Random) -> float:
        lo, hi = self.standby_takeover_s
        return rng.uniform(lo, hi)


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
    at: NullBodyAt = "start"  # for kind=null_body: the first POST answers 200 null, or the final result

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


class SettingsPatch(RootModel[dict[str, object]]):
    """Partial update of EmulatorSettings (control endpoint): any subset of its fields;
    unknown names and bad values fail validation of the merged settings."""

    def apply(self, settings: EmulatorSettings) -> EmulatorSettings:
        return EmulatorSettings.model_validate(settings.model_dump() | self.root)


class ResetRecord(BaseModel):
    """One reset the emulator carried out in the lab (monotonic-free: wall clock, for tests)."""

    target: str  # "instance 0" or "connection cn-..."
    started_unix: float
    outage_s: float
    restored_unix: float | None = None
    takeover_s: float | None = None  # active-standby: when (after started) the standby took over


class ControlState(BaseModel):
    settings: EmulatorSettings
    faults: list[ActiveFault]
    counters: dict[str, int]  # requests seen per kind, for tests ("arm", "token", "lro_poll", ...)
    ratelimit_remaining: dict[str, int] = Field(default_factory=dict)  # "reads"/"writes" tokens left
    resets: list[ResetRecord] = Field(default_factory=list)
