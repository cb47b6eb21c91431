"""Causal bounds: over random timelines (fault and restore acknowledged late or at once,
changes seen in windows that start before the command was even sent, gaps, open episodes),
no delay has a negative bound, every value lies in its bounds and says which estimate it is."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from failover_harness.metrics import compute_metrics
from failover_harness.reports.build import build_report
from failover_harness.timeline import Timeline

INSTANCE, PEER = "169.254.21.1", "169.254.21.2"
FAULT = {"device": "edge1", "interface": "Tunnel1", "onprem_neighbor": INSTANCE,
         "azure_peer": PEER, "azure_instance": INSTANCE, "connection": "cn-edge1-t1"}
DELAYS = ("onprem_detection_s", "azure_detection_s", "routes_withdrawn_s",
          "connection_detection_s", "failback_onprem_s", "failback_azure_s", "failback_routes_s")

offset = st.floats(min_value=-3.0, max_value=6.0, allow_nan=False)
width = st.floats(min_value=0.0, max_value=3.0, allow_nan=False)


@settings(max_examples=120, deadline=None)
@given(ack=st.floats(min_value=0.0, max_value=1.5), restore_after=st.floats(min_value=0.5, max_value=10.0),
       restore_ack=st.floats(min_value=0.0, max_value=1.5),
       changes=st.lists(st.tuples(st.sampled_from(["onprem", "peer", "routes", "connection"]),
                                  st.booleans(), offset, width), max_size=8),
       loss=st.lists(st.tuples(offset, width, st.booleans()), max_size=3),
       failing=st.lists(st.tuples(offset, width), max_size=3))
def test_no_delay_has_a_negative_bound(ack: float, restore_after: float, restore_ack: float,
                                       changes: list[tuple[str, bool, float, float]],
                                       loss: list[tuple[float, float, bool]],
                                       failing: list[tuple[float, float]]) -> None:
    send = 10.0
    restore = send + ack + restore_after
    with tempfile.TemporaryDirectory() as tmp:
        tl = Timeline(Path(tmp) / "timeline.jsonl")
        tl.emit("run", "run_start", "r", t=0.0)
        tl.emit("probe", "flow_start", "flow:f0", t=0.1, probe="icmp", src="192.168.10.10",
                dst="10.0.1.4", interval_s=0.01)
        for subject, kind, field, up in (
                (f"device:edge1/neighbor:{INSTANCE}", "bgp_state", "state", "Established"),
                (f"azure:instance:{INSTANCE}/peer:{PEER}", "bgp_peer", "state", "Connected"),
                ("azure:connection:cn-edge1-t1", "connection", "status", "Connected")):
            tl.emit("device" if kind == "bgp_state" else "azure", kind, subject, t=1.0,
                    window=(0.5, 1.0), **{field: up})
        tl.emit("azure", "route_next_hops", f"azure:instance:{INSTANCE}/prefix:10.1.0.0/16",
                t=1.0, window=(0.5, 1.0), next_hops=[PEER, "169.254.21.6"])
        tl.emit("action", "action_start", "device:edge1/Tunnel1", t=send, action="shut_interface")
        tl.emit("action", "action_done", "device:edge1/Tunnel1", t=send + ack,
                action="shut_interface", **FAULT)
        for what, after_restore, off, w in changes:
            base = restore if after_restore else send
            lo, hi = base + off, base + off + w
            if lo <= 1.0:
                continue
            if what == "onprem":
                tl.emit("device", "bgp_state", f"device:edge1/neighbor:{INSTANCE}", t=hi,
                        window=(lo, hi), state="Established" if after_restore else "Idle")
            elif what == "peer":
                tl.emit("azure", "bgp_peer", f"azure:instance:{INSTANCE}/peer:{PEER}", t=hi,
                        window=(lo, hi), state="Connected" if after_restore else "Connecting")
            elif what == "connection":
                tl.emit("azure", "connection", "azure:connection:cn-edge1-t1", t=hi,
                        window=(lo, hi), status="Connected" if after_restore else "NotConnected")
            else:
                hops = [PEER, "169.254.21.6"] if after_restore else ["169.254.21.6"]
                tl.emit("azure", "route_next_hops", f"azure:instance:{INSTANCE}/prefix:10.1.0.0/16",
                        t=hi, window=(lo, hi), next_hops=hops)
        for off, w, is_open in loss:
            start = send + off
            if start <= 0.2:
                continue
            tl.emit("probe", "loss_start", "flow:f0", t=start, seq=round(start * 100))
            tl.emit("probe", "loss_end", "flow:f0", t=start + w + 0.01, seq=None, lost=round(w * 100) + 1,
                    open=is_open, min_duration_s=w, max_duration_s=None if is_open else w + 0.02)
        for off, w in failing:
            lo = send + off
            if lo > 1.0:
                tl.emit("azure", "sample", "azure:bgp_peer_status", t=lo + w, window=(lo, lo + w),
                        ok=False, gap_reason="timeout")
            tl.emit("azure", "sample", "azure:bgp_peer_status", t=lo + w + 1.5,
                    window=(lo + w + 1.0, lo + w + 1.5), ok=True)
        tl.emit("action", "action_start", "device:edge1/Tunnel1", t=restore,
                action="no_shut_interface")
        tl.emit("action", "action_done", "device:edge1/Tunnel1", t=restore + restore_ack,
                action="no_shut_interface", **FAULT)
        tl.emit("run", "run_end", "r", t=restore + 12.0, status="completed")
        tl.close()
        events = list(tl.events)
    metrics = compute_metrics(events)
    report, _ = build_report(events, "timeline.jsonl")
    for values in (metrics.metrics, report.sections[0].metrics):
        for name, m in values.items():
            if not m.available:
                continue
            assert m.estimate is not None, name
            assert m.value is not None and m.lo is not None, name
            if m.unit == "s":
                assert m.lo >= 0.0, (name, m)
            assert m.lo <= m.value + 1e-9, (name, m)
            if m.hi is not None:
                assert m.value <= m.hi + 1e-9, (name, m)
    for flow in metrics.flows:
        assert flow.outage_s.lo is None or flow.outage_s.lo >= 0.0
    assert set(DELAYS) <= set(metrics.metrics)
