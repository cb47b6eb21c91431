"""PollRates: the poller's steady rates inside its budget share and the focus burst."""

from __future__ import annotations

import pytest

from failover_harness.azure.budget import RequestBudget
from failover_harness.azure.overlap import READS_PER_CALL
from failover_harness.azure.rates import FOCUS_MAX_POLLS_PER_S, FOCUS_RESERVE, STEADY_SHARE, PollRates


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
