"""Statistics over iterations (metrics/statistics.py): nearest-rank p95, median, and the
honest interval (the statistic of the lower bounds .. of the upper bounds)."""

from __future__ import annotations

import math
import random

import pytest

from failover_harness.expectations import Expectation
from failover_harness.metrics import MetricValue
from failover_harness.metrics.statistics import all_statistics, over_iterations, statistic
from failover_harness.metrics.verdicts import verdict_of


def outage(value: float, lo: float, hi: float | None) -> MetricValue:
    if hi is None:
        return MetricValue.measured("max_outage_s", value, lo, estimate="loss_period",
                                    censored=True)
    return MetricValue.measured("max_outage_s", value, lo, hi, estimate="loss_period")


def test_p95_is_the_nearest_rank_and_the_largest_below_20_values() -> None:
    assert statistic("p95", [3.0, 1.0, 2.0, 5.0, 4.0]) == 5.0
    assert statistic("p95", [float(i) for i in range(1, 20)]) == 19.0  # n = 19: the max
    assert statistic("p95", [float(i) for i in range(1, 21)]) == 19.0  # ceil(0.95 * 20) = 19
    assert statistic("p95", [float(i) for i in range(1, 41)]) == 38.0
    assert statistic("p95", [7.0]) == 7.0


def test_median_min_max() -> None:
    assert statistic("median", [3.0, 1.0, 2.0]) == 2.0
    assert statistic("median", [4.0, 1.0, 2.0, 3.0]) == 2.5
    assert statistic("median", [1.0, math.inf]) == math.inf  # unbounded stays unbounded
    assert statistic("min", [3.0, 1.0]) == 1.0 and statistic("max", [3.0, 1.0]) == 3.0
    with pytest.raises(ValueError):
        statistic("max", [])


def test_the_interval_is_the_statistic_of_the_bounds_and_holds_the_truth() -> None:
    rng = random.Random(15)
    for _ in range(200):
        n = rng.randint(1, 25)
        truths = [rng.uniform(0, 10) for _ in range(n)]
        values = []
        for i, t in enumerate(truths):
            lo, hi = max(0.0, t - rng.uniform(0, 1)), t + rng.uniform(0, 1)
            values.append((i + 1, outage(rng.uniform(lo, hi), lo, hi)))
        for which, stat in all_statistics("max_outage_s", values).items():
            assert stat.lo is not None and stat.hi is not None
            assert stat.lo <= statistic(which, truths) <= stat.hi, (which, truths)
            assert stat.lo <= stat.value <= stat.hi  # type: ignore[operator]
            assert stat.estimate == "loss_period"


def test_each_statistic_names_itself_and_its_bounds() -> None:
    values = [(1, outage(2.0, 1.9, 2.1)), (2, outage(3.0, 2.8, 3.1)), (3, outage(2.5, 2.5, 2.6))]
    stats = all_statistics("max_outage_s", values)
    assert (stats["median"].value, stats["median"].lo, stats["median"].hi) == (2.5, 2.5, 2.6)
    assert (stats["p95"].value, stats["p95"].lo, stats["p95"].hi) == (3.0, 2.8, 3.1)
    assert stats["p95"].detail == "p95 of 3 iterations (nearest rank: the largest)"
    assert stats["min"].detail == "min of 3 iterations"


def test_a_censored_iteration_leaves_the_max_unbounded_above() -> None:
    values = [(1, outage(2.0, 1.9, 2.1)), (2, outage(4.0, 4.0, None))]
    stats = all_statistics("max_outage_s", values)
    assert stats["max"].censored and stats["max"].hi is None and stats["max"].value == 4.0
    assert stats["min"].hi == 2.1 and not stats["min"].censored
    verdict = verdict_of(stats["max"], Expectation(metric="max_outage_s", max=5), "max")
    assert verdict.status == "inconclusive"  # at least 4, maybe more than 5
    assert verdict.message.startswith("max of max_outage_s = >= 4 s")


def test_a_missing_iteration_widens_the_interval_and_cannot_pass() -> None:
    values = [(1, outage(2.0, 1.9, 2.1)), (2, MetricValue.unavailable("max_outage_s", "no flows")),
              (3, outage(2.5, 2.4, 2.6))]
    stat = over_iterations("max_outage_s", "max", values)
    assert stat.value == 2.5 and stat.lo == 2.4 and stat.hi is None and not stat.censored
    assert stat.evidence_gap == "no value in iteration 2"
    ok = verdict_of(stat, Expectation(metric="max_outage_s", max=5), "max")
    assert ok.status == "inconclusive"  # iteration 2 may have been anything
    bad = verdict_of(stat, Expectation(metric="max_outage_s", max=1), "max")
    assert bad.status == "failed"  # iteration 3 alone already misses it
    low = over_iterations("max_outage_s", "min", values)
    assert low.lo == 0.0 and low.hi == 2.1  # the missing one may have been 0


def test_no_value_in_any_iteration_is_unavailable() -> None:
    values = [(1, MetricValue.unavailable("azure_detection_s", "no Azure events"))]
    stat = over_iterations("azure_detection_s", "median", values)
    assert not stat.available and "no iteration has a value" in (stat.reason or "")
