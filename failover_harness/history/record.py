"""Index a rendered run and flag its regressions (called by reports.render for every run and
every re-render). Never fails a run: an index that cannot be opened or written becomes a note
in the report, and the report is written as if there were no history."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from failover_harness.errors import HarnessError
from failover_harness.events import Event, RunStart
from failover_harness.history.policy import RegressionPolicy
from failover_harness.history.records import IndexedRun, runs_from_report
from failover_harness.history.regression import HIGHER_IS_BETTER, Regression, find_regressions
from failover_harness.history.store import INDEX_FILE, HistoryIndex, open_index
from failover_harness.metrics import Verdict
from failover_harness.reports.build import (
    overall_status,
    report_summary,
    section_headline,
    section_status,
)
from failover_harness.reports.schema import Report, SectionReport


def default_index(run_dir: Path) -> Path:
    """A run directory's index: in the reports directory that holds it."""
    return run_dir.parent / INDEX_FILE


def policy_of(events: Sequence[Event]) -> RegressionPolicy:
    start = next((e for e in events if isinstance(e, RunStart)), None)
    policy = start.data.regression if start is not None else None
    return policy or RegressionPolicy()


def baseline_of(index: HistoryIndex, run: IndexedRun, policy: RegressionPolicy
                ) -> list[IndexedRun]:
    """The last `baseline_runs` runs of the same playbook and inventory before this one."""
    if run.started_at is None:
        return []
    return index.last_runs(policy.baseline_runs, playbook=run.playbook, inventory=run.inventory,
                           before=run.started_at, exclude_run=run.run_id)


def _fail_verdict(reg: Regression) -> Verdict:
    value = reg.measured
    lower_better = reg.metric not in HIGHER_IS_BETTER
    edge = (value.lo if value.lo is not None else value.value) if lower_better else value.hi
    miss = abs((edge or 0.0) - reg.bound)
    return Verdict(metric=reg.metric, description=f"no regression against the last "
                   f"{len(reg.baseline_runs)} runs", max=reg.bound if lower_better else None,
                   min=None if lower_better else reg.bound, status="failed", measured=value,
                   miss_by=round(miss, 6), message=reg.message)


def flag(section: SectionReport, regressions: Sequence[Regression], policy: RegressionPolicy
         ) -> None:
    """The regressions into the section: a note each (and in the summary); with
    `regression.fail` also a failed verdict each, so the status and exit status follow."""
    if not regressions:
        return
    old_head = section_headline(section.run.playbook or section.run.run_id, section.status,
                                section.verdicts)
    how = ("the playbook's regression.fail makes it a failure" if policy.fail
           else "flagged only: the playbook's regression.fail is off")
    section.notes.extend(f"{r.message} ({how})" for r in regressions)
    if policy.fail:
        section.verdicts.extend(_fail_verdict(r) for r in regressions)
        section.status = section_status(section.verdicts, section.run)
        head = section_headline(section.run.playbook or section.run.run_id, section.status,
                                section.verdicts)
        summary = section.summary.removeprefix(old_head)
        section.summary = head + summary + "".join(f" Missed: {r.message}." for r in regressions)
    else:
        section.summary += "".join(f" Flagged {r.message}." for r in regressions)


def record_run(report: Report, sections: Sequence[Sequence[Event]], run_dir: Path,
               index: Path | None = None) -> Report:
    """The report with its regressions flagged (a copy), after indexing the run in `index`
    (default: the reports directory's history.sqlite). Never raises."""
    path = index or default_index(run_dir)
    report = report.model_copy(deep=True)
    try:
        runs = runs_from_report(report, sections, run_dir.resolve())
        with open_index(path) as idx:
            for section, events, run in zip(report.sections, sections, runs, strict=True):
                policy = policy_of(events)
                regressions = find_regressions(section.metrics, baseline_of(idx, run, policy))
                names = {r.metric for r in regressions}
                for m in run.metrics:
                    m.regression = m.metric in names
                flag(section, regressions, policy)
            idx.put(runs)
    except (HarnessError, OSError, sqlite3.Error, ValueError) as exc:
        if report.sections:
            report.sections[-1].notes.append(
                f"run history: not indexed in {path} ({exc}); the report itself is complete")
    except Exception as exc:  # noqa: BLE001 - a history bug must not cost the run its report
        if report.sections:
            report.sections[-1].notes.append(f"run history: not indexed (a bug): {exc!r}")
    report.status = overall_status(report.sections, report.repeats)
    report.summary = report_summary(report.sections, report.status, report.repeats)
    return report

