"""Where the harness saw nothing: gaps per Azure operation and per on-prem device poller.

Each source is judged on its own answers: a successful connections GET says nothing of the
BGP peers, so it never fills a gap of `bgp_peer_status`.

- Azure operation: a gap runs from the response end of one successful sample of that
  operation to the response end of the next (or to the end of the section). It is notable
  when a call of that operation failed in between (its `gap_reason`s) or when it is more than
  twice the operation's median spacing ("stall": reported, but calls that were slow and then
  answered leave honest windows, so no metric is unknown for a stall alone).
- Device poller: its `poll_gap` events (the device watcher had no answer from the device,
  e.g. an SSH blackout), with their reason.

A metric whose evidence falls in a notable gap of its source is unknown within its bounds:
its MetricValue names the gap (`evidence_gap`) and a verdict that the gap could decide is
inconclusive (verdicts.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from failover_harness.events import Event, PollGap, Sample
from failover_harness.metrics.values import MetricValue, fmt, r
from failover_harness.vocabulary import AzureOperation

AZURE_OPERATIONS: tuple[AzureOperation, ...] = ("bgp_peer_status", "learned_routes", "connections")
STALL = "stall"


class DataGap(BaseModel):
    source: str = Field(description="'azure:<operation>' or 'device:<name>'")
    start: float
    end: float
    duration_s: float
    reasons: list[str] = Field(default_factory=list)
    open: bool = Field(default=False, description="still without data when the section ended")

    def name(self) -> str:
        end = f"{fmt(self.end)}+" if self.open else fmt(self.end)
        why = f" ({', '.join(self.reasons)})" if self.reasons else ""
        return f"{self.source} without data t={fmt(self.start)}..{end}{why}"


class Coverage:
    """What one source answered: its notable gaps, and when it last answered before t."""

    def __init__(self, source: str, gaps: list[DataGap],
                 answers: list[tuple[float, float]] | None = None) -> None:
        self.source = source
        self.gaps = gaps  # notable ones, for the report
        self._answers = answers  # (request start, response end) of good samples; None: unknown

    def gap_in(self, lo: float, hi: float) -> DataGap | None:
        """The first gap of failed calls (or polls) overlapping (lo, hi], or open at hi."""
        return next((g for g in self.gaps if g.reasons != [STALL] and g.start < hi
                     and (g.end > lo or g.open)), None)

    def last_seen(self, t: float) -> float:
        """Latest instant before t at which the source surely showed its state then."""
        if self._answers is not None:
            starts = [s for s, e in self._answers if e <= t]
            return max(starts) if starts else float("-inf")
        inside = [g.start for g in self.gaps if g.start < t and (g.open or g.end > t)]
        return min(inside) if inside else t


def azure_coverage(events: Sequence[Event], t_start: float, t_end: float) -> dict[str, Coverage]:
    """Per Azure operation that was sampled: its gaps and good answers."""
    samples: dict[str, list[Sample]] = {}
    for event in events:
        if isinstance(event, Sample):
            samples.setdefault(event.operation, []).append(event)
    out: dict[str, Coverage] = {}
    for op, op_samples in samples.items():
        ok = [e for e in op_samples if e.data.ok]
        edges = [t_start] if not ok else [e.t for e in ok]
        spans: list[DataGap] = []
        for a, b in zip(edges, [*edges[1:], t_end], strict=True):
            if b <= a:
                continue
            reasons = sorted({e.data.gap_reason or e.data.error or "failed"
                              for e in op_samples if a < e.t <= b and not e.data.ok})
            spans.append(DataGap(source=f"azure:{op}", start=a, end=b, duration_s=r(b - a),
                                 reasons=reasons, open=b == t_end and bool(reasons)))
        spacing = sorted(g.duration_s for g in spans)[len(spans) // 2] if spans else 0.0
        notable = []
        for gap in spans:
            if not gap.reasons and gap.duration_s > 2 * spacing and gap.end != t_end:
                gap = gap.model_copy(update={"reasons": [STALL]})
            if gap.reasons:
                notable.append(gap)
        out[op] = _Azure(f"azure:{op}", notable, [e.window for e in ok], spans)
    return out


class _Azure(Coverage):
    def __init__(self, source: str, gaps: list[DataGap], answers: list[tuple[float, float]],
                 spans: list[DataGap]) -> None:
        super().__init__(source, gaps, answers)
        self.spans = spans  # every span between good samples, notable or not


def device_coverage(events: Sequence[Event]) -> dict[str, Coverage]:
    """Per device: the poll gaps its watcher wrote."""
    gaps: dict[str, list[DataGap]] = {}
    for event in events:
        if isinstance(event, PollGap):
            a, b = event.window
            gaps.setdefault(event.subject.removeprefix("device:"), []).append(DataGap(
                source=event.subject, start=a, end=b, duration_s=r(b - a),
                reasons=[event.data.reason], open=event.data.open))
    return {device: Coverage(f"device:{device}", found) for device, found in gaps.items()}


def azure_gap_metric(coverage: dict[str, Coverage]) -> MetricValue:
    """azure_data_gap_s: the longest span any Azure operation went without a good sample."""
    name = "azure_data_gap_s"
    spans = [g for c in coverage.values() if isinstance(c, _Azure) for g in c.spans]
    if not coverage:
        return MetricValue.unavailable(name, "no Azure samples in the timeline")
    if not spans:
        return MetricValue.measured(name, 0.0, estimate="longest_gap")
    worst = max(spans, key=lambda g: g.duration_s)
    return MetricValue.measured(name, worst.duration_s, estimate="longest_gap",
                                detail=worst.name(), censored=worst.open)


class Coverages:
    """Every source's coverage in one section; a source never sampled has no gaps."""

    def __init__(self, events: Sequence[Event], t_start: float, t_end: float) -> None:
        self.azure_ops = azure_coverage(events, t_start, t_end)
        self.devices = device_coverage(events)

    def azure(self, operation: AzureOperation) -> Coverage:
        return self.azure_ops.get(operation) or Coverage(f"azure:{operation}", [])

    def device(self, name: str | None) -> Coverage:
        found = self.devices.get(name or "")
        if found is not None:
            return found
        if name is None and len(self.devices) == 1:
            return next(iter(self.devices.values()))
        return Coverage(f"device:{name}", [])

    def notable(self) -> list[DataGap]:
        gaps = [g for c in [*self.azure_ops.values(), *self.devices.values()] for g in c.gaps]
        return sorted(gaps, key=lambda g: (g.start, g.source))
