"""Several runs side by side (regressions flagged) and one metric over many runs (trend)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

from matplotlib.figure import Figure
from pydantic import BaseModel

from failover_harness.errors import InputError
from failover_harness.metrics import METRIC_UNITS, MetricValue
from failover_harness.reports.render import TIMELINE, report_from_dir
from failover_harness.reports.schema import Report

Better = Literal["lower", "higher"]
HIGHER_IS_BETTER = frozenset({"flows_without_loss"})


class Column(BaseModel):
    label: str
    run_dir: str
    run_id: str
    playbook: str | None
    started_at: datetime | None
    status: str


class Cell(BaseModel):
    value: MetricValue | None
    delta: float | None = None  # this minus the baseline (first column)
    regression: bool = False
    improvement: bool = False


class Row(BaseModel):
    metric: str
    unit: str
    better: Better
    cells: list[Cell]


class Comparison(BaseModel):
    threshold: float
    columns: list[Column]
    rows: list[Row]
    regressions: list[str]
    improvements: list[str]


def _half_width(value: MetricValue) -> float:
    if value.value is None or value.lo is None:
        return 0.0
    hi = value.hi if value.hi is not None else value.value
    return (hi - value.lo) / 2


def compare_reports(reports: Sequence[tuple[str, Report]], threshold: float = 0.2) -> Comparison:
    """Every section of every report as a column; the first column is the baseline.

    A change counts (regression or improvement) when it is larger than `threshold` x the
    baseline value and larger than the two measurements' combined uncertainty (half widths of
    their lo..hi windows), so a difference inside the probe interval is not flagged.
    """
    columns: list[Column] = []
    metric_sets: list[dict[str, MetricValue]] = []
    for run_dir, report in reports:
        for section in report.sections:
            name = section.run.playbook or section.run.run_id
            label = Path(run_dir).name + (f":{name}" if len(report.sections) > 1 else "")
            columns.append(Column(label=label, run_dir=run_dir, run_id=section.run.run_id,
                                  playbook=section.run.playbook,
                                  started_at=section.run.started_at, status=section.status))
            metric_sets.append(section.metrics)
    rows: list[Row] = []
    regressions: list[str] = []
    improvements: list[str] = []
    for metric, unit in METRIC_UNITS.items():
        better: Better = "higher" if metric in HIGHER_IS_BETTER else "lower"
        base = metric_sets[0].get(metric) if metric_sets else None
        cells: list[Cell] = []
        for index, metrics in enumerate(metric_sets):
            value = metrics.get(metric)
            cell = Cell(value=value)
            if (index > 0 and base is not None and value is not None and base.available
                    and value.available and base.value is not None and value.value is not None):
                delta = value.value - base.value
                cell.delta = round(delta, 6)
                margin = max(threshold * abs(base.value), _half_width(base) + _half_width(value))
                worse = delta > 0 if better == "lower" else delta < 0
                if abs(delta) > margin and delta != 0:
                    what = (f"{metric}: {columns[index].label} {value.text()} vs "
                            f"{columns[0].label} {base.text()} ({delta:+.3f} {unit})")
                    if worse:
                        cell.regression = True
                        regressions.append(what)
                    else:
                        cell.improvement = True
                        improvements.append(what)
            cells.append(cell)
        if any(c.value is not None and c.value.available for c in cells):
            rows.append(Row(metric=metric, unit=unit, better=better, cells=cells))
    return Comparison(threshold=threshold, columns=columns, rows=rows, regressions=regressions,
                      improvements=improvements)


def load_reports(run_dirs: Sequence[Path]) -> list[tuple[str, Report]]:
    return [(str(d), report_from_dir(d)[0]) for d in run_dirs]


class TrendPoint(BaseModel):
    run_dir: str
    run_id: str
    playbook: str | None
    started_at: datetime | None
    status: str
    value: MetricValue
    regression: bool = False  # flagged against its baseline (run history only)


class Trend(BaseModel):
    metric: str
    points: list[TrendPoint]
    skipped: list[str]  # run directories that could not be read, with why


def collect_trend(root: Path, metric: str, playbook: str | None = None) -> Trend:
    """`metric` of every section of every run under root, oldest first."""
    if metric not in METRIC_UNITS:
        raise InputError(f"unknown metric '{metric}' (one of: {', '.join(METRIC_UNITS)})",
                         field="--metric")
    if not root.is_dir():
        raise InputError("not a directory", file=str(root))
    points: list[TrendPoint] = []
    skipped: list[str] = []
    for timeline in sorted(root.rglob(TIMELINE)):
        try:
            report = report_from_dir(timeline.parent)[0]
        except InputError as err:
            skipped.append(str(err))
            continue
        for section in report.sections:
            if playbook is not None and section.run.playbook != playbook:
                continue
            points.append(TrendPoint(
                run_dir=str(timeline.parent.relative_to(root)), run_id=section.run.run_id,
                playbook=section.run.playbook, started_at=section.run.started_at,
                status=section.status,
                value=section.metrics.get(metric) or MetricValue.unavailable(metric, "absent")))
    points.sort(key=lambda p: (p.started_at is None, p.started_at or datetime.min, p.run_dir))
    return Trend(metric=metric, points=points, skipped=skipped)


def trend_png(trend: Trend) -> bytes:
    """Value with its lo..hi as an error bar per run, in time order."""
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax = fig.add_subplot()
    xs = [i for i, p in enumerate(trend.points) if p.value.available and p.value.value is not None]
    values = [trend.points[i].value for i in xs]
    ys = [v.value or 0.0 for v in values]
    lower = [max((v.value or 0.0) - (v.lo if v.lo is not None else v.value or 0.0), 0.0)
             for v in values]
    upper = [max((v.hi if v.hi is not None else v.value or 0.0) - (v.value or 0.0), 0.0)
             for v in values]
    ax.errorbar(xs, ys, yerr=[lower, upper], fmt="o-", capsize=3, color="#1565c0")
    labels = [p.run_id if p.started_at is None else p.started_at.strftime("%m-%d %H:%M")
              for p in trend.points]
    ax.set_xticks(range(len(trend.points)), labels, rotation=30, ha="right", fontsize=7)
    unit = METRIC_UNITS.get(trend.metric, "")
    ax.set_ylabel(f"{trend.metric} ({unit})")
    ax.set_title(f"{trend.metric} over {len(trend.points)} runs", loc="left", fontsize=10)
    ax.grid(color="#e0e0e0", linewidth=0.5)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def value_text(value: MetricValue | None) -> str:
    if value is None:
        return "-"
    if not value.available or value.value is None:
        return "n/a"
    return value.text()

