"""One clock: a remote vantage host's monotonic clock against the harness's (pure, no I/O).

The harness writes a ping on the SSH channel at local time `sent`, the remote worker answers
with its own monotonic time `remote`, the answer arrives at local time `received`. The remote
clock was read somewhere in [sent, received], so at that moment the offset (remote minus
local) was in [remote - received, remote - sent]: a causal bound, no symmetric-path
assumption. Its midpoint is the sample's estimate, half the round trip its error bound.

Queueing only ever widens a sample, so each time bin keeps its sample with the smallest round
trip (the minimum-RTT filter of NTP's clock filter, RFC 5905 section 10). A line through the
kept samples' midpoints gives offset and drift; the uncertainty is the largest distance from
that line to the far end of any kept sample's bound, so the true offset at every kept sample
lies inside line +/- uncertainty (between samples as long as the drift is linear).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

BIN_S = 1.0  # the min-RTT filter keeps the best sample of each bin this long
# ... and only those whose round trip is at most this many times the best one plus SLACK_S:
# a bin whose every ping queued says little and would only widen the uncertainty.
RTT_FACTOR = 2.0
RTT_SLACK_S = 0.0002
MIN_DRIFT_SPAN_S = 2.0  # below this the drift is not fitted (it would only fit noise)


@dataclass(frozen=True, slots=True)
class ClockSample:
    sent: float  # local monotonic s, ping written
    remote: float  # remote monotonic s, ping read there
    received: float  # local monotonic s, answer read

    @property
    def rtt_s(self) -> float:
        return self.received - self.sent

    @property
    def midpoint(self) -> float:
        return (self.sent + self.received) / 2.0

    @property
    def offset_s(self) -> float:
        return self.remote - self.midpoint


@dataclass(frozen=True, slots=True)
class ClockEstimate:
    """offset(t) = offset_s + drift * (t - ref_t), t local monotonic; the true offset is
    within +/- uncertainty_s of it."""

    offset_s: float
    drift: float  # s/s (1e-6 = 1 ppm): the remote clock gains this much per local second
    ref_t: float
    uncertainty_s: float
    rtt_min_s: float
    samples: int  # exchanges seen
    used: int  # kept by the min-RTT filter

    def offset_at(self, local_t: float) -> float:
        return self.offset_s + self.drift * (local_t - self.ref_t)

    def to_local(self, remote_t: float) -> float:
        """The local time of a remote clock reading (solves remote = t + offset(t))."""
        return (remote_t - self.offset_s + self.drift * self.ref_t) / (1.0 + self.drift)

    def to_local_window(self, remote_t: float) -> tuple[float, float]:
        local = self.to_local(remote_t)
        return local - self.uncertainty_s, local + self.uncertainty_s

    @property
    def drift_ppm(self) -> float:
        return self.drift * 1e6


def min_rtt_filter(samples: Sequence[ClockSample], bin_s: float = BIN_S) -> list[ClockSample]:
    """The smallest-RTT sample of each `bin_s` time bin, if its round trip is near the best."""
    usable = [s for s in samples if s.rtt_s >= 0]  # < 0: a bookkeeping error, not a sample
    if not usable:
        return []
    first = min(s.sent for s in usable)
    best: dict[int, ClockSample] = {}
    for s in usable:
        b = int((s.sent - first) / bin_s)
        if b not in best or s.rtt_s < best[b].rtt_s:
            best[b] = s
    limit = min(s.rtt_s for s in usable) * RTT_FACTOR + RTT_SLACK_S
    return [best[b] for b in sorted(best) if best[b].rtt_s <= limit]


def estimate(samples: Sequence[ClockSample], bin_s: float = BIN_S) -> ClockEstimate | None:
    """Offset, drift and uncertainty from the exchanges so far (None: no usable sample)."""
    kept = min_rtt_filter(samples, bin_s)
    if not kept:
        return None
    ts = [s.midpoint for s in kept]
    ys = [s.offset_s for s in kept]
    ref = sum(ts) / len(ts)
    drift = 0.0
    if ts[-1] - ts[0] >= MIN_DRIFT_SPAN_S and len(kept) >= 3:
        sxx = sum((t - ref) ** 2 for t in ts)
        mean_y = sum(ys) / len(ys)
        drift = sum((t - ref) * (y - mean_y) for t, y in zip(ts, ys, strict=True)) / sxx
        offset = mean_y
    elif len(kept) > 1:
        # No drift fit: the offset is the intersection of every kept bound when they agree,
        # else the best sample's midpoint.
        lo = max(s.remote - s.received for s in kept)
        hi = min(s.remote - s.sent for s in kept)
        best = min(kept, key=lambda s: s.rtt_s)
        offset = (lo + hi) / 2.0 if lo <= hi else best.offset_s
        ref = best.midpoint
    else:
        offset = ys[0]
        ref = ts[0]
    line = ClockEstimate(offset, drift, ref, 0.0, min(s.rtt_s for s in kept), len(samples),
                         len(kept))
    # The true offset at a sample is within its bound; the widest gap from the line to
    # the far end of any bound is what the line can be wrong by.
    uncertainty = max(abs(s.offset_s - line.offset_at(s.midpoint)) + s.rtt_s / 2.0
                      for s in kept)
    if not math.isfinite(uncertainty):
        return None
    return ClockEstimate(offset, drift, ref, uncertainty, line.rtt_min_s, len(samples),
                         len(kept))
