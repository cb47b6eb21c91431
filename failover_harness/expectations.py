"""Expectations (SLOs): one metric compared with a bound. Shared by playbooks and metrics.

Metric names (seconds are measured from t0, the fault action's acknowledgement, unless said):
  onprem_detection_s      on-prem BGP session to the failed peer leaves Established
  azure_detection_s       Azure's BGP peer for the failed tunnel leaves Connected
  routes_withdrawn_s      Azure learned routes lose the failed next hop for every on-prem prefix
  connection_detection_s  the failed tunnel's Azure connection leaves Connected
  max_outage_s            full convergence: the longest flow outage after t0
  min_outage_s            first convergence: the shortest outage among flows that had one
  total_lost_probes       lost probes, all flows, whole run
  flows_with_loss         flows with at least one loss episode after t0
  flows_without_loss      flows that never lost a probe
  failback_lost_probes    probes lost after the restore action
  failback_onprem_s       restore -> on-prem session Established again
  failback_azure_s        restore -> every Azure peer Connected again
  failback_routes_s       restore -> learned routes on all paths again
  reset_recovery_s        an Azure reset's send -> flows answered and learned routes whole again
  azure_data_gap_s        longest time without an Azure sample (throttling, errors)

A bound is a number (every run, every iteration of a repeated run, is held to it) or, for a
repeated run, a mapping from statistics over its iterations to numbers: `max: {p95: 5}`
(metrics/statistics.py says how each statistic is computed).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Tag, model_validator

MetricName = Literal[
    "onprem_detection_s", "azure_detection_s", "routes_withdrawn_s", "connection_detection_s",
    "max_outage_s", "min_outage_s", "total_lost_probes", "flows_with_loss", "flows_without_loss",
    "failback_lost_probes", "failback_onprem_s", "failback_azure_s", "failback_routes_s",
    "azure_data_gap_s", "reset_recovery_s",
]


Statistic = Literal["min", "median", "p95", "max"]
STATISTICS: tuple[Statistic, ...] = ("min", "median", "p95", "max")


class StatBounds(BaseModel):
    """Bounds on statistics over a repeated run's iterations, e.g. `{p95: 5, median: 3}`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    min: float | None = None
    median: float | None = None
    p95: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_one(self) -> StatBounds:
        if not self.items():
            raise ValueError("name at least one statistic: min, median, p95 or max")
        return self

    def items(self) -> list[tuple[Statistic, float]]:
        return [(s, v) for s in STATISTICS if (v := getattr(self, s)) is not None]


def _bound_tag(value: object) -> str:
    if value is None:
        return "none"
    return "statistics" if isinstance(value, (dict, StatBounds)) else "number"


# A plain number, or bounds on statistics (a mapping): only the chosen form's errors show.
# One flat union, so that an error's location leads the file's error wording to StatBounds.
Bound = Annotated[Annotated[float, Tag("number")] | Annotated[StatBounds, Tag("statistics")]
                  | Annotated[None, Tag("none")], Discriminator(_bound_tag)]


class Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    metric: MetricName
    max: Bound = None
    min: Bound = None
    description: str | None = None

    @model_validator(mode="after")
    def _has_bound(self) -> Expectation:
        if self.max is None and self.min is None:
            raise ValueError("an expectation needs 'max' or 'min'")
        return self

    @property
    def each_max(self) -> float | None:
        """The bound every run (every iteration) is held to; None if there is none."""
        return self.max if isinstance(self.max, float) else None

    @property
    def each_min(self) -> float | None:
        return self.min if isinstance(self.min, float) else None

    @property
    def every_run_max(self) -> float | None:
        """A limit no single run may exceed: the plain max, else the bound on the max
        statistic (the largest iteration); None if neither is set."""
        if self.each_max is not None:
            return self.each_max
        return self.max.max if isinstance(self.max, StatBounds) else None

    def on_statistics(self) -> list[tuple[Literal["max", "min"], Statistic, float]]:
        """(bound kind, statistic, limit) of every bound on a statistic over iterations."""
        out: list[tuple[Literal["max", "min"], Statistic, float]] = []
        if isinstance(self.max, StatBounds):
            out += [("max", s, v) for s, v in self.max.items()]
        if isinstance(self.min, StatBounds):
            out += [("min", s, v) for s, v in self.min.items()]
        return out
