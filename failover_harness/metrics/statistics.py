"""Statistics over a repeated run's iterations: min, median, p95 and max of one metric, each
with an honest interval (no I/O).

Each iteration's value lies in its interval [lo, hi] (hi None: unbounded, a lower bound).
Every statistic here is monotone in each of its inputs, so the true statistic lies between
the statistic of the lower bounds and the statistic of the upper bounds: that is its
interval. Its value is the same statistic of the iterations' values, and it keeps their
estimate (upper edges, loss periods, ...), which the report names beside it.

- p95 is the nearest-rank 95th percentile: the ceil(0.95 n)-th smallest of n values. For
  n < 20 that is the largest one: no interpolation invents a value between two runs.
- median: the middle value (n odd) or the mean of the two middle ones (n even).
- An iteration without a value (unavailable) is left out of the value; the interval counts
  it as anywhere in [0, inf) (every metric is >= 0) and names it as the evidence gap, so a
  verdict the missing data could change is inconclusive, never passed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from failover_harness.expectations import STATISTICS, Statistic
from failover_harness.metrics.values import Estimate, MetricValue

P95 = 0.95
P95_NOTE = "p95: nearest rank, the ceil(0.95 n)-th smallest value (the largest when n < 20)"


def statistic(which: Statistic, values: Sequence[float]) -> float:
    """One statistic of a non-empty list (see the module docstring); inf is allowed."""
    if not values:
        raise ValueError("no values")
    xs = sorted(values)
    n = len(xs)
    if which == "min":
        return xs[0]
    if which == "max":
        return xs[-1]
    if which == "p95":
        return xs[max(1, math.ceil(P95 * n)) - 1]
    mid = n // 2
    if n % 2:
        return xs[mid]
    low, high = xs[mid - 1], xs[mid]
    return high if math.isinf(high) else (low + high) / 2


def _estimate(values: Sequence[MetricValue]) -> Estimate:
    """The iterations' estimate: the most common one that is not a mere lower bound."""
    kinds = Counter(v.estimate for v in values if v.estimate and v.estimate != "lower_bound")
    return kinds.most_common(1)[0][0] if kinds else "lower_bound"


def over_iterations(metric: str, which: Statistic,
                    values: Sequence[tuple[int, MetricValue]]) -> MetricValue:
    """`which` of one metric over iterations ((iteration number, its value) pairs)."""
    have = [(i, v, v.value) for i, v in values if v.available and v.value is not None]
    missing = [i for i, v in values if not (v.available and v.value is not None)]
    if not have:
        return MetricValue.unavailable(metric, f"no iteration has a value ({len(values)} run)")
    lows = [x if v.lo is None else v.lo for _, v, x in have] + [0.0] * len(missing)
    highs = [math.inf if v.hi is None else v.hi for _, v, _ in have] + [math.inf] * len(missing)
    value = statistic(which, [x for _, _, x in have])
    lo, hi = statistic(which, lows), statistic(which, highs)
    gaps = [f"iteration {i}: {v.evidence_gap}" for i, v, _ in have if v.evidence_gap]
    if missing:
        gaps.insert(0, "no value in iteration " + ", ".join(map(str, missing)))
    n = len(have)
    detail = f"{which} of {n} iteration{'s' if n != 1 else ''}"
    if which == "p95":
        detail += " (nearest rank" + (": the largest" if math.ceil(P95 * n) == n else "") + ")"
    hi_or_none = None if math.isinf(hi) else max(hi, value)
    stat = MetricValue.measured(metric, value, min(lo, value), hi_or_none,
                                estimate=_estimate([v for _, v, _ in have]),
                                censored=hi_or_none is None and not missing, detail=detail,
                                evidence_gap="; ".join(gaps) or None)
    if hi_or_none is None and missing:
        # Unbounded because data is missing, not because a run was cut short.
        stat = stat.model_copy(update={"hi": None})
    return stat


def all_statistics(metric: str,
                   values: Sequence[tuple[int, MetricValue]]) -> dict[Statistic, MetricValue]:
    return {which: over_iterations(metric, which, values) for which in STATISTICS}
