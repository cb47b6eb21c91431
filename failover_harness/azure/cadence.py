"""How well the poller kept its cadence, per operation: the achieved sample interval, the
longest gap, and why it fell short. Pure bookkeeping; the poller feeds it and writes its
summary to the timeline (azure / poll_summary), which the report shows.

Sample interval: the spacing of the response ends of successful samples, in the order they
landed. "Short" means a median above 1.2 x the target or a gap above 2.5 x the target (the
figures issue #14 asks of a 1 s target). Reasons, each counted when a call that was due
could not start or a sample was lost:
- budget: the request budget had no token for the call;
- max_in_flight: that many calls of the operation were already in flight;
- errors: a failed call (throttled, timeout, server error, ...) or the backoff after it;
- latency: the calls' latency varied more than the interval (answers bunch up, leaving gaps
  although every call started on time): named when nothing else explains a shortfall.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import deque
from typing import Literal

from failover_harness.events import PollSummaryFields, ShortReason

MEDIAN_FACTOR = 1.2
GAP_FACTOR = 2.5
_RECENT = 30  # latencies kept per operation

# The poll_summary event's data is this model (one definition, in the timeline vocabulary).
OperationCadence = PollSummaryFields


class CadenceTracker:
    """Per-operation counters. Not thread-safe: the poller calls it under its lock."""

    def __init__(self, operation: str, interval_s: float, max_in_flight: int | None) -> None:
        self.operation = operation
        self.interval_s = interval_s
        self.max_in_flight = max_in_flight
        self.latencies: deque[float] = deque(maxlen=_RECENT)
        # When the LROs finished (not answered): the middle of [last "still running" poll's
        # send, answer] where known. The poll gate's hazard and the launch rate use these:
        # answer latencies include the gate's own polling lag, and feeding them back would
        # make the gate poll later, which makes the lag longer; the lower end alone would
        # make it poll earlier, spending reads on calls not yet done.
        self.completions: deque[float] = deque(maxlen=_RECENT)
        self.all_latencies: list[float] = []
        self.ok_ends: list[float] = []
        self.samples = 0
        self.in_flight_max = 0
        self.held_back: dict[str, int] = {"budget": 0, "max_in_flight": 0, "errors": 0}

    def launched(self, in_flight: int) -> None:
        self.in_flight_max = max(self.in_flight_max, in_flight)

    def held(self, reason: Literal["budget", "max_in_flight", "errors"], count: int = 1) -> None:
        self.held_back[reason] += count

    def settled(self, start: float, end: float, ok: bool, pending_at: float | None = None) -> None:
        self.samples += 1
        if ok:
            self.latencies.append(end - start)
            self.completions.append((end if pending_at is None else (pending_at + end) / 2) - start)
            self.all_latencies.append(end - start)
            self.ok_ends.append(end)
        else:
            self.held("errors")

    def target(self) -> int | None:
        if not self.latencies:
            return None
        return math.ceil(max(self.latencies) / self.interval_s) + 1

    def summary(self) -> OperationCadence:
        ends = sorted(self.ok_ends)
        gaps = [b - a for a, b in itertools.pairwise(ends)]
        median = statistics.median(gaps) if gaps else None
        worst = max(gaps) if gaps else None
        short = (median is not None and median > MEDIAN_FACTOR * self.interval_s) or \
                (worst is not None and worst > GAP_FACTOR * self.interval_s)
        reasons: list[ShortReason] = []
        if short:
            reasons = [r for r in ("budget", "max_in_flight", "errors") if self.held_back[r] > 0]
            if not reasons:
                reasons = ["latency"]
        lat = self.all_latencies
        return OperationCadence(
            operation=self.operation, target_interval_s=self.interval_s,
            achieved_interval_s=None if median is None else round(median, 3),
            max_gap_s=None if worst is None else round(worst, 3),
            samples=self.samples, ok_samples=len(ends),
            latency_median_s=round(statistics.median(lat), 3) if lat else None,
            latency_max_s=round(max(lat), 3) if lat else None,
            in_flight_target=self.target(), in_flight_max=self.in_flight_max,
            max_in_flight=self.max_in_flight, held_back=dict(self.held_back),
            short=short, reasons=reasons)
