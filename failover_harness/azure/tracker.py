"""Pure logic of the poller: put overlapping samples back in request-start order and turn
them into timeline events. No I/O, no threads, no clock: times come in with the samples.

Change windows: a change's window is [request start of the last sample that showed the old
value, response end of the sample that shows the new one]. Because samples are applied in
request-start order, the last sample that showed the old value is the previous good sample
of the same operation.
"""

from __future__ import annotations

import bisect
from typing import Any

from pydantic import BaseModel, ConfigDict

from failover_harness.azure.models import (
    AzureSnapshot,
    BgpPeer,
    ConnectionStatus,
    GatewayRoute,
    Operation,
    connection_states,
    next_hop_sets,
    peer_states,
)


class SampleResult(BaseModel):
    """One call's outcome, stamped on the orchestrator's clock."""

    model_config = ConfigDict(frozen=True)

    operation: Operation
    start: float  # request start
    end: float  # response end (or when the call was given up)
    ok: bool
    error: str | None = None
    gap_reason: str | None = None  # throttled, server_error, timeout, lro_failed, auth, ...
    retry_after: float | None = None  # seconds the server asked to wait (failed calls)
    pending_at: float | None = None  # LROs: last status poll sent that said "still running"
    peers: tuple[BgpPeer, ...] | None = None
    routes: tuple[GatewayRoute, ...] | None = None
    connections: tuple[ConnectionStatus, ...] | None = None


class PendingEvent(BaseModel):
    """An azure/* timeline event, ready for `Timeline.emit`."""

    model_config = ConfigDict(frozen=True)

    kind: str
    subject: str
    t: float
    window: tuple[float, float]
    data: dict[str, Any]


class SampleSequencer:
    """Reorder buffer: calls of one operation overlap and may finish out of order; results
    are released only in request-start order, once every earlier call has settled."""

    def __init__(self) -> None:
        self._next_token = 0
        self._order: dict[str, list[tuple[float, int]]] = {}  # operation -> sorted (start, token)
        self._results: dict[int, SampleResult] = {}
        self._operation_of: dict[int, str] = {}

    def begin(self, operation: str, start: float) -> int:
        token = self._next_token
        self._next_token += 1
        bisect.insort(self._order.setdefault(operation, []), (start, token))
        self._operation_of[token] = operation
        return token

    def is_open(self, token: int) -> bool:
        return token in self._operation_of and token not in self._results

    def settle(self, token: int, result: SampleResult) -> list[SampleResult]:
        """Record a call's result; return the results now releasable, oldest start first.
        A second settle of the same token (a late answer after a timeout) is ignored."""
        if not self.is_open(token):
            return []
        self._results[token] = result
        order = self._order[self._operation_of[token]]
        ready: list[SampleResult] = []
        while order and order[0][1] in self._results:
            _, head = order.pop(0)
            ready.append(self._results.pop(head))
            del self._operation_of[head]
        return ready

    def open_count(self, operation: str) -> int:
        return len(self._order.get(operation, []))


class _OperationState:
    def __init__(self) -> None:
        self.last_applied_start: float | None = None  # newest request start applied (ok or not)
        self.last_good_start: float | None = None
        self.last_good_end: float | None = None
        self.last_error: str | None = None  # of the newest applied sample when it failed
        self.values: dict[Any, Any] = {}


def _subject_peer(key: tuple[str, str]) -> str:
    return f"azure:instance:{key[0]}/peer:{key[1]}"


def _subject_route(key: tuple[str, str]) -> str:
    return f"azure:instance:{key[0]}/prefix:{key[1]}"


def _subject_connection(name: str) -> str:
    return f"azure:connection:{name}"


class ChangeTracker:
    """Applies samples (in request-start order) and returns the events they cause.

    A sample whose request started before one already applied is stale: it is still
    recorded as a sample, but it never overwrites newer state."""

    def __init__(self, gateway_asn: int | None = None) -> None:
        self.gateway_asn = gateway_asn
        self._ops: dict[str, _OperationState] = {}
        self._peer_asns: dict[str, int | None] = {}

    def apply(self, sample: SampleResult) -> list[PendingEvent]:
        state = self._ops.setdefault(sample.operation, _OperationState())
        stale = state.last_applied_start is not None and sample.start < state.last_applied_start
        data: dict[str, Any] = {"ok": sample.ok, "error": sample.error, "gap_reason": sample.gap_reason}
        if sample.pending_at is not None:
            data["pending_at"] = round(sample.pending_at, 6)
        if stale:
            data["stale"] = True
        if sample.ok and sample.operation == "bgp_peer_status":
            # Every sample's own reading (not only changes): snapshot-offset calibration needs
            # the samples that straddle a known change, whichever side they fell on.
            states = peer_states(sample.peers or ())
            data["peer_states"] = {f"{inst}/{nb}": st for (inst, nb), st in sorted(states.items())}
        events = [PendingEvent(kind="sample", subject=f"azure:{sample.operation}", t=sample.end,
                               window=(sample.start, sample.end), data=data)]
        if stale:
            return events
        state.last_applied_start = sample.start
        state.last_error = None if sample.ok else sample.error
        if not sample.ok:
            return events
        events += self._changes(sample, state)
        state.last_good_start, state.last_good_end = sample.start, sample.end
        return events

    def _changes(self, sample: SampleResult, state: _OperationState) -> list[PendingEvent]:
        new_values: dict[Any, Any]
        if sample.operation == "bgp_peer_status":
            peers = sample.peers or ()
            new_values = peer_states(peers)
            self._peer_asns.update({p.neighbor: p.asn for p in peers if p.neighbor})
        elif sample.operation == "learned_routes":
            new_values = next_hop_sets(sample.routes or ())
        else:
            new_values = connection_states(sample.connections or ())
        first = state.last_good_start is None
        window_start = sample.start if first else state.last_good_start
        assert window_start is not None
        window = (window_start, sample.end)
        events: list[PendingEvent] = []
        keys: list[Any] = sorted(set(state.values) | set(new_values), key=str)
        for key in keys:
            old, new = state.values.get(key), new_values.get(key)
            if not first and old == new:
                continue
            if first and new is None:
                continue
            events.append(self._change_event(sample.operation, key, new, old, first, sample.end, window))
        state.values = new_values
        return events

    @staticmethod
    def _change_event(operation: str, key: Any, new: Any, old: Any, first: bool, t: float,
                      window: tuple[float, float]) -> PendingEvent:
        # previous None: nothing was known before (first good sample of this operation)
        previous = None if first else old
        if operation == "bgp_peer_status":
            return PendingEvent(kind="bgp_peer", subject=_subject_peer(key), t=t, window=window,
                                data={"state": new, "previous": previous})
        if operation == "learned_routes":
            return PendingEvent(kind="route_next_hops", subject=_subject_route(key), t=t, window=window,
                                data={"next_hops": list(new or ()),
                                      "previous": None if first else list(old or ())})
        return PendingEvent(kind="connection", subject=_subject_connection(key), t=t, window=window,
                            data={"status": new, "previous": previous})

    def snapshot(self) -> AzureSnapshot:
        peers: dict[str, dict[str, str | None]] = {}
        for (instance, neighbor), s in self._values("bgp_peer_status").items():
            peers.setdefault(instance, {})[neighbor] = s
        hops: dict[str, dict[str, tuple[str, ...]]] = {}
        for (instance, prefix), h in self._values("learned_routes").items():
            hops.setdefault(instance, {})[prefix] = h
        last_good = {op: st.last_good_end for op, st in self._ops.items() if st.last_good_end is not None}
        errors = {op: st.last_error for op, st in self._ops.items() if st.last_error}
        return AzureSnapshot(
            peers=peers, peer_asns=dict(self._peer_asns), next_hops=hops,
            connections=dict(self._values("connections")), gateway_asn=self.gateway_asn,
            last_good_sample=max(last_good.values()) if last_good else None, last_good=last_good,
            last_error=errors)

    def _values(self, operation: str) -> dict[Any, Any]:
        st = self._ops.get(operation)
        return dict(st.values) if st else {}
