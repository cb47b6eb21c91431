"""A cell's result: the figures of its game-day's report.json, each with its interval and
the estimate it is, the verdict, and when it was measured."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from failover_harness.matrix.model import Cell

FIGURES = ("max_outage_s", "onprem_detection_s", "azure_detection_s", "failback_lost_probes")


class Figure(BaseModel):
    """A metric as the report carries it: value within [lo, hi], which estimate, or why none."""

    value: float | None = None
    lo: float | None = None
    hi: float | None = None
    estimate: str | None = None
    censored: bool = False
    reason: str | None = None  # unavailable: why

    def text(self) -> str:
        if self.value is None:
            return "n/a"
        if self.lo is None or self.hi is None or self.lo == self.hi:
            shown = _ms(self.value)
        else:
            shown = f"{_ms(self.value)} [{_ms(self.lo)}, {_ms(self.hi)}]"
        return shown + (" (censored)" if self.censored else "")


def _ms(seconds: float) -> str:
    """To the millisecond: finer is below what the probes resolve."""
    return f"{round(seconds, 3):g}"


class CellResult(BaseModel):
    cell: str
    design: str
    fault: str
    claim: str | None = None
    lab: dict[str, Any]  # the lab options that differ from the defaults
    status: str  # the run's: passed / failed / error / aborted ..., or error (did not run)
    exit_code: int | None = None
    why: str | None = None
    figures: dict[str, Figure] = {}
    run_dir: str | None = None
    measured_at: str  # UTC, when the cell started

    @classmethod
    def failed(cls, cell: Cell, started: datetime, why: str) -> CellResult:
        return cls(cell=cell.name, design=cell.design, fault=cell.fault, claim=cell.claim,
                   lab=lab_flags(cell), status="error", why=why,
                   measured_at=started.isoformat(timespec="seconds"))

    def summary(self) -> str:
        if self.why:
            return self.why
        return "; ".join(f"{k} {f.text()}" for k, f in self.figures.items())


def lab_flags(cell: Cell) -> dict[str, Any]:
    return cell.lab.model_dump(mode="json", exclude_defaults=True)


def cell_result(cell: Cell, started: datetime, exit_code: int, run_dir: Path) -> CellResult:
    report = run_dir / "report.json"
    base = CellResult.failed(cell, started, "")
    base.exit_code, base.run_dir, base.why = exit_code, str(run_dir), None
    if not report.is_file():
        base.why = f"no report (exit {exit_code}; see {run_dir.parent / 'run.log'})"
        return base
    data = json.loads(report.read_text())
    sections = data.get("sections") or [{}]
    metrics: dict[str, dict[str, Any]] = sections[0].get("metrics") or {}
    base.status = str(data.get("status", "unknown"))
    base.figures = {name: _figure(metrics.get(name)) for name in FIGURES}
    return base


def _figure(metric: dict[str, Any] | None) -> Figure:
    if not metric:
        return Figure(reason="not in the report")
    if not metric.get("available", True):
        return Figure(reason=metric.get("reason"))
    return Figure(value=metric.get("value"), lo=metric.get("lo"), hi=metric.get("hi"),
                  estimate=metric.get("estimate"), censored=bool(metric.get("censored")))
