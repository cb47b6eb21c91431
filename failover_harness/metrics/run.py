"""All metrics of one playbook section (run_start .. run_end) of a timeline; no I/O."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from failover_harness.events import Event
from failover_harness.metrics.detection import detections
from failover_harness.metrics.failback import failbacks
from failover_harness.metrics.fault import FaultTarget, find_section
from failover_harness.metrics.flows import FlowMetrics, convergence, flow_metrics
from failover_harness.metrics.gaps import AzureGap, azure_gaps
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
    azure_gaps: list[AzureGap]
    notes: list[str] = Field(default_factory=list)


def compute_metrics(events: Sequence[Event]) -> RunMetrics:
    """Metrics of one playbook section; see the modules of this package for each."""
    events = sorted(events, key=lambda e: (e.t, e.seq))
    section = find_section(events)
    t0 = section.t0
    notes: list[str] = []
    if t0 is None:
        notes.append("no fault action (shut_interface/shut_neighbor) completed: no t0")
    elif section.restore_t is None:
        notes.append("no restore action (no_shut_*) after the fault")

    flows = flow_metrics(events, section)
    metrics = convergence(flows, t0)
    metrics.update(detections(events, section))
    metrics.update(failbacks(events, section, flows))
    gap, gaps = azure_gaps(events, section.t_end)
    metrics["azure_data_gap_s"] = gap
    for g in gaps:
        if t0 is not None and g.reasons and g.end >= t0:
            # What data is missing, and whether the result still holds: the Azure metrics
            # measured across the gap carry it in their bounds, and a verdict is only
            # marginal when those bounds straddle its limit.
            notes.append(f"Azure data missing for {g.duration_s:.1f} s ({', '.join(g.reasons)}) "
                         f"from t0{g.start - t0:+.1f} s: Azure metrics measured across it are "
                         "bounded by the samples around it")
    ordered = {name: metrics[name] for name in METRIC_UNITS if name in metrics}
    return RunMetrics(t_start=section.t_start, t_end=section.t_end, t0=t0,
                      fault_start=section.fault_start, restore_t=section.restore_t,
                      restore_start=section.restore_start, fault=section.fault,
                      flows=flows, metrics=ordered, azure_gaps=gaps, notes=notes)
