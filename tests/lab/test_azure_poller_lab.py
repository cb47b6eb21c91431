"""The Azure poller against the lab's ARM emulator, built exactly as production builds it
(DefaultAzureCredential through the managed-identity endpoint, base URL + CA bundle):
overlapping 2 s LROs, a real tunnel shut seen as peer and route events, a 429 storm as gaps."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from failover_harness.azure.models import AzureSnapshot
from failover_harness.azure.poller import AzurePoller
from failover_harness.azure.settings import AzureSettings, PollSettings
from failover_harness.lab.state import LabState, TunnelState
from failover_harness.timeline import Event, Timeline

pytestmark = pytest.mark.lab

ONPREM_PREFIX = "192.168.10.0/24"
WAIT_S = 60.0  # upper bound for "eventually" (hold time 3 s, LROs 2 s); not a performance claim
CREDENTIAL_ENV = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER")


def emulator_control(lab: LabState):  # type: ignore[no-untyped-def]
    from failover_harness.lab.azure_emulator.control import EmulatorControl

    if lab.emulator is None:
        pytest.fail("the lab came up without its Azure emulator (lab.emulator is None)")
    return EmulatorControl.from_state(lab.emulator)


def settings_for(lab: LabState) -> AzureSettings:
    em = lab.emulator
    assert em is not None
    return AzureSettings(
        subscription_id=lab.azure.subscription_id, resource_group=lab.azure.resource_group,
        gateway=lab.azure.gateway, connections=sorted({t.connection for t in lab.tunnels}),
        credential="default", base_url=em.base_url, ca_bundle=em.ca_bundle,
        environment={"IDENTITY_ENDPOINT": SecretStr(em.identity_endpoint),
                     "IDENTITY_HEADER": SecretStr(Path(em.identity_header_file).read_text().strip())},
        poll=PollSettings(sample_interval_s=1.0, call_timeout_s=15.0, backoff_max_s=4.0))


@pytest.fixture
def poller(lab: LabState, tmp_path: Path) -> Iterator[tuple[AzurePoller, Timeline]]:
    ctl = emulator_control(lab)
    ctl.clear_faults()
    ctl.set(lro_latency_s=2.0, lro_jitter_s=0)  # each call takes exactly 2 s (asserted below)
    saved = {k: os.environ.pop(k) for k in CREDENTIAL_ENV if k in os.environ}
    timeline = Timeline(tmp_path / "timeline.jsonl")
    azure = AzurePoller(settings_for(lab), timeline).start()
    try:
        yield azure, timeline
    finally:
        azure.stop()
        timeline.close()
        ctl.clear_faults()
        for k in CREDENTIAL_ENV:
            os.environ.pop(k, None)
        os.environ.update(saved)


def samples(timeline: Timeline, op: str) -> list[Event]:
    return [e for e in list(timeline.events) if e.kind == "sample" and e.subject == f"azure:{op}"]


def healthy(snap: AzureSnapshot) -> bool:
    return snap.all_peers_connected() and snap.routes_on_all_paths(ONPREM_PREFIX)


def tunnel1(lab: LabState) -> TunnelState:
    return next(t for t in lab.tunnels if t.name == "Tunnel1")


def set_interface(lab: LabState, tunnel: TunnelState, shutdown: bool) -> None:
    frr_dir = lab.routers[tunnel.onprem_router].frr_dir
    subprocess.run(["vtysh", "--vty_socket", frr_dir, "-c", "configure terminal",
                    "-c", f"interface {tunnel.onprem_interface}",
                    "-c", "shutdown" if shutdown else "no shutdown"], check=True, capture_output=True, timeout=20)


def test_overlapping_lros_give_a_sample_about_every_second(poller: tuple[AzurePoller, Timeline]) -> None:
    azure, timeline = poller
    assert azure.wait_until(lambda _s: len([e for e in samples(timeline, "bgp_peer_status")
                                            if e.data.ok]) >= 10, WAIT_S) is not None
    good = [e for e in samples(timeline, "bgp_peer_status") if e.data.ok]
    windows = [e.window for e in good if e.window is not None]
    assert all(end - start >= 1.9 for start, end in windows)  # each call really took the 2 s LRO
    overlapping = sum(1 for a, b in zip(windows, windows[1:]) if b[0] < a[1])
    assert overlapping >= len(windows) - 2  # the next call started before the previous answered
    spacing = [b[1] - a[1] for a, b in zip(windows, windows[1:])]
    print(f"bgp_peer_status: {len(windows)} samples, answer spacing mean {sum(spacing) / len(spacing):.2f} s "
          f"max {max(spacing):.2f} s, call duration mean "
          f"{sum(e - s for s, e in windows) / len(windows):.2f} s")
    assert healthy(azure.snapshot())


def test_tunnel1_shut_becomes_peer_and_route_events(lab: LabState, poller: tuple[AzurePoller, Timeline]) -> None:
    azure, timeline = poller
    tunnel = tunnel1(lab)
    peer = tunnel.onprem_bgp_ip  # 169.254.21.2: Azure instance 0's on-prem neighbor
    assert azure.wait_until(healthy, WAIT_S) is not None, azure.snapshot()
    shut_at = timeline.clock.now()
    try:
        set_interface(lab, tunnel, shutdown=True)
        down = azure.wait_until(lambda s: s.peer_down(peer) and not s.routes_on_all_paths(ONPREM_PREFIX), WAIT_S)
        assert down is not None, azure.snapshot()
        print(f"Azure saw {peer} leave Connected; next hops of {ONPREM_PREFIX}: {down.next_hops_for(ONPREM_PREFIX)}")
    finally:
        set_interface(lab, tunnel, shutdown=False)
    assert azure.wait_until(healthy, WAIT_S) is not None, azure.snapshot()

    peer_events = [e for e in timeline.events if e.kind == "bgp_peer" and e.subject.endswith(f"/peer:{peer}")]
    left = [e for e in peer_events if e.data.previous == "Connected" and e.data.state != "Connected"]
    assert left, peer_events
    assert left[0].window is not None and left[0].window[1] >= shut_at
    assert any(e.data.state == "Connected" for e in peer_events if e.seq > left[0].seq)  # failback
    route_events = [e for e in timeline.events if e.kind == "route_next_hops"
                    and e.subject.endswith(f"/prefix:{ONPREM_PREFIX}")]
    withdrawn = [e for e in route_events if e.data.previous and peer in e.data.previous
                 and peer not in e.data.next_hops]
    assert withdrawn, route_events
    lo, hi = left[0].window
    print(f"peer event window {lo - shut_at:+.2f} .. {hi - shut_at:+.2f} s after the shut; "
          f"route withdrawal seen {withdrawn[0].t - shut_at:+.2f} s after")


def test_429_storm_becomes_gaps_and_the_poller_recovers(lab: LabState, poller: tuple[AzurePoller, Timeline]) -> None:
    from failover_harness.lab.azure_emulator.settings import Fault

    azure, timeline = poller
    ctl = emulator_control(lab)
    assert azure.wait_until(healthy, WAIT_S) is not None
    storm_start = timeline.clock.now()
    ctl.add_fault(Fault.model_validate({"kind": "throttle", "duration_s": 6.0, "retry_after_s": 1}))
    throttled = azure.wait_until(lambda _s: any(
        e.data.gap_reason == "throttled" for e in samples(timeline, "bgp_peer_status")), WAIT_S)
    assert throttled is not None
    time.sleep(6.0)  # let the storm end (the fault's own duration)
    after = timeline.clock.now()
    assert azure.wait_until(lambda s: all(s.last_good.get(op, 0) > after for op in
                                          ("bgp_peer_status", "learned_routes", "connections")), WAIT_S)
    assert healthy(azure.snapshot())
    gaps = [e for e in timeline.events if e.kind == "sample" and not e.data.ok]
    assert gaps and {e.data.gap_reason for e in gaps} == {"throttled"}
    assert all(e.t >= storm_start for e in gaps)
    good_times = sorted(e.t for e in timeline.events if e.kind == "sample" and e.data.ok
                        and e.subject == "azure:bgp_peer_status")
    longest_gap = max(b - a for a, b in zip(good_times, good_times[1:]))
    print(f"429 storm of 6 s: {len(gaps)} gap samples, longest time between good peer samples {longest_gap:.1f} s")


@pytest.mark.parametrize(("quirk", "reason"), [
    ({"kind": "null_body", "at": "start"}, "null_body"),
    ({"kind": "null_body", "at": "result"}, "null_body"),
    ({"kind": "no_status"}, "lro_no_status"),
])
def test_learned_routes_null_body_is_a_named_gap_never_a_withdrawal(
        lab: LabState, poller: tuple[AzurePoller, Timeline], quirk: dict[str, object], reason: str) -> None:
    """azure-rest-api-specs #34019: getLearnedRoutes answering 200 with a null body, or an LRO
    whose status resource has no status. The lab's routes do not move meanwhile: any
    route_next_hops event would be a false withdrawal."""
    from failover_harness.lab.azure_emulator.settings import Fault

    azure, timeline = poller
    ctl = emulator_control(lab)
    assert azure.wait_until(healthy, WAIT_S) is not None
    before = len([e for e in timeline.events if e.kind == "route_next_hops"])
    ctl.add_fault(Fault.model_validate({**quirk, "match": "getLearnedRoutes", "count": 3}))
    assert azure.wait_until(lambda _s: sum(
        e.data.gap_reason == reason for e in samples(timeline, "learned_routes")) >= 3, WAIT_S) is not None, \
        [(e.data.ok, e.data.gap_reason, e.data.error) for e in samples(timeline, "learned_routes")]
    after = timeline.clock.now()
    assert azure.wait_until(lambda s: s.last_good.get("learned_routes", 0) > after, WAIT_S) is not None
    assert len([e for e in timeline.events if e.kind == "route_next_hops"]) == before
    assert healthy(azure.snapshot())
    gaps = {e.data.gap_reason for e in samples(timeline, "learned_routes") if not e.data.ok}
    # Timeouts can come from a loaded machine; any other reason would be a misread quirk.
    assert reason in gaps and gaps <= {reason, "timeout"}, gaps
