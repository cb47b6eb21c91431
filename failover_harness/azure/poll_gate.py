"""The poll gate: every LRO status poll of the continuous poller waits here for its turn.
One thread grants, per operation, at most `polls_per_s(op)` polls a second (the operation's
part of the read budget), each to the waiting LRO overlap.pick_poll names (the one most
likely to have finished since it last polled, so reads go where answers are; inside a focus
the one that could be done and was polled longest ago, so every finish is pinned closely).

The SDK's polling method (client.CappedARMPolling) calls `turn(...)` instead of sleeping
between polls; stop() lets every waiter go (their abandoned polling methods then end).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from failover_harness.azure.overlap import Waiting, pick_poll

# A poll of the same LRO never follows its previous one sooner than this.
MIN_REPOLL_S = 0.2
_IDLE_WAIT_S = 0.5  # how often a waiter looks whether its LRO was abandoned


@dataclass
class _Lro:
    operation: str
    start: float
    last_poll: float | None = None


@dataclass
class _Waiter:
    lro: _Lro
    since: float
    not_before: float
    granted: threading.Event = field(default_factory=threading.Event)


class PollGate:
    """Thread-safe. `turn(op, start)` gives one LRO's wait function (for its polling method)."""

    def __init__(self, clock: Callable[[], float], latencies: Callable[[str], list[float]],
                 polls_per_s: Callable[[str], float], max_wait_s: float,
                 focused: Callable[[str], bool] = lambda _op: False) -> None:
        self.clock = clock
        self._focused = focused
        self._latencies = latencies
        self._polls_per_s = polls_per_s
        self.max_wait_s = max_wait_s
        self._cond = threading.Condition()
        self._waiting: dict[int, _Waiter] = {}
        self._keys = itertools.count()
        self._next_grant: dict[str, float] = {}
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.granted = 0

    def start(self) -> PollGate:
        self._thread = threading.Thread(target=self._run, name="azure-poll-gate", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            for waiter in self._waiting.values():
                waiter.granted.set()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(2.0)

    def turn(self, operation: str, start: float) -> Callable[[float, threading.Event], None]:
        """The wait function of one LRO of `operation` requested at `start`: it blocks until
        the gate grants a poll (or `abandoned` is set, or the gate stops)."""
        lro = _Lro(operation, start)

        def wait(_delay_s: float, abandoned: threading.Event) -> None:
            now = self.clock()
            floor = MIN_REPOLL_S if lro.last_poll is not None else 0.0
            waiter = _Waiter(lro, now, now + floor)
            with self._cond:
                if self._stopped:
                    return
                key = next(self._keys)
                self._waiting[key] = waiter
                self._cond.notify_all()
            try:
                while not waiter.granted.wait(_IDLE_WAIT_S):
                    if abandoned.is_set():
                        return
            finally:
                with self._cond:
                    self._waiting.pop(key, None)
            lro.last_poll = self.clock()

        return wait

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                now = self.clock()
                wake = now + _IDLE_WAIT_S
                for op in {w.lro.operation for w in self._waiting.values()}:
                    wake = min(wake, self._grant(op, now))
                self._cond.wait(max(wake - self.clock(), 0.005))

    def _grant(self, operation: str, now: float) -> float:
        """Grant `operation`'s next poll if one is due; returns when to look again."""
        rate = max(self._polls_per_s(operation), 0.1)
        due_at = self._next_grant.get(operation, now)
        if now < due_at:
            return due_at
        mine = {k: w for k, w in self._waiting.items() if w.lro.operation == operation}
        waiting = [Waiting(key=k, start=w.lro.start, last_poll=w.lro.last_poll, waiting_since=w.since,
                           not_before=w.not_before) for k, w in mine.items()]
        key = pick_poll(waiting, now, self._latencies(operation), self.max_wait_s,
                        coverage=self._focused(operation))
        if key is None:
            # Nobody worth a read yet: look again shortly (hazards grow with time).
            return now + min(1.0 / rate, MIN_REPOLL_S)
        mine[key].granted.set()
        del self._waiting[key]
        self.granted += 1
        # A grant skipped while nobody was due is not saved up for a burst later.
        self._next_grant[operation] = max(due_at, now - 1.0 / rate) + 1.0 / rate
        return self._next_grant[operation]
