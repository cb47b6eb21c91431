"""Loss episodes and per-period stats, fed results as the worker delivers them."""

from __future__ import annotations

import random

import pytest

from failover_harness.probes import (
    FlowLossDetector,
    FlowSpec,
    FlowStats,
    LossEnd,
    LossStart,
    LossTracker,
    ProbeResult,
)

T = 0.01
ORIGIN = 100.0


def results(pattern: str, flow_id: str = "f", start_seq: int = 0) -> list[ProbeResult]:
    """'.' answered, 'x' lost; probe n sent at ORIGIN + n*T."""
    return [ProbeResult(flow_id, start_seq + i, ORIGIN + (start_seq + i) * T,
                        None if c == "x" else 0.001 * (1 + i % 3))
            for i, c in enumerate(pattern)]


def completion_order(items: list[ProbeResult], timeout: float = 1.0) -> list[ProbeResult]:
    """As the worker reports them: answers at once, losses only after the timeout."""
    return sorted(items, key=lambda r: r.sent + (timeout if r.rtt_s is None else r.rtt_s))


def run(detector: FlowLossDetector, items: list[ProbeResult]) -> list[object]:
    events: list[object] = []
    for item in items:
        events.extend(detector.feed(item))
    events.extend(detector.finish())
    return events


def loss_events(events: list[object]) -> list[object]:
    return [e for e in events if isinstance(e, LossStart | LossEnd)]


def test_no_loss_no_episode() -> None:
    detector = FlowLossDetector("f", T)
    events = run(detector, results("." * 250))
    assert loss_events(events) == []
    assert detector.episodes == []


def test_one_episode_in_order() -> None:
    detector = FlowLossDetector("f", T)
    events = loss_events(run(detector, results("." * 10 + "x" * 5 + "." * 10)))
    start, end = events
    assert isinstance(start, LossStart) and isinstance(end, LossEnd)
    assert (start.seq, start.t) == (10, pytest.approx(ORIGIN + 10 * T))
    assert (end.seq, end.lost, end.t, end.start_t) == (
        15, 5, pytest.approx(ORIGIN + 15 * T), pytest.approx(ORIGIN + 10 * T))
    (episode,) = detector.episodes
    assert episode.duration_s == pytest.approx(5 * T)
    assert not episode.open


def test_losses_reported_after_later_answers_give_the_same_episode() -> None:
    pattern = "." * 20 + "x" * 30 + "." * 200
    in_order = run(FlowLossDetector("f", T), results(pattern))
    shuffled = run(FlowLossDetector("f", T), completion_order(results(pattern)))
    assert loss_events(shuffled) == loss_events(in_order)
    assert [e for e in shuffled if isinstance(e, FlowStats)] == \
        [e for e in in_order if isinstance(e, FlowStats)]


def test_loss_start_waits_for_the_verdict_on_the_first_lost_probe() -> None:
    detector = FlowLossDetector("f", T)
    items = results("..x..")
    for item in items[:2] + items[3:]:
        assert loss_events(detector.feed(item)) == []
    events = detector.feed(items[2])  # the timeout verdict arrives last
    assert [type(e) for e in loss_events(events)] == [LossStart, LossEnd]


def test_reply_after_loss_verdict_is_ignored() -> None:
    """An answer arriving just after the timeout: the worker already said lost."""
    detector = FlowLossDetector("f", T)
    items = results("..x...")
    events: list[object] = []
    for item in items:
        events.extend(detector.feed(item))
    late = ProbeResult("f", 2, items[2].sent, 1.0001)
    assert detector.feed(late) == []
    events.extend(detector.finish())
    (episode,) = detector.episodes
    assert episode.lost == 1
    stats = [e for e in events if isinstance(e, FlowStats)]
    assert sum(s.sent for s in stats) == 6 and sum(s.lost for s in stats) == 1


def test_several_episodes_listed() -> None:
    detector = FlowLossDetector("f", T)
    run(detector, completion_order(results(".xx...x.xxxx..")))
    assert [(e.seq, e.lost) for e in detector.episodes] == [(3, 2), (7, 1), (12, 4)]
    assert [round(e.duration_s / T) for e in detector.episodes] == [2, 1, 4]


def test_run_ending_during_an_episode_reports_it_open() -> None:
    detector = FlowLossDetector("f", T)
    events = loss_events(run(detector, results("...xxxx")))
    assert isinstance(events[-1], LossEnd)
    end = events[-1]
    assert end.open and end.seq is None and end.lost == 4
    assert end.start_t == pytest.approx(ORIGIN + 3 * T)
    assert end.duration_s == pytest.approx(4 * T)


def test_run_starting_lost() -> None:
    detector = FlowLossDetector("f", T)
    run(detector, results("xxx.."))
    assert [(e.start_t, e.lost, e.seq) for e in detector.episodes] == [
        (pytest.approx(ORIGIN), 3, 3)]


def test_duplicates_are_ignored() -> None:
    detector = FlowLossDetector("f", T)
    items = results(".x.")
    events = run(detector, items + items)
    stats = [e for e in events if isinstance(e, FlowStats)]
    assert sum(s.sent for s in stats) == 3
    assert len(detector.episodes) == 1


def test_a_result_that_never_comes_is_skipped_once_enough_wait() -> None:
    detector = FlowLossDetector("f", T, max_pending=5)
    items = results("." * 12)
    events = run(detector, items[:3] + items[4:])
    assert detector.missing == 1
    stats = [e for e in events if isinstance(e, FlowStats)]
    assert sum(s.sent for s in stats) == 11
    assert detector.episodes == []


def test_finish_judges_what_waits_behind_a_gap() -> None:
    detector = FlowLossDetector("f", T)
    items = results("..xx.")
    events = run(detector, items[:1] + items[2:])  # seq 1 never reported
    assert detector.missing == 1
    assert [(e.seq, e.lost) for e in detector.episodes] == [(4, 2)]
    assert sum(s.sent for s in events if isinstance(s, FlowStats)) == 4


def test_stats_per_second_by_send_time() -> None:
    detector = FlowLossDetector("f", T, stats_origin=ORIGIN)
    pattern = "." * 95 + "x" * 10 + "." * 95  # 2 s; loss straddles the first boundary
    events = run(detector, completion_order(results(pattern)))
    stats = [e for e in events if isinstance(e, FlowStats)]
    assert [(s.t, s.sent, s.received, s.lost) for s in stats] == [
        (pytest.approx(ORIGIN), 100, 95, 5), (pytest.approx(ORIGIN + 1), 100, 95, 5)]
    assert stats[0].rtt_ms_p50 == pytest.approx(2.0)
    assert stats[0].rtt_ms_max == pytest.approx(3.0)


def test_stats_of_a_fully_lost_period_have_no_rtt() -> None:
    detector = FlowLossDetector("f", 0.5, stats_origin=ORIGIN)
    items = [ProbeResult("f", i, ORIGIN + i * 0.5, None) for i in range(2)]
    stats = [e for e in run(detector, items) if isinstance(e, FlowStats)]
    assert [(s.sent, s.lost, s.rtt_ms_p50, s.rtt_ms_max) for s in stats] == [(2, 2, None, None)]


def test_random_patterns_match_a_simple_reference() -> None:
    rng = random.Random(7)
    for _ in range(50):
        pattern = "".join(rng.choice("..x") for _ in range(rng.randrange(1, 300)))
        detector = FlowLossDetector("f", T)
        items = completion_order(results(pattern), timeout=rng.choice([0.002, 0.05, 1.0]))
        run(detector, items)
        expected = [(m_start, m_end - m_start) for m_start, m_end in _runs(pattern)]
        assert [(e.start_t, e.lost) for e in detector.episodes] == [
            (pytest.approx(ORIGIN + s * T), n) for s, n in expected]


def _runs(pattern: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "x":
            j = i
            while j < len(pattern) and pattern[j] == "x":
                j += 1
            out.append((i, j))
            i = j
        else:
            i += 1
    return out


def test_tracker_routes_flows_and_rejects_strangers() -> None:
    flows = [FlowSpec(id=name, kind="icmp", dst="10.0.0.1", icmp_id=n)
             for n, name in enumerate(["a", "b"])]
    tracker = LossTracker(flows, stats_origin=ORIGIN)
    mixed = completion_order(results("..xx..", "a") + results("......", "b"))
    events = tracker.feed(mixed) + tracker.finish()
    assert {e.flow_id for e in events if isinstance(e, LossStart)} == {"a"}
    assert [e.lost for e in tracker.episodes()["a"]] == [2]
    assert tracker.episodes()["b"] == []
    with pytest.raises(ValueError, match="unknown flow"):
        tracker.feed([ProbeResult("c", 0, ORIGIN, None)])


def test_feed_after_finish_is_an_error() -> None:
    detector = FlowLossDetector("f", T)
    detector.finish()
    with pytest.raises(RuntimeError):
        detector.feed(results(".")[0])


# --- loss by direction (UDP flows to a reflector) ------------------------------------------


def reflected(n: int, forward_lost: set[int], return_lost: set[int], *, restart_at: int | None = None,
              interval: float = 0.01) -> list[ProbeResult]:
    """What the worker reports for one UDP flow: the reflector counts each probe it gets
    (peer_seq: how many it got before); probes lost either way have no answer."""
    results, received = [], 0
    for seq in range(n):
        if seq == restart_at:
            received = 0  # the reflector restarted: its counts begin again
        if seq in forward_lost:
            results.append(ProbeResult("u", seq, seq * interval, None))
            continue
        peer = received
        received += 1
        if seq in return_lost:
            results.append(ProbeResult("u", seq, seq * interval, None))
        else:
            results.append(ProbeResult("u", seq, seq * interval, 0.001, peer_seq=peer,
                                       fwd_s=0.0004, ret_s=0.0005))
    return results


def episodes_of(results: list[ProbeResult]) -> list[LossEnd]:
    detector = FlowLossDetector("u", 0.01)
    for r in results:
        detector.feed(r)
    detector.finish()
    return detector.episodes


def test_an_episode_splits_its_loss_by_direction() -> None:
    """As in a Tunnel1 failure: the forward path heals first (on-prem moved at once), the
    return path only when Azure notices."""
    (episode,) = episodes_of(reflected(100, set(range(30, 40)), set(range(40, 60))))
    assert (episode.probes, episode.forward_lost, episode.return_lost) == (30, 10, 20)
    (only_return,) = episodes_of(reflected(100, set(), {5, 6, 7}))
    assert (only_return.forward_lost, only_return.return_lost) == (0, 3)
    first, second = episodes_of(reflected(100, {10, 11}, {50}))
    assert (first.forward_lost, first.return_lost) == (2, 0)
    assert (second.forward_lost, second.return_lost) == (0, 1)


def test_directions_unknown_when_the_counts_cannot_tell() -> None:
    (restarted,) = episodes_of(reflected(100, set(), set(range(30, 40)), restart_at=35))
    assert restarted.forward_lost is None and restarted.return_lost is None
    (no_reflector,) = episodes_of([ProbeResult("u", s, s * 0.01, None if 5 <= s < 9 else 0.001)
                                   for s in range(20)])
    assert no_reflector.forward_lost is None and no_reflector.probes == 4
    (from_the_start,) = episodes_of(reflected(40, set(range(0, 5)), set()))
    assert from_the_start.forward_lost is None  # nothing answered before it


def test_stats_carry_the_one_way_delays() -> None:
    detector = FlowLossDetector("u", 0.01, stats_origin=0.0)
    events = [e for r in reflected(150, set(), set()) for e in detector.feed(r)]
    events += detector.finish()
    stats = [e for e in events if isinstance(e, FlowStats)]
    assert stats[0].fwd_delay_ms_p50 == pytest.approx(0.4)
    assert stats[0].ret_delay_ms_p50 == pytest.approx(0.5)
