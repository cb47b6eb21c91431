"""TCP flows hold one attempt at a time: slots that come while it is open are skipped, and an
attempt is lost only by its own timeout. The real worker on loopback (no root needed) with
connects slower than the interval, and the loss detector against a fake clock."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from failover_harness.probes import (
    FlowLossDetector, FlowSpec, FlowStats, LossEnd, ProbeProcess, ProbeResult,
)

T = 0.01


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class SlowListener:
    port: int
    accepted: int = 0


@pytest.fixture
def slow_listener() -> Iterator[SlowListener]:
    """A listener whose accept queue is kept full: the kernel drops a SYN that finds it full
    and the client retransmits it 1 s later; an accept every 0.2 s makes room by then. So
    many connects take ~1 s, a hundred intervals."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    listener = SlowListener(server.getsockname()[1])
    filler = socket.create_connection(("127.0.0.1", listener.port))
    done = threading.Event()

    def accept_slowly() -> None:
        while not done.wait(0.2):
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()
            listener.accepted += 1

    thread = threading.Thread(target=accept_slowly, daemon=True)
    thread.start()
    yield listener
    done.set()
    thread.join(2)
    filler.close()
    server.close()


def on_grid(results: list[ProbeResult], first_slot: float, interval: float) -> bool:
    steps = [(r.slot - first_slot) / interval for r in results]
    return all(abs(step - round(step)) < 1e-3 for step in steps)


def run_worker(flow: FlowSpec, seconds: float) -> tuple[float, list[ProbeResult]]:
    got: list[ProbeResult] = []
    with ProbeProcess([flow], got.extend, realtime=False) as probes:
        origin = probes.start()
        time.sleep(seconds)
        assert probes.stop() == 0
    assert probes.callback_error is None and probes.stream_error is None
    return origin, sorted(got, key=lambda r: r.seq)


def test_connects_slower_than_the_interval_are_not_lost(slow_listener: SlowListener) -> None:
    flow = FlowSpec(id="slow", kind="tcp", src="127.0.0.1", dst="127.0.0.1",
                    dport=slow_listener.port, sport=free_port(), interval_s=T, timeout_s=3.0)
    origin, results = run_worker(flow, 3.5)
    assert [r.seq for r in results] == list(range(len(results)))  # gap-free: attempts only
    slow = [r for r in results if r.rtt_s is not None and r.rtt_s > 50 * T]
    assert slow, "the listener did not slow any connect down: the test shows nothing"
    assert all(not r.lost for r in results), [r for r in results if r.lost]
    # Far fewer attempts than slots, every one sent on a slot of the flow's grid.
    assert len(results) < 3.5 / T / 10
    assert on_grid(results, origin, T)
    detector = FlowLossDetector(flow.id, T)
    events = [e for r in results for e in detector.feed(r)] + detector.finish()
    assert detector.episodes == []
    stats = [e for e in events if isinstance(e, FlowStats)]
    assert sum(s.lost for s in stats) == 0
    assert sum(s.probes or 0 for s in stats) == len(results)
    # Each skipped slot is counted with the attempt open during it: the slots cover the run.
    slots = round((results[-1].slot - results[0].slot) / T) + 1
    assert sum(s.sent for s in stats) == sum(s.received for s in stats) == slots


def test_an_unanswered_attempt_is_lost_at_its_own_timeout() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))  # full for good: SYNs dropped
    try:
        timeout = 0.3
        flow = FlowSpec(id="dead", kind="tcp", src="127.0.0.1", dst="127.0.0.1", dport=port,
                        sport=free_port(), interval_s=T, timeout_s=timeout)
        origin, results = run_worker(flow, 1.5)
    finally:
        filler.close()
        server.close()
    assert len(results) >= 3
    assert [r.seq for r in results] == list(range(len(results)))
    assert all(r.lost for r in results)
    # The next attempt waited for the previous one's timeout, and took the first slot then.
    for earlier, later in zip(results, results[1:]):
        assert later.sent - earlier.sent >= timeout
        assert later.slot < earlier.sent + timeout + T
    assert on_grid(results, origin, T)
    detector = FlowLossDetector(flow.id, T)
    for r in results:
        detector.feed(r)
    (episode,) = [e for e in detector.finish() if isinstance(e, LossEnd)]
    assert episode.open and episode.probes == len(results)
    assert episode.lost == round((results[-1].slot - results[0].slot) / T) + 1


# --- the detector against a fake clock -----------------------------------------------------


def simulate_tcp(seconds: float, rtt: float, timeout: float,
                 down: tuple[float, float] | None = None) -> list[ProbeResult]:
    """What the worker reports for one TCP flow on a grid of T from 0: an attempt on a slot
    when none is open; lost if sent while the path is `down`, else answered after `rtt`."""
    results: list[ProbeResult] = []
    open_until = -1.0
    for k in range(round(seconds / T)):
        slot = k * T
        if slot < open_until:
            continue  # the flow's attempt is still open: slot skipped
        lost = down is not None and down[0] <= slot < down[1]
        results.append(ProbeResult("f", len(results), slot, None if lost else rtt))
        open_until = slot + (timeout if lost else rtt)
    return results


def test_detector_counts_skipped_slots_with_the_open_attempt() -> None:
    results = simulate_tcp(3.0, rtt=2.5 * T, timeout=0.5)
    assert results[1].sent == pytest.approx(3 * T)  # two slots skipped per attempt
    detector = FlowLossDetector("f", T, stats_origin=0.0)
    events = [e for r in results for e in detector.feed(r)] + detector.finish()
    stats = [e for e in events if isinstance(e, FlowStats)]
    assert detector.episodes == []
    assert [s.lost for s in stats] == [0, 0, 0]
    assert [s.sent for s in stats][:2] == [100, 100]  # every slot of a whole second
    assert sum(s.probes or 0 for s in stats) == len(results) == 100


@pytest.mark.parametrize(("down", "timeout"), [((1.003, 2.5), 0.5), ((1.2, 1.45), 0.5),
                                               ((0.7, 2.0), 0.3), ((1.0, 1.02), 1.0)])
def test_episode_of_a_tcp_flow_bounds_the_real_outage(down: tuple[float, float],
                                                      timeout: float) -> None:
    results = simulate_tcp(4.0, rtt=0.5 * T, timeout=timeout, down=down)
    detector = FlowLossDetector("f", T)
    for r in results:
        detector.feed(r)
    detector.finish()
    (episode,) = detector.episodes
    outage = down[1] - down[0]
    assert not episode.open
    # Start and end are send times of real attempts: the first lost, the first answered.
    assert down[0] <= episode.start_t < down[0] + T
    assert down[1] <= episode.t <= down[1] + timeout + T
    assert episode.last_lost_t is not None and episode.prev_t is not None
    assert episode.last_lost_t < down[1] <= episode.t
    max_duration = episode.max_duration_s
    assert max_duration is not None
    assert episode.min_duration_s <= outage <= max_duration
    # Lost slots (attempts and the slots their timeouts covered) measure the duration.
    assert episode.lost * T == pytest.approx(episode.duration_s, abs=1e-9)
    assert episode.probes == sum(r.lost for r in results)
    assert episode.probes is not None and episode.probes < episode.lost or outage < timeout
