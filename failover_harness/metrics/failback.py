"""After the restore: lost probes, and when each side was back.

Delays are from when the restore command was sent (its action_start), as detection.py's
are from the fault's; the same causal clipping and gap naming apply.
"""

from __future__ import annotations

from collections.abc import Sequence

from failover_harness.events import AzurePeer, Event
from failover_harness.metrics.fault import Section
from failover_harness.metrics.flows import FlowMetrics
from failover_harness.metrics.gaps import Coverage, Coverages, DataGap
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


def _failback_routes(events: Sequence[Event], fault_start: float, since: float,
                     coverage: Coverage) -> MetricValue:
    name = "failback_routes_s"
    changes = routes(events)
    baseline: dict[RouteKey, frozenset[str]] = {}
    state: dict[RouteKey, frozenset[str]] = {}
    for event, key, hops in changes:
        if event.t < fault_start:
            baseline[key] = hops
        if event.t < since:
            state[key] = hops
    if not baseline:
        return MetricValue.unavailable(name, "no Azure route_next_hops events before the fault")

    def complete() -> bool:
        return all(hops <= state.get(key, frozenset()) for key, hops in baseline.items())

    if complete():
        return MetricValue.measured(name, 0.0, estimate="no_change",
                                    detail="routes never lost a path")
    for event, key, hops in changes:
        if event.t < since:
            continue
        state[key] = hops
        if complete():
            lo_edge, hi_edge = event.window
            gap = coverage.gap_in(max(lo_edge, since), hi_edge)
            return MetricValue.delay(name, since, lo_edge, hi_edge,
                                     evidence_gap=gap.name() if gap else None,
                                     detail="all pre-fault next hops back")
    end = max([e.t for e, _, _ in changes] + [since])
    return MetricValue.measured(name, end - since, censored=True, estimate="lower_bound",
                                evidence_gap=_gap_name(coverage.gap_in(end, float("inf"))),
                                reason="pre-fault next hops not all back by the last sample")


def _gap_name(gap: DataGap | None) -> str | None:
    return gap.name() if gap else None


def _failback_azure(events: Sequence[Event], since: float, coverage: Coverage) -> MetricValue:
    name = "failback_azure_s"
    peers: dict[str, str] = {}
    changes = [e for e in events if isinstance(e, AzurePeer)]
    if not changes:
        return MetricValue.unavailable(name, "no Azure bgp_peer events in the timeline")
    for event in changes:
        if event.t < since:
            peers[event.subject] = state_of(event).lower()
    if peers and all(s == UP_AZURE for s in peers.values()):
        return MetricValue.measured(name, 0.0, estimate="no_change",
                                    detail="every Azure peer stayed Connected")
    for event in changes:
        if event.t < since:
            continue
        peers[event.subject] = state_of(event).lower()
        if all(s == UP_AZURE for s in peers.values()):
            lo_edge, hi_edge = event.window
            gap = coverage.gap_in(max(lo_edge, since), hi_edge)
            return MetricValue.delay(name, since, lo_edge, hi_edge, evidence_gap=_gap_name(gap),
                                     detail=f"{len(peers)} Azure peers Connected")
    end = max(max(e.t for e in changes), since)
    return MetricValue.measured(name, end - since, censored=True, estimate="lower_bound",
                                evidence_gap=_gap_name(coverage.gap_in(end, float("inf"))),
                                reason="not every Azure peer Connected again by the last sample")


def failbacks(events: Sequence[Event], section: Section, flows: list[FlowMetrics],
              coverage: Coverages) -> dict[str, MetricValue]:
    since, fault_start = section.restore_start, section.fault_start
    if section.restore_t is None or since is None or fault_start is None:
        return {n: MetricValue.unavailable(n, "no restore action (no_shut_*) after the fault")
                for n in FAILBACKS}
    out: dict[str, MetricValue] = {}
    if flows:
        censored = any(e.open for f in flows for e in f.episodes if e.phase == "failback")
        out["failback_lost_probes"] = MetricValue.measured(
            "failback_lost_probes", sum(f.failback_lost for f in flows), censored=censored,
            estimate="count")
    else:
        out["failback_lost_probes"] = MetricValue.unavailable(
            "failback_lost_probes", "no probe flows in the timeline")
    fault = section.fault
    if fault is None or fault.onprem_neighbor is None:
        out["failback_onprem_s"] = MetricValue.unavailable(
            "failback_onprem_s", "fault action data has no 'onprem_neighbor'")
    else:
        out["failback_onprem_s"] = transition(
            onprem_sessions(events, fault), since=since, name="failback_onprem_s",
            up_state=UP_ONPREM, want_up=True, what=f"on-prem session to {fault.onprem_neighbor}",
            until=None, t_end=max(e.t for e in events), coverage=coverage.device(fault.device))
    out["failback_azure_s"] = _failback_azure(events, since, coverage.azure("bgp_peer_status"))
    out["failback_routes_s"] = _failback_routes(events, fault_start, since,
                                                coverage.azure("learned_routes"))
    return out
