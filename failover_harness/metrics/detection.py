"""When each side noticed the fault: on-prem session, Azure peer, learned routes, connection.

Each is a delay from t0 whose interval is the window of the change that showed it (the last
sample that still showed the old state .. the response that showed the new one).
"""

from __future__ import annotations

from collections.abc import Sequence

from failover_harness.events import Event
from failover_harness.metrics.calibration import calibrated_detection
from failover_harness.metrics.fault import FaultTarget, Section
from failover_harness.metrics.flows import NO_T0
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


def _routes_withdrawn(events: Sequence[Event], fault: FaultTarget, fault_start: float,
                      t0: float, until: float | None, t_end: float) -> MetricValue:
    name = "routes_withdrawn_s"
    hop = fault.azure_peer
    if hop is None:
        return MetricValue.unavailable(name, "fault action data has no 'azure_peer' (the failed next hop)")
    changes = routes(events)
    if not changes:
        return MetricValue.unavailable(name, "no Azure route_next_hops events in the timeline")
    state: dict[RouteKey, frozenset[str]] = {}
    index = 0
    while index < len(changes) and changes[index][0].t < fault_start:
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
            return MetricValue.measured(name, hi_edge - t0, max(lo_edge, fault_start) - t0,
                                        hi_edge - t0,
                                        detail=f"{hop} gone for {', '.join(sorted(prefixes))}")
    end = until if until is not None else t_end
    return MetricValue.measured(name, end - t0, censored=True,
                                reason=f"next hop {hop} still learned at t={fmt(end)}")


def detections(events: Sequence[Event], section: Section) -> dict[str, MetricValue]:
    fault, t0, fault_start = section.fault, section.t0, section.fault_start
    if t0 is None or fault is None or fault_start is None:
        return {n: MetricValue.unavailable(n, NO_T0) for n in DETECTIONS}

    def went_down(match: list[StateEvent], name: str, up_state: str, what: str) -> MetricValue:
        assert t0 is not None and fault_start is not None
        return transition(match, after=fault_start, ref=t0, lower=fault_start, name=name,
                          up_state=up_state, want_up=False, what=what,
                          until=section.restore_start, t_end=section.t_end)

    out: dict[str, MetricValue] = {}
    if fault.onprem_neighbor is None:
        out["onprem_detection_s"] = MetricValue.unavailable(
            "onprem_detection_s", "fault action data has no 'onprem_neighbor'")
    else:
        out["onprem_detection_s"] = went_down(
            onprem_sessions(events, fault), "onprem_detection_s", UP_ONPREM,
            f"on-prem session to {fault.onprem_neighbor}")
    if fault.azure_peer is None:
        out["azure_detection_s"] = MetricValue.unavailable(
            "azure_detection_s", "fault action data has no 'azure_peer'")
    else:
        where = f" on instance {fault.azure_instance}" if fault.azure_instance else ""
        # Snapshot-offset calibration from the failback narrows the sample windows (calibration.py).
        out["azure_detection_s"] = calibrated_detection(events, section, fault, went_down(
            azure_peers(events, fault.azure_peer, fault.azure_instance),
            "azure_detection_s", UP_AZURE, f"Azure peer {fault.azure_peer}{where}"))
    out["routes_withdrawn_s"] = _routes_withdrawn(events, fault, fault_start, t0,
                                                  section.restore_start, section.t_end)
    if fault.connection is None:
        out["connection_detection_s"] = MetricValue.unavailable(
            "connection_detection_s", "fault action data has no 'connection'")
    else:
        out["connection_detection_s"] = went_down(
            connections(events, fault.connection), "connection_detection_s", UP_AZURE,
            f"connection {fault.connection}")
    return out
