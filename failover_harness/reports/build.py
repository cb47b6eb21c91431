"""From timeline events to the Report model (no I/O).

Sections of a game-day timeline
-------------------------------
A game-day runs several playbooks in order and appends them all to one timeline.jsonl. Each
playbook is one section, delimited by its `run / run_start` and `run / run_end` events:

- a section starts at a `run_start` and takes every event up to and including the next
  `run_end` (or up to the next `run_start`, or the end of the file, if the run was killed);
- events before the first `run_start` belong to the first section; events between a
  `run_end` and the next `run_start` (steady-state checks, probes still draining) belong to
  the following section;
- a timeline without any `run_start` is one section.

What run_start and run_end carry is in events.py (RunStartFields, RunEndFields).

Events may also carry `data.playbook` (e.g. step events); it is informative only: the
delimiters above decide.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from failover_harness import __version__
from failover_harness.errors import EXIT_EXPECTATION_FAILED, EXIT_INCONCLUSIVE, EXIT_OK
from failover_harness.events import (
    ActionDone,
    ActionFailed,
    ActionStart,
    Event,
    Guard,
    RunEnd,
    RunStart,
    RunStartFields,
    Sample,
)
from failover_harness.expectations import Expectation
from failover_harness.metrics import RunMetrics, Verdict, compute_metrics, evaluate
from failover_harness.metrics.calibration import CalibrationPoints, section_points
from failover_harness.reports.asymmetry import instance_findings
from failover_harness.reports.azure_polling import azure_polling
from failover_harness.reports.findings import findings, prediction_of
from failover_harness.reports.repeat_model import RepeatSummary
from failover_harness.reports.repeats import summarize_repeats
from failover_harness.reports.schema import (
    ActionMark,
    EventsSummary,
    Report,
    RunInfo,
    SectionReport,
    SectionStatus,
)
from failover_harness.reports.vantage import vantage_finding, vantage_groups

HEADLINE_METRICS = ("max_outage_s", "min_outage_s", "flows_with_loss", "flows_without_loss",
                    "onprem_detection_s", "azure_detection_s", "routes_withdrawn_s",
                    "failback_lost_probes")


def split_sections(events: Sequence[Event]) -> list[list[Event]]:
    """Events grouped per playbook section; see the module docstring."""
    sections: list[list[Event]] = []
    pending: list[Event] = []  # events waiting for the next run_start
    current: list[Event] | None = None
    for event in events:
        if isinstance(event, RunStart):
            current = [*pending, event]
            pending = []
            sections.append(current)
        elif current is None:
            pending.append(event)
        else:
            current.append(event)
            if isinstance(event, RunEnd):
                current = None
    if pending:
        if sections:
            sections[-1].extend(pending)
        else:
            sections.append(pending)
    return sections


def run_info(events: Sequence[Event]) -> RunInfo:
    start = next((e for e in events if isinstance(e, RunStart)), None)
    end = next((e for e in reversed(events) if isinstance(e, RunEnd)), None)
    data = start.data if start else RunStartFields()
    first = start or (events[0] if events else None)
    started: datetime | None = first.wall if first else None
    ended: datetime | None = end.wall if end else None
    return RunInfo(
        run_id=start.subject if start else "unknown",
        playbook=data.playbook.name or data.playbook.path if data.playbook else None,
        playbook_digest=data.playbook.digest if data.playbook else None,
        inventory=data.inventory.name or data.inventory.path if data.inventory else None,
        inventory_digest=data.inventory.digest if data.inventory else None,
        versions=dict(data.versions), operator=data.operator, started_at=started,
        ended_at=ended, duration_s=round(end.t - first.t, 6) if end and first else None,
        status=end.data.status if end else None, reason=end.data.reason if end else None,
        playbook_index=data.index, iteration=data.iteration, iterations=data.iterations,
        tunnel=data.tunnel,
    )


def expectations_of(events: Sequence[Event]) -> list[Expectation]:
    """The playbook's expectations, from run_start."""
    start = next((e for e in events if isinstance(e, RunStart)), None)
    return list(start.data.expectations) if start else []


def events_summary(events: Sequence[Event]) -> EventsSummary:
    counts = Counter(f"{e.source}/{e.kind}" for e in events)
    samples = [e for e in events if isinstance(e, Sample)]
    return EventsSummary(
        total=len(events), counts=dict(sorted(counts.items())),
        first_t=events[0].t if events else None, last_t=events[-1].t if events else None,
        azure_samples=len(samples),
        azure_samples_failed=sum(1 for e in samples if not e.data.ok),
        guard=[f"{e.kind}: {e.data.reason}" for e in events if isinstance(e, Guard)],
        actions=[ActionMark(t=e.t, kind=e.kind, subject=e.subject, action=e.data.action,
                            error=e.data.error if isinstance(e, ActionFailed) else None)
                 for e in events if isinstance(e, ActionStart | ActionDone | ActionFailed)],
    )


def section_status(verdicts: Sequence[Verdict], run: RunInfo) -> SectionStatus:
    if any(v.status == "failed" for v in verdicts):
        return "failed"
    if run.status in ("aborted", "failed"):
        return "incomplete"
    if any(v.status == "inconclusive" for v in verdicts):
        return "inconclusive"
    return "passed" if verdicts else "no_expectations"


def section_headline(name: str, status: SectionStatus, verdicts: Sequence[Verdict]) -> str:
    """The summary's first sentence (history.record rewrites it when a regression fails)."""
    passed = sum(1 for v in verdicts if v.status == "passed")
    return (f"{name}: {status.upper().replace('_', ' ')} "
            f"({passed} of {len(verdicts)} expectations met).")


def section_summary(name: str, status: SectionStatus, metrics: RunMetrics,
                    verdicts: Sequence[Verdict], run: RunInfo) -> str:
    """A few sentences a person reads first."""
    lines = [section_headline(name, status, verdicts)]
    if run.status and run.status != "completed":
        lines.append(f"The run ended {run.status}" + (f": {run.reason}." if run.reason else "."))
    fault = metrics.fault
    if fault is not None and metrics.t0 is not None:
        target = " ".join(p for p in (fault.device, fault.interface or fault.onprem_neighbor) if p)
        sent = (f"sent at t={metrics.fault_start:.3f} s, "
                if metrics.fault_start is not None else "")
        lines.append(f"Fault {fault.action} {target} {sent}acknowledged at t={metrics.t0:.3f} s "
                     "(t0); delays are from the send.")
    m = metrics.metrics
    parts = [f"{name} {m[name].text()}" for name in HEADLINE_METRICS
             if name in m and m[name].available]
    if parts:
        lines.append("; ".join(parts) + ".")
    for verdict in verdicts:
        if verdict.status != "passed":
            lines.append(("Missed: " if verdict.status == "failed" else "Inconclusive: ")
                         + verdict.message + ".")
    if metrics.directions is not None:
        lines.append(metrics.directions.text)
    lines.extend(metrics.notes)
    return " ".join(lines)


# Events that are changes of state: a section's metrics need the state each subject was in
# when the section began, which an earlier section (an earlier iteration) may have seen.
STATE_KINDS = frozenset({"bgp_state", "bgp_peer", "route_next_hops", "connection"})


def carried_state(earlier: Sequence[Event]) -> list[Event]:
    """The last state event of every subject in `earlier` sections."""
    last: dict[tuple[str, str], Event] = {}
    for event in earlier:
        if event.kind in STATE_KINDS:
            last[(event.kind, event.subject)] = event
    return list(last.values())


def build_section(index: int, events: Sequence[Event], notes: Sequence[str] = (),
                  carried: Sequence[Event] = (),
                  calibration: CalibrationPoints | None = None) -> tuple[SectionReport, RunMetrics]:
    """One section's report; `carried`: state events of earlier sections (carried_state),
    for its metrics only; `calibration`: the run's pooled calibration points."""
    events = sorted(events, key=lambda e: (e.t, e.seq))
    run = run_info(events)
    metrics = compute_metrics([*carried, *events], calibration)
    expectations = expectations_of(events)
    verdicts = evaluate(metrics, expectations)
    status = section_status(verdicts, run)
    name = iteration_name(run)
    groups = vantage_groups(events, metrics.flows)
    by_vantage = vantage_finding(groups) if metrics.fault is not None else None
    section = SectionReport(
        index=index, run=run, status=status,
        summary=section_summary(name, status, metrics, verdicts, run),
        t_start=metrics.t_start, t_end=metrics.t_end, t0=metrics.t0,
        fault_start=metrics.fault_start, restore_t=metrics.restore_t,
        restore_start=metrics.restore_start, fault=metrics.fault, metrics=metrics.metrics,
        verdicts=verdicts, flows=metrics.flows, data_gaps=metrics.data_gaps,
        notes=metrics.notes + list(notes), events=events_summary(events),
        directions=metrics.directions,
        azure_polling=azure_polling(events),
        prediction=prediction_of(events),
        findings=findings(events, metrics) + ([] if by_vantage is None else [by_vantage]),
        vantage_points=groups)
    return section, metrics


def iteration_name(run: RunInfo) -> str:
    """'tunnel1-failover', or 'tunnel1-failover #2 of 5 (edge1/Tunnel2)' for a repeat."""
    name = run.playbook or run.run_id
    if run.iteration is None or (run.iterations or 1) < 2:
        return name
    return (f"{name} #{run.iteration} of {run.iterations}"
            + (f" ({run.tunnel})" if run.tunnel else ""))


def overall_status(sections: Sequence[SectionReport],
                   repeats: Sequence[RepeatSummary] = ()) -> SectionStatus:
    order: list[SectionStatus] = ["failed", "incomplete", "inconclusive", "passed",
                                  "no_expectations"]
    statuses = {s.status for s in sections} | {r.status for r in repeats}
    return next((s for s in order if s in statuses), "no_expectations")


def build_report(events: Sequence[Event], source: str,
                 notes: Sequence[str] = ()) -> tuple[Report, list[RunMetrics]]:
    """The report of a whole timeline, and each section's metrics (for the chart); `notes`
    (e.g. a torn last line skipped) go to the last section."""
    parts = split_sections(events) or [[]]
    # Every section's failback calibrates every section's Azure detection (calibration.py).
    pooled = sum((section_points(p) for p in parts), CalibrationPoints())
    built = [build_section(i + 1, section, notes if i == len(parts) - 1 else (),
                           carried_state([e for p in parts[:i] for e in p]), pooled)
             for i, section in enumerate(parts)]
    sections = [s for s, _ in built]
    repeats = summarize_repeats(sections, [expectations_of(p) for p in parts])
    status = overall_status(sections, repeats)
    report = Report(generator=f"failover-harness {__version__}", source=source, status=status,
                    summary=report_summary(sections, status, repeats), sections=sections,
                    repeats=repeats, findings=instance_findings(sections))
    return report, [m for _, m in built]


def report_summary(sections: Sequence[SectionReport], status: SectionStatus,
                   repeats: Sequence[RepeatSummary] = ()) -> str:
    if len(sections) == 1:
        summary = sections[0].summary
    else:
        names = ", ".join(f"{iteration_name(s.run)} {s.status}" for s in sections)
        summary = f"Game-day of {len(sections)} playbook runs: {status.upper()} ({names})."
    return " ".join([summary, *(r.summary for r in repeats)])


def exit_status(status: SectionStatus) -> int:
    """The exit status a report's status means (errors.py): failed or incomplete 1,
    inconclusive 4 (no expectation failed, the data could not decide one), else 0."""
    if status in ("failed", "incomplete"):
        return EXIT_EXPECTATION_FAILED
    return EXIT_INCONCLUSIVE if status == "inconclusive" else EXIT_OK
