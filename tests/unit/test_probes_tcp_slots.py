"""Results that skip grid slots (an older worker held one TCP connect attempt at a time and
skipped the slots that came while it was open; timelines of such runs are still read): the
loss detector gives each skipped slot the outcome of the open attempt. Fake clock only."""

from __future__ import annotations

import pytest

from failover_harness.probes import FlowLossDetector, FlowStats, ProbeResult

T = 0.01


def simulate_tcp(seconds: float, rtt: float, timeout: float,
                 down: tuple[float, float] | None = None) -> list[ProbeResult]:
    """What the older worker reported for one TCP flow on a grid of T from 0: an attempt on a slot
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
    assert (episode.probes is not None and episode.probes < episode.lost) or outage < timeout
