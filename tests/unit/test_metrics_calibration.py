"""azure_detection_s calibrated from the failback: the poller's own change tracker turns
simulated 10 s LROs (snapshot a fixed time before the answer) into timeline events; the
metric's calibrated interval holds the true Azure detection and is narrower than the
uncalibrated one, which its detail gives side by side."""

from __future__ import annotations

import random
from pathlib import Path

from failover_harness.azure.models import BgpPeer
from failover_harness.azure.tracker import ChangeTracker, SampleResult
from failover_harness.metrics import compute_metrics
from failover_harness.metrics.calibration import CalibrationPoints, section_points
from failover_harness.timeline import Timeline

INSTANCE, PEER, NEIGHBOR = "10.0.255.4", "169.254.21.2", "169.254.21.1"
T_SEND, T0 = 20.0, 20.09  # shut sent / acknowledged
T_DOWN = T0 + 2.6  # Azure's hold timer fires (the truth the metric must hold)
T_RESTORE_SEND, T_RESTORE = 40.0, 40.09
T_UP = 40.15  # both ends Established
END = 90.0


def azure_state(t: float) -> str:
    return "Connecting" if T_DOWN <= t < T_UP else "Connected"


def write_run(path: Path, restore: bool = True, seed: int = 1) -> Timeline:
    tl = Timeline(path)
    rng = random.Random(seed)
    tl.emit("run", "run_start", "run-x", t=0.0, versions={}, expectations=[])
    tl.emit("device", "bgp_state", f"device:edge1/neighbor:{NEIGHBOR}", t=0.1, window=(0.0, 0.1),
            state="Established", admin_down=False)
    tracker = ChangeTracker()
    start = 0.5
    while start < END - 15:
        latency = 10.0 + rng.uniform(-2.0, 2.0)
        end = start + latency
        snapshot = end - 0.3  # read just before answering
        peers = (BgpPeer(localAddress=INSTANCE, neighbor=PEER, asn=65010,
                         state=azure_state(snapshot) if restore or snapshot < T_UP else "Connecting"),)
        for ev in tracker.apply(SampleResult(operation="bgp_peer_status", start=start, end=end, ok=True, peers=peers)):
            tl.emit("azure", ev.kind, ev.subject, t=ev.t, window=ev.window, **ev.data)
        start += 1.0
    fault = {"device": "edge1", "interface": "Tunnel1", "onprem_neighbor": NEIGHBOR, "azure_peer": PEER,
             "azure_instance": INSTANCE, "connection": "cn-edge1-t1"}
    tl.emit("action", "action_start", "device:edge1/Tunnel1", t=T_SEND, action="shut_interface", commands=[])
    tl.emit("action", "action_done", "device:edge1/Tunnel1", t=T0, action="shut_interface", commands=[], **fault)
    tl.emit("device", "bgp_state", f"device:edge1/neighbor:{NEIGHBOR}", t=20.2, window=(20.0, 20.2),
            state="Idle", previous="Established", admin_down=False)
    if restore:
        tl.emit("action", "action_start", "device:edge1/Tunnel1", t=T_RESTORE_SEND, action="no_shut_interface",
                commands=[])
        tl.emit("action", "action_done", "device:edge1/Tunnel1", t=T_RESTORE, action="no_shut_interface",
                commands=[], **fault)
        tl.emit("device", "bgp_state", f"device:edge1/neighbor:{NEIGHBOR}", t=40.3, window=(40.1, 40.3),
                state="Established", previous="Idle", admin_down=False)
    tl.emit("run", "run_end", "run-x", t=END, status="completed")
    return tl


def test_calibrated_detection_holds_the_truth_and_is_narrower(tmp_path: Path) -> None:
    widths = []
    for seed in range(10):
        tl = write_run(tmp_path / f"t{seed}.jsonl", seed=seed)
        metrics = compute_metrics(list(tl.events))
        tl.close()
        value = metrics.metrics["azure_detection_s"]
        assert value.available and value.lo is not None and value.hi is not None
        assert value.lo <= T_DOWN - T_SEND <= value.hi, value  # delays run from the send
        assert value.detail is not None and "calibrated (" in value.detail
        assert "the verdict uses the calibrated bounds" in value.detail
        change = next(e for e in tl.events if e.kind == "bgp_peer" and e.t > T0)
        assert change.window is not None
        uncalibrated = change.window[1] - max(change.window[0], T_SEND)
        assert value.hi - value.lo <= uncalibrated + 1e-6
        widths.append((value.hi - value.lo, uncalibrated))
    print(f"(calibrated, uncalibrated) widths {[(round(a, 2), round(b, 2)) for a, b in widths]}")
    # One failback rarely tells the three snapshot shapes apart, so the union stays wide in
    # some runs; over ten it must still be narrower.
    assert sum(a for a, _ in widths) < 0.9 * sum(b for _, b in widths)


def test_without_a_failback_the_full_windows_are_used_and_said(tmp_path: Path) -> None:
    tl = write_run(tmp_path / "t.jsonl", restore=False)
    value = compute_metrics(list(tl.events)).metrics["azure_detection_s"]
    tl.close()
    change = next(e for e in tl.events if e.kind == "bgp_peer" and e.t > T0)
    assert change.window is not None
    assert value.hi is not None and value.hi == round(change.window[1] - T_SEND, 6)
    assert value.detail is not None and "uncalibrated: full sample windows" in value.detail


def test_a_run_pools_every_sections_failback(tmp_path: Path) -> None:
    """A section without its own failback is calibrated by the others' (one gateway, one
    operation), and more known changes never widen a section's interval."""
    others = []
    for seed in range(3):
        tl = write_run(tmp_path / f"o{seed}.jsonl", seed=seed)
        others.append(section_points(list(tl.events)))
        tl.close()
    pooled = sum(others, CalibrationPoints())
    assert len(pooled.observed) == 3 and len(pooled.episodes) == 3
    tl = write_run(tmp_path / "no-failback.jsonl", restore=False, seed=7)
    value = compute_metrics(list(tl.events), pooled).metrics["azure_detection_s"]
    tl.close()
    assert value.lo is not None and value.hi is not None
    assert value.lo <= T_DOWN - T_SEND <= value.hi
    assert value.detail is not None and "around 3 known changes" in value.detail
    for seed in range(3):
        tl = write_run(tmp_path / f"w{seed}.jsonl", seed=seed)
        own = compute_metrics(list(tl.events)).metrics["azure_detection_s"]
        both = compute_metrics(list(tl.events), pooled).metrics["azure_detection_s"]
        tl.close()
        assert None not in (own.lo, own.hi, both.lo, both.hi)
        assert both.hi - both.lo <= own.hi - own.lo + 1e-9  # type: ignore[operator]
        assert both.lo <= T_DOWN - T_SEND <= both.hi  # type: ignore[operator]
