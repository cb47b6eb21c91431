"""The Azure poller's threads against a fake SDK client: overlap, change events and their
windows, out-of-order answers, faults becoming gaps, re-authentication, shutdown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from failover_harness.azure.models import AzureSnapshot
from failover_harness.azure.poller import AzurePoller
from failover_harness.azure.reader import read_once
from failover_harness.azure.settings import AzureSettings, PollSettings
from failover_harness.timeline import Event, Timeline

from .test_azure_poller_fakes import GW0, GW1, ONPREM, FakeConnection, FakeWorld, connector

WAIT_S = 20.0  # generous upper bound for "eventually"; never a performance assertion


def settings(**poll: float) -> AzureSettings:
    defaults: dict[str, float] = dict(sample_interval_s=0.05, call_timeout_s=2.0, backoff_initial_s=0.05,
                                      backoff_max_s=0.2, reauth_min_interval_s=0.0)
    defaults.update(poll)
    return AzureSettings(subscription_id="sub", resource_group="rg", gateway="gw",
                         connections=["cn-t1", "cn-t2"], poll=PollSettings.model_validate(defaults))


@pytest.fixture
def timeline(tmp_path: Path) -> Iterator[Timeline]:
    tl = Timeline(tmp_path / "timeline.jsonl")
    yield tl
    tl.close()


def run_poller(world: FakeWorld, timeline: Timeline, **poll: float) -> AzurePoller:
    return AzurePoller(settings(**poll), timeline, connect=connector(world)).start()


def events(timeline: Timeline, kind: str, subject: str | None = None) -> list[Event]:
    return [e for e in list(timeline.events)
            if e.source == "azure" and e.kind == kind and (subject is None or e.subject == subject)]


def wait_events(poller: AzurePoller, timeline: Timeline, predicate: object) -> None:
    assert callable(predicate)
    assert poller.wait_until(lambda _s: bool(predicate(timeline)), WAIT_S) is not None


def settled(snap: AzureSnapshot) -> bool:
    return snap.all_peers_connected() and snap.routes_on_all_paths(ONPREM) and bool(snap.connections)


def test_overlapping_calls_give_samples_faster_than_one_call_takes(timeline: Timeline) -> None:
    world = FakeWorld(latency=0.4)
    poller = run_poller(world, timeline)
    try:
        wait_events(poller, timeline, lambda tl: len(events(tl, "sample", "azure:bgp_peer_status")) >= 15)
    finally:
        poller.stop()
    samples = events(timeline, "sample", "azure:bgp_peer_status")
    assert world.max_in_flight >= 3  # calls overlapped
    assert all(e.data.ok for e in samples)
    starts = [e.window[0] for e in samples if e.window]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(e.window is not None and e.window[1] - e.window[0] >= 0.4 for e in samples)
    spacing = (starts[-1] - starts[0]) / (len(starts) - 1)
    print(f"bgp samples: {len(samples)}, mean start spacing {spacing:.3f} s with 0.4 s calls, "
          f"max in flight {world.max_in_flight}")


def test_tunnel_shut_becomes_peer_route_and_connection_events(timeline: Timeline) -> None:
    world = FakeWorld(latency=0.15)
    poller = run_poller(world, timeline)
    try:
        assert poller.wait_until(settled, WAIT_S) is not None
        assert poller.peer_connected("169.254.21.2") and poller.all_peers_connected()
        assert poller.next_hops(ONPREM) == {GW0: (GW1, "169.254.21.2"), GW1: (GW0, "169.254.21.6")}
        before = timeline.clock.now()
        world.shut_tunnel1()
        after = timeline.clock.now()
        assert poller.wait_until(lambda s: s.peer_down("169.254.21.2") and not s.routes_on_all_paths(ONPREM)
                                 and s.connections.get("cn-t1") == "NotConnected", WAIT_S)
        assert poller.next_hops(ONPREM) == {GW0: (GW1,), GW1: ("169.254.21.6",)}
        snap = poller.snapshot()
        assert snap.last_good_sample is not None and set(snap.last_good) == {
            "bgp_peer_status", "learned_routes", "connections"}
    finally:
        poller.stop()
    peer = events(timeline, "bgp_peer", f"azure:instance:{GW0}/peer:169.254.21.2")
    assert [e.data.model_dump() for e in peer] == [{"state": "Connected", "previous": None},
                                      {"state": "Connecting", "previous": "Connected"}]
    route = events(timeline, "route_next_hops", f"azure:instance:{GW0}/prefix:{ONPREM}")
    assert route[-1].data.model_dump() == {"next_hops": [GW1], "previous": [GW1, "169.254.21.2"]}
    conn = events(timeline, "connection", "azure:connection:cn-t1")
    assert conn[-1].data.model_dump() == {"status": "NotConnected", "previous": "Connected"}
    for change in (peer[-1], route[-1], conn[-1]):
        assert change.window is not None
        lo, hi = change.window
        # The change happened between `before` and `after`: the window must contain it.
        assert lo <= after and hi >= before and change.t == pytest.approx(hi, abs=1e-5)


def test_answers_out_of_order_never_flip_state_back(timeline: Timeline) -> None:
    world = FakeWorld()
    world.latency = lambda n: 0.5 if n % 2 else 0.05  # later calls often answer first
    poller = run_poller(world, timeline)
    try:
        assert poller.wait_until(settled, WAIT_S) is not None
        world.shut_tunnel1()
        assert poller.wait_until(lambda s: s.peer_down("169.254.21.2"), WAIT_S)
        wait_events(poller, timeline, lambda tl: len(events(tl, "sample", "azure:bgp_peer_status")) >= 25)
    finally:
        poller.stop()
    peer = events(timeline, "bgp_peer", f"azure:instance:{GW0}/peer:169.254.21.2")
    assert [e.data.state for e in peer] == ["Connected", "Connecting"]
    for op in ("bgp_peer_status", "learned_routes"):
        starts = [e.window[0] for e in events(timeline, "sample", f"azure:{op}") if e.window]
        assert starts == sorted(starts)


@pytest.mark.parametrize("fault,reason", [
    ("throttled", "throttled"), ("server_error", "server_error"), ("lro_failed", "lro_failed"),
    ("stall", "timeout"), ("auth", "auth"),
])
def test_faults_become_gaps_and_the_poller_recovers(timeline: Timeline, fault: str, reason: str) -> None:
    world = FakeWorld(latency=0.05)
    poller = run_poller(world, timeline, call_timeout_s=0.5)
    try:
        assert poller.wait_until(settled, WAIT_S) is not None
        world.fault = fault
        wait_events(poller, timeline, lambda tl: any(
            e.data.gap_reason == reason for e in events(tl, "sample", "azure:bgp_peer_status")))
        world.fault = None
        resumed = timeline.clock.now()
        assert poller.wait_until(lambda s: s.last_good.get("bgp_peer_status", 0) > resumed
                                 and s.last_good.get("learned_routes", 0) > resumed, WAIT_S)
        assert poller.all_peers_connected()  # a gap never clears known state
    finally:
        poller.stop()
    gaps = [e for e in events(timeline, "sample") if not e.data.ok]
    assert gaps and all(e.data.error and e.data.gap_reason for e in gaps)
    assert {e.data.gap_reason for e in gaps} == {reason}
    if fault == "stall":
        assert world.pollings and any(p.abandoned for p in world.pollings)
    if fault == "auth":
        assert world.connects >= 2  # credential and client were rebuilt


def test_backoff_slows_calls_during_a_storm(timeline: Timeline) -> None:
    world = FakeWorld(latency=0.05)
    world.fault = "throttled"
    poller = run_poller(world, timeline, backoff_initial_s=0.2, backoff_max_s=1.0)
    try:
        wait_events(poller, timeline, lambda tl: len(events(tl, "sample", "azure:bgp_peer_status")) >= 4)
        first, last = (events(timeline, "sample", "azure:bgp_peer_status")[i] for i in (0, -1))
    finally:
        poller.stop()
    assert first.window and last.window
    n = len(events(timeline, "sample", "azure:bgp_peer_status"))
    # Without backoff a call would start every 0.05 s.
    assert (last.window[0] - first.window[0]) / max(n - 1, 1) > 0.1


def test_stop_abandons_calls_and_closes_clients(timeline: Timeline) -> None:
    world = FakeWorld(latency=0.05)
    poller = run_poller(world, timeline)
    assert poller.wait_until(settled, WAIT_S) is not None
    world.fault = "stall"
    stalled_from = len(world.pollings)  # every call from here on stalls
    wait_events(poller, timeline, lambda _tl: len(world.pollings) >= stalled_from + 2)
    poller.stop()
    assert world.closed == world.connects >= 1
    assert all(p.abandoned for p in world.pollings[stalled_from:])
    n = len(timeline.events)
    poller.stop()  # idempotent, and nothing is written after stop
    assert len(timeline.events) == n


def test_read_once_for_check(timeline: Timeline) -> None:
    world = FakeWorld(latency=0.01)
    snap = read_once(settings(), timeline.clock.now, FakeConnection(world))
    assert snap.gateway_asn == 65515 and settled(snap)
    assert [s.ok for s in snap.samples] == [True, True, True]
    world.fault = "throttled"
    failed = read_once(settings(), timeline.clock.now, FakeConnection(world))
    assert {s.gap_reason for s in failed.samples} == {"throttled"} and not failed.peers
