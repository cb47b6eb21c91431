"""The index read for people: one metric over runs (trend) and a run against its baseline
(compare --baseline), in the same models the file-based commands print (reports/compare.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from failover_harness.errors import InputError
from failover_harness.history.policy import RegressionPolicy
from failover_harness.history.record import baseline_of
from failover_harness.history.records import IndexedRun
from failover_harness.history.regression import HIGHER_IS_BETTER, find_regressions
from failover_harness.history.store import HistoryIndex
from failover_harness.metrics import METRIC_UNITS, MetricValue
from failover_harness.reports.compare import Cell, Column, Comparison, Row, Trend, TrendPoint


def check_metric(metric: str) -> None:
    if metric not in METRIC_UNITS:
        raise InputError(f"unknown metric '{metric}' (one of: {', '.join(METRIC_UNITS)})",
                         field="--metric")


def parse_baseline(text: str) -> int:
    """`last` (the run before) or N (the last N runs)."""
    if text == "last":
        return 1
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise InputError(f"'{text}': give 'last' or a number of runs (>= 1)", field="--baseline")


def _value(run: IndexedRun, metric: str) -> MetricValue:
    found = run.metric(metric)
    return found.as_value() if found else MetricValue.unavailable(metric, "absent")


def trend_of(index: HistoryIndex, metric: str, playbook: str | None = None,
             inventory: str | None = None) -> Trend:
    """`metric` of every indexed run (oldest first), from the index alone."""
    check_metric(metric)
    points = []
    for run in index.runs(playbook=playbook, inventory=inventory):
        found = run.metric(metric)
        points.append(TrendPoint(
            run_dir=Path(run.run_dir).name + (f"#{run.iteration}" if run.iteration else ""),
            run_id=run.run_id, playbook=run.playbook,
            started_at=run.started_at, status=run.status, value=_value(run, metric),
            regression=bool(found and found.regression)))
    return Trend(metric=metric, points=points, skipped=[])


def target_runs(index: HistoryIndex, run: str | None) -> list[IndexedRun]:
    """The sections of run id `run` (a run directory's name works too), or of the newest run."""
    if run is None:
        newest = index.runs(latest=1)
        if not newest:
            raise InputError("the run index holds no run yet", file=str(index.path))
        return index.run(newest[0].run_id)
    found = index.run(Path(run).name)
    if not found:
        raise InputError(f"run '{run}' is not in the run index (a run is indexed when it "
                         "ends, or by `report render` / `report index`)", file=str(index.path))
    return found


def compare_with_baseline(index: HistoryIndex, run: IndexedRun, runs: int) -> Comparison:
    """The baseline runs (oldest first) and `run` side by side; the regression rule
    (regression.py) flags the last column."""
    baseline = baseline_of(index, run, RegressionPolicy(baseline_runs=runs))
    ordered: Sequence[IndexedRun] = [*baseline, run]
    columns = [Column(label=r.label(),
                      run_dir=r.run_dir, run_id=r.run_id, playbook=r.playbook,
                      started_at=r.started_at, status=r.status) for r in ordered]
    current = {name: _value(run, name) for name in METRIC_UNITS}
    flagged = {reg.metric: reg for reg in find_regressions(current, baseline)}
    rows: list[Row] = []
    for metric, unit in METRIC_UNITS.items():
        cells = [Cell(value=_value(r, metric)) for r in ordered]
        if not any(c.value is not None and c.value.available for c in cells):
            continue
        last, previous = cells[-1], (cells[-2] if len(cells) > 1 else None)
        last.regression = metric in flagged
        if (previous is not None and previous.value is not None and last.value is not None
                and previous.value.value is not None and last.value.value is not None):
            last.delta = round(last.value.value - previous.value.value, 6)
        rows.append(Row(metric=metric, unit=unit, better="higher" if metric in HIGHER_IS_BETTER
                        else "lower", cells=cells))
    return Comparison(threshold=0.0, columns=columns, rows=rows,
                      regressions=[r.message.removeprefix("regression: ") for r in flagged.values()],
                      improvements=[])
