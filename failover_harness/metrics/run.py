"""All metrics of one playbook section (run_start .. run_end) of a timeline; no I/O."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from failover_harness.events import Event
from failover_harness.metrics.calibration import CalibrationPoints
from failover_harness.metrics.detection import detections
from failover_harness.metrics.directions import DirectionSummary, direction_summary
from failover_harness.metrics.failback import failbacks
from failover_harness.metrics.fault import FaultTarget, find_section
from failover_harness.metrics.flows import FlowMetrics, convergence, flow_metrics
from failover_harness.metrics.gaps import Coverages, DataGap, azure_gap_metric
from failover_harness.metrics.recovery import reset_recovery
from failover_harness.metrics.values import METRIC_UNITS, MetricValue


class RunMetrics(BaseModel):
    t_start: float
    t_end: float
    t0: float | None
    fault_start: float | None
    restore_t: float | None
    restore_start: float | None
    fault: FaultTarget | None
    flows: list[FlowMetrics]
    metrics: dict[str, MetricValue]
    data_gaps: list[DataGap] = Field(description="notable gaps of every source (gaps.py)")
    notes: list[str] = Field(default_factory=list)
    directions: DirectionSummary | None = Field(
        default=None, description="loss by direction of the UDP flows (directions.py)")


def compute_metrics(events: Sequence[Event], calibration: CalibrationPoints | None = None) -> RunMetrics:
    """Metrics of one playbook section; see the modules of this package for each.
    `calibration`: the run's pooled calibration points (calibration.py; None: the section's own)."""
    events = sorted(events, key=lambda e: (e.t, e.seq))
    section = find_section(events)
    t0 = section.t0
    notes: list[str] = []
    if t0 is None:
        notes.append("no fault action (shut_interface/shut_neighbor) completed: no t0")
    elif section.restore_t is None:
        notes.append("no restore action (no_shut_*) after the fault")

    coverage = Coverages(events, section.t_start, section.t_end)
    flows = flow_metrics(events, section)
    metrics = convergence(flows, t0)
    metrics.update(detections(events, section, coverage, calibration))
    metrics.update(failbacks(events, section, flows, coverage))
    metrics.update(reset_recovery(events, section, flows, coverage))
    metrics["azure_data_gap_s"] = azure_gap_metric(coverage.azure_ops)
    gaps = coverage.notable()
    for g in gaps:
        if section.fault_start is not None and g.end >= section.fault_start:
            # Which data is missing, and what it does to the results: metrics whose evidence
            # falls in it name it, and a verdict it could decide is inconclusive.
            hit = [m.name for m in metrics.values() if m.evidence_gap == g.name()]
            notes.append(f"No data from {g.source} for {g.duration_s:.1f} s"
                         f"{' (' + ', '.join(g.reasons) + ')' if g.reasons else ''} from "
                         f"fault{g.start - section.fault_start:+.1f} s"
                         + (f": {', '.join(hit)} unknown within their bounds" if hit
                            else ": no metric rests on it"))
    ordered = {name: metrics[name] for name in METRIC_UNITS if name in metrics}
    return RunMetrics(t_start=section.t_start, t_end=section.t_end, t0=t0,
                      fault_start=section.fault_start, restore_t=section.restore_t,
                      restore_start=section.restore_start, fault=section.fault,
                      flows=flows, metrics=ordered, data_gaps=gaps, notes=notes,
                      directions=direction_summary(flows, metrics))
