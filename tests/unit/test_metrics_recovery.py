"""reset_recovery_s: from an Azure reset's send to flows answered and routes whole again."""

from __future__ import annotations

from pathlib import Path

import pytest

from failover_harness.metrics import compute_metrics
from failover_harness.timeline import Timeline

PEER, PREFIX = "169.254.21.2", "192.168.10.0/24"
SUBJECT = f"azure:instance:10.0.255.4/prefix:{PREFIX}"
VNET = "azure:instance:10.0.255.4/prefix:10.0.0.0/16"
SEND = 10.0


def timeline(tmp_path: Path, *, action: str = "reset_azure_instance", routes: list[tuple[float, float, list[str]]],
             losses: list[tuple[str, float, float, bool]]) -> list:
    tl = Timeline(tmp_path / "timeline.jsonl")
    tl.emit("run", "run_start", "r", t=0.0)
    for flow in ("icmp-0", "icmp-1"):
        tl.emit("probe", "flow_start", f"flow:{flow}", t=0.1, probe="icmp", src="192.168.10.10",
                dst="10.0.1.4", interval_s=0.01)
    tl.emit("azure", "route_next_hops", SUBJECT, t=1.0, window=(0.5, 1.0), next_hops=[PEER])
    # The VNet prefix over iBGP from the other instance: a takeover changes its next hop.
    tl.emit("azure", "route_next_hops", VNET, t=1.0, window=(0.5, 1.0), next_hops=["10.0.255.5"])
    tl.emit("azure", "route_next_hops", VNET, t=25.0, window=(24.0, 25.0), next_hops=["10.0.255.4"])
    tl.emit("action", "action_start", "device:azure:vpngw-lab/instance0", t=SEND, action=action)
    tl.emit("action", "action_done", "device:azure:vpngw-lab/instance0", t=SEND + 0.4, action=action,
            device="edge1", onprem_neighbor="169.254.21.1", azure_peer=PEER, vip="198.51.100.100")
    for lo, hi, hops in routes:
        tl.emit("azure", "route_next_hops", SUBJECT, t=hi, window=(lo, hi), next_hops=hops)
    for flow, start, end, is_open in losses:
        tl.emit("probe", "loss_start", f"flow:{flow}", t=start, seq=1)
        tl.emit("probe", "loss_end", f"flow:{flow}", t=end, seq=None, lost=round((end - start) * 100),
                open=is_open, min_duration_s=end - start - 0.01, max_duration_s=None if is_open else end - start + 0.01)
    tl.emit("run", "run_end", "r", t=40.0, status="completed")
    tl.close()
    return list(tl.events)


def test_the_later_of_flows_and_routes(tmp_path: Path) -> None:
    events = timeline(tmp_path, routes=[(11.0, 12.0, []), (19.0, 20.5, [PEER])],
                      losses=[("icmp-0", 10.2, 19.6, False), ("icmp-1", 10.2, 21.3, False)])
    m = compute_metrics(events).metrics["reset_recovery_s"]
    # Flows: icmp-1 answered again at 21.3 (healed within one interval before); routes at 19..20.5.
    assert (m.value, m.lo, m.hi, m.estimate) == (pytest.approx(11.3), pytest.approx(11.29), pytest.approx(11.3),
                                                 "upper_edge")
    assert (m.detail or "").startswith("last: flow icmp-1 answered again")


def test_routes_last(tmp_path: Path) -> None:
    events = timeline(tmp_path, routes=[(11.0, 12.0, []), (24.0, 25.0, [PEER])],
                      losses=[("icmp-0", 10.2, 19.6, False)])
    m = compute_metrics(events).metrics["reset_recovery_s"]
    assert (m.value, m.lo, m.hi) == (pytest.approx(15.0), pytest.approx(14.0), pytest.approx(15.0))
    assert (m.detail or "").startswith("last: routes via 169.254.21.2 back")


def test_never_recovered_is_censored(tmp_path: Path) -> None:
    events = timeline(tmp_path, routes=[(11.0, 12.0, [])], losses=[("icmp-0", 10.2, 19.6, False)])
    m = compute_metrics(events).metrics["reset_recovery_s"]
    assert m.censored and m.hi is None and m.value == pytest.approx(30.0)


def test_a_flow_losing_at_the_end_is_censored(tmp_path: Path) -> None:
    events = timeline(tmp_path, routes=[(11.0, 12.0, []), (19.0, 20.0, [PEER])],
                      losses=[("icmp-0", 10.2, 40.0, True)])
    m = compute_metrics(events).metrics["reset_recovery_s"]
    assert m.censored and m.reason == "a flow was still losing at the end"


def test_a_window_before_the_send_is_clipped(tmp_path: Path) -> None:
    # The routes never lost a path (the poller missed it) and the only loss ended within a
    # probe interval of the send: no bound may be negative.
    events = timeline(tmp_path, routes=[], losses=[("icmp-0", 9.99, 10.005, False)])
    m = compute_metrics(events).metrics["reset_recovery_s"]
    assert m.lo is not None and m.lo >= 0 and m.value == pytest.approx(0.005)


def test_only_for_azure_resets(tmp_path: Path) -> None:
    events = timeline(tmp_path, action="shut_interface", routes=[], losses=[])
    assert "reset_recovery_s" not in compute_metrics(events).metrics
