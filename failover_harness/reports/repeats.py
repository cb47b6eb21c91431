"""From the sections of a repeated playbook to its summary: each metric's per-iteration
values, their min / median / p95 / max with honest intervals (metrics/statistics.py), per
gateway instance when the iterations faulted more than one, and the verdicts of the
expectations written on statistics (`max: {p95: 5}`). No I/O.

A repeated playbook is one section per iteration (run_start carries `iteration`,
`iterations`, `tunnel`; see events.py); consecutive sections of the same playbook place
(`index`) make one repeat. A playbook run once gets a summary only when it has
expectations on statistics (over its one iteration).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from failover_harness.expectations import Expectation
from failover_harness.metrics import METRIC_UNITS, MetricValue, Verdict, fmt
from failover_harness.metrics.statistics import P95_NOTE, all_statistics
from failover_harness.metrics.verdicts import verdict_of
from failover_harness.reports.repeat_model import (
    IterationValue,
    MetricSeries,
    RepeatStatus,
    RepeatSummary,
)

if TYPE_CHECKING:
    from failover_harness.reports.schema import SectionReport

# Metrics of the faulted path (its detection, outage, failback): split per gateway instance
# when the iterations faulted more than one. Counts and Azure's data gaps are the run's.
PER_INSTANCE = frozenset({"onprem_detection_s", "azure_detection_s", "routes_withdrawn_s",
                          "connection_detection_s", "max_outage_s", "min_outage_s",
                          "failback_lost_probes", "failback_onprem_s", "failback_azure_s",
                          "failback_routes_s"})
HEADLINE = ("max_outage_s", "onprem_detection_s", "azure_detection_s")


def _groups(sections: Sequence[SectionReport],
            expectations: Sequence[Sequence[Expectation]]
            ) -> list[tuple[list[SectionReport], list[Expectation]]]:
    """Consecutive sections of one playbook place that carry an iteration number."""
    out: list[tuple[list[SectionReport], list[Expectation]]] = []
    last: tuple[object, object] | None = None
    for section, exps in zip(sections, expectations, strict=True):
        run = section.run
        if run.iteration is None:
            last = None
            continue
        key = (run.playbook_index, run.playbook)
        if key != last or run.iteration == 1:
            out.append(([], list(exps)))
        out[-1][0].append(section)
        last = key
    return out


def _values(metric: str, sections: Sequence[SectionReport],
            planned: int) -> list[IterationValue]:
    out = [IterationValue(iteration=s.run.iteration or i + 1, section=s.index,
                          tunnel=s.run.tunnel,
                          instance=s.fault.azure_instance if s.fault else None,
                          value=s.metrics.get(metric) or MetricValue.unavailable(
                              metric, "not computed in this iteration"))
           for i, s in enumerate(sections)]
    for n in range(len(out) + 1, planned + 1):  # the repeat stopped before these
        out.append(IterationValue(iteration=n, section=0, value=MetricValue.unavailable(
            metric, "iteration not run")))
    return out


def _series(metric: str, values: list[IterationValue], instance: str | None) -> MetricSeries:
    pairs = [(v.iteration, v.value) for v in values]
    stats = all_statistics(metric, pairs)
    return MetricSeries(metric=metric, unit=METRIC_UNITS.get(metric, "s"), instance=instance,
                        estimate=stats["max"].estimate if stats["max"].available else None,
                        values=values, stats=stats)


def _verdicts(series: Sequence[MetricSeries], expectations: Sequence[Expectation]) -> list[Verdict]:
    out: list[Verdict] = []
    every = {s.metric: s for s in series if s.instance is None}
    for exp in expectations:
        for kind, statistic, limit in exp.on_statistics():
            plain = Expectation.model_validate(
                {"metric": exp.metric, "description": exp.description, kind: limit})
            found = every.get(exp.metric)
            value = found.stats[statistic] if found else None
            out.append(verdict_of(value, plain, statistic))
    return out


def _status(verdicts: Sequence[Verdict], completed: int, planned: int) -> RepeatStatus:
    if any(v.status == "failed" for v in verdicts):
        return "failed"
    if completed < planned:
        return "incomplete"
    if any(v.status == "inconclusive" for v in verdicts):
        return "inconclusive"
    return "passed" if verdicts else "no_expectations"


def _summary(name: str, status: RepeatStatus, completed: int, planned: int,
             series: Sequence[MetricSeries], verdicts: Sequence[Verdict],
             tunnels: Sequence[str | None]) -> str:
    faulted = sorted({t for t in tunnels if t})
    lines = [f"{name} repeated: {status.upper().replace('_', ' ')}; {completed} of {planned} "
             f"iterations completed" + (f", faulting {', '.join(faulted)}" if faulted else "")
             + "."]
    for s in series:
        if s.instance is None and s.metric in HEADLINE and s.stats["max"].available:
            lines.append(f"{s.metric}: " + " / ".join(
                f"{k} {fmt(v.value)}" for k, v in s.stats.items()) + f" {s.unit}.")
    for v in verdicts:
        if v.status != "passed":
            lines.append(("Missed: " if v.status == "failed" else "Inconclusive: ")
                         + v.message + ".")
    return " ".join(lines)


def summarize_repeats(sections: Sequence[SectionReport],
                      expectations: Sequence[Sequence[Expectation]]) -> list[RepeatSummary]:
    """One summary per repeated playbook (see the module docstring); `expectations`: each
    section's playbook expectations, in the order of `sections`."""
    out: list[RepeatSummary] = []
    for group, exps in _groups(sections, expectations):
        planned = max(group[0].run.iterations or 1, len(group))
        on_stats = [e for e in exps if e.on_statistics()]
        if planned < 2 and not on_stats:
            continue
        wanted = {e.metric for e in on_stats}
        metrics = [m for m in METRIC_UNITS if any(m in s.metrics for s in group) or m in wanted]
        series: list[MetricSeries] = []
        instances = sorted({s.fault.azure_instance for s in group
                            if s.fault and s.fault.azure_instance})
        for metric in metrics:
            values = _values(metric, group, planned)
            if not any(v.value.available for v in values) and metric not in wanted:
                continue
            series.append(_series(metric, values, None))
            if len(instances) > 1 and metric in PER_INSTANCE:
                for instance in instances:
                    series.append(_series(metric, [v for v in values if v.instance == instance],
                                          instance))
        verdicts = _verdicts(series, on_stats)
        completed = sum(1 for s in group if s.run.status == "completed")
        status = _status(verdicts, completed, planned)
        name = group[0].run.playbook or group[0].run.run_id
        tunnels = [s.run.tunnel for s in group]
        out.append(RepeatSummary(
            playbook=name, playbook_index=group[0].run.playbook_index, iterations=planned,
            completed=completed, sections=[s.index for s in group], tunnels=tunnels,
            series=series, verdicts=verdicts, status=status, p95_method=P95_NOTE,
            summary=_summary(name, status, completed, planned, series, verdicts, tunnels)))
    return out
