"""The polled observations metrics read: on-prem BGP states, Azure peers, connections, routes.

Each is a change event with a window (events.py); `transition` finds the first change into
or out of an up state and turns its window into a delay from a reference instant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from failover_harness.events import AzureConnection, AzurePeer, AzureRoutes, BgpState, Event
from failover_harness.metrics.fault import FaultTarget
from failover_harness.metrics.values import MetricValue, fmt

UP_ONPREM = "established"
UP_AZURE = "connected"
StateEvent = BgpState | AzurePeer | AzureConnection
RouteKey = tuple[str, str]  # (instance, prefix)


def state_of(event: StateEvent) -> str:
    state = event.data.status if isinstance(event, AzureConnection) else event.data.state
    return state or ""


def split_subject(subject: str, prefix: str, sep: str) -> tuple[str, str] | None:
    """'azure:instance:A/peer:B' with prefix 'azure:instance:' and sep '/peer:' -> (A, B)."""
    if not subject.startswith(prefix) or sep not in subject:
        return None
    left, right = subject[len(prefix):].split(sep, 1)
    return left, right


def onprem_sessions(events: Sequence[Event], fault: FaultTarget) -> list[StateEvent]:
    out: list[StateEvent] = []
    for event in events:
        if isinstance(event, BgpState):
            parsed = split_subject(event.subject, "device:", "/neighbor:")
            if parsed and parsed[1] == fault.onprem_neighbor and (
                    fault.device is None or parsed[0] == fault.device):
                out.append(event)
    return out


def azure_peers(events: Sequence[Event], peer: str, instance: str | None) -> list[StateEvent]:
    out: list[StateEvent] = []
    for event in events:
        if isinstance(event, AzurePeer):
            parsed = split_subject(event.subject, "azure:instance:", "/peer:")
            if parsed and parsed[1] == peer and (instance is None or parsed[0] == instance):
                out.append(event)
    return out


def connections(events: Sequence[Event], name: str) -> list[StateEvent]:
    return [e for e in events if isinstance(e, AzureConnection)
            and e.subject == f"azure:connection:{name}"]


def routes(events: Sequence[Event]) -> list[tuple[AzureRoutes, RouteKey, frozenset[str]]]:
    out = []
    for event in events:
        if isinstance(event, AzureRoutes):
            parsed = split_subject(event.subject, "azure:instance:", "/prefix:")
            if parsed:
                out.append((event, parsed, frozenset(event.data.next_hops)))
    return out


def transition(match: Iterable[StateEvent], *, after: float, ref: float, lower: float,
               name: str, up_state: str, want_up: bool, what: str, until: float | None,
               t_end: float) -> MetricValue:
    """First event in `match` at/after `after` whose state is (not) `up_state`, relative to `ref`.

    The value is the upper edge of the event's window (the response that showed the change);
    lo is its lower edge, not earlier than `lower`. If no such event comes before `until`
    (or the end), the value is censored at that time.
    """
    candidates = list(match)
    before = [e for e in candidates if e.t < after]
    if not want_up and before and state_of(before[-1]).lower() != up_state:
        return MetricValue.unavailable(
            name, f"{what} was already {state_of(before[-1]) or 'unknown'} before the fault")
    for event in candidates:
        if event.t < after or (until is not None and event.t > until):
            continue
        if (state_of(event).lower() == up_state) == want_up:
            lo_edge, hi_edge = event.window
            return MetricValue.measured(
                name, hi_edge - ref, max(lo_edge, lower) - ref, hi_edge - ref,
                detail=f"{what}: {state_of(event) or '?'} at t={fmt(event.t)}")
    if not candidates:
        return MetricValue.unavailable(name, f"no events for {what} in the timeline")
    end = until if until is not None else t_end
    state = "came back" if want_up else "left the up state"
    return MetricValue.measured(name, end - ref, censored=True,
                                reason=f"{what} never {state} before t={fmt(end)}")
