"""What one failover run measured (`FailoverResult`, no I/O): values for plain asserts, the
failure message a test shows, and the JUnit properties."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from failover_harness.metrics import FlowMetrics, LossEpisode, MetricValue, Verdict
from failover_harness.orchestrator.gameday import GameDayResult
from failover_harness.orchestrator.playbook_run import PlaybookOutcome
from failover_harness.reports.repeat_model import RepeatSummary
from failover_harness.timeline import Event


class FailoverResult(BaseModel):
    """What one failover run measured, for plain asserts.

    metrics: metric -> value (None when unavailable; `measurements` says why, with bounds).
    loss_episodes: flow -> its loss episodes (phases before_fault / fault / failback).
    """

    run_id: str
    run_dir: Path
    report: Path
    exit_code: int
    message: str
    playbook: str | None = None
    outcomes: list[PlaybookOutcome]
    metrics: dict[str, float | None]
    measurements: dict[str, MetricValue]
    verdicts: list[Verdict]
    flows: list[FlowMetrics]
    loss_episodes: dict[str, list[LossEpisode]]
    events: list[Event]
    t0: float | None = None
    restore_t: float | None = None
    # A repeated playbook: metrics/flows are its last iteration's; verdicts hold every
    # iteration's and those on statistics; `repeats` the per-iteration values and statistics.
    repeats: list[RepeatSummary] = []

    @property
    def failed_verdicts(self) -> list[Verdict]:
        """Expectations not met."""
        return [v for v in self.verdicts if v.status == "failed"]

    @property
    def inconclusive_verdicts(self) -> list[Verdict]:
        """Expectations the data could not decide (unavailable, censored, or in a data gap)."""
        return [v for v in self.verdicts if v.status == "inconclusive"]

    @property
    def completed(self) -> bool:
        return bool(self.outcomes) and all(o.status == "completed" for o in self.outcomes)

    @property
    def passed(self) -> bool:
        return self.completed and all(v.status == "passed" for v in self.verdicts)

    def outage_s(self, flow: str | None = None) -> float:
        """The flow's outage after the fault (0 when it lost nothing); without a flow, the
        worst flow's (0 when no flow lost anything, or there are no flows)."""
        if flow is None:
            return max((f.outage_s.value or 0.0 for f in self.flows), default=0.0)
        for f in self.flows:
            if f.flow == flow:
                return f.outage_s.value or 0.0
        raise KeyError(f"no flow {flow!r} (has {', '.join(f.flow for f in self.flows)})")

    def flows_of(self, kind: str) -> list[FlowMetrics]:
        return [f for f in self.flows if f.kind == kind]

    def events_of(self, source: str, kind: str | None = None) -> list[Event]:
        return [e for e in self.events if e.source == source and (kind is None or e.kind == kind)]

    def failure_message(self) -> str:
        """Why the run is not a pass: each expectation missed, and where the report is."""
        lines = []
        name = self.playbook or "playbook"
        for o in self.outcomes:
            if o.status != "completed":
                lines.append(f"{o.playbook}: {o.status}" + (f" ({o.reason})" if o.reason else ""))
        if not self.outcomes and self.message:
            lines.append(self.message)
        for v in self.failed_verdicts:
            lines.append(v.message)
        for v in self.inconclusive_verdicts:
            lines.append(f"inconclusive: {v.message}")
        if not lines:
            return f"{name}: all expectations met; report: {self.report}"
        what = ("inconclusive" if self.completed and not self.failed_verdicts
                and self.inconclusive_verdicts else "not met")
        head = f"failover expectations {what} ({name}, run {self.run_id}):"
        return "\n".join([head, *(f"  {line}" for line in lines), f"report: {self.report}"])


def collect_result(gameday: GameDayResult, report: Any, events: list[Event]) -> FailoverResult:
    """Flatten a game-day of one playbook (its report.json model and timeline) into a result."""
    sections = list(report.sections) if report is not None else []
    section = sections[-1] if sections else None
    measurements: dict[str, MetricValue] = dict(section.metrics) if section else {}
    flows: list[FlowMetrics] = list(section.flows) if section else []
    html = next((p for p in gameday.report_files if p.suffix == ".html"), gameday.run_dir)
    return FailoverResult(
        run_id=gameday.run_id, run_dir=gameday.run_dir, report=html,
        exit_code=gameday.exit_code, message=gameday.message,
        playbook=section.run.playbook if section else None, outcomes=gameday.outcomes,
        metrics={k: (m.value if m.available else None) for k, m in measurements.items()},
        measurements=measurements,
        verdicts=[v for s in sections for v in s.verdicts]
        + [v for r in (report.repeats if report is not None else []) for v in r.verdicts],
        flows=flows, loss_episodes={f.flow: list(f.episodes) for f in flows}, events=events,
        t0=section.t0 if section else None, restore_t=section.restore_t if section else None,
        repeats=list(report.repeats) if report is not None else [])


def junit_properties(result: FailoverResult, prefix: str = "failover.") -> list[tuple[str, str]]:
    """JUnit <property> pairs: every metric (value, or n/a with the reason), run id, report."""
    props = [(f"{prefix}run_id", result.run_id), (f"{prefix}report", str(result.report)),
             (f"{prefix}exit_code", str(result.exit_code))]
    for name, m in result.measurements.items():
        props.append((f"{prefix}{name}", repr(m.value) if m.available and m.value is not None
                      else f"n/a: {m.reason}"))
    for v in result.verdicts:
        which = f"{v.statistic}." if v.statistic else ""
        props.append((f"{prefix}verdict.{which}{v.metric}", v.status))
    for r in result.repeats:
        for series in r.series:
            if series.instance is None:
                for stat, m in series.stats.items():
                    props.append((f"{prefix}{series.metric}.{stat}",
                                  repr(m.value) if m.available else f"n/a: {m.reason}"))
    return props
