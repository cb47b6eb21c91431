"""MetricValue: a measured value with its bounds and which estimate it is, or why it is not known."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Unit = Literal["s", "probes", "flows"]
# Which estimate a value is; ESTIMATES says it in words (reports show it beside the value).
Estimate = Literal["upper_edge", "loss_period", "lost_x_interval", "count", "lower_bound",
                   "no_change", "longest_gap"]
ESTIMATES: dict[str, str] = {
    "upper_edge": "upper edge of the window: the first response that showed the change",
    "loss_period": "loss period: send time of the first lost probe to that of the first "
                   "answered one, summed over the episodes after the fault",
    "lost_x_interval": "lost probes x probe interval",
    "count": "a count",
    "lower_bound": "a lower bound: the end was not observed (the run or the data ended first)",
    "no_change": "nothing changed, so 0",
    "longest_gap": "the longest span between two successful samples of one operation",
}

METRIC_UNITS: dict[str, Unit] = {
    "onprem_detection_s": "s", "azure_detection_s": "s", "routes_withdrawn_s": "s",
    "connection_detection_s": "s", "max_outage_s": "s", "min_outage_s": "s",
    "total_lost_probes": "probes", "flows_with_loss": "flows", "flows_without_loss": "flows",
    "failback_lost_probes": "probes", "failback_onprem_s": "s", "failback_azure_s": "s",
    "failback_routes_s": "s", "azure_data_gap_s": "s", "outage_s": "s", "loss_outage_s": "s",
    "reset_recovery_s": "s",
}


def r(x: float) -> float:
    return round(x, 6)


def fmt(x: float | None) -> str:
    """Short human number: 3, 0.25, 2.613, 120.5."""
    if x is None:
        return "?"
    if float(x).is_integer() and abs(x) >= 1:
        return str(int(x))
    return f"{x:.3f}".rstrip("0").rstrip(".") if abs(x) < 100 else f"{x:.1f}"


class MetricValue(BaseModel):
    """A measured value with bounds, or unavailable with a reason.

    `hi is None` with a value means "at least this much": the thing measured had not ended
    when the observation did; such a value is `censored`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    unit: Unit
    available: bool
    value: float | None = None
    lo: float | None = None
    hi: float | None = Field(default=None, description="None with a value: no upper bound (censored)")
    censored: bool = False
    reason: str | None = Field(default=None, description="why unavailable, or a caveat")
    detail: str | None = Field(default=None, description="what the value was taken from")
    estimate: Estimate | None = Field(default=None, description="which estimate the value is "
                                      "(ESTIMATES in metrics/values.py); None when unavailable")
    evidence_gap: str | None = Field(default=None, description="the data gap the evidence "
                                     "falls in: the value is then unknown within its bounds")

    @classmethod
    def measured(cls, name: str, value: float, lo: float | None = None, hi: float | None = None,
                 *, estimate: Estimate, censored: bool = False, detail: str | None = None,
                 reason: str | None = None, evidence_gap: str | None = None) -> MetricValue:
        lo = value if lo is None else lo
        hi = None if censored else (value if hi is None else hi)
        return cls(name=name, unit=METRIC_UNITS.get(name, "s"), available=True,
                   value=r(value), lo=r(lo), hi=None if hi is None else r(hi),
                   censored=censored, detail=detail, reason=reason,
                   estimate="lower_bound" if censored else estimate, evidence_gap=evidence_gap)

    @classmethod
    def delay(cls, name: str, since: float, lo_edge: float, hi_edge: float, *, detail: str,
              evidence_gap: str | None = None) -> MetricValue:
        """A delay from `since` (when the cause was sent) to a change seen in the window
        [lo_edge, hi_edge]: the value is the window's upper edge (the first response that
        showed it); causality clips the window to `since`, so no bound is ever below 0."""
        lo = max(lo_edge, since)
        hi = max(hi_edge, lo)
        return cls.measured(name, hi - since, lo - since, hi - since, estimate="upper_edge",
                            detail=detail, evidence_gap=evidence_gap)

    @classmethod
    def unavailable(cls, name: str, reason: str) -> MetricValue:
        return cls(name=name, unit=METRIC_UNITS.get(name, "s"), available=False, reason=reason)

    def renamed(self, name: str, detail: str) -> MetricValue:
        return self.model_copy(update={"name": name, "detail": f"{detail}: {self.detail}"})

    def in_gap(self, gap: str | None) -> MetricValue:
        return self if gap is None else self.model_copy(update={"evidence_gap": gap})

    def text(self) -> str:
        """Human form: '2.61 s (2.60..2.62, upper edge)', '>= 12.0 s', 'n/a (reason)'."""
        if not self.available or self.value is None:
            return f"n/a ({self.reason})"
        unit = f" {self.unit}"
        gap = f" [data gap: {self.evidence_gap}]" if self.evidence_gap else ""
        if self.censored:
            return f">= {fmt(self.value)}{unit}{gap}"
        if self.lo == self.hi == self.value:
            return f"{fmt(self.value)}{unit}{gap}"
        hi = "inf" if self.hi is None else fmt(self.hi)
        how = f", {self.estimate.replace('_', ' ')}" if self.estimate else ""
        return f"{fmt(self.value)}{unit} ({fmt(self.lo)}..{hi}{how}){gap}"
