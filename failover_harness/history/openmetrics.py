"""`report export --format openmetrics`: the latest figures per playbook, inventory and
metric, as gauges for a Prometheus node-exporter textfile collector (or any OpenMetrics
reader), written atomically (temp file in the same directory + rename) so the collector
never reads half a file.

Families (every series labelled playbook, inventory, metric and iteration: 0 for a playbook
run once, 1..N for the iterations of a repeated one):
- failover_harness_metric_value / _lo / _hi: the value and its uncertainty window (hi is
  +Inf when the value is a lower bound only), labelled unit and estimate;
- failover_harness_metric_verdict: 1 for the expectation's verdict (passed, failed,
  inconclusive), 0 for the others; only metrics with an expectation;
- failover_harness_metric_regression: 1 when flagged against the baseline runs;
- failover_harness_run_start_time_seconds: when the latest run started (run_id, status labels).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from failover_harness.history.records import IndexedRun
from failover_harness.history.store import HistoryIndex

PREFIX = "failover_harness"
VERDICTS = ("passed", "failed", "inconclusive")
FAMILIES: dict[str, str] = {
    "metric_value": "The latest run's figure (seconds, probes or flows: see unit)",
    "metric_lo": "Lower bound of the figure's uncertainty window",
    "metric_hi": "Upper bound of the figure's uncertainty window (+Inf: only a lower bound)",
    "metric_verdict": "1 for the expectation's verdict on the figure, 0 for the other verdicts",
    "metric_regression": "1 when the figure is worse than every one of the baseline runs",
    "run_start_time_seconds": "When the latest run of the playbook against the inventory started",
}


def latest_runs(index: HistoryIndex) -> list[IndexedRun]:
    """Every section of the newest run of each (playbook, inventory)."""
    newest: dict[tuple[str, str], str] = {}
    sections = index.runs()  # oldest first: later runs replace earlier ones
    for run in sections:
        newest[(run.playbook, run.inventory)] = run.run_id
    return sorted((r for r in sections if newest[(r.playbook, r.inventory)] == r.run_id),
                  key=lambda r: (r.playbook, r.inventory, r.iteration))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _number(x: float) -> str:
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return repr(float(x))


def openmetrics_text(runs: Sequence[IndexedRun]) -> str:
    """The exposition (OpenMetrics 1.0 text, which Prometheus' text format also reads)."""
    series: dict[str, list[str]] = {name: [] for name in FAMILIES}
    for run in runs:
        base = [("playbook", run.playbook), ("inventory", run.inventory),
                ("iteration", str(run.iteration))]
        if run.started_at is not None:
            series["run_start_time_seconds"].append(
                _labels([*base, ("run_id", run.run_id), ("status", run.status)])
                + f" {_number(run.started_at.timestamp())}")
        for m in run.metrics:
            if not m.available or m.value is None:
                continue
            key = [*base, ("metric", m.metric)]
            detail = _labels([*key, ("unit", m.unit), ("estimate", m.estimate or "")])
            series["metric_value"].append(f"{detail} {_number(m.value)}")
            series["metric_lo"].append(
                f"{detail} {_number(m.lo if m.lo is not None else m.value)}")
            hi = math.inf if m.censored or m.hi is None else m.hi
            series["metric_hi"].append(f"{detail} {_number(hi)}")
            series["metric_regression"].append(f"{_labels(key)} {int(m.regression)}")
            if m.verdict is not None:
                series["metric_verdict"].extend(
                    f"{_labels([*key, ('verdict', v)])} {int(v == m.verdict)}" for v in VERDICTS)
    lines: list[str] = []
    for name, help_text in FAMILIES.items():
        full = f"{PREFIX}_{name}"
        lines += [f"# TYPE {full} gauge", f"# HELP {full} {help_text}"]
        lines += [full + s for s in series[name]]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` in one step (a reader sees the old file or the new one, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # the collector usually runs as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
