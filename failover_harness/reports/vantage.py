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
        out.append(VantageGroup(
            vantage=vantage, host=hosts.get(vantage), prefix=prefix, flows=len(members),
            flows_with_loss=len(losing), lost_probes=sum(f.lost for f in members),
            max_outage_s=max(outages) if outages else None, clock=clocks.get(vantage)))
    return out
