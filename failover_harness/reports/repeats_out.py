"""A repeated playbook's summary for people and CI: terminal lines and a JUnit testsuite
(per-iteration values, min / median / p95 / max with intervals, verdicts on statistics)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from failover_harness.metrics import MetricValue, fmt
from failover_harness.reports.repeat_model import MetricSeries, RepeatSummary


def series_name(series: MetricSeries) -> str:
    return series.metric + (f" (instance {series.instance})" if series.instance else "")


def stat_text(value: MetricValue) -> str:
    """'2.61 (2.5..2.7)', '>= 3', 'n/a'."""
    if not value.available or value.value is None:
        return "n/a"
    if value.censored:
        return f">= {fmt(value.value)}"
    if value.lo == value.hi == value.value:
        return fmt(value.value)
    return f"{fmt(value.value)} ({fmt(value.lo)}..{'inf' if value.hi is None else fmt(value.hi)})"


# The terminal shows these (every metric is in report.html, report.md and report.json).
TERMINAL = ("onprem_detection_s", "azure_detection_s", "routes_withdrawn_s", "max_outage_s",
            "failback_lost_probes")


def terminal_lines(summary: RepeatSummary) -> list[str]:
    """Plain text (no markup): the headline, a line per headline series, the p95 rule."""
    lines = [f"{summary.playbook}: {summary.completed} of {summary.iterations} iterations "
             f"completed, {summary.status.replace('_', ' ')}"]
    for s in summary.series:
        if s.metric not in TERMINAL or not s.stats["max"].available:
            continue
        values = " ".join(("n/a" if not v.value.available else
                           (">=" if v.value.censored else "") + fmt(v.value.value))
                          for v in s.values)
        stats = " / ".join(f"{k} {stat_text(v)}" for k, v in s.stats.items())
        how = f", {s.estimate.replace('_', ' ')}" if s.estimate else ""
        lines.append(f"  {series_name(s)}: [{values}] {stats} {s.unit}{how}")
    lines.append(f"  ({summary.p95_method}; intervals: the statistic of the lower and of the "
                 "upper bounds; every metric: the report)")
    return lines


def junit_suite(root: ET.Element, summary: RepeatSummary) -> tuple[int, int]:
    """Append the summary's testsuite (a testcase per expectation on a statistic; every
    statistic and per-iteration value as properties). Returns (tests, failures)."""
    name = f"{summary.playbook} (repeated {summary.iterations})"
    failures = sum(1 for v in summary.verdicts if v.status == "failed")
    skipped = sum(1 for v in summary.verdicts if v.status == "inconclusive")
    suite = ET.SubElement(root, "testsuite", {
        "name": name, "tests": str(len(summary.verdicts)), "failures": str(failures),
        "errors": "0", "skipped": str(skipped), "time": "0",
        "hostname": "failover-harness", "package": f"failover.{summary.playbook}.repeat"})
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="iterations", value=str(summary.iterations))
    ET.SubElement(props, "property", name="completed", value=str(summary.completed))
    for s in summary.series:
        key = s.metric + (f"@{s.instance}" if s.instance else "")
        ET.SubElement(props, "property", name=f"{key}.values", value=" ".join(
            repr(v.value.value) if v.value.available else "n/a" for v in s.values))
        for stat, value in s.stats.items():
            if not value.available or value.value is None:
                continue
            ET.SubElement(props, "property", name=f"{key}.{stat}", value=repr(value.value))
            ET.SubElement(props, "property", name=f"{key}.{stat}.lo", value=repr(value.lo))
            ET.SubElement(props, "property", name=f"{key}.{stat}.hi",
                          value="inf" if value.hi is None else repr(value.hi))
    for v in summary.verdicts:
        bound = " ".join(p for p in (f"min {fmt(v.min)}" if v.min is not None else "",
                                     f"max {fmt(v.max)}" if v.max is not None else "") if p)
        case = ET.SubElement(suite, "testcase", name=f"{v.statistic} of {v.metric} ({bound})",
                             classname=f"failover.{summary.playbook}.repeat", time="0",
                             status=v.status)
        if v.status == "failed":
            ET.SubElement(case, "failure", message=v.message,
                          type="ExpectationFailed").text = v.message
        elif v.status == "inconclusive":
            ET.SubElement(case, "skipped", message=f"inconclusive: {v.message}")
        ET.SubElement(case, "system-out").text = v.message
    ET.SubElement(suite, "system-out").text = summary.summary
    return len(summary.verdicts), failures
