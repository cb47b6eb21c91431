"""Where inside its request-to-response window an Azure call reads its state, estimated from
moments both ends of a BGP session are known to change together. Pure; no events here.

Why: an Azure sample is stamped with its request start and response end, seconds apart, and
Azure does not say when inside that window it took its snapshot. Uncalibrated, a change is
only known to lie between the request start of the last sample that showed the old state and
the response end of the first that showed the new one.

Calibration: when a session becomes Established both ends change within a round trip, and
the on-prem end's instant is known from the device watcher to a poll interval: T in
[t_lo, t_hi]. Every Azure sample around it constrains its snapshot s: one that already
showed the new state read it after the change (s >= t_lo), one that still showed the old
state read it before (s <= t_hi). Three shapes of snapshot are tried, each with one unknown
constant shared by every call of the operation:

- from_start: s = start + a (Azure reads soon after the request, whatever the latency);
- before_end: s = end - b (it reads when it finishes; the answer follows after our poll lag);
- fraction:   s = start + f x (end - start);
- before_done: s = done - b, where the LRO finished (done) somewhere between the send of its
  last status poll that said "still running" (`pending`; the request itself when the first
  poll had the result) and the response end: s in [pending - b, end - b]. Unlike before_end
  it does not assume the answer follows the finish by a fixed lag (polls are spaced).

Each shape's constant is the intersection of its samples' constraints. Changes whose time
is not known (the fault's) still test the shapes: a state changes once, so every sample that
showed the old state read it before every sample that showed the new one; from_start is
contradicted when an old sample started after a new one, before_end when one answered
after, fraction when no constant orders them. A shape whose constraints have no common
value contradicts the samples and is dropped. The snapshot of any other
sample of the operation then lies in the union, over the shapes left, of where each puts it
(clipped to the window): if the true snapshot follows one of the shapes, it is inside.
Where no calibration point exists or every shape is contradicted, the whole window is used
and the estimate says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

Shape = Literal["from_start", "before_end", "fraction", "before_done"]
SHAPES: tuple[Shape, ...] = ("from_start", "before_end", "fraction", "before_done")


class KnownChange(BaseModel):
    """An instant both ends of a session changed: somewhere in [lo, hi] (orchestrator clock)."""

    model_config = ConfigDict(frozen=True)

    lo: float
    hi: float
    what: str = ""


class StraddleSample(BaseModel):
    """One Azure call around a known change: its window and which side it saw."""

    model_config = ConfigDict(frozen=True)

    start: float
    end: float
    showed_new: bool
    pending: float | None = None  # LROs: last "still running" poll sent (None: the request)


class ShapeFit(BaseModel):
    """A shape's constant, known to lie in [lo, hi] (seconds, or a fraction for `fraction`)."""

    model_config = ConfigDict(frozen=True)

    shape: Shape
    lo: float
    hi: float
    samples: int  # samples whose constraint was not already implied by the window itself

    def snapshot_bounds(self, start: float, end: float, pending: float | None = None) -> tuple[float, float]:
        if self.shape == "from_start":
            lo, hi = start + self.lo, start + self.hi
        elif self.shape == "before_end":
            lo, hi = end - self.hi, end - self.lo
        elif self.shape == "before_done":
            lo, hi = (start if pending is None else pending) - self.hi, end - self.lo
        else:
            lo, hi = start + self.lo * (end - start), start + self.hi * (end - start)
        return max(lo, start), min(hi, end)

    def text(self) -> str:
        hi = "inf" if math.isinf(self.hi) else f"{self.hi:.2f}"
        if self.shape == "fraction":
            return f"at {self.lo:.2f}..{hi} of the window"
        where = {"from_start": "after the request", "before_end": "before the response",
                 "before_done": "before the operation finished"}[self.shape]
        return f"{self.lo:.2f}..{hi} s {where}"


class Calibration(BaseModel):
    """The shapes that fit (empty: uncalibrated, `reason` says why)."""

    model_config = ConfigDict(frozen=True)

    fits: list[ShapeFit]
    points: int  # known changes used
    samples: int  # samples around them
    rejected: list[Shape]
    reason: str | None = None

    @property
    def calibrated(self) -> bool:
        return bool(self.fits)

    def snapshot_bounds(self, start: float, end: float, pending: float | None = None) -> tuple[float, float]:
        """Where the call with this window read its state (the whole window if uncalibrated)."""
        if not self.fits:
            return start, end
        bounds = [f.snapshot_bounds(start, end, pending) for f in self.fits]
        lo, hi = min(b[0] for b in bounds), max(b[1] for b in bounds)
        return (lo, hi) if lo <= hi else (start, end)

    def text(self) -> str:
        if not self.fits:
            return f"uncalibrated ({self.reason})"
        shapes = " or ".join(f.text() for f in self.fits)
        return (f"snapshot {shapes}, from {self.samples} samples around {self.points} "
                f"known change{'s' if self.points != 1 else ''}")


def _constraint(shape: Shape, sample: StraddleSample, change: KnownChange) -> tuple[float, float]:
    """The interval of the shape's constant this one sample allows."""
    s, e = sample.start, sample.end
    w = max(e - s, 1e-9)
    if shape == "from_start":  # s + a >= t_lo (new) / s + a <= t_hi (old); 0 <= a
        return (change.lo - s, math.inf) if sample.showed_new else (-math.inf, change.hi - s)
    if shape == "before_end":  # e - b >= t_lo (new) / e - b <= t_hi (old); 0 <= b
        return (-math.inf, e - change.lo) if sample.showed_new else (e - change.hi, math.inf)
    if shape == "before_done":  # e - b >= s >= t_lo (new) / p - b <= s <= t_hi (old); 0 <= b
        p = s if sample.pending is None else sample.pending
        return (-math.inf, e - change.lo) if sample.showed_new else (p - change.hi, math.inf)
    return ((change.lo - s) / w, math.inf) if sample.showed_new else (-math.inf, (change.hi - s) / w)


_PRIOR: dict[Shape, tuple[float, float]] = {
    "from_start": (0.0, math.inf), "before_end": (0.0, math.inf), "fraction": (0.0, 1.0),
    "before_done": (0.0, math.inf)}


def _order_constraint(shape: Shape, old: StraddleSample, new: StraddleSample) -> tuple[float, float]:
    """The constants for which `old` read its state before `new` did ((inf, -inf): none)."""
    if shape == "from_start":
        return _PRIOR[shape] if old.start < new.start else (math.inf, -math.inf)
    if shape == "before_end":
        return _PRIOR[shape] if old.end < new.end else (math.inf, -math.inf)
    if shape == "before_done":  # a range per sample: the order tests no constant
        return _PRIOR[shape]
    # old.start + f w_old < new.start + f w_new  <=>  f (w_old - w_new) < new.start - old.start
    dw, ds = (old.end - old.start) - (new.end - new.start), new.start - old.start
    if abs(dw) < 1e-12:
        return _PRIOR[shape] if ds > 0 else (math.inf, -math.inf)
    return (-math.inf, ds / dw) if dw > 0 else (ds / dw, math.inf)


def fit_shape(shape: Shape, observed: Sequence[tuple[KnownChange, Sequence[StraddleSample]]],
              episodes: Sequence[Sequence[StraddleSample]] = ()) -> ShapeFit | None:
    """The shape's constant from every sample's constraint; None if they contradict."""
    lo, hi = _PRIOR[shape]
    used = 0
    for change, samples in observed:
        for sample in samples:
            c_lo, c_hi = _constraint(shape, sample, change)
            if c_lo > lo or c_hi < hi:
                used += 1
            lo, hi = max(lo, c_lo), min(hi, c_hi)
    for episode in episodes:
        olds = [x for x in episode if not x.showed_new]
        for new in (x for x in episode if x.showed_new):
            for old in olds:
                c_lo, c_hi = _order_constraint(shape, old, new)
                lo, hi = max(lo, c_lo), min(hi, c_hi)
    if lo > hi:
        return None
    return ShapeFit(shape=shape, lo=lo, hi=hi, samples=used)


def calibrate(observed: Sequence[tuple[KnownChange, Sequence[StraddleSample]]],
              episodes: Sequence[Sequence[StraddleSample]] = ()) -> Calibration:
    """Fit every shape to the samples around the known changes; `episodes` are the samples
    around changes of unknown time (one change each), which can only rule shapes out."""
    points = [(c, s) for c, s in observed if s]
    n_samples = sum(len(s) for _, s in points)
    if not points:
        return Calibration(fits=[], points=0, samples=0, rejected=[],
                           reason="no known change (session Established on both ends) with Azure samples around it")
    straddling = [(c, s) for c, s in points if any(x.showed_new for x in s) and any(not x.showed_new for x in s)]
    if not straddling:
        return Calibration(fits=[], points=len(points), samples=n_samples, rejected=[],
                           reason="no Azure samples on both sides of a known change")
    fits: list[ShapeFit] = []
    rejected: list[Shape] = []
    # before_done needs the calls' last "still running" polls (older timelines lack them).
    polled = any(x.pending is not None for _, samples in points for x in samples)
    for shape in SHAPES if polled else tuple(s for s in SHAPES if s != "before_done"):
        fit = fit_shape(shape, points, episodes)
        if fit is None:
            rejected.append(shape)
        else:
            fits.append(fit)
    reason = None if fits else "the samples fit no snapshot shape (from start, before end, fraction, before done)"
    return Calibration(fits=fits, points=len(points), samples=n_samples, rejected=rejected, reason=reason)


def change_bounds(calibration: Calibration, episode: Sequence[StraddleSample]) -> tuple[float, float]:
    """When the one change of an episode happened: after every snapshot that showed the old
    state, no later than every snapshot that showed the new one."""
    olds = [x for x in episode if not x.showed_new]
    news = [x for x in episode if x.showed_new]
    if not olds or not news:
        raise ValueError("an episode needs samples on both sides of its change")
    lo = max(calibration.snapshot_bounds(x.start, x.end, x.pending)[0] for x in olds)
    hi = min(calibration.snapshot_bounds(x.start, x.end, x.pending)[1] for x in news)
    if lo <= hi:
        return lo, hi
    # Contradiction (the calibration does not hold here): the uncalibrated bounds.
    return max(x.start for x in olds), min(x.end for x in news)
