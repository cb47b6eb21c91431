"""Where the harness saw nothing: Azure calls that failed (data gaps)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from pydantic import BaseModel, Field

from failover_harness.events import Event, Sample
from failover_harness.metrics.values import MetricValue, fmt, r


class AzureGap(BaseModel):
    start: float
    end: float
    duration_s: float
    reasons: list[str] = Field(default_factory=list)


def azure_gaps(events: Sequence[Event], t_end: float) -> tuple[MetricValue, list[AzureGap]]:
    name = "azure_data_gap_s"
    samples = [e for e in events if isinstance(e, Sample)]
    ok = [e for e in samples if e.data.ok]
    if not ok:
        reason = ("no successful Azure sample in the timeline" if samples
                  else "no Azure samples in the timeline")
        return MetricValue.unavailable(name, reason), []
    gaps: list[AzureGap] = []
    edges = [e.t for e in ok] + [t_end]
    for a, b in itertools.pairwise(edges):
        if b <= a:
            continue
        reasons = sorted({str(e.data.gap_reason or e.data.error)
                          for e in samples if a < e.t <= b and not e.data.ok})
        gaps.append(AzureGap(start=a, end=b, duration_s=r(b - a), reasons=reasons))
    worst = max(gaps, key=lambda g: g.duration_s, default=None)
    if worst is None:
        return MetricValue.measured(name, 0.0), []
    detail = f"t={fmt(worst.start)}..{fmt(worst.end)}"
    if worst.reasons:
        detail += f" ({'; '.join(worst.reasons)})"
    # Only the gaps worth reading: longer than twice the median sample spacing.
    spacing = sorted(g.duration_s for g in gaps)[len(gaps) // 2]
    notable = [g for g in gaps if g.duration_s > 2 * spacing or g.reasons]
    return MetricValue.measured(name, worst.duration_s, detail=detail), notable
