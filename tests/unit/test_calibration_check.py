"""The truth for the calibration lab test and bench: the Azure-side router's own FRR log,
read on the wall clock and put on the run's clock through the timeline's wall stamps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from failover_harness.lab.frr_log import first_change_after, neighbor_changes
from failover_harness.orchestrator.calibration_check import calibration_runs, playbook_path
from failover_harness.reports.render import render_report
from tests.synthetic import SyntheticRun, write_synthetic_timeline

PEER = "169.254.21.2"


def log_line(stamp: datetime, text: str) -> str:
    local = stamp.astimezone()  # FRR writes the machine's local time
    return f"{local.strftime('%Y/%m/%d %H:%M:%S.%f')[:23]} BGP: [M59KS-A3ZWV] {text}"


def test_router_log_truth_on_the_run_clock(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    write_synthetic_timeline(run_dir, SyntheticRun(azure_detect_s=2.7))
    render_report(run_dir)
    report = json.loads((run_dir / "report.json").read_text())
    section = report["sections"][0]
    first = json.loads((run_dir / "timeline.jsonl").read_text().splitlines()[0])
    wall0 = datetime.fromisoformat(first["wall"].replace("Z", "+00:00")) - timedelta(seconds=first["t"])
    sent = wall0 + timedelta(seconds=section["fault_start"])
    frr = tmp_path / "gw0"
    frr.mkdir()
    (frr / "frr.log").write_text("\n".join([
        log_line(sent - timedelta(seconds=30), f"%ADJCHANGE: neighbor {PEER}(Unknown) in vrf default Down Peer closed"),
        log_line(sent + timedelta(seconds=2.345), "%ADJCHANGE: neighbor 169.254.21.6(Unknown) in vrf default Down x"),
        log_line(sent + timedelta(seconds=2.5), f"%ADJCHANGE: neighbor {PEER}(Unknown) in vrf default Down Hold Timer Expired"),
        log_line(sent + timedelta(seconds=9.0), f"%ADJCHANGE: neighbor {PEER}(Unknown) in vrf default Up"),
        "a torn line",
    ]) + "\n")
    assert len(neighbor_changes(frr, PEER)) == 2 and len(neighbor_changes(frr, PEER, "Up")) == 1
    assert first_change_after(frr, PEER, datetime.now(UTC) + timedelta(days=1)) is None
    [row] = calibration_runs(run_dir, frr, PEER)
    assert row.truth_s is not None and abs(row.truth_s - 2.5) < 0.002  # ms stamps
    metric = section["metrics"]["azure_detection_s"]
    assert (row.lo, row.hi) == (metric["lo"], metric["hi"])
    assert row.inside == (metric["lo"] <= row.truth_s <= metric["hi"])
    assert not row.calibrated  # the synthetic run's samples carry no peer readings


def test_the_calibration_playbook_ships_with_the_package() -> None:
    assert playbook_path().is_file()
