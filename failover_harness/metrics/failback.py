"""After the restore: lost probes, and when each side was back (delays from the restore's t)."""

from __future__ import annotations

from collections.abc import Sequence

from failover_harness.events import AzurePeer, Event
from failover_harness.metrics.fault import Section
from failover_harness.metrics.flows import FlowMetrics
from failover_harness.metrics.observations import (
    UP_AZURE,
    UP_ONPREM,
    RouteKey,
    onprem_sessions,
    routes,
    state_of,
    transition,
)
from failover_harness.metrics.values import MetricValue

FAILBACKS = ("failback_lost_probes", "failback_onprem_s", "failback_azure_s", "failback_routes_s")


def _failback_routes(events: Sequence[Event], fault_start: float, restore_start: float,
                     restore_t: float) -> MetricValue:
    name = "failback_routes_s"
    changes = routes(events)
    baseline: dict[RouteKey, frozenset[str]] = {}
    state: dict[RouteKey, frozenset[str]] = {}
    for event, key, hops in changes:
        if event.t < fault_start:
            baseline[key] = hops
        if event.t < restore_start:
            state[key] = hops
    if not baseline:
        return MetricValue.unavailable(name, "no Azure route_next_hops events before the fault")

    def complete() -> bool:
        return all(hops <= state.get(key, frozenset()) for key, hops in baseline.items())

    if complete():
        return MetricValue.measured(name, 0.0, detail="routes never lost a path")
    for event, key, hops in changes:
        if event.t < restore_start:
            continue
        state[key] = hops
        if complete():
            lo_edge, hi_edge = event.window
            return MetricValue.measured(name, hi_edge - restore_t,
                                        max(lo_edge, restore_start) - restore_t,
                                        hi_edge - restore_t, detail="all pre-fault next hops back")
    end = max([e.t for e, _, _ in changes] + [restore_t])
    return MetricValue.measured(name, end - restore_t, censored=True,
                                reason="pre-fault next hops not all back by the last sample")


def _failback_azure(events: Sequence[Event], restore_start: float, restore_t: float) -> MetricValue:
    name = "failback_azure_s"
    peers: dict[str, str] = {}
    changes = [e for e in events if isinstance(e, AzurePeer)]
    if not changes:
        return MetricValue.unavailable(name, "no Azure bgp_peer events in the timeline")
    for event in changes:
        if event.t < restore_start:
            peers[event.subject] = state_of(event).lower()
    if peers and all(s == UP_AZURE for s in peers.values()):
        return MetricValue.measured(name, 0.0, detail="every Azure peer stayed Connected")
    for event in changes:
        if event.t < restore_start:
            continue
        peers[event.subject] = state_of(event).lower()
        if all(s == UP_AZURE for s in peers.values()):
            lo_edge, hi_edge = event.window
            return MetricValue.measured(name, hi_edge - restore_t,
                                        max(lo_edge, restore_start) - restore_t,
                                        hi_edge - restore_t,
                                        detail=f"{len(peers)} Azure peers Connected")
    end = max(e.t for e in changes)
    return MetricValue.measured(name, max(end, restore_t) - restore_t, censored=True,
                                reason="not every Azure peer Connected again by the last sample")


def failbacks(events: Sequence[Event], section: Section,
              flows: list[FlowMetrics]) -> dict[str, MetricValue]:
    restore_t, restore_start, fault_start = (section.restore_t, section.restore_start,
                                             section.fault_start)
    if restore_t is None or restore_start is None or fault_start is None:
        return {n: MetricValue.unavailable(n, "no restore action (no_shut_*) after the fault")
                for n in FAILBACKS}
    out: dict[str, MetricValue] = {}
    if flows:
        censored = any(e.open for f in flows for e in f.episodes if e.phase == "failback")
        out["failback_lost_probes"] = MetricValue.measured(
            "failback_lost_probes", sum(f.failback_lost for f in flows), censored=censored)
    else:
        out["failback_lost_probes"] = MetricValue.unavailable(
            "failback_lost_probes", "no probe flows in the timeline")
    fault = section.fault
    if fault is None or fault.onprem_neighbor is None:
        out["failback_onprem_s"] = MetricValue.unavailable(
            "failback_onprem_s", "fault action data has no 'onprem_neighbor'")
    else:
        out["failback_onprem_s"] = transition(
            onprem_sessions(events, fault), after=restore_start, ref=restore_t,
            lower=restore_start, name="failback_onprem_s", up_state=UP_ONPREM, want_up=True,
            what=f"on-prem session to {fault.onprem_neighbor}", until=None,
            t_end=max(e.t for e in events))
    out["failback_azure_s"] = _failback_azure(events, restore_start, restore_t)
    out["failback_routes_s"] = _failback_routes(events, fault_start, restore_start, restore_t)
    return out
