"""Outage bounds come from the prober (TCP attempts are one per timeout while the path is
down; ICMP is exact to one interval): loss_end carries them, nothing else computes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from failover_harness.metrics import compute_metrics
from failover_harness.timeline import Event, Timeline, TimelineEventError


def timeline_with_one_episode(tmp_path: Path, **bounds: Any) -> list[Event]:
    tl = Timeline(tmp_path / "timeline.jsonl")
    tl.emit("run", "run_start", "r", t=0.0)
    tl.emit("probe", "flow_start", "flow:tcp-0", t=0.1, probe="tcp", src="192.168.10.10",
            dst="10.0.1.4", dport=443, interval_s=0.01)
    tl.emit("action", "action_start", "device:edge1/Tunnel1", t=5.0, action="shut_interface")
    tl.emit("action", "action_done", "device:edge1/Tunnel1", t=5.1, action="shut_interface",
            device="edge1", interface="Tunnel1")
    tl.emit("probe", "loss_start", "flow:tcp-0", t=5.2, seq=500)
    tl.emit("probe", "loss_end", "flow:tcp-0", t=8.2, seq=503, lost=300, **bounds)
    tl.emit("run", "run_end", "r", t=12.0, status="completed")
    tl.close()
    return tl.events


def test_the_probers_bounds_are_used(tmp_path: Path) -> None:
    events = timeline_with_one_episode(tmp_path, min_duration_s=2.0, max_duration_s=3.01)
    outage = compute_metrics(events).metrics["max_outage_s"]
    assert (outage.value, outage.lo, outage.hi) == (3.0, 2.0, 3.01)


def test_an_episode_without_the_probers_bounds_is_refused(tmp_path: Path) -> None:
    # One formula for an outage's bounds, the prober's: a writer that leaves them out is a bug.
    tl = Timeline(tmp_path / "timeline.jsonl")
    try:
        with pytest.raises(TimelineEventError, match="min_duration_s"):
            tl.emit("probe", "loss_end", "flow:tcp-0", t=8.2, seq=503, lost=300)
    finally:
        tl.close()


def test_an_unbounded_episode_is_censored(tmp_path: Path) -> None:
    events = timeline_with_one_episode(tmp_path, min_duration_s=2.0, max_duration_s=None)
    outage = compute_metrics(events).metrics["max_outage_s"]
    assert outage.censored and outage.hi is None and outage.value == 3.0


def test_missing_azure_data_after_the_fault_is_named_in_the_notes(tmp_path: Path) -> None:
    tl = Timeline(tmp_path / "timeline.jsonl")
    tl.emit("run", "run_start", "r", t=0.0)
    tl.emit("action", "action_done", "device:edge1/Tunnel1", t=2.0, action="shut_interface")
    for t in (1.0, 2.5, 9.0):
        tl.emit("azure", "sample", "azure:bgp_peer_status", t=t, window=(t - 0.5, t), ok=True)
    tl.emit("azure", "sample", "azure:bgp_peer_status", t=5.0, window=(4.0, 5.0), ok=False,
            error="429", gap_reason="throttled")
    tl.emit("run", "run_end", "r", t=10.0, status="completed")
    tl.close()
    notes = compute_metrics(tl.events).notes
    assert any("No data from azure:bgp_peer_status" in n and "throttled" in n for n in notes), notes
