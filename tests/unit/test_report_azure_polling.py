"""The report shows the Azure poller's achieved sample interval per operation and the request
budget it used (issue #14: degrade visibly): report.json, HTML, Markdown and the terminal."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from failover_harness.azure.budget import BudgetSettings, RequestBudget
from failover_harness.azure.cadence import CadenceTracker
from failover_harness.reports.azure_polling import azure_polling
from failover_harness.reports.render import load_events, render_report
from failover_harness.reports.schema import shipped_schema
from failover_harness.timeline import Clock, Timeline
from tests.synthetic import SyntheticRun, write_synthetic_run


def _cadence(operation: str, ends: list[float]) -> CadenceTracker:
    tracker = CadenceTracker(operation, 1.0, None)
    for end in ends:
        tracker.launched(3)
        tracker.settled(end - 10.0, end, True)
    return tracker


def _write(run_dir: Path) -> None:
    run_dir.mkdir()
    timeline = Timeline(run_dir / "timeline.jsonl", Clock())
    peers = _cadence("bgp_peer_status", [20.0, 21.0, 22.0, 23.1, 26.6, 27.5])  # one 3.5 s gap
    routes = _cadence("learned_routes", [20.5, 21.4, 22.5, 23.4, 24.5])
    t = [0.0]
    budget = RequestBudget(BudgetSettings(), clock=lambda: t[0])
    for _ in range(30):
        budget.try_take("writes")
    for _ in range(100):
        budget.try_take("reads")
    budget.observe("reads", 429, {"Retry-After": "1"})
    t[0] = 10.0
    # Summaries are cumulative: an early one, then the section's last one, which counts.
    timeline.emit("azure", "poll_summary", "azure:bgp_peer_status", t=1.0,
                  **_cadence("bgp_peer_status", [0.5]).summary().model_dump())
    end = write_synthetic_run(timeline, SyntheticRun())
    for tracker in (peers, routes):
        timeline.emit("azure", "poll_summary", f"azure:{tracker.operation}", t=end - 0.5,
                      **tracker.summary().model_dump())
    timeline.emit("azure", "budget", "azure:budget", t=end - 0.5, **budget.stats().model_dump())
    timeline.close()


def test_report_renders_the_achieved_interval_and_budget(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    _write(run_dir)
    polling = azure_polling(load_events(run_dir / "timeline.jsonl"))
    assert polling is not None
    assert [op.operation for op in polling.operations] == ["bgp_peer_status", "learned_routes"]
    peers = polling.operations[0]
    assert peers.max_gap_s == 3.5 and peers.short and peers.reasons == ["latency"]
    assert polling.budget is not None and polling.budget.throttled == 1

    rendered = render_report(run_dir)
    doc = json.loads(rendered.json_path.read_text())
    jsonschema.Draft202012Validator(shipped_schema()).validate(doc)
    section = doc["sections"][0]["azure_polling"]
    assert section["operations"][0]["max_gap_s"] == 3.5
    assert section["budget"]["requests"]["writes"] == 30
    assert section["budget"]["allowed_rate_per_s"]["writes"] == 5.0

    md = rendered.md_path.read_text()
    assert "peer status: a sample every 1 s (median), longest gap 3.5 s, target 1 s" in md
    assert "short: latency" in md
    assert "learned routes: a sample every 1 s (median), longest gap 1.1 s" in md
    assert "ARM budget: writes 3/s of 5/s, reads 10/s of 12.5/s" in md and "1 answered 429" in md
    html = rendered.html_path.read_text()
    assert "<h3>Azure polling</h3>" in html and '<tr class="short"><td>bgp_peer_status</td>' in html
    assert "<td>learned_routes</td>" in html and ">12.5<" in html


def test_a_run_without_azure_polling_has_no_section(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    timeline = Timeline(run_dir / "timeline.jsonl", Clock())
    write_synthetic_run(timeline, SyntheticRun())
    timeline.close()
    rendered = render_report(run_dir)
    assert json.loads(rendered.json_path.read_text())["sections"][0]["azure_polling"] is None
    assert "Azure polling" not in rendered.md_path.read_text()
    assert "Azure polling" not in rendered.html_path.read_text()


def test_terminal_summary_prints_the_polling_lines(tmp_path: Path, capsys: object) -> None:
    from failover_harness import cli

    run_dir = tmp_path / "run"
    _write(run_dir)
    render_report(run_dir)
    cli._print_summary(run_dir)
    printed = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "Azure peer status: a sample every 1 s (median), longest gap 3.5 s" in printed
    assert "Azure ARM budget: writes 3/s of 5/s" in printed
