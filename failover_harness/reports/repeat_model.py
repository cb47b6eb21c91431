"""report.json's view of a repeated playbook: per-iteration values and their statistics
(the models only; reports/repeats.py builds them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from failover_harness.expectations import Statistic
from failover_harness.metrics import Estimate, MetricValue, Unit, Verdict

# The same words as schema.SectionStatus (schema.py imports this module; a test keeps them equal).
RepeatStatus = Literal["passed", "failed", "inconclusive", "incomplete", "no_expectations"]


class IterationValue(BaseModel):
    iteration: int
    section: int = Field(description="the iteration's section (its `index` in sections)")
    tunnel: str | None = Field(default=None, description="device/interface it faulted")
    instance: str | None = Field(default=None, description="Azure gateway instance (its BGP "
                                 "address) behind the faulted tunnel")
    value: MetricValue


class MetricSeries(BaseModel):
    """One metric over the iterations (or over those that faulted one gateway instance)."""

    metric: str
    unit: Unit
    instance: str | None = Field(default=None, description="None: every iteration; else only "
                                 "the iterations that faulted this gateway instance")
    estimate: Estimate | None = Field(default=None, description="what each iteration's value "
                                      "is (values.ESTIMATES)")
    values: list[IterationValue]
    stats: dict[Statistic, MetricValue] = Field(description="min, median, p95, max: value = "
                                                "the statistic of the values, lo/hi = of the "
                                                "lower/upper bounds (metrics/statistics.py)")


class RepeatSummary(BaseModel):
    """A playbook run more than once (or with expectations on statistics)."""

    playbook: str
    playbook_index: int | None = None
    iterations: int = Field(description="how many the run asked for")
    completed: int = Field(description="iterations whose run ended completed")
    sections: list[int] = Field(description="the iterations' sections, in order")
    tunnels: list[str | None] = Field(default_factory=list, description="what each faulted")
    series: list[MetricSeries]
    verdicts: list[Verdict] = Field(default_factory=list, description="expectations on "
                                    "statistics (each section has the plain ones)")
    status: RepeatStatus
    summary: str
    p95_method: str
