"""Verdicts: each expectation compared with its metric, with how far it missed.

passed / failed are certain within the metric's bounds, or decided by its value (the
estimate it names) when the bounds straddle the limit (`marginal`). inconclusive: the data
cannot decide: the metric is unavailable, or censored (at least its value) within the bound,
or its evidence falls in a data gap (gaps.py) and its bounds straddle the limit. CI tells
inconclusive from failed by the exit status (errors.EXIT_INCONCLUSIVE).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, Field

from failover_harness.expectations import Expectation, MetricName
from failover_harness.metrics.run import RunMetrics
from failover_harness.metrics.values import MetricValue, fmt, r

VerdictStatus = Literal["passed", "failed", "inconclusive"]


class Verdict(BaseModel):
    metric: str
    description: str | None = None
    max: float | None = None
    min: float | None = None
    status: VerdictStatus
    measured: MetricValue
    miss_by: float | None = Field(default=None, description="how far beyond the bound (>0)")
    marginal: bool = Field(default=False, description="the uncertainty window straddles a bound")
    message: str


def evaluate(metrics: RunMetrics, expectations: Iterable[Expectation]) -> list[Verdict]:
    """One verdict per expectation: passed, failed (with how far), or inconclusive."""
    return [verdict_of(metrics.metrics.get(exp.metric), exp) for exp in expectations]


def verdict_of(value: MetricValue | None, exp: Expectation) -> Verdict:
    bound = " and ".join(p for p in (
        f">= {fmt(exp.min)}" if exp.min is not None else "",
        f"<= {fmt(exp.max)}" if exp.max is not None else "") if p)
    metric: MetricName = exp.metric
    measured = value or MetricValue.unavailable(metric, "metric not computed")

    def verdict(status: VerdictStatus, message: str, miss_by: float | None = None,
                marginal: bool = False) -> Verdict:
        return Verdict(metric=metric, description=exp.description, max=exp.max, min=exp.min,
                       status=status, measured=measured, miss_by=miss_by, marginal=marginal,
                       message=message)

    if not measured.available or measured.value is None:
        return verdict("inconclusive", f"{metric}: no data ({measured.reason}); expected {bound}")
    v = measured.value
    lo = measured.lo if measured.lo is not None else v
    hi = measured.hi
    over = v - exp.max if exp.max is not None and v > exp.max else None
    under = exp.min - v if exp.min is not None and v < exp.min else None
    gap = f" (evidence in a data gap: {measured.evidence_gap})" if measured.evidence_gap else ""
    if measured.censored and over is None and exp.max is not None:
        # At least v, within the max: the real value may still exceed it.
        return verdict("inconclusive", f"{metric} = {measured.text()}: not known whether "
                       f"<= {fmt(exp.max)}{gap}")
    if measured.censored and under is not None:
        return verdict("inconclusive", f"{metric} = {measured.text()}: not known whether "
                       f">= {fmt(exp.min)}{gap}")
    marginal = ((exp.max is not None and lo <= exp.max and (hi is None or hi > exp.max))
                or (exp.min is not None and lo < exp.min <= (v if hi is None else hi)))
    if marginal and measured.evidence_gap and not measured.censored:
        # The window is this wide because data was missing: the estimate cannot decide.
        return verdict("inconclusive", f"{metric} = {measured.text()}: its bounds straddle "
                       f"{bound} and the data to decide is missing{gap}", marginal=True)
    unit = f" {measured.unit}"
    if over is not None:
        return verdict("failed", f"{metric} = {measured.text()} > max {fmt(exp.max)}{unit}: "
                       f"missed by {fmt(over)}{unit}", r(over), marginal)
    if under is not None:
        return verdict("failed", f"{metric} = {measured.text()} < min {fmt(exp.min)}{unit}: "
                       f"missed by {fmt(under)}{unit}", r(under), marginal)
    return verdict("passed", f"{metric} = {measured.text()}, expected {bound}", None, marginal)
