"""The continuous Azure poller: overlapping calls on one client, samples on the timeline.

Each operation (BGP peer status, learned routes, connection status) starts a new call every
`sample_interval_s`, or more often when the LRO latency varies (overlap.py), so calls overlap
and a sample still lands about every interval. Each call runs on its own thread (the SDK's
sync client is shared). Results go through a reorder buffer (request-start order) into the
change tracker, which writes azure/* events.

Within ARM's budget (budget.py): a call starts only when the budget has a token for it, every
request waits for its token in the SDK pipeline (client.BudgetPolicy), and LRO status polls
wait for the poll gate (poll_gate.py), which spends the read budget on the LROs most likely
to have finished.

Degrading visibly: every `summary_interval_s` and at stop, azure / poll_summary events give
each operation's achieved interval, longest gap and why it fell short (cadence.py), and an
azure / budget event what was spent.

Focus: `focus(...)` names where the orchestrator expects Azure's view to change (`lead_s`
before it); calls and polls there spend what the buckets saved (rates.py).

Faults never stop the poller: a failed, throttled or stalled call becomes an azure/sample
event with ok=false and a gap_reason, and that operation backs off before its next call.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from failover_harness.azure.budget import RequestBudget
from failover_harness.azure.cadence import CadenceTracker, OperationCadence
from failover_harness.azure.client import AzureConnection, CappedARMPolling
from failover_harness.azure.models import AzureSnapshot, Operation
from failover_harness.azure.poll_gate import PollGate
from failover_harness.azure.rates import FOCUS_RESERVE, FOCUSED, PollRates
from failover_harness.azure.reader import GatewayConnection, GatewayReader, operations_for
from failover_harness.azure.settings import AzureSettings
from failover_harness.azure.tracker import ChangeTracker, SampleResult, SampleSequencer
from failover_harness.timeline import Timeline

log = logging.getLogger(__name__)

# Late answers of calls already given up (timeout) wait this long past their deadline.
_BACKSTOP_GRACE_S = 1.0
_GATEWAY_RETRY_S = 30.0


class _Call:
    def __init__(self, operation: Operation, token: int, start: float, deadline: float,
                 connection: GatewayConnection) -> None:
        self.operation, self.token, self.start, self.deadline, self.connection = (
            operation, token, start, deadline, connection)
        self.thread: threading.Thread | None = None
        self.pollings: list[object] = []  # LRO polling methods, abandoned on stop()

    def abandon(self) -> None:
        for polling in self.pollings:
            abandon = getattr(polling, "abandon", None)
            if callable(abandon):
                abandon()


class _OpSchedule:
    def __init__(self, first_due: float) -> None:
        self.next_due = first_due
        self.backoff = 0.0
        # Failures of calls started before this time were already in flight when the backoff
        # last grew: with overlapping calls one outage must double the backoff once, not N times.
        self.backoff_counted_until = float("-inf")
        self.threads = 0  # call threads still running, given-up ones included


class AzurePoller:
    """Polls the gateway until stop(); `snapshot()` and the predicates are thread-safe."""

    def __init__(self, settings: AzureSettings, timeline: Timeline, *,
                 connect: Callable[[AzureSettings], GatewayConnection] | None = None,
                 budget: RequestBudget | None = None) -> None:
        self.settings = settings
        self.timeline = timeline
        self.clock = timeline.clock
        self.budget = budget or RequestBudget(settings.poll.budget, clock=self.clock.now, sleep=time.sleep)
        self._connect = connect or self._budgeted_connection
        self._ops = operations_for(settings)
        poll = settings.poll
        self._cadence = {op: CadenceTracker(op, poll.sample_interval_s, poll.max_in_flight) for op in self._ops}
        self.rates = PollRates(self.budget, self._ops, len(settings.connections), poll.sample_interval_s,
                               self.clock.now)
        self._gate = PollGate(self.clock.now, self._recent_latencies, self.rates.polls_per_s,
                              poll.lro_budget_max_delay_s, self.rates.focused)
        self._next_summary = 0.0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._sequencer = SampleSequencer()
        self._tracker = ChangeTracker()
        self._calls: dict[int, _Call] = {}
        self._schedule: dict[Operation, _OpSchedule] = {}
        self._connection: GatewayConnection | None = None
        self._retired: list[GatewayConnection] = []
        self._auth_failures = 0
        self._last_rebuild, self._rebuild_wanted = float("-inf"), False
        self._gateway_asn_next, self._gateway_asn_running = 0.0, False
        self._scheduler: threading.Thread | None = None
        self.late_answers = 0  # answers that came after their call was given up
        self.samples_applied = 0

    def _budgeted_connection(self, settings: AzureSettings) -> GatewayConnection:
        return AzureConnection(settings, budget=self.budget)

    # --- lifecycle ---

    def start(self) -> AzurePoller:
        """Build the client (raises on bad settings) and start polling."""
        self._connection = self._connect(self.settings)
        now, interval = self.clock.now(), self.settings.poll.sample_interval_s
        # Stagger the operations inside one interval so their calls do not start together.
        for i, op in enumerate(self._ops):
            self._schedule[op] = _OpSchedule(now + i * interval / max(len(self._ops), 1))
        self._next_summary = now + self.settings.poll.summary_interval_s
        self._gate.start()
        self._scheduler = threading.Thread(target=self._run, name="azure-poller", daemon=True)
        self._scheduler.start()
        return self

    def stop(self, join_s: float = 5.0) -> None:
        """Stop calling, abandon calls in flight, close clients. Idempotent."""
        already = self._stopping.is_set()
        self._stopping.set()
        self.budget.release_all()
        self._gate.stop()
        self._wake.set()
        if self._scheduler is not None:
            self._scheduler.join(join_s)
        if not already and self._scheduler is not None:
            self._emit_summary()
        with self._lock:
            calls = list(self._calls.values())
            self._calls.clear()
        for call in calls:
            call.abandon()
        deadline = self.clock.now() + join_s
        for call in calls:
            if call.thread is not None:
                call.thread.join(max(deadline - self.clock.now(), 0.0))
        for conn in [*self._retired, *([self._connection] if self._connection else [])]:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing is best effort at shutdown
                log.debug("closing an Azure client failed", exc_info=True)
        self._retired.clear()
        self._connection = None

    def __enter__(self) -> AzurePoller:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- state for the orchestrator ---

    def snapshot(self) -> AzureSnapshot:
        with self._lock:
            return self._tracker.snapshot()

    def peer_state(self, peer_ip: str) -> str | None:
        return self.snapshot().peer_state(peer_ip)

    def peer_connected(self, peer_ip: str) -> bool:
        return self.snapshot().peer_connected(peer_ip)

    def peer_down(self, peer_ip: str) -> bool:
        return self.snapshot().peer_down(peer_ip)

    def all_peers_connected(self) -> bool:
        return self.snapshot().all_peers_connected()

    def routes_on_all_paths(self, prefix: str) -> bool:
        return self.snapshot().routes_on_all_paths(prefix)

    def next_hops(self, prefix: str) -> dict[str, tuple[str, ...]]:
        return self.snapshot().next_hops_for(prefix)

    def wait_until(self, predicate: Callable[[AzureSnapshot], bool], timeout_s: float) -> AzureSnapshot | None:
        """Block until `predicate(snapshot)` holds after some applied sample; None on timeout."""
        deadline = self.clock.now() + timeout_s
        with self._changed:
            while True:
                snap = self._tracker.snapshot()
                if predicate(snap):
                    return snap
                remaining = deadline - self.clock.now()
                if remaining <= 0 or self._stopping.is_set():
                    return None
                self._changed.wait(remaining)

    def focus(self, after_s: float, until_s: float, keep: float = FOCUS_RESERVE) -> None:
        """Azure's view should change from `after_s` to `until_s` seconds from now: poll the
        peer-status LROs there as fast as the read bucket's savings above `keep` allow."""
        window = self.rates.focus(after_s, until_s, keep)
        try:
            self.timeline.emit("azure", "focus", "azure:focus", t=self.clock.now(), window=window,
                               operations=list(FOCUSED), spare_reads=round(self.rates.spare_reads(), 1))
        except ValueError:  # the timeline was closed first (a late restore): nothing to record
            log.info("Azure focus not written: timeline closed")

    def lead_s(self, after_s: float) -> float:
        """How long before a change to name its focus from `after_s` after it (rates.py)."""
        leads = [self.rates.lead_s(after_s, self._recent_latencies(op)) for op in FOCUSED if op in self._ops]
        return max(leads, default=0.0)

    # --- scheduler ---

    def _run(self) -> None:
        poll = self.settings.poll
        while not self._stopping.is_set():
            now = self.clock.now()
            self._expire_calls(now)
            self._maybe_rebuild(now)
            self._maybe_read_gateway_asn(now)
            if now >= self._next_summary:
                self._next_summary = now + poll.summary_interval_s
                self._emit_summary()
            wake_at = min(now + poll.sample_interval_s, self._next_summary)
            for op in self._ops:
                sched = self._schedule[op]
                if now >= sched.next_due:
                    self._launch_if_allowed(op, sched, now)
                wake_at = min(wake_at, sched.next_due)
            with self._lock:
                if self._calls:
                    wake_at = min(wake_at, min(c.deadline for c in self._calls.values()) + _BACKSTOP_GRACE_S)
            self._wake.wait(max(wake_at - self.clock.now(), 0.001))
            self._wake.clear()

    def _launch_if_allowed(self, op: Operation, sched: _OpSchedule, now: float) -> None:
        """Start a call of `op` unless too many are in flight or the budget has no token for
        it; either way keep the cadence (after a stall or backoff, restart it from now)."""
        poll = self.settings.poll
        interval = poll.sample_interval_s
        with self._lock:
            busy = sched.threads >= poll.in_flight_cap()
            if busy:
                self._cadence[op].held("max_in_flight")
        budget_wait = 0.0 if busy else self._budget_wait(op)
        if budget_wait > 0:
            with self._lock:
                self._cadence[op].held("budget")
        elif not busy:
            self._launch(op, now)
        sched.next_due = max(sched.next_due + self.rates.launch_step_s(op, self._recent_latencies(op)), now + 0.001)
        if busy:
            sched.next_due = max(sched.next_due, now + interval / 4)
        if budget_wait > 0:
            sched.next_due = max(sched.next_due, now + min(budget_wait, interval))

    def _budget_wait(self, op: Operation) -> float:
        """Seconds until the budget can pay the call's first request (it is paid when sent)."""
        if op == "connections":
            return self.budget.wait_s("reads", float(len(self.settings.connections)))
        return self.budget.wait_s("writes")

    def _recent_latencies(self, op: str) -> list[float]:
        with self._lock:
            return list(self._cadence[op].completions)  # type: ignore[index]

    def cadence(self) -> list[OperationCadence]:
        """Each operation's achieved interval so far and why it fell short (if it did)."""
        with self._lock:
            return [self._cadence[op].summary() for op in self._ops]

    def _emit_summary(self) -> None:
        now = self.clock.now()
        try:
            for summary in self.cadence():
                self.timeline.emit("azure", "poll_summary", f"azure:{summary.operation}", t=now,
                                   **summary.model_dump())
            self.timeline.emit("azure", "budget", "azure:budget", t=now, **self.budget.stats().model_dump())
        except ValueError:  # the timeline was closed first: the summary is lost, not the run
            log.info("Azure poll summary not written: timeline closed")

    def _launch(self, op: Operation, start: float) -> None:
        assert self._connection is not None
        with self._lock:
            token = self._sequencer.begin(op, start)
            call = _Call(op, token, start, start + self.settings.poll.call_timeout_s, self._connection)
            self._calls[token] = call
            self._schedule[op].threads += 1
            self._cadence[op].launched(self._schedule[op].threads)
        call.thread = threading.Thread(target=self._run_call, args=(call,), name=f"azure-{op}", daemon=True)
        call.thread.start()

    def _run_call(self, call: _Call) -> None:
        try:
            reader = GatewayReader(self.settings, call.connection, self.clock.now, lambda p: self._track(call, p))
            self._settle(call, reader.read(call.operation, call.start))
        except Exception as exc:  # noqa: BLE001 - a call thread must never die noisily
            log.warning("Azure call thread failed: %s", type(exc).__name__)
        finally:
            with self._lock:
                self._schedule[call.operation].threads -= 1
            self._wake.set()

    def _track(self, call: _Call, polling: object) -> None:
        """Keep the LRO's polling method (stop() abandons it); its polls wait for the gate."""
        call.pollings.append(polling)
        if isinstance(polling, CappedARMPolling):
            polling.wait_turn, polling.clock = self._gate.turn(call.operation, call.start), self.clock.now

    def _expire_calls(self, now: float) -> None:
        """Backstop for calls stuck where the reader's own deadline cannot reach them."""
        with self._lock:
            expired = [c for c in self._calls.values() if now > c.deadline + _BACKSTOP_GRACE_S]
        for call in expired:
            self._settle(call, SampleResult(
                operation=call.operation, start=call.start, end=now, ok=False, gap_reason="timeout",
                error=f"CallTimeout: no answer within {self.settings.poll.call_timeout_s:.1f} s"))
            call.abandon()

    def _settle(self, call: _Call, result: SampleResult) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            if not self._sequencer.is_open(call.token):
                self.late_answers += 1
                return
            self._calls.pop(call.token, None)
            self._cadence[call.operation].settled(result.start, result.end, result.ok, result.pending_at)
            self._note_outcome(call.operation, result)
            for ready in self._sequencer.settle(call.token, result):
                for ev in self._tracker.apply(ready):
                    self.timeline.emit("azure", ev.kind, ev.subject, t=ev.t, window=ev.window, **ev.data)
                self.samples_applied += 1
            self._changed.notify_all()

    def _note_outcome(self, op: Operation, result: SampleResult) -> None:
        """Backoff and re-authentication bookkeeping (caller holds the lock)."""
        poll = self.settings.poll
        sched = self._schedule[op]
        if result.ok:
            sched.backoff = 0.0
            self._auth_failures = 0
            return
        if result.start >= sched.backoff_counted_until:
            sched.backoff = min(max(sched.backoff * 2, poll.backoff_initial_s, result.retry_after or 0.0),
                                poll.backoff_max_s)
            sched.backoff_counted_until = result.end
            # Calls the backoff keeps from starting, beyond the failed one itself.
            skipped = math.floor(sched.backoff / poll.sample_interval_s)
            if skipped:
                self._cadence[op].held("errors", skipped)
        sched.next_due = max(sched.next_due, result.end + sched.backoff)
        if result.gap_reason == "auth":
            self._auth_failures += 1
            if self._auth_failures >= poll.reauth_after_failures:
                self._rebuild_wanted = True

    def _maybe_rebuild(self, now: float) -> None:
        """After repeated auth failures, build a new credential and client (the old ones
        cache a token the server refuses)."""
        if not self._rebuild_wanted or now - self._last_rebuild < self.settings.poll.reauth_min_interval_s:
            return
        self._rebuild_wanted = False
        self._last_rebuild = now
        try:
            fresh = self._connect(self.settings)
        except Exception as exc:  # noqa: BLE001 - keep the old client and try again later
            log.warning("rebuilding the Azure client failed: %s", type(exc).__name__)
            self._rebuild_wanted = True
            return
        with self._lock:
            if self._connection is not None:
                self._retired.append(self._connection)  # calls in flight still use it
            self._connection = fresh
            self._auth_failures = 0

    def _maybe_read_gateway_asn(self, now: float) -> None:
        """The gateway's own ASN tells its iBGP peers (the other instance) from on-prem peers."""
        if self._tracker.gateway_asn is not None or self._gateway_asn_running or now < self._gateway_asn_next:
            return
        self._gateway_asn_running = True
        self._gateway_asn_next = now + _GATEWAY_RETRY_S
        assert self._connection is not None
        reader = GatewayReader(self.settings, self._connection, self.clock.now)

        def read() -> None:
            try:
                asn = reader.gateway_asn()
                with self._lock:
                    self._tracker.gateway_asn = asn
            except Exception as exc:  # noqa: BLE001 - optional refinement; retried later
                log.info("reading the gateway's ASN failed: %s", type(exc).__name__)
            finally:
                self._gateway_asn_running = False

        threading.Thread(target=read, name="azure-gateway-asn", daemon=True).start()
