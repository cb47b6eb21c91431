"""Render a run directory's timeline.jsonl into report.json, report.html, report.md, junit.xml.

timeline.jsonl is the one source of truth; everything here can be re-rendered from it.
Files written beside it: report.json (schema in report.schema.json), report.html
(self-contained: inline SVG chart, inline CSS, no scripts, nothing fetched), report.md (for a
change ticket; the chart as report.png, or report-<n>.png per section of a game-day),
junit.xml (one testsuite per section, one testcase per expectation; one more per repeated
playbook, a testcase per expectation on a statistic).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from jinja2 import Environment, PackageLoader
from markupsafe import Markup
from pydantic import BaseModel

from failover_harness.history.record import record_run
from failover_harness.metrics import ESTIMATES, MetricValue, RunMetrics
from failover_harness.metrics import fmt as _fmt
from failover_harness.reports import repeats_out
from failover_harness.reports.build import build_report, split_sections
from failover_harness.reports.chart import draw_timeline, figure_png, figure_svg
from failover_harness.reports.schema import Report, SectionReport
from failover_harness.timeline import Event, load_timeline

TIMELINE = "timeline.jsonl"


class RenderedReport(BaseModel):
    report: Report
    json_path: Path
    html_path: Path
    md_path: Path
    junit_path: Path
    png_paths: list[Path]


def load_events(path: Path) -> list[Event]:
    """Events of a timeline file (see timeline.load_timeline)."""
    return load_timeline(path).events


def report_from_dir(run_dir: Path) -> tuple[Report, list[list[Event]], list[RunMetrics]]:
    loaded = load_timeline(run_dir / TIMELINE)
    events = loaded.events
    report, metrics = build_report(events, TIMELINE, loaded.notes)
    # The same sections build_report made: one empty one for a run that never started a
    # playbook (e.g. a wrong device password), so the two lists pair up.
    sections = [sorted(s, key=lambda e: (e.t, e.seq)) for s in split_sections(events) or [[]]]
    return report, sections, metrics


def _env() -> Environment:
    env = Environment(loader=PackageLoader("failover_harness.reports", "templates"),
                      # HTML is escaped; Markdown is text (">= 2 s" must stay ">=")
                      autoescape=lambda name: name is not None and ".html" in name,
                      trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["num"] = _fmt
    env.filters["stat"] = repeats_out.stat_text
    env.globals["estimates"] = ESTIMATES
    return env


def png_name(section: SectionReport, count: int) -> str:
    return "report.png" if count == 1 else f"report-{section.index}.png"


def render_report(run_dir: Path, index: Path | None = None) -> RenderedReport:
    """Write every report file for run_dir; see the module docstring. The run is indexed in
    the run history first (`index`, default the reports directory's history.sqlite) and its
    regressions flagged (history/record.py; never raises)."""
    report, sections, metrics = report_from_dir(run_dir)
    report = record_run(report, sections, run_dir, index)
    svgs: list[Markup] = []
    pngs: list[Path] = []
    for section, events, section_metrics in zip(report.sections, sections, metrics, strict=True):
        title = f"{section.run.playbook or section.run.run_id} ({section.run.run_id})"
        fig = draw_timeline(events, section_metrics, title)
        svgs.append(Markup(figure_svg(fig)))  # our own matplotlib output, not user text
        png = run_dir / png_name(section, len(report.sections))
        png.write_bytes(figure_png(fig))
        pngs.append(png)
    env = _env()
    html = env.get_template("report.html.j2").render(report=report, svgs=svgs)
    md = env.get_template("report.md.j2").render(
        report=report, pngs=[p.name for p in pngs])
    paths = {
        "json_path": run_dir / "report.json", "html_path": run_dir / "report.html",
        "md_path": run_dir / "report.md", "junit_path": run_dir / "junit.xml",
    }
    paths["json_path"].write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    paths["html_path"].write_text(html, encoding="utf-8")
    paths["md_path"].write_text(md, encoding="utf-8")
    paths["junit_path"].write_text(junit_xml(report), encoding="utf-8")
    return RenderedReport(report=report, png_paths=pngs, **paths)


def junit_xml(report: Report) -> str:
    """JUnit XML: a testsuite per section, a testcase per expectation.

    failed -> <failure> (message names metric, value, bound, miss); inconclusive ->
    <skipped> (the data could not decide: a CI dashboard shows it apart from failures); each
    case's `status` attribute is its verdict, and the suite has a `verdict.<metric>` property.
    The suite's properties carry every metric: `name`,
    `name.lo`, `name.hi` (units: the name's suffix _s is seconds, else counts),
    `name.estimate`, and `name.evidence_gap` when its evidence falls in a data gap.
    """
    root = ET.Element("testsuites", name="failover-harness")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for section in report.sections:
        name = section.run.playbook or section.run.run_id
        failures = sum(1 for v in section.verdicts if v.status == "failed")
        skipped = sum(1 for v in section.verdicts if v.status == "inconclusive")
        suite = ET.SubElement(root, "testsuite", {
            "name": name, "tests": str(len(section.verdicts)), "failures": str(failures),
            "errors": "0", "skipped": str(skipped),
            "time": _fmt(section.run.duration_s or 0.0),
            "timestamp": (section.run.started_at.strftime("%Y-%m-%dT%H:%M:%S")
                          if section.run.started_at else ""),
            "hostname": "failover-harness", "id": str(section.index - 1),
            "package": f"failover.{name}"})
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="run_id", value=section.run.run_id)
        for metric in section.metrics.values():
            for key, value in _metric_properties(metric):
                ET.SubElement(props, "property", name=key, value=value)
        for verdict in section.verdicts:
            ET.SubElement(props, "property", name=f"verdict.{verdict.metric}", value=verdict.status)
        for verdict in section.verdicts:
            bound = " ".join(p for p in (
                f"min {_fmt(verdict.min)}" if verdict.min is not None else "",
                f"max {_fmt(verdict.max)}" if verdict.max is not None else "") if p)
            case = ET.SubElement(suite, "testcase", name=f"{verdict.metric} ({bound})",
                                 classname=f"failover.{name}", time="0", status=verdict.status)
            if verdict.status == "failed":
                node = ET.SubElement(case, "failure", message=verdict.message,
                                     type="ExpectationFailed")
                node.text = verdict.message
            elif verdict.status == "inconclusive":
                ET.SubElement(case, "skipped", message=f"inconclusive: {verdict.message}")
            out = ET.SubElement(case, "system-out")
            out.text = f"{verdict.metric} = {verdict.measured.text()}"
        ET.SubElement(suite, "system-out").text = section.summary
        ET.SubElement(suite, "system-err").text = ""
        totals["tests"] += len(section.verdicts)
        totals["failures"] += failures
    for summary in report.repeats:  # expectations on statistics over iterations
        tests, failures = repeats_out.junit_suite(root, summary)
        totals["tests"] += tests
        totals["failures"] += failures
    for key, total in totals.items():
        root.set(key, str(total))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _metric_properties(metric: MetricValue) -> list[tuple[str, str]]:
    """`name` = value (or 'n/a: reason'), `name.lo`, `name.hi` ('inf' when unbounded)."""
    if not metric.available or metric.value is None:
        return [(metric.name, f"n/a: {metric.reason}")]
    hi = "inf" if metric.hi is None else repr(metric.hi)
    props = [(metric.name, repr(metric.value)), (f"{metric.name}.lo", repr(metric.lo)),
             (f"{metric.name}.hi", hi), (f"{metric.name}.estimate", str(metric.estimate))]
    if metric.evidence_gap:
        props.append((f"{metric.name}.evidence_gap", metric.evidence_gap))
    return props
