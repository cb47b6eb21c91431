"""The one-clock estimator against synthetic clocks whose truth we know."""

from __future__ import annotations

import random

import pytest

from failover_harness.clocksync import ClockSample, estimate, min_rtt_filter


def exchanges(offset: float, drift: float, n: int, span_s: float, *, seed: int = 1,
              queue_every: int = 0) -> list[ClockSample]:
    """Pings over `span_s` s to a clock remote = t + offset + drift * t, with asymmetric
    random path delays; every `queue_every`-th answer waits in a queue for 20 ms."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        sent = 100.0 + span_s * i / max(n - 1, 1)
        there = sent + rng.uniform(50e-6, 400e-6)  # forward delay
        back = there + rng.uniform(50e-6, 900e-6)  # return delay, not symmetric
        if queue_every and i % queue_every == 0:
            back += 0.020
        out.append(ClockSample(sent=sent, remote=there + offset + drift * there, received=back))
    return out


def true_offset(offset: float, drift: float, t: float) -> float:
    return offset + drift * t


@pytest.mark.parametrize(("offset", "drift"), [(0.0, 0.0), (-3.25, 0.0), (1234.5, 80e-6),
                                               (-7.0, -120e-6)])
def test_truth_within_the_reported_uncertainty(offset: float, drift: float) -> None:
    samples = exchanges(offset, drift, 200, 60.0, queue_every=3)
    est = estimate(samples)
    assert est is not None
    for t in (100.0, 130.0, 160.0):
        assert abs(est.offset_at(t) - true_offset(offset, drift, t)) <= est.uncertainty_s
    # Bounded by the best round trips, not by the queued ones.
    assert est.uncertainty_s < 0.002
    assert est.drift == pytest.approx(drift, abs=30e-6)


def test_min_rtt_filter_drops_queued_samples() -> None:
    samples = exchanges(0.5, 0.0, 64, 10.0, queue_every=2)
    kept = min_rtt_filter(samples, bin_s=1.0)
    assert 8 <= len(kept) <= 11  # one per second of the 10 s span, queued bins left out
    assert max(s.rtt_s for s in kept) < 0.002  # none of the 20 ms queued answers


def test_one_sample_bound_is_half_its_round_trip() -> None:
    s = ClockSample(sent=10.0, remote=15.0004, received=10.001)
    est = estimate([s])
    assert est is not None
    assert est.offset_s == pytest.approx(5.0 - 0.0001)
    assert est.uncertainty_s == pytest.approx(0.0005)
    lo, hi = est.to_local_window(15.0004)
    assert lo <= 10.0004 <= hi  # the remote reading happened between sent and received


def test_to_local_inverts_the_offset_with_drift() -> None:
    est = estimate(exchanges(42.0, 100e-6, 100, 30.0))
    assert est is not None
    local = 115.0
    remote = local + est.offset_at(local)
    assert est.to_local(remote) == pytest.approx(local, abs=1e-9)


def test_no_samples_no_estimate() -> None:
    assert estimate([]) is None
