"""Snapshot-offset calibration on synthetic Azure samples whose true snapshot is known: the
true change time stays inside the calibrated interval, which is much narrower than the
uncalibrated one; without calibration points the whole window is used and said."""

from __future__ import annotations

import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from failover_harness.metrics.snapshot_offset import (
    KnownChange,
    Shape,
    StraddleSample,
    calibrate,
    change_bounds,
)


class Azure:
    """Calls start every `interval` s, take latency +/- jitter, read their state by `shape`
    with constant `param`; the answer comes a poll lag after the read (before_end: the lag is
    part of the constant)."""

    def __init__(self, shape: Shape, param: float, latency: float, jitter: float, seed: int,
                 interval: float = 1.0) -> None:
        self.shape, self.param, self.latency, self.jitter = shape, param, latency, jitter
        self.rng = random.Random(seed)
        self.interval = interval

    def call(self, start: float) -> tuple[float, float, float]:
        """(start, end, snapshot)."""
        end = start + max(self.latency + self.rng.uniform(-self.jitter, self.jitter), 0.05)
        if self.shape == "from_start":
            end = max(end, start + self.param)
            snap = start + self.param
        elif self.shape == "before_end":
            end = max(end, start + self.param)
            snap = end - self.param
        else:
            snap = start + self.param * (end - start)
        return start, end, snap

    def around(self, t: float, span: float) -> list[tuple[float, float, float]]:
        first = t - span
        return [self.call(first + i * self.interval) for i in range(int(2 * span / self.interval))]


def straddles(calls: list[tuple[float, float, float]], change: float) -> list[StraddleSample]:
    return [StraddleSample(start=s, end=e, showed_new=snap >= change) for s, e, snap in calls]


def fault_bounds(azure: Azure, calibration_change: float, onprem_window: tuple[float, float],
                 fault: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """(calibrated, uncalibrated) bounds of a change at `fault`, from samples around it."""
    known = KnownChange(lo=onprem_window[0], hi=onprem_window[1])
    calls = sorted(azure.around(fault, 30))  # in request-start order, as the poller applies them
    episode = straddles(calls, fault)
    cal = calibrate([(known, straddles(azure.around(calibration_change, 30), calibration_change))], [episode])
    calibrated = change_bounds(cal, episode)
    # Uncalibrated, as the tracker does: the last old sample's start .. the first new one's end.
    first_new = next(i for i, c in enumerate(calls) if c[2] >= fault)
    assert first_new > 0
    return calibrated, (calls[first_new - 1][0], calls[first_new][1])


@settings(max_examples=200, deadline=None)
@given(shape=st.sampled_from(["from_start", "before_end", "fraction"]),
       param=st.floats(0.0, 1.0), latency=st.floats(2.0, 20.0), jitter=st.floats(0.0, 3.0),
       onprem_lo=st.floats(0.0, 0.5), onprem_hi=st.floats(0.0, 0.5), fault=st.floats(100.0, 200.0),
       seed=st.integers(0, 10_000))
def test_true_change_time_stays_inside_the_calibrated_interval(
        shape: Shape, param: float, latency: float, jitter: float, onprem_lo: float, onprem_hi: float,
        fault: float, seed: int) -> None:
    # seconds (never beyond the shortest call), or a fraction
    true_param = param * max(latency - jitter, 0.0) if shape != "fraction" else param
    azure = Azure(shape, true_param, latency, jitter, seed)
    failback = 400.0
    calibrated, uncalibrated = fault_bounds(azure, failback, (failback - onprem_lo, failback + onprem_hi), fault)
    assert calibrated[0] <= fault <= calibrated[1]
    assert calibrated[1] - calibrated[0] <= uncalibrated[1] - uncalibrated[0] + 1e-9


@pytest.mark.parametrize("shape", ["from_start", "before_end", "fraction"])
def test_calibration_narrows_a_10_s_window(shape: Shape) -> None:
    param = {"from_start": 0.3, "before_end": 0.4, "fraction": 0.9}[shape]
    azure = Azure(shape, param, latency=10.0, jitter=2.0, seed=7)
    widths, raw = [], []
    for i in range(10):
        failback = 1000.0 + 100 * i
        calibrated, uncalibrated = fault_bounds(azure, failback, (failback - 0.2, failback + 0.05), 50.0 + 7.3 * i)
        assert calibrated[0] <= 50.0 + 7.3 * i <= calibrated[1]
        widths.append(calibrated[1] - calibrated[0])
        raw.append(uncalibrated[1] - uncalibrated[0])
    print(f"{shape}: calibrated width median {statistics.median(widths):.2f} s max {max(widths):.2f} s, "
          f"uncalibrated median {statistics.median(raw):.2f} s")
    # One failback's samples leave the shape open between a few; their union is what is known.
    assert statistics.median(widths) < 0.4 * statistics.median(raw)


def test_no_known_change_means_the_whole_window_and_says_so() -> None:
    cal = calibrate([])
    assert not cal.calibrated and "no known change" in (cal.reason or "")
    assert cal.snapshot_bounds(10.0, 20.0) == (10.0, 20.0)
    episode = [StraddleSample(start=10.0, end=20.0, showed_new=False), StraddleSample(start=11.0, end=21.0, showed_new=True)]
    assert change_bounds(cal, episode) == (10.0, 21.0)


def test_samples_on_one_side_only_do_not_calibrate() -> None:
    known = KnownChange(lo=100.0, hi=100.2)
    cal = calibrate([(known, [StraddleSample(start=101.0 + i, end=111.0 + i, showed_new=True) for i in range(5)])])
    assert not cal.calibrated and "both sides" in (cal.reason or "")


def test_contradicting_samples_reject_every_shape() -> None:
    known = KnownChange(lo=100.0, hi=100.1)
    samples = [StraddleSample(start=95.0, end=105.0, showed_new=True),  # read at or after 100
               StraddleSample(start=94.0, end=106.0, showed_new=False),  # read before 100.1 ...
               StraddleSample(start=99.0, end=101.0, showed_new=False),
               StraddleSample(start=90.0, end=100.5, showed_new=True)]
    cal = calibrate([(known, samples)])
    # from_start: a >= 5 and a <= 1.1; before_end: b <= 5 and b >= 5.9; fraction: f >= 0.5 and <= 0.05
    assert not cal.calibrated and set(cal.rejected) == {"from_start", "before_end", "fraction"}
    assert cal.snapshot_bounds(0.0, 10.0) == (0.0, 10.0)


def test_fit_reports_the_shape_in_words() -> None:
    azure = Azure("before_end", 0.5, latency=10.0, jitter=2.0, seed=3)
    known = KnownChange(lo=199.9, hi=200.1)
    cal = calibrate([(known, straddles(azure.around(200.0, 30), 200.0))])
    before_end = next(f for f in cal.fits if f.shape == "before_end")
    assert before_end.lo <= 0.5 <= before_end.hi
    assert "before the response" in cal.text()


def polled_calls(center: float, seed: int, read_before_done: float = 0.05) -> list[tuple[StraddleSample, float]]:
    """Calls 0.4 s apart around `center`, LROs of 10 +/- 2 s whose state is read just before
    they finish, each polled at its own irregular times: (sample with its last "still
    running" poll, snapshot). A fixed lag before the answer (before_end) does not hold here."""
    rng = random.Random(seed)
    out = []
    for i in range(150):
        start = center - 30 + 0.4 * i
        done = start + 10 + rng.uniform(-2, 2)
        polls = [start + 7.0 + rng.uniform(0, 0.3)]
        while polls[-1] < done:
            polls.append(polls[-1] + rng.uniform(0.2, 1.5))
        pending = max((p for p in polls if p < done), default=None)
        out.append((StraddleSample(start=start, end=polls[-1], showed_new=False, pending=pending),
                    done - read_before_done))
    return out


def test_before_done_calibrates_irregularly_polled_lros() -> None:
    """The truth is inside every time; the interval is mostly under 2.5 s (its width is the
    spacing of the last polls around the change, up to 1.5 s apart here)."""
    failback, fault = 200.0, 100.0
    widths = []
    for seed in range(20):
        known = KnownChange(lo=failback - 0.15, hi=failback + 0.1)
        around = [x.model_copy(update={"showed_new": snap >= failback}) for x, snap in polled_calls(failback, seed)]
        calls = sorted(polled_calls(fault, seed + 1000), key=lambda c: c[0].start)
        episode = [x.model_copy(update={"showed_new": snap >= fault}) for x, snap in calls]
        cal = calibrate([(known, around)], [episode])
        assert "before_done" in [f.shape for f in cal.fits]
        lo, hi = change_bounds(cal, episode)
        assert lo <= fault <= hi, seed
        widths.append(hi - lo)
    assert statistics.median(widths) <= 2.5, widths
    uncalibrated = calibrate([(known, [x.model_copy(update={"pending": None}) for x in around])])
    assert "before_done" not in [f.shape for f in uncalibrated.fits]  # no polls recorded: not tried
