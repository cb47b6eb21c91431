"""How many calls to start and which call's long-running operation to poll next, so that
answers land about every interval even when the LRO latency varies. Pure; the poller and
its poll gate (poll_gate.py) apply it.

Why more than one call per interval: a call started at s answers at s + L + lag, with L the
LRO's latency. When L varies by W seconds from call to call, answers of calls started one
interval apart land anywhere in a W-wide span: they bunch up and leave holes. Simulated
(one call a second, L uniform in 10 +/- 2 s, each call polled every second): the answers'
median spacing stays 1 s but the longest gap in a minute is 3-4 s. More calls fill the holes: the
launch rate grows with the spread seen, (1 + W / (2 x interval)) calls per interval (one
with no spread, three with W = 4 s), capped by what the write budget allows (each call is
one POST, a write).

Why pick which LRO to poll: every status poll is a read, and polling every call every
second costs W / 2 polls per call and second on average, more than the read budget allows
at these rates. Instead polls go, at the rate the read budget allows, to the waiting call
most likely to have finished since it was last polled (the hazard of the latencies seen):
a poll of a call that cannot be done yet is a read spent for nothing. A call that could be
done (older than the fastest latency seen) and that nobody polled for `max_wait_s` goes
first, so a stalled call, or one slower than any seen, is still polled. Counting that wait
from the request instead spent most reads on calls seconds from done: measured on the lab
at 10 +/- 2 s, the last "still running" poll came a median 5.7 s before the answer.

Why the launch rate also follows the reads: every call costs at least one status poll and,
polled near its finish, about READS_PER_CALL. More calls than the reads can poll leaves
each polled late: answers lag their finish by seconds and the snapshots blur.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

MIN_LATENCIES = 3  # recent latencies before the spread (and the hazard) is trusted
STARTUP_PER_INTERVAL = 3.0  # calls an interval until then
# Status polls a call costs, polled by hazard near its finish (simulated at 10 +/- 2 s LROs:
# 1.5-2.5; the lab measured 2.3 with focus windows).
READS_PER_CALL = 2.0
# A focus polls a call from this share of the latency spread before the fastest finish
# seen. The fastest seen is biased late: a call first polled after it finished counts as
# finished when that poll answered, so calls faster than it are first polled done, with no
# "still running" poll to pin their finish (measured on the lab at 10 +/- 2 s: fastest
# seen 9.5 s, a third of the finishes in a focus unpinned); polled early they pin it, and
# the fastest seen follows the truth down.
COVERAGE_EARLY_SHARE = 0.4


def latency_spread(latencies: Sequence[float]) -> float | None:
    """The width of the latencies' range, once there are enough of them: max - min
    stretched by (n + 1) / (n - 1), since n draws of a uniform spread of W span on average
    W (n - 1) / (n + 1) (three first answers would otherwise halve it)."""
    n = len(latencies)
    if n < MIN_LATENCIES:
        return None
    return (max(latencies) - min(latencies)) * (n + 1) / (n - 1)


def launch_interval_s(interval_s: float, latencies: Sequence[float], writes_per_s: float | None,
                      reads_per_s: float | None = None) -> float:
    """Seconds between calls of one operation: `interval_s` divided by (1 + W / (2 x
    interval_s)) for a latency spread W, but no faster than `writes_per_s` (the operation's
    part of the write budget; None: unbounded) or than `reads_per_s` (its status polls a
    second) pays READS_PER_CALL for, and never slower than `interval_s`. Before
    enough latencies are seen, STARTUP_PER_INTERVAL calls an interval (within the budget):
    the calls of the first L seconds answer only L seconds later, and starting sparse would
    leave the run's first minute with the gaps of a lattice of one call a second."""
    spread = latency_spread(latencies)
    per_interval = STARTUP_PER_INTERVAL if spread is None else 1.0 + spread / (2.0 * interval_s)
    step = interval_s / per_interval
    if writes_per_s is not None and writes_per_s > 0:
        step = max(step, 1.0 / writes_per_s)
    if reads_per_s is not None and reads_per_s > 0:
        step = max(step, READS_PER_CALL / reads_per_s)
    return min(step, interval_s)


def done_probability(elapsed: float, latencies: Sequence[float]) -> float:
    """P(an LRO is done `elapsed` seconds after its request), from the sorted recent
    latencies; below 1 even past the slowest seen (n / (n + 1)), so a late call is not
    certain to be done."""
    n = len(latencies)
    return bisect.bisect_right(latencies, elapsed) / (n + 1)


def hazard(elapsed: float, last_polled: float | None, latencies: Sequence[float]) -> float:
    """P(done by `elapsed` | not done at `last_polled`) (elapsed since the request; None:
    never polled). `latencies` sorted."""
    before = done_probability(last_polled, latencies) if last_polled is not None else 0.0
    now = done_probability(elapsed, latencies)
    left = 1.0 - before
    return 0.0 if left <= 0 else max(now - before, 0.0) / left


class Waiting(BaseModel):
    """An LRO waiting to poll: its request time, when it last polled (None: never), since
    when it waits, and the earliest time its poll makes sense (orchestrator clock)."""

    model_config = ConfigDict(frozen=True)

    key: int
    start: float
    last_poll: float | None
    waiting_since: float
    not_before: float


def pick_poll(waiting: Sequence[Waiting], now: float, latencies: Sequence[float],
              max_wait_s: float, coverage: bool = False) -> int | None:
    """The key of the waiting LRO to poll now, or None (nobody is due).

    Order: one that waited `max_wait_s` or more since it could be done (longest first, that
    wait counted the same way: a call never polled has waited since its request, not longer
    than one polled since it could be done); then, with enough latencies seen, the highest
    hazard (ties: the oldest request), skipping those with no chance; without them, the
    oldest request. `coverage` (a focus): instead of the highest hazard, the one polled
    longest ago among those that could be done (from COVERAGE_EARLY_SHARE of the spread
    before the fastest finish seen), so every call finishing in the focus has a "still
    running" poll shortly before."""
    due = [w for w in waiting if now >= w.not_before]
    if not due:
        return None
    trusted = len(latencies) >= MIN_LATENCIES
    ordered = sorted(latencies)
    # Until the fastest latency seen has passed a call cannot be done: its wait counts from then.
    earliest = ordered[0] if trusted else 0.0

    def able_since(w: Waiting) -> float:
        return max(w.waiting_since, w.start + earliest)

    starved = [w for w in due if now - able_since(w) >= max_wait_s]
    if starved:
        return min(starved, key=able_since).key
    if not trusted:
        return min(due, key=lambda w: w.start).key
    if coverage:
        early = COVERAGE_EARLY_SHARE * (latency_spread(ordered) or 0.0)
        able = [w for w in due if done_probability(now - w.start + early, ordered) > 0]
        return min(able, key=lambda w: w.start if w.last_poll is None else w.last_poll).key if able else None
    scored = [(hazard(now - w.start, None if w.last_poll is None else w.last_poll - w.start, ordered), -w.start, w.key)
              for w in due]
    best = max(scored)
    return best[2] if best[0] > 0 else None
