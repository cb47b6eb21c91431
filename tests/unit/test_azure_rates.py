"""PollRates: the poller's steady rates inside its budget share and the focus burst."""

from __future__ import annotations

import pytest

from failover_harness.azure.budget import RequestBudget
from failover_harness.azure.overlap import READS_PER_CALL
from failover_harness.azure.rates import (
    FOCUS_MAX_CALLS_PER_S,
    FOCUS_MAX_POLLS_PER_S,
    FOCUS_RESERVE,
    MAX_LEAD_S,
    STEADY_SHARE,
    PollRates,
)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def rates(clock: Clock) -> tuple[PollRates, RequestBudget]:
    budget = RequestBudget(clock=clock, sleep=lambda _s: None)  # ARM's defaults, share 0.5
    return PollRates(budget, ("bgp_peer_status", "learned_routes", "connections"), connections=2,
                     interval_s=1.0, clock=clock), budget


def test_steady_rates_share_what_the_connection_reads_leave() -> None:
    r, _ = rates(Clock())
    # Our 12.5 reads/s less 2 connection GETs, the steady share of it, for two LRO operations.
    steady = STEADY_SHARE * (12.5 - 2.0) / 2
    assert r.polls_per_s("bgp_peer_status") == pytest.approx(steady)
    assert r.polls_per_s("learned_routes") == pytest.approx(steady)
    # Latencies spread over 6 s would want four calls a second: the writes (90 % of 5/s for two
    # operations) and the polls (READS_PER_CALL each) allow fewer.
    launches = min(0.9 * 5.0 / 2, steady / READS_PER_CALL)
    assert r.launch_step_s("bgp_peer_status", [8.0, 9.0, 10.0, 11.0, 12.0]) == pytest.approx(1 / launches)
    assert r.launch_step_s("connections", []) == 1.0


def test_focus_spends_the_bucket_above_the_reserve_over_the_window_on_peer_status_only() -> None:
    clock = Clock()
    r, budget = rates(clock)
    steady = r.steady_polls_per_s()
    r.focus(1.0, 5.0)
    assert r.polls_per_s("bgp_peer_status") == pytest.approx(steady)  # not yet
    clock.t = 1.0
    spare = budget.capacity("reads") * (1 - FOCUS_RESERVE)  # the bucket is full: 125 - 25
    assert r.polls_per_s("bgp_peer_status") == pytest.approx(min(steady + spare / 4.0, FOCUS_MAX_POLLS_PER_S))
    assert r.polls_per_s("learned_routes") == pytest.approx(steady)
    for _ in range(100):  # the burst spent the savings: back to the steady rate
        budget.try_take("reads")
    assert r.polls_per_s("bgp_peer_status") == pytest.approx(steady)
    clock.t = 5.0
    assert r.polls_per_s("bgp_peer_status") == pytest.approx(steady)  # the window is over


def test_a_focus_that_keeps_more_of_the_bucket_spends_only_what_is_above_it() -> None:
    clock = Clock()
    r, budget = rates(clock)
    steady = r.steady_polls_per_s()
    r.focus(0.0, 4.0, keep=0.6)
    assert r.spare_reads() == pytest.approx(budget.capacity("reads") * 0.4)
    assert r.polls_per_s("bgp_peer_status") == pytest.approx(steady + budget.capacity("reads") * 0.4 / 4.0)
    for _ in range(int(budget.capacity("reads") * 0.4) + 1):
        budget.try_take("reads")
    assert r.spare_reads() == 0.0
    assert r.polls_per_s("bgp_peer_status") == pytest.approx(steady)
    r.focus(0.0, 4.0)  # a fault's focus after it may spend down to the reserve
    assert r.spare_reads() > 0.3 * budget.capacity("reads")


LATENCIES = [8.0, 9.0, 10.0, 11.0, 12.0]  # 10 +/- 2 s


def test_the_lead_is_the_slowest_latency_less_the_windows_start() -> None:
    r, _ = rates(Clock())
    assert r.lead_s(1.5, LATENCIES) == pytest.approx(10.5)
    assert r.lead_s(20.0, LATENCIES) == 0.0  # the window starts later than any call takes
    assert r.lead_s(0.0, [100.0, 110.0, 120.0]) == MAX_LEAD_S  # never an unbounded wait
    assert r.lead_s(0.0, [10.0, 11.0]) == 0.0  # too few latencies to know


def test_leading_a_focus_starts_extra_peer_status_calls_that_finish_inside_it() -> None:
    clock = Clock()
    r, budget = rates(clock)
    steady = r.launch_step_s("bgp_peer_status", LATENCIES)
    r.focus(10.5 + 1.5, 10.5 + 5.5)  # a change in 10.5 s, its window 1.5-5.5 s after it
    # Calls started now finish 8-12 s later: from 12 - 12 = 0 to 16 - 8 = 8 s they can land inside.
    boosted = r.launch_step_s("bgp_peer_status", LATENCIES)
    assert boosted < steady
    # Extra calls: what the writes saved, no more than the focus's reads can poll, over the span.
    extra = min(budget.capacity("writes") * (1 - FOCUS_RESERVE), r.spare_reads() / READS_PER_CALL) / 8.0
    assert 1 / boosted == pytest.approx(min(1 / steady + extra, FOCUS_MAX_CALLS_PER_S))
    assert r.launch_step_s("learned_routes", LATENCIES) == pytest.approx(steady)  # not focused
    clock.t = 8.5  # past the span: calls started now would finish after the window
    assert r.launch_step_s("bgp_peer_status", LATENCIES) == pytest.approx(steady)
    clock.t = 0.0
    for _ in range(int(budget.capacity("reads"))):  # the focus has no reads to poll extra calls
        budget.try_take("reads")
    assert r.launch_step_s("bgp_peer_status", LATENCIES) == pytest.approx(steady)
