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

from failover_harness.expectations import Expectation, MetricName, Statistic
from failover_harness.metrics.run import RunMetrics
from failover_harness.metrics.values import MetricValue, fmt, r

VerdictStatus = Literal["passed", "failed", "inconclusive"]


class Verdict(BaseModel):
    metric: str
    description: str | None = None
    max: float | None = None
    min: float | None = None
    statistic: Statistic | None = Field(default=None, description="a bound on this statistic "
                                        "over a repeated run's iterations (reports/repeats.py)")
    status: VerdictStatus
    measured: MetricValue
    miss_by: float | None = Field(default=None, description="how far beyond the bound (>0)")
    marginal: bool = Field(default=False, description="the uncertainty window straddles a bound")
    message: str


def evaluate(metrics: RunMetrics, expectations: Iterable[Expectation]) -> list[Verdict]:
    """One verdict per expectation with a plain bound: passed, failed (with how far), or
    inconclusive. Bounds on statistics are judged over the iterations (reports/repeats.py)."""
    return [verdict_of(metrics.metrics.get(exp.metric), exp) for exp in expectations
            if exp.each_max is not None or exp.each_min is not None]


def verdict_of(value: MetricValue | None, exp: Expectation,
               statistic: Statistic | None = None) -> Verdict:
    """The verdict of `value` against the plain bounds of `exp` (`statistic`: the value is
    that statistic over iterations, and the messages say so)."""
    metric: MetricName = exp.metric
    mx, mn = exp.each_max, exp.each_min
    bound = " and ".join(p for p in (
        f">= {fmt(mn)}" if mn is not None else "",
        f"<= {fmt(mx)}" if mx is not None else "") if p)
    measured = value or MetricValue.unavailable(metric, "metric not computed")
    name = f"{statistic} of {metric}" if statistic else metric

    def verdict(status: VerdictStatus, message: str, miss_by: float | None = None,
                marginal: bool = False) -> Verdict:
        return Verdict(metric=metric, description=exp.description, max=mx, min=mn,
                       statistic=statistic, status=status, measured=measured, miss_by=miss_by,
                       marginal=marginal, message=name + message)

    if not measured.available or measured.value is None:
        return verdict("inconclusive", f": no data ({measured.reason}); expected {bound}")
    v = measured.value
    lo = measured.lo if measured.lo is not None else v
    hi = measured.hi
    over = v - mx if mx is not None and v > mx else None
    under = mn - v if mn is not None and v < mn else None
    gap = f" (evidence in a data gap: {measured.evidence_gap})" if measured.evidence_gap else ""
    if measured.censored and over is None and mx is not None:
        # At least v, within the max: the real value may still exceed it.
        return verdict("inconclusive", f" = {measured.text()}: not known whether "
                       f"<= {fmt(mx)}{gap}")
    if measured.censored and under is not None:
        return verdict("inconclusive", f" = {measured.text()}: not known whether "
                       f">= {fmt(mn)}{gap}")
    marginal = ((mx is not None and lo <= mx and (hi is None or hi > mx))
                or (mn is not None and lo < mn <= (v if hi is None else hi)))
    if marginal and measured.evidence_gap and not measured.censored:
        # The window is this wide because data was missing: the estimate cannot decide.
        return verdict("inconclusive", f" = {measured.text()}: its bounds straddle "
                       f"{bound} and the data to decide is missing{gap}", marginal=True)
    unit = f" {measured.unit}"
    if over is not None:
        return verdict("failed", f" = {measured.text()} > max {fmt(mx)}{unit}: "
                       f"missed by {fmt(over)}{unit}", r(over), marginal)
    if under is not None:
        return verdict("failed", f" = {measured.text()} < min {fmt(mn)}{unit}: "
                       f"missed by {fmt(under)}{unit}", r(under), marginal)
    return verdict("passed", f" = {measured.text()}, expected {bound}", None, marginal)
