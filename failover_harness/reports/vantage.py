"""Flows grouped by vantage point and source prefix, with each remote vantage point's clock
(offset, drift, uncertainty against the run's clock; the newest vantage_clock event of the
section). Null for a section whose flows all ran on this host without SSH vantage points.

The source prefix is the /24 of a flow's source address (the timeline does not carry the
inventory's prefixes): it tells a branch's 192.168.21.0/24 from the data centre's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from pydantic import BaseModel, Field

from failover_harness.events import Event, FlowStart, VantageClock, VantageClockFields
from failover_harness.metrics import fmt
from failover_harness.metrics.flows import FlowMetrics
from failover_harness.reports.findings import Finding

LOCAL = "this host"


class VantageGroup(BaseModel):
    vantage: str  # the inventory's vantage point (or its netns, or "this host")
    host: str | None = None  # its SSH host
    prefix: str | None = Field(default=None, description="the /24 of the flows' source")
    flows: int
    flows_with_loss: int
    lost_probes: int
    max_outage_s: float | None = Field(default=None, description="the longest fault-phase "
                                       "outage of these flows (loss period, upper edge)")
    forward_lost: int | None = Field(default=None, description="UDP probes lost on the way "
                                     "out after the fault (None: no UDP flow could tell)")
    return_lost: int | None = None  # ... and on the way back
    clock: VantageClockFields | None = None  # remote vantage points only

    def line(self) -> str:
        where = f"{self.vantage}" + (f" ({self.host})" if self.host else "")
        outage = "no loss after the fault" if not self.flows_with_loss else (
            f"{self.flows_with_loss} of {self.flows} flows lost probes, longest outage "
            f"{fmt(self.max_outage_s)} s, {self.lost_probes} probes lost")
        clock = "" if self.clock is None else (
            f"; clock offset {fmt(self.clock.offset_s * 1000)} ms +/- "
            f"{fmt(self.clock.uncertainty_s * 1000)} ms, drift {fmt(self.clock.drift_ppm)} ppm")
        return f"{where}, sources in {self.prefix or '?'}: {outage}{clock}"


def _prefix(src: str | None) -> str | None:
    if not src:
        return None
    try:
        return str(ipaddress.ip_network(f"{src}/24", strict=False))
    except ValueError:
        return None


def vantage_groups(events: Sequence[Event], flows: Sequence[FlowMetrics]) -> list[VantageGroup] | None:
    starts = {e.subject.removeprefix("flow:"): e for e in events if isinstance(e, FlowStart)}
    if not any(e.data.vantage or e.data.host for e in starts.values()):
        return None
    clocks = {e.subject.removeprefix("vantage:"): e.data for e in events
              if isinstance(e, VantageClock)}
    groups: dict[tuple[str, str | None], list[FlowMetrics]] = {}
    hosts: dict[str, str | None] = {}
    for flow in flows:
        start = starts.get(flow.flow)
        vantage = (start.data.vantage or start.data.netns or LOCAL) if start else LOCAL
        hosts[vantage] = start.data.host if start else None
        groups.setdefault((vantage, _prefix(flow.src)), []).append(flow)
    out = []
    for (vantage, prefix), members in groups.items():
        losing = [f for f in members if any(e.phase == "fault" for e in f.episodes)]
        outages = [f.outage_s.value for f in losing if f.outage_s.value is not None]
        split = [e for f in members for e in f.episodes
                 if e.phase == "fault" and e.forward_lost is not None and e.return_lost is not None]
        out.append(VantageGroup(
            vantage=vantage, host=hosts.get(vantage), prefix=prefix, flows=len(members),
            flows_with_loss=len(losing), lost_probes=sum(f.lost for f in members),
            max_outage_s=max(outages) if outages else None,
            forward_lost=sum(e.forward_lost or 0 for e in split) if split else None,
            return_lost=sum(e.return_lost or 0 for e in split) if split else None,
            clock=clocks.get(vantage)))
    return out


def vantage_finding(groups: Sequence[VantageGroup] | None) -> Finding | None:
    """Which vantage points (sites) lost after the fault, and in which direction."""
    if not groups or len(groups) < 2:
        return None
    lost = [g for g in groups if g.flows_with_loss]
    clean = [g for g in groups if not g.flows_with_loss]

    def name(g: VantageGroup) -> str:
        return f"{g.vantage} ({g.prefix})" if g.prefix else g.vantage

    parts = []
    for g in lost:
        way = "" if g.forward_lost is None else (
            f"; UDP {g.forward_lost} lost on the way out, {g.return_lost} on the way back")
        parts.append(f"{name(g)} lost probes on {g.flows_with_loss} of {g.flows} flows "
                     f"(longest outage {fmt(g.max_outage_s)} s{way})")
    text = ("By vantage point: " + "; ".join(parts) + "." if parts else
            "By vantage point: none lost a probe after the fault.")
    if lost and clean:
        text += " No loss at " + ", ".join(name(g) for g in clean) + "."
    return Finding(kind="vantage", text=text)
