"""The polled observations metrics read: on-prem BGP states, Azure peers, connections, routes.

Each is a change event with a window (events.py); `transition` finds the first change into
or out of an up state and turns its window into a delay from a reference instant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from failover_harness.events import AzureConnection, AzurePeer, AzureRoutes, BgpState, Event
from failover_harness.metrics.fault import FaultTarget
from failover_harness.metrics.gaps import Coverage
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


def transition(match: Iterable[StateEvent], *, since: float, name: str, up_state: str,
               want_up: bool, what: str, until: float | None, t_end: float,
               coverage: Coverage) -> MetricValue:
    """Delay from `since` (when the action was sent) to the first event in `match` after it
    whose state is (not) `up_state`: the upper edge of that event's window, its lower edge
    clipped to `since`. If none comes before `until` (or the end), the value is censored at
    the last time the source was seen answering; a gap of the source in the window, or at
    the end, is named (the value is then unknown within its bounds).
    """
    candidates = list(match)
    before = [e for e in candidates if e.t < since]
    if not want_up and before and state_of(before[-1]).lower() != up_state:
        return MetricValue.unavailable(
            name, f"{what} was already {state_of(before[-1]) or 'unknown'} before the fault")
    for event in candidates:
        if event.t < since or (until is not None and event.t > until):
            continue
        if (state_of(event).lower() == up_state) == want_up:
            lo_edge, hi_edge = event.window
            gap = coverage.gap_in(max(lo_edge, since), hi_edge)
            return MetricValue.delay(
                name, since, lo_edge, hi_edge, evidence_gap=gap.name() if gap else None,
                detail=f"{what}: {state_of(event) or '?'} at t={fmt(event.t)}")
    if not candidates:
        return MetricValue.unavailable(name, f"no events for {what} in the timeline")
    end = until if until is not None else t_end
    seen = max(min(coverage.last_seen(end), end), since)
    gap = coverage.gap_in(seen, end)
    state = "came back" if want_up else "left the up state"
    return MetricValue.measured(
        name, seen - since, censored=True, estimate="lower_bound",
        evidence_gap=gap.name() if gap else None,
        reason=f"{what} never {state} before t={fmt(end)}"
        + (f"; last seen t={fmt(seen)}" if seen < end else ""))
