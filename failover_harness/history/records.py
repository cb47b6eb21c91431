"""What the index holds for one run: one row per playbook section of a game-day (run id +
section), its labels, and one row per metric and iteration, taken from the report and the
section's timeline events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field

from failover_harness.events import AzurePeer, Event, GuardArmed, PredictionMade, RunStart
from failover_harness.metrics import MetricValue, Unit, fmt
from failover_harness.metrics.values import Estimate
from failover_harness.reports.schema import Report, SectionReport

HARNESS = "failover-harness"
# A repeated playbook (run --repeat) makes a section per iteration, numbered from 1; a
# playbook run once is iteration 0.
FIRST_ITERATION = 0


class IndexedMetric(BaseModel):
    iteration: int = FIRST_ITERATION
    metric: str
    unit: Unit
    available: bool
    value: float | None = None
    lo: float | None = None
    hi: float | None = Field(default=None, description="None with a value: no upper bound")
    censored: bool = False
    estimate: Estimate | None = None
    verdict: str | None = Field(default=None, description="the expectation's verdict on it")
    reason: str | None = None
    regression: bool = False

    @classmethod
    def of(cls, value: MetricValue, verdict: str | None, iteration: int = FIRST_ITERATION
           ) -> IndexedMetric:
        return cls(iteration=iteration, metric=value.name, unit=value.unit,
                   available=value.available, value=value.value, lo=value.lo, hi=value.hi,
                   censored=value.censored, estimate=value.estimate, verdict=verdict,
                   reason=value.reason)

    def as_value(self) -> MetricValue:
        return MetricValue(name=self.metric, unit=self.unit, available=self.available,
                           value=self.value, lo=self.lo, hi=self.hi, censored=self.censored,
                           estimate=self.estimate, reason=self.reason)


class IndexedRun(BaseModel):
    """One playbook section of a game-day run (one iteration of a repeated playbook), as
    the index keeps it."""

    run_id: str
    section: int
    iteration: int = FIRST_ITERATION
    run_dir: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    playbook: str
    playbook_digest: str | None = None
    inventory: str
    inventory_digest: str | None = None
    status: str = Field(description="the section's report status (passed, failed, ...)")
    run_status: str | None = Field(default=None, description="run_end: completed|aborted|failed")
    labels: dict[str, str] = Field(default_factory=dict)
    metrics: list[IndexedMetric] = Field(default_factory=list)

    def metric(self, name: str) -> IndexedMetric | None:
        return next((m for m in self.metrics if m.metric == name), None)

    def label(self) -> str:
        """run id, with `#k` for iteration k of a repeated playbook."""
        return self.run_id + (f"#{self.iteration}" if self.iteration else "")


_VERDICT_ORDER = {"failed": 0, "inconclusive": 1, "passed": 2}


def _verdicts(section: SectionReport) -> dict[str, str]:
    """The worst expectation verdict per metric."""
    out: dict[str, str] = {}
    for v in section.verdicts:
        if v.metric not in out or _VERDICT_ORDER[v.status] < _VERDICT_ORDER[out[v.metric]]:
            out[v.metric] = v.status
    return out


def labels_of(section: SectionReport, events: Sequence[Event]) -> dict[str, str]:
    """What the run was: harness and software versions, lab or not, the BGP hold times it
    negotiated (the guard reads them before the fault), the design the prediction read
    (ecmp or primary-backup, BFD on or off) and the gateway as seen (one Azure instance
    answering: active-standby)."""
    labels = {f"version.{k}": v for k, v in sorted(section.run.versions.items())}
    if HARNESS in section.run.versions:
        labels["harness_version"] = section.run.versions[HARNESS]
    start = next((e for e in events if isinstance(e, RunStart)), None)
    if start is not None and start.data.lab is not None:
        labels["lab"] = "true" if start.data.lab else "false"
    armed = next((e for e in events if isinstance(e, GuardArmed)), None)
    if armed is not None and armed.data.hold_s:
        holds = sorted(set(armed.data.hold_s.values()))
        labels["bgp_hold_s"] = ",".join(fmt(h) for h in holds)
    labels.update(_design(events))
    instances = {e.subject.split("/")[0].removeprefix("azure:instance:")
                 for e in events if isinstance(e, AzurePeer)}
    if instances:
        labels["azure_instances"] = str(len(instances))
        labels["gateway"] = "active-active" if len(instances) > 1 else "active-standby"
        if len(instances) == 1:
            labels["design"] = "active-standby"
    return labels


def _design(events: Sequence[Event]) -> dict[str, str]:
    """From the prediction read before the fault (prediction.py): the tunnels' path roles
    (ecmp or primary-backup) and whether BFD bounds Azure's detection."""
    made = next((e for e in events if isinstance(e, PredictionMade)), None)
    if made is None or not made.data.tunnels:
        return {}
    tunnels = made.data.tunnels
    roles = {t.role for t in tunnels}
    out = {"bfd": "on" if any(t.azure_detection.bound_by == "BFD" for t in tunnels) else "off"}
    if roles & {"primary", "backup"}:
        out["design"] = "primary-backup"
    elif "ecmp" in roles:
        out["design"] = "ecmp"
    return out


def runs_from_report(report: Report, sections: Sequence[Sequence[Event]], run_dir: Path
                     ) -> list[IndexedRun]:
    """One IndexedRun per section; `sections` pairs with report.sections (report_from_dir)."""
    runs: list[IndexedRun] = []
    for section, events in zip(report.sections, sections, strict=True):
        info = section.run
        verdicts = _verdicts(section)
        # run_start numbers a playbook run once as iteration 1 of 1: that is iteration 0 here
        iteration = (info.iteration or FIRST_ITERATION) if (info.iterations or 1) > 1 else 0
        runs.append(IndexedRun(
            run_id=info.run_id, section=section.index, iteration=iteration, run_dir=str(run_dir),
            started_at=info.started_at, ended_at=info.ended_at,
            playbook=info.playbook or info.run_id, playbook_digest=info.playbook_digest,
            inventory=info.inventory or "unknown", inventory_digest=info.inventory_digest,
            status=section.status, run_status=info.status,
            labels=labels_of(section, events),
            metrics=[IndexedMetric.of(value, verdicts.get(name), iteration)
                     for name, value in section.metrics.items()]))
    return runs
