"""Gaps per source: an Azure operation's failed calls are its own gap (another operation's
answers do not fill it), a device poller's blackout is a gap, and a metric whose evidence
falls in a gap is unknown within its bounds: an expectation on it is inconclusive."""

from __future__ import annotations

from pathlib import Path

from failover_harness.expectations import Expectation
from failover_harness.metrics import compute_metrics, evaluate
from failover_harness.timeline import Event, Timeline

INSTANCE, PEER = "169.254.21.1", "169.254.21.2"
FAULT = {"device": "edge1", "interface": "Tunnel1", "onprem_neighbor": INSTANCE,
         "azure_peer": PEER, "azure_instance": INSTANCE, "connection": "cn-edge1-t1"}
SUBJECT = f"azure:instance:{INSTANCE}/peer:{PEER}"


def timeline(tmp_path: Path, *, peer_fails: tuple[float, float] | None = None,
             peer_down_window: tuple[float, float] | None = None, restore_at: float = 80.0,
             device_gap: tuple[float, float] | None = None) -> list[Event]:
    """Fault sent at 10.0 (acknowledged 10.1); samples every second of every operation,
    each 0.4 s long; peer-status calls fail (timeout) in `peer_fails`."""
    tl = Timeline(tmp_path / "timeline.jsonl")
    tl.emit("run", "run_start", "r", t=0.0)
    tl.emit("device", "bgp_state", f"device:edge1/neighbor:{INSTANCE}", t=1.0,
            window=(0.8, 1.0), state="Established")
    tl.emit("azure", "bgp_peer", SUBJECT, t=1.4, window=(1.0, 1.4), state="Connected")
    tl.emit("action", "action_start", "device:edge1/Tunnel1", t=10.0, action="shut_interface")
    tl.emit("action", "action_done", "device:edge1/Tunnel1", t=10.1, action="shut_interface",
            **FAULT)
    for second in range(1, int(restore_at) + 5):
        start, end = float(second), second + 0.4
        for op in ("connections", "learned_routes"):
            tl.emit("azure", "sample", f"azure:{op}", t=end, window=(start, end), ok=True)
        failing = peer_fails is not None and peer_fails[0] <= start < peer_fails[1]
        if failing:
            tl.emit("azure", "sample", "azure:bgp_peer_status", t=end,
                    window=(start, end), ok=False, gap_reason="timeout",
                    error="CallTimeout: no answer within 30.0 s")
        else:
            tl.emit("azure", "sample", "azure:bgp_peer_status", t=end, window=(start, end),
                    ok=True)
    if peer_down_window is not None:
        lo, hi = peer_down_window
        tl.emit("azure", "bgp_peer", SUBJECT, t=hi, window=(lo, hi), state="Connecting",
                previous="Connected")
    if device_gap is not None:
        tl.emit("device", "poll_gap", "device:edge1", t=device_gap[1], window=device_gap,
                reason="edge1: SSH session dropped", failed_polls=3)
        tl.emit("device", "bgp_state", f"device:edge1/neighbor:{INSTANCE}", t=device_gap[1],
                window=device_gap, state="Idle", previous="Established")
    tl.emit("action", "action_start", "device:edge1/Tunnel1", t=restore_at,
            action="no_shut_interface")
    tl.emit("action", "action_done", "device:edge1/Tunnel1", t=restore_at + 0.1,
            action="no_shut_interface", **FAULT)
    tl.emit("run", "run_end", "r", t=restore_at + 5.0, status="completed")
    tl.close()
    return sorted(tl.events, key=lambda e: (e.t, e.seq))


def test_connection_gets_do_not_hide_a_peer_status_gap(tmp_path: Path) -> None:
    m = compute_metrics(timeline(tmp_path, peer_fails=(9.0, 19.0)))
    peer_gaps = [g for g in m.data_gaps if g.source == "azure:bgp_peer_status"]
    assert len(peer_gaps) == 1 and peer_gaps[0].reasons == ["timeout"]
    assert 10.0 <= peer_gaps[0].duration_s <= 11.0  # 8.4 .. 19.4: ten failed calls
    assert not [g for g in m.data_gaps if g.source != "azure:bgp_peer_status"]
    gap = m.metrics["azure_data_gap_s"]
    assert gap.value is not None and gap.value >= 10.0 and "bgp_peer_status" in (gap.detail or "")


def test_lro_timeouts_make_detection_unknown_not_failed(tmp_path: Path) -> None:
    # The case: every peer-status call after the fault timed out; the old report
    # said azure_detection_s ">= 65 s" FAILED. The truth: no data.
    m = compute_metrics(timeline(tmp_path, peer_fails=(9.0, 200.0), restore_at=75.0))
    detection = m.metrics["azure_detection_s"]
    assert detection.censored and detection.evidence_gap is not None
    assert "azure:bgp_peer_status" in detection.evidence_gap and "timeout" in detection.evidence_gap
    assert detection.value is not None and detection.value <= 0.0 + 1e-9  # last seen: before the fault
    verdict = evaluate(m, [Expectation(metric="azure_detection_s", max=10)])[0]
    assert verdict.status == "inconclusive" and "data gap" in verdict.message
    assert any("azure_detection_s unknown" in note for note in m.notes), m.notes


def test_seen_up_past_the_bound_before_the_gap_still_fails(tmp_path: Path) -> None:
    # Answers until t=30 showed the peer Connected: detection > 20 s whatever the gap hides.
    m = compute_metrics(timeline(tmp_path, peer_fails=(31.0, 200.0), restore_at=75.0))
    detection = m.metrics["azure_detection_s"]
    assert detection.censored and detection.value is not None and detection.value >= 20.0
    assert evaluate(m, [Expectation(metric="azure_detection_s", max=10)])[0].status == "failed"


def test_a_change_seen_across_a_gap_is_inconclusive_only_if_its_window_straddles(
        tmp_path: Path) -> None:
    m = compute_metrics(timeline(tmp_path, peer_fails=(9.0, 19.0), peer_down_window=(8.0, 19.4)))
    detection = m.metrics["azure_detection_s"]
    assert detection.evidence_gap is not None and (detection.lo, detection.hi) == (0.0, 9.4)
    straddles, clear = evaluate(m, [Expectation(metric="azure_detection_s", max=5),
                                    Expectation(metric="azure_detection_s", max=10)])
    assert straddles.status == "inconclusive" and clear.status == "passed"


def test_a_device_blackout_is_the_on_prem_detections_gap(tmp_path: Path) -> None:
    m = compute_metrics(timeline(tmp_path, device_gap=(9.5, 14.0)))
    onprem = m.metrics["onprem_detection_s"]
    assert onprem.evidence_gap is not None and onprem.evidence_gap.startswith("device:edge1")
    assert "SSH session dropped" in onprem.evidence_gap
    assert (onprem.lo, onprem.hi) == (0.0, 4.0)  # clipped to the fault's send at 10.0
    assert [g.source for g in m.data_gaps] == ["device:edge1"]
    verdict = evaluate(m, [Expectation(metric="onprem_detection_s", max=1)])[0]
    assert verdict.status == "inconclusive"
