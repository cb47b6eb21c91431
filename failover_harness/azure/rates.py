"""How fast the poller may go, per operation, inside its share of ARM's budget (budget.py):
calls a second (writes), status polls a second (reads), and the focus, where polls spend
what the read bucket has saved.

Steady: 90 % of each sustained rate, the reads left after the connection GETs shared by the
LRO operations; a call starts no faster than those polls can follow it (overlap.py).

Focus: the orchestrator knows when it breaks or restores something and when the design
predicts Azure will notice; `focus(...)` names that window and, inside it, peer-status polls
add what our share of the read bucket holds above the focus's `keep` of it (FOCUS_RESERVE
for a fault), spread over what is left of the window (ARM's token bucket exists for such
bursts), and the poll gate polls every LRO that could be done in turn (overlap.pick_poll,
coverage). The LROs finishing around the change are then polled every few hundred ms, so
the last snapshot before it and the first after it are known closely.

Lead: which calls finish in the window is decided one LRO latency earlier, when they start.
A call started at s finishes somewhere in [s + fastest, s + slowest] (latencies seen), so
from `slowest` before the window until `fastest` before its end the focused operations start
extra calls with what our share of the write bucket saved above FOCUS_RESERVE, no more than
the focus's spare reads can poll (at most FOCUS_MAX_CALLS_PER_S), and `lead_s` tells the
orchestrator how long before the change it must name the window for that (it waits that
long before a fault). Without it, finishes around the change come at the steady ~2 a
second, and by chance none for 1.5 s (measured on the lab at 10 +/- 2 s LROs: the widest
calibrated detections, 2.7 s, had such a hole).
Thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from failover_harness.azure.budget import RequestBudget, RequestKind
from failover_harness.azure.models import Operation
from failover_harness.azure.overlap import MIN_LATENCIES, READS_PER_CALL, launch_interval_s

FOCUS_RESERVE = 0.2  # of our read bucket, left unspent by a fault's focus
FOCUS_MAX_POLLS_PER_S = 40.0  # one operation's polls in a focus (an LRO is polled <= 5/s anyway)
FOCUS_MAX_CALLS_PER_S = 6.0  # one operation's calls while leading a focus
MAX_LEAD_S = 30.0  # the longest an orchestrator is asked to wait before a fault
FOCUSED: tuple[Operation, ...] = ("bgp_peer_status",)  # the calibrated detection's operation
# Of the sustained rates, the rest absorbs timing slop and refills the read bucket between
# focuses (measured on the lab: 0.75 of the reads left the steady polls too sparse, and the
# calibrated widths grew more than the focus gained).
STEADY_SHARE = 0.9


class PollRates:
    """The poller's rates on `budget`, and the current focus."""

    def __init__(self, budget: RequestBudget, ops: Sequence[Operation], connections: int,
                 interval_s: float, clock: Callable[[], float]) -> None:
        self.budget = budget
        self.interval_s = interval_s
        self.clock = clock
        self._lro_ops = max(sum(op != "connections" for op in ops), 1)
        self._connections = connections
        self._lock = threading.Lock()
        self._focus: tuple[float, float] | None = None  # (from, until), on `clock`
        self._keep = FOCUS_RESERVE

    def focus(self, after_s: float, until_s: float, keep: float = FOCUS_RESERVE) -> tuple[float, float]:
        """From `after_s` to `until_s` seconds from now, Azure's state is expected to change;
        the focus spends the read bucket down to `keep` of its capacity. A later focus
        replaces an earlier one. Returns the window on `clock`."""
        now = self.clock()
        window = (now + max(after_s, 0.0), now + max(until_s, after_s, 0.0))
        with self._lock:
            self._focus = window
            self._keep = min(max(keep, FOCUS_RESERVE), 1.0)
        return window

    def spare_reads(self) -> float:
        """Read tokens above what the focus keeps: what it may spend."""
        with self._lock:
            keep = self._keep
        return self._above("reads", keep)

    def _above(self, kind: RequestKind, keep: float) -> float:
        """Our tokens of `kind` above `keep` of the bucket's capacity."""
        return max(self.budget.available(kind) - keep * self.budget.capacity(kind), 0.0)

    def steady_polls_per_s(self) -> float:
        """An LRO operation's status polls a second outside a focus."""
        connection_reads = self._connections / self.interval_s
        return STEADY_SHARE * max(self.budget.rate("reads") - connection_reads, 0.5) / self._lro_ops

    def focused(self, op: str) -> bool:
        """Is `op` inside a focus now?"""
        with self._lock:
            focus = self._focus
        return op in FOCUSED and focus is not None and focus[0] <= self.clock() < focus[1]

    def polls_per_s(self, op: str) -> float:
        """The steady rate; inside a focus, the focused operations add the bucket's savings."""
        steady = self.steady_polls_per_s()
        with self._lock:
            focus = self._focus
        if focus is None or not self.focused(op):
            return steady
        return min(steady + self.spare_reads() / max(focus[1] - self.clock(), 0.5), FOCUS_MAX_POLLS_PER_S)

    def lead_s(self, after_s: float, latencies: Sequence[float]) -> float:
        """How long before a change the focus from `after_s` after it should be named, so
        calls that finish there can start: the slowest latency seen less `after_s`."""
        if len(latencies) < MIN_LATENCIES:
            return 0.0
        return min(max(max(latencies) - after_s, 0.0), MAX_LEAD_S)

    def launch_step_s(self, op: Operation, latencies: Sequence[float]) -> float:
        """Seconds to the next call of `op`: more calls when the latency varies (overlap.py),
        within the operation's part of the write budget and what its steady polls can follow;
        more while leading a focus."""
        if op == "connections":
            return self.interval_s
        writes = STEADY_SHARE * self.budget.rate("writes") / self._lro_ops
        step = launch_interval_s(self.interval_s, latencies, writes, self.steady_polls_per_s())
        until = self._leading_until(op, latencies)
        if until is None:
            return step
        # Each extra call is a write now and about READS_PER_CALL polls in the focus.
        spare = min(self._above("writes", FOCUS_RESERVE), self.spare_reads() / READS_PER_CALL)
        rate = min(1.0 / step + spare / max(until - self.clock(), 0.5), FOCUS_MAX_CALLS_PER_S)
        return min(step, 1.0 / rate)

    def _leading_until(self, op: str, latencies: Sequence[float]) -> float | None:
        """The end of the span whose calls can finish inside the focus, if now is in it."""
        with self._lock:
            focus = self._focus
        if op not in FOCUSED or focus is None or len(latencies) < MIN_LATENCIES:
            return None
        start, until = focus[0] - max(latencies), focus[1] - min(latencies)
        return until if start <= self.clock() < until else None
