"""When each side noticed the fault: on-prem session, Azure peer, learned routes, connection.

Each is a delay from when the fault command was sent (its action_start: nothing can change
before it) to the change that showed it; its interval is the change's window (the last
sample that still showed the old state .. the response that showed the new one), clipped to
the send time, and its value the window's upper edge. Evidence in a data gap of its source
(gaps.py) is named.
"""

from __future__ import annotations

from collections.abc import Sequence

from failover_harness.events import Event
from failover_harness.metrics.calibration import CalibrationPoints, calibrated_detection
from failover_harness.metrics.fault import FaultTarget, Section
from failover_harness.metrics.flows import NO_T0
from failover_harness.metrics.gaps import Coverage, Coverages
from failover_harness.metrics.observations import (
    UP_AZURE,
    UP_ONPREM,
    RouteKey,
    StateEvent,
    azure_peers,
    connections,
    onprem_sessions,
    routes,
    transition,
)
from failover_harness.metrics.values import MetricValue, fmt

DETECTIONS = ("onprem_detection_s", "azure_detection_s", "routes_withdrawn_s",
              "connection_detection_s")


def _routes_withdrawn(events: Sequence[Event], fault: FaultTarget, since: float,
                      until: float | None, t_end: float, coverage: Coverage) -> MetricValue:
    name = "routes_withdrawn_s"
    hop = fault.azure_peer
    if hop is None:
        return MetricValue.unavailable(name, "fault action data has no 'azure_peer' (the failed next hop)")
    changes = routes(events)
    if not changes:
        return MetricValue.unavailable(name, "no Azure route_next_hops events in the timeline")
    state: dict[RouteKey, frozenset[str]] = {}
    index = 0
    while index < len(changes) and changes[index][0].t < since:
        state[changes[index][1]] = changes[index][2]
        index += 1
    prefixes = {key[1] for key, hops in state.items() if hop in hops}
    if not prefixes:
        return MetricValue.unavailable(name, f"no learned route via {hop} before the fault")
    for event, key, hops in changes[index:]:
        if until is not None and event.t > until:
            break
        state[key] = hops
        if not any(hop in h for (_, prefix), h in state.items() if prefix in prefixes):
            lo_edge, hi_edge = event.window
            gap = coverage.gap_in(max(lo_edge, since), hi_edge)
            return MetricValue.delay(name, since, lo_edge, hi_edge,
                                     evidence_gap=gap.name() if gap else None,
                                     detail=f"{hop} gone for {', '.join(sorted(prefixes))}")
    end = until if until is not None else t_end
    seen = max(min(coverage.last_seen(end), end), since)
    gap = coverage.gap_in(seen, end)
    return MetricValue.measured(name, seen - since, censored=True, estimate="lower_bound",
                                evidence_gap=gap.name() if gap else None,
                                reason=f"next hop {hop} still learned at t={fmt(seen)}")


def detections(events: Sequence[Event], section: Section, coverage: Coverages,
               pooled: CalibrationPoints | None = None) -> dict[str, MetricValue]:
    fault, since = section.fault, section.fault_start
    if fault is None or since is None:
        return {n: MetricValue.unavailable(n, NO_T0) for n in DETECTIONS}

    def went_down(match: list[StateEvent], name: str, up_state: str, what: str,
                  source: Coverage) -> MetricValue:
        assert since is not None
        return transition(match, since=since, name=name, up_state=up_state, want_up=False,
                          what=what, until=section.restore_start, t_end=section.t_end,
                          coverage=source)

    out: dict[str, MetricValue] = {}
    if fault.onprem_neighbor is None:
        out["onprem_detection_s"] = MetricValue.unavailable(
            "onprem_detection_s", "fault action data has no 'onprem_neighbor'")
    else:
        out["onprem_detection_s"] = went_down(
            onprem_sessions(events, fault), "onprem_detection_s", UP_ONPREM,
            f"on-prem session to {fault.onprem_neighbor}", coverage.device(fault.device))
    if fault.azure_peer is None:
        out["azure_detection_s"] = MetricValue.unavailable(
            "azure_detection_s", "fault action data has no 'azure_peer'")
    else:
        where = f" on instance {fault.azure_instance}" if fault.azure_instance else ""
        # Snapshot-offset calibration from the failback narrows the sample windows (calibration.py).
        out["azure_detection_s"] = calibrated_detection(events, section, fault, went_down(
            azure_peers(events, fault.azure_peer, fault.azure_instance),
            "azure_detection_s", UP_AZURE, f"Azure peer {fault.azure_peer}{where}",
            coverage.azure("bgp_peer_status")), pooled)
    out["routes_withdrawn_s"] = _routes_withdrawn(events, fault, since, section.restore_start,
                                                  section.t_end,
                                                  coverage.azure("learned_routes"))
    if fault.connection is None:
        out["connection_detection_s"] = MetricValue.unavailable(
            "connection_detection_s", "fault action data has no 'connection'")
    else:
        out["connection_detection_s"] = went_down(
            connections(events, fault.connection), "connection_detection_s", UP_AZURE,
            f"connection {fault.connection}", coverage.azure("connections"))
    return out
