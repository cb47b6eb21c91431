"""Findings across the sections of one report: the same fault on different tunnels
(instance 0 against instance 1, e.g. `run --repeat N --alternate`), side by side (no I/O).

One line per faulted tunnel with its outage and Azure's detection over its runs, and a
finding when the two tunnels' outage intervals do not overlap: the design treats them
differently (a primary and a backup, unequal timers) or one instance is slower to notice.
"""

from __future__ import annotations

from collections.abc import Sequence

from failover_harness.metrics import MetricValue
from failover_harness.metrics.values import fmt
from failover_harness.reports.findings import Finding
from failover_harness.reports.schema import SectionReport


def _span(values: list[MetricValue]) -> tuple[float, float, str]:
    """(lowest lo, highest hi, words) of one metric over runs."""
    known = [v for v in values if v.available and v.value is not None]
    if not known:
        return 0.0, 0.0, "not measured"
    lo = min(v.lo if v.lo is not None else v.value for v in known)  # type: ignore[type-var]
    hi = max(v.hi if v.hi is not None else float("inf") for v in known)
    shown = ", ".join(f"{fmt(v.value)}" for v in known)
    return float(lo), hi, f"{shown} s"  # type: ignore[arg-type]


def instance_findings(sections: Sequence[SectionReport]) -> list[Finding]:
    by_tunnel: dict[str, list[SectionReport]] = {}
    for s in sections:
        if s.fault is not None and s.fault.device and s.fault.interface:
            name = f"{s.fault.device} {s.fault.interface}"
            if s.fault.azure_instance:
                name += f" (instance {s.fault.azure_instance})"
            by_tunnel.setdefault(name, []).append(s)
    if len(by_tunnel) < 2:
        return []
    out: list[Finding] = []
    spans: dict[str, tuple[float, float]] = {}
    for name, runs in by_tunnel.items():
        outage = _span([r.metrics["max_outage_s"] for r in runs if "max_outage_s" in r.metrics])
        azure = _span([r.metrics["azure_detection_s"] for r in runs
                       if "azure_detection_s" in r.metrics])
        spans[name] = outage[:2]
        out.append(Finding(kind="asymmetry", metric="max_outage_s", text=(
            f"{name} failed in {len(runs)} run(s): outage {outage[2]}; Azure noticed in "
            f"{azure[2]}.")))
    names = list(spans)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            (alo, ahi), (blo, bhi) = spans[a], spans[b]
            if ahi < blo or bhi < alo:
                worse, better = (b, a) if ahi < blo else (a, b)
                out.append(Finding(kind="asymmetry", metric="max_outage_s", text=(
                    f"Asymmetric: a failure of {worse} costs more than one of {better} "
                    f"(their outage intervals do not overlap): the design does not treat "
                    f"the two paths alike, or one instance notices later.")))
    return out
