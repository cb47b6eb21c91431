"""MetricValue: a measured value with its bounds and which estimate it is, or why it is not known."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Unit = Literal["s", "probes", "flows"]

METRIC_UNITS: dict[str, Unit] = {
    "onprem_detection_s": "s", "azure_detection_s": "s", "routes_withdrawn_s": "s",
    "connection_detection_s": "s", "max_outage_s": "s", "min_outage_s": "s",
    "total_lost_probes": "probes", "flows_with_loss": "flows", "flows_without_loss": "flows",
    "failback_lost_probes": "probes", "failback_onprem_s": "s", "failback_azure_s": "s",
    "failback_routes_s": "s", "azure_data_gap_s": "s", "outage_s": "s", "loss_outage_s": "s",
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

    @classmethod
    def measured(cls, name: str, value: float, lo: float | None = None, hi: float | None = None,
                 *, censored: bool = False, detail: str | None = None,
                 reason: str | None = None) -> MetricValue:
        lo = value if lo is None else lo
        hi = None if censored else (value if hi is None else hi)
        return cls(name=name, unit=METRIC_UNITS.get(name, "s"), available=True,
                   value=r(value), lo=r(lo), hi=None if hi is None else r(hi),
                   censored=censored, detail=detail, reason=reason)

    @classmethod
    def unavailable(cls, name: str, reason: str) -> MetricValue:
        return cls(name=name, unit=METRIC_UNITS.get(name, "s"), available=False, reason=reason)

    def renamed(self, name: str, detail: str) -> MetricValue:
        return self.model_copy(update={"name": name, "detail": f"{detail}: {self.detail}"})

    def text(self) -> str:
        """Human form: '2.61 s (2.60..2.62)', '>= 12.0 s', 'n/a (reason)'."""
        if not self.available or self.value is None:
            return f"n/a ({self.reason})"
        unit = f" {self.unit}"
        if self.censored:
            return f">= {fmt(self.value)}{unit}"
        if self.lo == self.hi == self.value:
            return f"{fmt(self.value)}{unit}"
        hi = "inf" if self.hi is None else fmt(self.hi)
        return f"{fmt(self.value)}{unit} ({fmt(self.lo)}..{hi})"
