"""Calibrated azure_detection_s against the truth, on the lab: each section of a game-day of
the calibration playbook (azure_calibration.yaml), its interval and where the Azure-side
router's own log (FRR on the gateway instance's router) says the session went down.

Clocks: FRR stamps its log on the wall clock; the timeline's `t` is monotonic seconds and
every event carries `wall`, the same instant on the wall clock (taken once at start, so it
never jumps). The truth's `t` is its wall time minus the timeline's wall at t = 0; a
wall-clock step during a run would show as a truth far outside every window, not hide.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

from pydantic import BaseModel

from failover_harness.lab.frr_log import first_change_after
from failover_harness.timeline import load_timeline

PLAYBOOK = "azure_calibration.yaml"
WIDTH_TARGET_S = 2.5  # issue #14: calibrated azure_detection_s no wider than this at 10 s LROs


def playbook_path() -> Path:
    return Path(str(resources.files("failover_harness.orchestrator").joinpath(PLAYBOOK)))


class CalibrationRun(BaseModel):
    section: int
    truth_s: float | None  # the router's log: session down, seconds after the fault's send
    lo: float | None  # azure_detection_s bounds (from the fault's send)
    hi: float | None
    calibrated: bool
    detail: str

    @property
    def width_s(self) -> float | None:
        return None if self.lo is None or self.hi is None else self.hi - self.lo

    @property
    def inside(self) -> bool | None:
        if self.truth_s is None or self.lo is None or self.hi is None:
            return None
        return self.lo <= self.truth_s <= self.hi


def calibration_runs(run_dir: Path, frr_dir: str | Path, neighbor: str) -> list[CalibrationRun]:
    """One row per section of the game-day in `run_dir`; `frr_dir` is the Azure-side router's
    (the gateway instance whose session to `neighbor`, the on-prem BGP address, the fault
    takes down)."""
    report = json.loads((run_dir / "report.json").read_text())
    events = load_timeline(run_dir / "timeline.jsonl").events
    if not events:
        return []
    wall0 = events[0].wall - timedelta(seconds=events[0].t)
    rows = []
    for section in report["sections"]:
        metric = section["metrics"].get("azure_detection_s") or {}
        fault_start = section.get("fault_start")
        truth = None
        if fault_start is not None:
            sent: datetime = wall0 + timedelta(seconds=fault_start)
            down = first_change_after(frr_dir, neighbor, sent)
            if down is not None:
                truth = (down - wall0).total_seconds() - fault_start
        detail = metric.get("detail") or metric.get("reason") or ""
        rows.append(CalibrationRun(
            section=section["index"], truth_s=truth, lo=metric.get("lo"), hi=metric.get("hi"),
            calibrated="the verdict uses the calibrated bounds" in detail, detail=detail))
    return rows
