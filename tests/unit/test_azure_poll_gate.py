"""The poll gate grants LRO status polls at the read budget's rate, most likely done first,
and lets every waiter go at stop (or when its LRO is abandoned)."""

from __future__ import annotations

import threading
import time

from failover_harness.azure.poll_gate import PollGate

LATENCIES = [8.0, 9.0, 10.0, 11.0, 12.0]


def test_grants_follow_the_hazard_at_the_budget_rate() -> None:
    t0 = time.monotonic()
    clock = lambda: time.monotonic() - t0 + 100.0  # noqa: E731 - "now" 100 s into the run
    gate = PollGate(clock, lambda _op: list(LATENCIES), lambda _op: 5.0, max_wait_s=30.0).start()
    order: list[str] = []
    lock = threading.Lock()

    def poll(name: str, start: float) -> None:
        gate.turn("bgp_peer_status", start)(1.0, threading.Event())
        with lock:
            order.append(name)

    threads = [threading.Thread(target=poll, args=(name, start)) for name, start in
               (("young", 95.0), ("likely", 88.5), ("possible", 90.5))]
    try:
        for th in threads:
            th.start()
        began = time.monotonic()
        for th in threads[1:]:
            th.join(5.0)
        elapsed = time.monotonic() - began
        assert order == ["likely", "possible"]  # the young one (5 s in, none done before 8 s) waits
        assert elapsed >= 0.15  # two grants at 5 a second are at least 0.2 s apart (minus scheduling)
        assert threads[0].is_alive()
    finally:
        gate.stop()
    threads[0].join(2.0)
    assert not threads[0].is_alive() and gate.granted == 2


def test_an_abandoned_lro_stops_waiting() -> None:
    gate = PollGate(time.monotonic, lambda _op: list(LATENCIES), lambda _op: 5.0, max_wait_s=30.0).start()
    abandoned = threading.Event()
    done = threading.Event()

    def poll() -> None:
        gate.turn("learned_routes", time.monotonic())(1.0, abandoned)
        done.set()

    th = threading.Thread(target=poll)
    try:
        th.start()
        assert not done.wait(0.3)
        abandoned.set()
        assert done.wait(2.0)
    finally:
        gate.stop()
    assert gate.granted == 0
