"""The pure scheduling logic behind the poller's cadence under slow, varying LROs
(issue #14): how often to start calls and which LRO to poll next."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from failover_harness.azure.overlap import (
    COVERAGE_EARLY_SHARE,
    READS_PER_CALL,
    Waiting,
    done_probability,
    hazard,
    latency_spread,
    launch_interval_s,
    pick_poll,
)

STEADY = [10.0, 10.0, 10.0]
VARYING = [8.0, 9.0, 10.0, 11.0, 12.0]  # 10 +/- 2 s


def test_launch_interval_grows_the_overlap_with_the_latency_spread() -> None:
    assert launch_interval_s(1.0, [], None) == pytest.approx(1 / 3)  # nothing seen yet: start dense
    assert launch_interval_s(1.0, [8.0, 12.0], None) == pytest.approx(1 / 3)  # too few to trust
    assert launch_interval_s(1.0, STEADY, None) == 1.0  # no spread: one call an interval
    # 10 +/- 2 s seen in five calls: the spread is estimated as 4 x 6 / 4 = 6 s, four calls.
    assert latency_spread(VARYING) == pytest.approx(6.0) and latency_spread([1.0]) is None
    assert launch_interval_s(1.0, VARYING, None) == pytest.approx(1 / 4)
    assert launch_interval_s(2.0, VARYING, None) == pytest.approx(2 / 2.5)


def test_launch_interval_stays_inside_the_write_budget_and_never_below_the_cadence() -> None:
    assert launch_interval_s(1.0, VARYING, writes_per_s=2.25) == pytest.approx(1 / 2.25)
    assert launch_interval_s(1.0, [], writes_per_s=2.25) == pytest.approx(1 / 2.25)
    assert launch_interval_s(1.0, STEADY, writes_per_s=0.5) == 1.0  # the cadence is the floor


def test_launch_interval_starts_no_more_calls_than_the_reads_can_poll() -> None:
    # 4 polls a second pay for READS_PER_CALL (2) each: two calls a second, not four.
    assert launch_interval_s(1.0, VARYING, None, reads_per_s=4.0) == pytest.approx(READS_PER_CALL / 4.0)
    assert launch_interval_s(1.0, VARYING, writes_per_s=1.0, reads_per_s=40.0) == pytest.approx(1.0)


def test_hazard_is_the_chance_of_being_done_since_the_last_poll() -> None:
    lat = sorted(VARYING)
    assert done_probability(7.9, lat) == 0.0
    assert done_probability(10.0, lat) == pytest.approx(3 / 6)
    assert done_probability(99.0, lat) < 1.0  # slower than any seen is possible
    assert hazard(7.0, None, lat) == 0.0  # cannot be done yet: not worth a read
    assert hazard(10.5, 9.5, lat) == pytest.approx((3 / 6 - 2 / 6) / (1 - 2 / 6))
    assert hazard(11.5, None, lat) > hazard(9.5, None, lat)
    assert hazard(20.0, 15.0, lat) == 0.0  # polled late already; only the starvation rule polls it


def waiting(key: int, start: float, last_poll: float | None = None, since: float = 99.5,
            not_before: float = 0.0) -> Waiting:
    return Waiting(key=key, start=start, last_poll=last_poll, waiting_since=since, not_before=not_before)


def test_pick_poll_prefers_the_lro_most_likely_done() -> None:
    now = 100.0
    young, due, polled_just_now = waiting(1, 95.0), waiting(2, 89.0), waiting(3, 88.5, last_poll=99.9)
    assert pick_poll([young, due, polled_just_now], now, VARYING, max_wait_s=3.0) == 2
    assert pick_poll([young], now, VARYING, max_wait_s=3.0) is None  # nobody worth a read
    # Without latencies seen yet: the oldest request.
    assert pick_poll([young, due, polled_just_now], now, [], max_wait_s=3.0) == 3


def test_pick_poll_starvation_and_not_before() -> None:
    now = 100.0
    late = waiting(1, 60.0, last_poll=97.0, since=96.5)  # hazard 0, but waited 3.5 s
    likely = waiting(2, 89.0, since=99.0)
    assert pick_poll([late, likely], now, VARYING, max_wait_s=3.0) == 1
    assert pick_poll([late, likely], now, VARYING, max_wait_s=10.0) == 2
    assert pick_poll([waiting(3, 89.0, not_before=100.1)], now, VARYING, 3.0) is None


def test_pick_poll_starvation_counts_from_when_the_call_could_be_done() -> None:
    """A call 5 s old waited 4.5 s since its request, but the fastest seen took 8 s: no poll
    can find it done, so the starvation rule must not spend a read on it (measured on the
    lab: such polls took most of the read budget)."""
    now = 100.0
    young = waiting(1, 95.0, since=95.5)
    assert pick_poll([young], now, VARYING, max_wait_s=3.0) is None
    # Once it could be done (8 s) and then waited 3 s more unpolled, it is starved.
    overdue = waiting(2, 88.9, since=95.5)  # could be done since 96.9
    assert pick_poll([young, overdue], now, VARYING, max_wait_s=3.0) == 2
    # Before latencies are known every call is fair game after max_wait_s.
    assert pick_poll([young], now, [], max_wait_s=3.0) == 1


def simulate(latency: float, jitter: float, seconds: float, seed: int) -> list[float]:
    """Answers of one operation when calls start as launch_interval_s says and polls are
    granted as pick_poll says, at 4.7 polls a second (the lab's read budget per LRO
    operation): the answer times in a steady window of `seconds`."""
    rng = random.Random(seed)
    latencies: list[float] = []
    calls: dict[int, tuple[float, float]] = {}  # key -> (start, ready)
    last_poll: dict[int, float] = {}
    answers: list[float] = []
    t, next_launch, next_poll, key = 0.0, 0.0, 0.0, 0
    tick = 0.01
    end = latency + jitter + 5 + seconds
    while t < end:
        if t >= next_launch:
            calls[key] = (t, t + latency + rng.uniform(-jitter, jitter))
            key += 1
            next_launch += launch_interval_s(1.0, latencies[-30:], writes_per_s=2.25)
        if t >= next_poll:
            queue = [waiting(k, s, last_poll.get(k), since=last_poll.get(k, s), not_before=last_poll.get(k, s) + 0.2)
                     for k, (s, _r) in calls.items()]
            pick = pick_poll(queue, t, latencies[-30:], max_wait_s=3.0)
            next_poll = t + 1 / 4.7
            if pick is not None:
                start, ready = calls[pick]
                if ready <= t:
                    del calls[pick]
                    latencies.append(t - start)
                    answers.append(t)
                else:
                    last_poll[pick] = t
        t += tick
    steady = latency + jitter + 5
    return [a for a in answers if a >= steady]


@pytest.mark.parametrize(("latency", "jitter"), [(10.0, 2.0), (20.0, 2.0), (20.0, 4.0)])
def test_simulated_cadence_meets_the_issue_targets_mostly(latency: float, jitter: float) -> None:
    """Not a timing test: a deterministic simulation of the two rules together. Over 20
    simulated minutes, the median spacing of answers is <= 1.2 s and gaps over 2.5 s are rare
    (the lab's game-days measure the real thing)."""
    answers = simulate(latency, jitter, 1200.0, seed=7)
    gaps = [b - a for a, b in itertools.pairwise(answers)]
    assert statistics.median(gaps) <= 1.2
    assert sum(g > 2.5 for g in gaps) / len(gaps) < 0.01


def test_in_a_focus_every_call_that_could_be_done_is_polled_in_turn() -> None:
    """Coverage: the one polled longest ago (never: its request) among those that could be
    done, not the highest hazard; calls that cannot be done yet still get no read."""
    now = 100.0
    never = waiting(1, 91.0)  # 9 s old, never polled: hazard 1/3
    late = waiting(2, 88.0, last_poll=99.5)  # 12 s old, polled 0.5 s ago: hazard 1/2
    young = waiting(3, 95.0)  # 5 s old: cannot be done (fastest seen 8 s)
    assert pick_poll([never, late, young], now, VARYING, 3.0) == 2
    assert pick_poll([never, late, young], now, VARYING, 3.0, coverage=True) == 1
    polled = waiting(1, 91.0, last_poll=99.8)
    assert pick_poll([polled, late, young], now, VARYING, 3.0, coverage=True) == 2
    assert pick_poll([young], now, VARYING, 3.0, coverage=True) is None


def test_a_focus_polls_a_call_before_the_fastest_finish_seen() -> None:
    """The fastest finish seen is biased late (a call first polled when already done counts
    as done then): a focus gives a call its first "still running" poll COVERAGE_EARLY_SHARE
    of the spread before it, so a call faster than any seen is still pinned."""
    now = 100.0
    spread = latency_spread(VARYING)
    assert spread is not None
    almost = waiting(1, now - (8.0 - 0.5 * COVERAGE_EARLY_SHARE * spread))  # just short of 8 s
    too_young = waiting(2, now - (8.0 - 2.0 * COVERAGE_EARLY_SHARE * spread))
    assert pick_poll([almost, too_young], now, VARYING, 3.0) is None  # no hazard yet
    assert pick_poll([almost, too_young], now, VARYING, 3.0, coverage=True) == 1
    assert pick_poll([too_young], now, VARYING, 3.0, coverage=True) is None


def test_starved_calls_go_in_the_order_they_could_be_done() -> None:
    """A call polled "still running" 8 s ago (could be done for 8 s) goes before a younger
    call never polled (waiting since its request, but could be done only 3.5 s ago):
    ordering by the wait since the request starved the old calls behind a burst of young
    ones (measured on the lab at 20 +/- 4 s LROs: 7 s without an answer)."""
    now = 100.0
    old = waiting(1, 75.0, last_poll=92.0, since=92.0)  # could be done since 92 (fastest seen 8 s)
    young = waiting(2, 88.5, since=88.5)  # never polled: could be done since 96.5 only
    assert pick_poll([young, old], now, VARYING, 3.0) == 1
