"""Calibrated azure_detection_s at 10 s LROs against the truth (issue #14): three runs of the
calibration playbook in one game-day on the lab, the emulator's LROs at 10 +/- 2 s. Each
run's interval must hold the instant the Azure-side router (gw0's FRR) logged the session
down, and be calibrated; the poller must never be answered 429. `failover-harness bench
--calibration` runs it ten times and prints the figures (the widths against the issue's
2.5 s). The poller's focus on each fault and restore must show in the samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from failover_harness.azure.rates import MAX_LEAD_S
from failover_harness.events import ActionStart, AzureFocus, Sample
from failover_harness.lab.state import LabState
from failover_harness.orchestrator.calibration_bench import run_calibration
from failover_harness.orchestrator.calibration_check import WIDTH_TARGET_S
from failover_harness.timeline import load_timeline

pytestmark = pytest.mark.lab
RUNS = 3


def test_calibrated_azure_detection_holds_the_router_log_time(lab: LabState, tmp_path: Path) -> None:
    result, rows = run_calibration(lab, RUNS, tmp_path / "reports", latency_s=10.0, jitter_s=2.0)
    for r in rows:
        print(f"run {r.section}: truth {r.truth_s} s, interval {r.lo}..{r.hi} s, width {r.width_s}, "
              f"inside {r.inside}; {r.detail}")
    assert result.exit_code == 0, result.message
    assert len(rows) == RUNS
    for r in rows:
        assert r.truth_s is not None, f"run {r.section}: no Down line for the peer in gw0's log"
        assert r.calibrated, r.detail
        assert r.inside, (r.section, r.truth_s, r.lo, r.hi, r.detail)
        # The width is a performance figure, load-dependent: bench --calibration prints it
        # against the 2.5 s; this test holds the interval to the truth.
    narrow = sum(1 for r in rows if r.width_s is not None and r.width_s <= WIDTH_TARGET_S)
    print(f"{narrow} of {len(rows)} intervals no wider than {WIDTH_TARGET_S} s")
    assert_focus_led_the_faults(result.run_dir / "timeline.jsonl")
    report = json.loads((result.run_dir / "report.json").read_text())
    polling = report["sections"][-1]["azure_polling"]
    assert polling["budget"]["throttled"] == 0  # the emulator's default ARM budget never said 429
    for op in polling["operations"]:
        print(f"{op['operation']}: median {op['achieved_interval_s']} s, max gap {op['max_gap_s']} s, "
              f"in flight {op['in_flight_max']}, short {op['reasons']}")


def assert_focus_led_the_faults(timeline: Path) -> None:
    """Every fault and restore was announced to the poller (azure/focus), a fault its lead
    before it was sent, and inside the faults' windows the peer-status calls answered more
    densely than elsewhere."""
    events = load_timeline(timeline).events
    changes = [e for e in events if isinstance(e, ActionStart)]
    focuses = [e for e in events if isinstance(e, AzureFocus)]
    assert len(changes) == 2 * RUNS and len(focuses) >= len(changes)  # rollbacks may add some
    for change in changes:
        before = [f for f in focuses if 0 <= change.t - f.t <= MAX_LEAD_S + 1.0 and f.window[0] >= change.t - 1.0]
        assert before, change
        lead = change.t - max(f.t for f in before)
        if change.data.action.startswith("no_"):
            assert lead < 1.0  # a restore is announced as it is sent, never delayed
        else:
            # A fault waits the poller's lead: the slowest 10 +/- 2 s LRO less the window's start.
            assert 5.0 < lead <= MAX_LEAD_S + 1.0, (change, lead)
    # The lead's extra calls: answers come denser inside the faults' windows than elsewhere,
    # so the last one before Azure's change and the first after it lie close together.
    faults = [f for f in focuses if f.window[0] - f.t > 1.0]
    answers = sorted(e.t for e in events if isinstance(e, Sample) and e.operation == "bgp_peer_status" and e.data.ok)
    span = sum(f.window[1] - f.window[0] for f in faults)
    inside = sum(1 for t in answers if any(f.window[0] <= t <= f.window[1] for f in faults))
    dense, sparse = inside / span, (len(answers) - inside) / (answers[-1] - answers[0] - span)
    print(f"peer-status answers: {dense:.1f}/s inside the faults' focus windows, {sparse:.1f}/s elsewhere")
    assert len(faults) == RUNS
    assert dense > 2.0 * sparse
