"""Per probe flow: loss episodes (RFC 3357 loss periods) and the outage after the fault.

A loss episode runs from its `loss_start` to its `loss_end`; its bounds are the prober's
(`min_duration_s`, `max_duration_s` of loss_end): ICMP is exact to one interval, a TCP flow
only to its attempt timeout while the path is down. An episode without `loss_end`, or one
ended with `open`, lasted until the run ended or later: its outage is censored.

Phases: `before_fault` (ended before the fault action started), `fault` (overlaps the time
from the fault action's start up to the restore action's start), `failback` (starts at or
after the restore action's start).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from failover_harness.events import Event, FlowStart, FlowStats, LossEnd, LossStart
from failover_harness.metrics.fault import Section
from failover_harness.metrics.values import MetricValue, fmt, r

Phase = Literal["before_fault", "fault", "failback"]
NO_T0 = "no fault action_done in the timeline (no t0)"


class LossEpisode(BaseModel):
    flow: str
    start: float
    end: float
    duration_s: float
    lost: int | None
    open: bool = Field(description="still open at run_end: ends at run_end, really later")
    phase: Phase
    min_duration_s: float | None = Field(
        default=None, description="the outage lasted at least this long (first to last lost probe)")
    max_duration_s: float | None = Field(
        default=None, description="and at most this long (answered probe before to answered "
        "probe after); None: not bounded (open, or the run began in it)")
    forward_lost: int | None = Field(
        default=None, description="UDP to a reflector: lost probes that never reached it "
        "(on-prem -> Azure); None: the kind cannot tell, or the split is not known")
    return_lost: int | None = Field(
        default=None, description="UDP to a reflector: lost probes it answered that never "
        "came back (Azure -> on-prem); None as forward_lost")


class FlowMetrics(BaseModel):
    flow: str
    kind: str | None = None
    src: str | None = None
    dst: str | None = None
    dport: int | None = None
    sport: int | None = None
    interval_s: float | None = None
    sent: int | None = None
    received: int | None = None
    lost: int = 0
    episodes: list[LossEpisode] = Field(default_factory=list)
    outage_s: MetricValue
    loss_outage_s: MetricValue
    failback_lost: int = 0


def natural(text: str) -> list[tuple[int, str]]:
    """Sort key: 'icmp-2' before 'icmp-10'."""
    return [(int(p), "") if p.isdigit() else (0, p) for p in re.split(r"(\d+)", text)]


def _phase(section: Section, start: float, end: float) -> Phase:
    if section.restore_start is not None and start >= section.restore_start:
        return "failback"
    if section.fault_start is None or end <= section.fault_start:
        return "before_fault"
    return "fault"


def _episodes(events: Sequence[Event], section: Section) -> dict[str, list[LossEpisode]]:
    open_start: dict[str, LossStart] = {}
    out: dict[str, list[LossEpisode]] = {}

    def close(flow: str, start: LossStart, end_t: float, end: LossEnd | None) -> None:
        out.setdefault(flow, []).append(LossEpisode(
            flow=flow, start=start.t, end=end_t, duration_s=r(end_t - start.t),
            lost=end.data.lost if end else None, open=end is None or end.data.open,
            phase=_phase(section, start.t, end_t),
            min_duration_s=end.data.min_duration_s if end else None,
            max_duration_s=end.data.max_duration_s if end and not end.data.open else None,
            forward_lost=end.data.forward_lost if end else None,
            return_lost=end.data.return_lost if end else None))

    for event in events:
        if isinstance(event, LossStart):
            open_start.setdefault(event.subject.removeprefix("flow:"), event)
        elif isinstance(event, LossEnd):
            flow = event.subject.removeprefix("flow:")
            if flow in open_start:
                close(flow, open_start.pop(flow), event.t, event)
    for flow, start in open_start.items():
        close(flow, start, max(section.t_end, start.t), None)
    return out


def flow_metrics(events: Sequence[Event], section: Section) -> list[FlowMetrics]:
    starts = {e.subject.removeprefix("flow:"): e for e in events if isinstance(e, FlowStart)}
    stats: dict[str, tuple[int, int]] = {}
    for event in events:
        if isinstance(event, FlowStats):
            sent, received = stats.get(event.subject.removeprefix("flow:"), (0, 0))
            stats[event.subject.removeprefix("flow:")] = (sent + event.data.sent,
                                                          received + event.data.received)
    episodes = _episodes(events, section)
    result: list[FlowMetrics] = []
    for flow in sorted(set(starts) | set(episodes), key=natural):
        start = starts.get(flow)
        interval = start.data.interval_s if start else None
        flow_eps = episodes.get(flow, [])
        for index, ep in enumerate(flow_eps):
            if ep.lost is None and interval:  # open without loss_end: at least this many lost
                flow_eps[index] = ep.model_copy(update={"lost": int(ep.duration_s / interval)})
        fault_eps = [e for e in flow_eps if e.phase == "fault"]
        counts = stats.get(flow)
        result.append(FlowMetrics(
            flow=flow, kind=start.data.probe if start else None,
            src=start.data.src if start else None, dst=start.data.dst if start else None,
            dport=start.data.dport if start else None, sport=start.data.sport if start else None,
            interval_s=interval, sent=counts[0] if counts else None,
            received=counts[1] if counts else None,
            lost=sum(e.lost or 0 for e in flow_eps), episodes=flow_eps,
            outage_s=flow_outage(fault_eps, section.t0, interval),
            loss_outage_s=_loss_outage(fault_eps, interval, section.t0),
            failback_lost=sum(e.lost or 0 for e in flow_eps if e.phase == "failback"),
        ))
    return result


def flow_outage(eps: list[LossEpisode], t0: float | None, interval: float | None) -> MetricValue:
    """Sum of the flow's loss episodes of the fault phase, bounded by the prober's bounds."""
    name = "outage_s"
    if t0 is None:
        return MetricValue.unavailable(name, NO_T0)
    if not eps:  # an outage shorter than one interval can fall between two probes
        return MetricValue.measured(name, 0.0, 0.0, interval or 0.0, estimate="loss_period",
                                    detail="no loss after the fault")
    total = sum(e.duration_s for e in eps)
    lo = sum(e.min_duration_s if e.min_duration_s is not None else e.duration_s for e in eps)
    unbounded = any(e.max_duration_s is None for e in eps)
    hi = None if unbounded else sum(e.max_duration_s or 0.0 for e in eps)
    censored = any(e.open for e in eps) or unbounded
    reason = ("an episode was still open at run_end" if any(e.open for e in eps)
              else "an episode has no upper bound" if unbounded else None)
    return MetricValue.measured(name, total, max(min(lo, total), 0.0),
                                None if hi is None else max(hi, total), censored=censored,
                                estimate="loss_period",
                                detail=f"{len(eps)} loss episode(s) after the fault", reason=reason)


def _loss_outage(eps: list[LossEpisode], interval: float | None, t0: float | None) -> MetricValue:
    name = "loss_outage_s"
    if t0 is None:
        return MetricValue.unavailable(name, NO_T0)
    if interval is None:
        return MetricValue.unavailable(name, "no flow_start for this flow (no probe interval)")
    lost = sum(e.lost or 0 for e in eps)
    censored = any(e.open for e in eps)
    return MetricValue.measured(name, lost * interval, censored=censored, estimate="lost_x_interval",
                                detail=f"{lost} lost x {fmt(interval)} s")


def convergence(flows: list[FlowMetrics], t0: float | None) -> dict[str, MetricValue]:
    """max/min outage (full/first convergence), flows with/without loss, lost probes."""
    out: dict[str, MetricValue] = {}
    names = ("max_outage_s", "min_outage_s", "flows_with_loss")
    if t0 is None or not flows:
        reason = NO_T0 if t0 is None else "no probe flows in the timeline"
        out.update({name: MetricValue.unavailable(name, reason) for name in names})
    else:
        with_loss = [f for f in flows if any(e.phase == "fault" for e in f.episodes)]
        out["flows_with_loss"] = MetricValue.measured("flows_with_loss", len(with_loss),
                                                      estimate="count")
        worst = max(flows, key=lambda f: f.outage_s.value or 0.0)
        out["max_outage_s"] = worst.outage_s.renamed("max_outage_s", f"flow {worst.flow}")
        if with_loss:
            best = min(with_loss, key=lambda f: f.outage_s.value or 0.0)
            out["min_outage_s"] = best.outage_s.renamed("min_outage_s", f"flow {best.flow}")
        else:
            out["min_outage_s"] = MetricValue.unavailable("min_outage_s",
                                                          "no flow lost a probe after t0")
    if flows:
        out["flows_without_loss"] = MetricValue.measured(
            "flows_without_loss", sum(1 for f in flows if not f.episodes), estimate="count")
        censored = any(e.open for f in flows for e in f.episodes)
        out["total_lost_probes"] = MetricValue.measured(
            "total_lost_probes", sum(f.lost for f in flows), censored=censored, estimate="count")
    else:
        for name in ("flows_without_loss", "total_lost_probes"):
            out[name] = MetricValue.unavailable(name, "no probe flows in the timeline")
    return out
