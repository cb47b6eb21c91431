"""The regression rule: a metric is worse than the baseline (the last N runs of the same
playbook and inventory) when the whole of its uncertainty window is worse than every
baseline run's window:

- lower is better (delays, outages, lost probes): this run's lower bound is above the
  largest upper bound among the baseline runs;
- higher is better (flows_without_loss): its upper bound is below their smallest lower bound.

A difference inside the measurements' own uncertainty is never a regression; a censored
baseline value (no upper bound) can never be beaten; unavailable values take no part.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from failover_harness.history.records import IndexedRun
from failover_harness.metrics import MetricValue, fmt

HIGHER_IS_BETTER = frozenset({"flows_without_loss"})


class Regression(BaseModel):
    metric: str
    measured: MetricValue
    bound: float  # the baseline's worst bound this run is beyond
    baseline_runs: list[str]  # run ids, oldest first
    message: str


def _windows(name: str, baseline: Sequence[IndexedRun]) -> list[tuple[float, float | None]]:
    out: list[tuple[float, float | None]] = []
    for run in baseline:
        for m in run.metrics:
            if m.metric == name and m.available and m.value is not None:
                out.append((m.lo if m.lo is not None else m.value,
                            None if m.censored else (m.hi if m.hi is not None else m.value)))
    return out


def find_regressions(metrics: dict[str, MetricValue], baseline: Sequence[IndexedRun]
                     ) -> list[Regression]:
    """The metrics of this run that are worse than every run of `baseline` (see the module)."""
    if not baseline:
        return []
    ids = list(dict.fromkeys(r.run_id for r in baseline))  # a repeated run: one id
    what = f"the last {len(ids)} run{'s' if len(ids) > 1 else ''} of {baseline[-1].playbook}"
    found: list[Regression] = []
    for name, value in metrics.items():
        if not value.available or value.value is None:
            continue
        windows = _windows(name, baseline)
        if not windows:
            continue
        unit = f" {value.unit}"
        if name in HIGHER_IS_BETTER:
            hi = None if value.censored else (value.hi if value.hi is not None else value.value)
            floor = min(lo for lo, _ in windows)
            if hi is not None and hi < floor:
                found.append(Regression(
                    metric=name, measured=value, bound=floor, baseline_runs=ids,
                    message=f"regression: {name} = {value.text()} is below every one of {what} "
                            f"(their smallest lower bound {fmt(floor)}{unit})"))
            continue
        if any(hi is None for _, hi in windows):
            continue  # a baseline without an upper bound cannot be beaten
        ceiling = max(hi for _, hi in windows if hi is not None)
        lo = value.lo if value.lo is not None else value.value
        if lo > ceiling:
            found.append(Regression(
                metric=name, measured=value, bound=ceiling, baseline_runs=ids,
                message=f"regression: {name} = {value.text()} is above every one of {what} "
                        f"(their largest upper bound {fmt(ceiling)}{unit})"))
    return found
