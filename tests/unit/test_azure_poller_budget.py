"""The poller against a fake SDK client: it stays inside its request budget, reports per
operation the interval it achieved and why it fell short, and turns the null-body quirks of
getLearnedRoutes into named gaps, never into "no routes"."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from failover_harness.azure.budget import BudgetSettings, RequestBudget
from failover_harness.azure.poller import AzurePoller
from failover_harness.azure.settings import AzureSettings, PollSettings
from failover_harness.events import BudgetFields, PollSummaryFields, SampleFields
from failover_harness.timeline import Event, Timeline

from .test_azure_poller_fakes import ONPREM, FakeWorld, connector

WAIT_S = 20.0  # generous upper bound for "eventually"; never a performance assertion


def settings(**poll: object) -> AzureSettings:
    defaults: dict[str, object] = dict(sample_interval_s=0.05, call_timeout_s=2.0, backoff_initial_s=0.05,
                                       backoff_max_s=0.2, reauth_min_interval_s=0.0, summary_interval_s=0.5)
    defaults.update(poll)
    return AzureSettings(subscription_id="sub", resource_group="rg", gateway="gw",
                         connections=["cn-t1", "cn-t2"], poll=PollSettings.model_validate(defaults))


@pytest.fixture
def timeline(tmp_path: Path) -> Iterator[Timeline]:
    tl = Timeline(tmp_path / "timeline.jsonl")
    yield tl
    tl.close()


def events(timeline: Timeline, kind: str, subject: str | None = None) -> list[Event]:
    return [e for e in list(timeline.events)
            if e.source == "azure" and e.kind == kind and (subject is None or e.subject == subject)]


def wait_for(predicate: object) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def last_summary(timeline: Timeline, operation: str) -> PollSummaryFields:
    found = events(timeline, "poll_summary", f"azure:{operation}")
    assert found, f"no poll_summary for {operation}"
    assert isinstance(found[-1].data, PollSummaryFields)
    return found[-1].data


def test_calls_stay_inside_the_budget_and_the_summary_names_it(timeline: Timeline) -> None:
    world = FakeWorld(latency=0.1)
    # 2 writes a second for us (bucket 4 x 0.5 = 2 tokens): far fewer than 3 operations every 50 ms ask.
    budget = RequestBudget(BudgetSettings(share=0.5, writes_bucket=4, writes_refill_per_s=4))
    world.budget = budget
    poller = AzurePoller(settings(), timeline, connect=connector(world), budget=budget).start()
    started = time.monotonic()
    try:
        wait_for(lambda: len(events(timeline, "sample", "azure:bgp_peer_status")) >= 4
                 and len(events(timeline, "poll_summary")) >= 6)
    finally:
        poller.stop()
    elapsed = time.monotonic() - started
    posts = budget.stats().requests["writes"]
    assert posts <= 2 + 2 * elapsed + 1  # the bucket share plus its refill, never more
    summary = last_summary(timeline, "bgp_peer_status")
    assert summary.short is True and "budget" in summary.reasons
    assert summary.held_back["budget"] > 0
    spent = events(timeline, "budget", "azure:budget")[-1].data
    assert isinstance(spent, BudgetFields)
    assert spent.requests["writes"] == posts and spent.allowed_rate_per_s["writes"] == pytest.approx(2.0)


def test_summary_gives_achieved_interval_and_in_flight_sized_to_latency(timeline: Timeline) -> None:
    world = FakeWorld(latency=0.4)
    poller = AzurePoller(settings(sample_interval_s=0.1), timeline, connect=connector(world)).start()
    try:
        wait_for(lambda: len(events(timeline, "sample", "azure:bgp_peer_status")) >= 20)
    finally:
        poller.stop()
    summary = last_summary(timeline, "bgp_peer_status")
    print(f"summary: {summary}")
    assert summary.target_interval_s == 0.1 and summary.max_in_flight is None  # left to the budget
    assert summary.in_flight_target is not None and summary.in_flight_target >= 5  # ceil(latency / 0.1) + 1, latency >= 0.4
    assert summary.in_flight_max >= 4
    assert summary.ok_samples >= 20 and summary.achieved_interval_s is not None
    latency = summary.latency_median_s
    assert isinstance(latency, float) and latency >= 0.4


def test_a_cap_on_calls_in_flight_is_named_when_it_costs_samples(timeline: Timeline) -> None:
    world = FakeWorld(latency=0.3)
    poller = AzurePoller(settings(max_in_flight=1), timeline, connect=connector(world)).start()
    try:
        wait_for(lambda: len(events(timeline, "sample", "azure:bgp_peer_status")) >= 5
                 and len(events(timeline, "poll_summary")) >= 3)
    finally:
        poller.stop()
    assert world.max_in_flight <= 2  # one per LRO operation
    summary = last_summary(timeline, "bgp_peer_status")
    assert summary.short is True and summary.reasons == ["max_in_flight"]
    assert summary.max_in_flight == 1 and summary.in_flight_max == 1


@pytest.mark.parametrize(("fault", "reason"), [("null_body", "null_body"), ("no_status", "lro_no_status")])
def test_null_body_quirks_are_named_gaps_never_a_withdrawal(timeline: Timeline, fault: str, reason: str) -> None:
    world = FakeWorld(latency=0.05)
    poller = AzurePoller(settings(), timeline, connect=connector(world)).start()
    try:
        assert poller.wait_until(lambda s: s.routes_on_all_paths(ONPREM), WAIT_S) is not None
        before = len(events(timeline, "route_next_hops"))
        world.fault = fault
        wait_for(lambda: sum(gap_reason(e) == reason
                             for e in events(timeline, "sample", "azure:learned_routes")) >= 5)
        world.fault = None
        time.sleep(0.3)
    finally:
        poller.stop()
    assert len(events(timeline, "route_next_hops")) == before  # nothing moved: no false withdrawal
    assert poller.snapshot().routes_on_all_paths(ONPREM)
    gaps = [e for e in events(timeline, "sample", "azure:learned_routes") if gap_reason(e)]
    assert gaps and all(gap_reason(e) == reason for e in gaps)


def gap_reason(event: Event) -> str | None:
    assert isinstance(event.data, SampleFields)
    return None if event.data.ok else event.data.gap_reason
