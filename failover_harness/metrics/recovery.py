"""Recovery from an Azure reset: when traffic and routes were whole again.

A reset (an instance reboot, an active-standby takeover, a connection reset) has no restore
action: it ends by itself. `reset_recovery_s` runs from when the reset was sent (its
action_start, the causal lower bound) to the later of
- flows recovered: every flow's last loss episode after the fault has ended (the send time
  of its first answered probe; the path healed at most one probe interval before), and
- routes back: every prefix Azure learned via the reset tunnel's on-prem peer before the
  reset is learned via it again (the upper edge of the sample window that first showed it).
The value is the upper edge of that window; it is censored when either never happened
before the data ended.
"""

from __future__ import annotations

from collections.abc import Sequence

from failover_harness.events import Event
from failover_harness.metrics.fault import Section
from failover_harness.metrics.flows import FlowMetrics
from failover_harness.metrics.gaps import Coverages
from failover_harness.metrics.observations import RouteKey, routes
from failover_harness.metrics.values import MetricValue, fmt
from failover_harness.vocabulary import AZURE_ACTIONS

NAME = "reset_recovery_s"


def _flows_back(flows: list[FlowMetrics], since: float) -> tuple[float, float, str] | None:
    """(lo, hi, what) of the instant every flow answered again; None: some never did."""
    lo = hi = since
    what = "no flow lost a probe"
    for flow in flows:
        eps = [e for e in flow.episodes if e.phase == "fault" and e.end >= since]
        if not eps:
            continue
        last = max(eps, key=lambda e: e.end)
        if last.open:
            return None
        if last.end > hi:
            lo, hi = max(last.end - (flow.interval_s or 0.0), since), last.end
            what = f"flow {flow.flow} answered again at t={fmt(last.end)}"
    return lo, hi, what


RouteWindow = tuple[float, float, str]


def _routes_back(events: Sequence[Event], since: float, peer: str | None) -> RouteWindow | str | None:
    """(lo, hi, what) of the first sample, after one that had lost it, in which every prefix
    Azure learned via `peer` (the reset tunnel's on-prem BGP address) before the reset is
    learned via it again; (since, since, ...) if no sample showed it lost; None if it was not
    back by the last sample; a string: why it cannot be known. Only that peer's routes count:
    routes between the gateway's own instances change their next hop in a takeover."""
    if peer is None:
        return "the fault names no Azure peer (azure_peer)"
    changes = routes(events)
    state: dict[RouteKey, frozenset[str]] = {}
    for event, key, hops in changes:
        if event.t < since:
            state[key] = hops
    watched = {key for key, hops in state.items() if peer in hops}
    if not watched:
        return f"no Azure learned route via {peer} before the reset"

    def complete() -> bool:
        return all(peer in state.get(key, frozenset()) for key in watched)

    lost = False
    for event, key, hops in changes:
        if event.t < since:
            continue
        state[key] = hops
        if not complete():
            lost = True
        elif lost:
            lo_edge, hi_edge = event.window
            return max(lo_edge, since), hi_edge, f"routes via {peer} back at t={fmt(event.t)}"
    return None if lost else (since, since, f"Azure's routes via {peer} never went away")


def reset_recovery(events: Sequence[Event], section: Section, flows: list[FlowMetrics],
                   coverage: Coverages) -> dict[str, MetricValue]:
    """{reset_recovery_s: ...} for a section whose fault is an Azure reset; {} otherwise."""
    since = section.fault_start
    if section.fault is None or section.fault.action not in AZURE_ACTIONS or since is None:
        return {}
    if not flows:
        return {NAME: MetricValue.unavailable(NAME, "no probe flows in the timeline")}
    routes_back = _routes_back(events, since, section.fault.azure_peer)
    if isinstance(routes_back, str):
        return {NAME: MetricValue.unavailable(NAME, routes_back)}
    flows_back = _flows_back(flows, since)
    if flows_back is None or routes_back is None:
        t_end = max(e.t for e in events)
        gap = coverage.azure("learned_routes").gap_in(t_end, float("inf"))
        why = ("a flow was still losing at the end" if flows_back is None
               else "the routes via the reset tunnel's peer were not back by the last sample")
        return {NAME: MetricValue.measured(NAME, t_end - since, censored=True,
                                           estimate="lower_bound", reason=why,
                                           evidence_gap=gap.name() if gap else None)}
    (f_lo, f_hi, f_what), (r_lo, r_hi, r_what) = flows_back, routes_back
    lo, hi = max(f_lo, r_lo), max(f_hi, r_hi)
    gap = coverage.azure("learned_routes").gap_in(r_lo, r_hi) if r_hi > since else None
    return {NAME: MetricValue.delay(
        NAME, since, lo, hi, evidence_gap=gap.name() if gap else None,
        detail=f"last: {r_what}; before: {f_what}" if r_hi > f_hi else f"last: {f_what}; before: {r_what}")}
