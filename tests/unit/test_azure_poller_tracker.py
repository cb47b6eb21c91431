"""Pure logic of the Azure poller: reorder buffer, change events and windows, snapshot predicates."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from failover_harness.azure.models import AzureSnapshot, BgpPeer, ConnectionStatus, GatewayRoute
from failover_harness.azure.reader import classify_error, retry_after_s
from failover_harness.azure.settings import AzureSettings
from failover_harness.azure.tracker import ChangeTracker, PendingEvent, SampleResult, SampleSequencer

from .test_azure_poller_fakes import fake_response

GW0 = "10.0.255.4"


def peers(state: str, start: float, end: float) -> SampleResult:
    return SampleResult(operation="bgp_peer_status", start=start, end=end, ok=True, peers=(
        BgpPeer(localAddress=GW0, neighbor="169.254.21.2", asn=65010, state=state),))


def routes(hops: list[str], start: float, end: float) -> SampleResult:
    return SampleResult(operation="learned_routes", start=start, end=end, ok=True, routes=tuple(
        GatewayRoute(localAddress=GW0, network="192.168.10.0/24", nextHop=h, origin="EBgp") for h in hops))


def gap(op: str, start: float, end: float, reason: str = "throttled") -> SampleResult:
    return SampleResult(operation=op, start=start, end=end, ok=False, error="x", gap_reason=reason)  # type: ignore[arg-type]


def changes(events: list[PendingEvent], kind: str) -> list[PendingEvent]:
    return [e for e in events if e.kind == kind]


def test_first_sample_records_initial_state_with_its_own_window() -> None:
    tracker = ChangeTracker()
    events = tracker.apply(peers("Connected", 1.0, 3.0))
    assert [e.kind for e in events] == ["sample", "bgp_peer"]
    assert events[0].subject == "azure:bgp_peer_status" and events[0].data["ok"] is True
    ev = events[1]
    assert ev.subject == "azure:instance:10.0.255.4/peer:169.254.21.2"
    assert ev.data == {"state": "Connected", "previous": None}
    assert ev.window == (1.0, 3.0) and ev.t == 3.0


def test_change_window_runs_from_last_old_sample_start_to_new_sample_end() -> None:
    tracker = ChangeTracker()
    tracker.apply(peers("Connected", 1.0, 3.0))
    assert changes(tracker.apply(peers("Connected", 2.0, 4.0)), "bgp_peer") == []
    events = changes(tracker.apply(peers("Idle", 3.0, 5.5)), "bgp_peer")
    assert len(events) == 1
    assert events[0].data == {"state": "Idle", "previous": "Connected"}
    assert events[0].window == (2.0, 5.5)


def test_failed_samples_widen_the_window_and_are_recorded_as_gaps() -> None:
    tracker = ChangeTracker()
    tracker.apply(peers("Connected", 1.0, 3.0))
    gap_events = tracker.apply(gap("bgp_peer_status", 2.0, 2.5))
    assert [e.kind for e in gap_events] == ["sample"]
    assert gap_events[0].data == {"ok": False, "error": "x", "gap_reason": "throttled"}
    assert gap_events[0].window == (2.0, 2.5)
    ev = changes(tracker.apply(peers("Idle", 4.0, 6.0)), "bgp_peer")[0]
    assert ev.window == (1.0, 6.0)


def test_an_older_snapshot_never_overwrites_a_newer_one() -> None:
    tracker = ChangeTracker()
    tracker.apply(peers("Connected", 1.0, 2.0))
    tracker.apply(peers("Idle", 5.0, 6.0))
    late = tracker.apply(peers("Connected", 4.0, 7.0))  # started earlier, answered later
    assert [e.kind for e in late] == ["sample"] and late[0].data["stale"] is True
    assert tracker.snapshot().peers[GW0]["169.254.21.2"] == "Idle"


def test_route_next_hop_sets_change_and_disappear() -> None:
    tracker = ChangeTracker()
    first = changes(tracker.apply(routes(["169.254.21.2", "10.0.255.5"], 0.0, 1.0)), "route_next_hops")
    assert first[0].subject == "azure:instance:10.0.255.4/prefix:192.168.10.0/24"
    assert first[0].data == {"next_hops": ["10.0.255.5", "169.254.21.2"], "previous": None}
    ev = changes(tracker.apply(routes(["10.0.255.5"], 1.0, 2.0)), "route_next_hops")
    assert ev[0].data == {"next_hops": ["10.0.255.5"], "previous": ["10.0.255.5", "169.254.21.2"]}
    assert ev[0].window == (0.0, 2.0)
    gone = changes(tracker.apply(routes([], 2.0, 3.0)), "route_next_hops")
    assert gone[0].data == {"next_hops": [], "previous": ["10.0.255.5"]}
    back = changes(tracker.apply(routes(["169.254.21.2"], 3.0, 4.0)), "route_next_hops")
    assert back[0].data == {"next_hops": ["169.254.21.2"], "previous": []}
    assert tracker.snapshot().next_hops_for("192.168.10.0/24") == {GW0: ("169.254.21.2",)}


def test_connection_status_changes() -> None:
    tracker = ChangeTracker()

    def conn(status: str, start: float) -> SampleResult:
        return SampleResult(operation="connections", start=start, end=start + 0.1, ok=True,
                            connections=(ConnectionStatus(name="cn-t1", status=status),))

    tracker.apply(conn("Connected", 0.0))
    ev = changes(tracker.apply(conn("NotConnected", 1.0)), "connection")
    assert ev[0].subject == "azure:connection:cn-t1"
    assert ev[0].data == {"status": "NotConnected", "previous": "Connected"}
    assert ev[0].window == (0.0, 1.1)


def test_sequencer_releases_in_request_start_order() -> None:
    seq = SampleSequencer()
    a = seq.begin("bgp_peer_status", 1.0)
    b = seq.begin("bgp_peer_status", 2.0)
    c = seq.begin("learned_routes", 1.5)
    assert seq.settle(b, peers("Idle", 2.0, 3.0)) == []  # waits for the earlier call a
    assert [r.start for r in seq.settle(c, routes([], 1.5, 2.5))] == [1.5]  # other operation: independent
    assert [r.start for r in seq.settle(a, peers("Connected", 1.0, 4.0))] == [1.0, 2.0]
    assert seq.settle(a, peers("Connected", 1.0, 9.0)) == []  # a late second answer is ignored
    assert seq.open_count("bgp_peer_status") == 0


def test_sequencer_plus_tracker_keep_one_change_despite_out_of_order_answers() -> None:
    seq, tracker = SampleSequencer(), ChangeTracker()
    t1, t2, t3 = (seq.begin("bgp_peer_status", s) for s in (0.0, 1.0, 2.0))
    events = []
    for token, sample in ((t3, peers("Idle", 2.0, 2.5)), (t1, peers("Connected", 0.0, 4.0)),
                          (t2, peers("Connected", 1.0, 3.0))):
        for ready in seq.settle(token, sample):
            events += tracker.apply(ready)
    peer_events = changes(events, "bgp_peer")
    assert [e.data["state"] for e in peer_events] == ["Connected", "Idle"]
    assert peer_events[1].window == (1.0, 2.5)
    assert [e.window[0] for e in events if e.kind == "sample"] == [0.0, 1.0, 2.0]


def snapshot(**kw: object) -> AzureSnapshot:
    base: dict[str, object] = dict(
        peers={GW0: {"169.254.21.2": "Connected", "10.0.255.5": "Connected"},
               "10.0.255.5": {"169.254.21.6": "Connected", GW0: "Connected"}},
        peer_asns={"169.254.21.2": 65010, "169.254.21.6": 65010, "10.0.255.5": 65515, GW0: 65515},
        next_hops={GW0: {"192.168.10.0/24": ("10.0.255.5", "169.254.21.2")},
                   "10.0.255.5": {"192.168.10.0/24": (GW0, "169.254.21.6")}},
        gateway_asn=65515)
    base.update(kw)
    return AzureSnapshot.model_validate(base)


def test_snapshot_predicates() -> None:
    snap = snapshot()
    assert snap.all_peers_connected() and snap.peer_connected("169.254.21.2")
    assert not snap.peer_down("169.254.21.2") and not snap.peer_down("169.254.99.9")  # unknown is not down
    assert snap.external_peers() == [(GW0, "169.254.21.2"), ("10.0.255.5", "169.254.21.6")]
    assert snap.routes_on_all_paths("192.168.10.0/24")
    assert not snap.routes_on_all_paths("172.16.0.0/12")
    down = snapshot(next_hops={GW0: {"192.168.10.0/24": ("10.0.255.5",)},
                               "10.0.255.5": {"192.168.10.0/24": ("169.254.21.6",)}})
    assert not down.routes_on_all_paths("192.168.10.0/24")
    peers_down = snapshot(peers={GW0: {"169.254.21.2": "Connecting"}, "10.0.255.5": {"169.254.21.6": "Connected"}})
    assert peers_down.peer_down("169.254.21.2") and not peers_down.all_peers_connected()
    assert not AzureSnapshot().all_peers_connected() and not AzureSnapshot().routes_on_all_paths("10.0.0.0/8")


def test_errors_are_classified_without_secrets() -> None:
    throttled = HttpResponseErrorFor(429, {"Retry-After": "7"})
    assert classify_error(throttled)[0] == "throttled" and retry_after_s(throttled) == 7.0
    assert classify_error(HttpResponseErrorFor(503))[0] == "server_error"
    reason, text = classify_error(HttpResponseErrorFor(401))
    assert reason == "auth" and "Bearer" not in text
    assert classify_error(TimeoutError("x"))[0] == "error"
    assert len(classify_error(ValueError("y" * 1000))[1]) <= 300


def HttpResponseErrorFor(status: int, headers: dict[str, str] | None = None) -> Exception:  # noqa: N802
    from azure.core.exceptions import HttpResponseError
    return HttpResponseError(response=fake_response(status, "Code", "message", headers))


def test_settings_refuse_plain_http_and_hide_environment_values() -> None:
    with pytest.raises(ValidationError, match="https"):
        AzureSettings(subscription_id="s", resource_group="rg", gateway="gw", base_url="http://127.0.0.1:1")
    s = AzureSettings(subscription_id="s", resource_group="rg", gateway="gw",
                      environment={"IDENTITY_HEADER": "very-secret"})  # type: ignore[dict-item]
    assert "very-secret" not in repr(s) and "very-secret" not in s.model_dump_json()
    assert isinstance(s.environment["IDENTITY_HEADER"], SecretStr)
    with pytest.raises(ValidationError):
        AzureSettings(subscription_id="s", resource_group="rg", gateway="gw", credential="password")  # type: ignore[arg-type]
