"""Run history against the real lab (issue 15 part 4): three short Tunnel1 game-days are
indexed as they end; with their run directories moved away, `report trend`, `report compare
--baseline` and `report export --format openmetrics` work from the SQLite index alone, and
the figures they give are the runs' own: each on-prem detection window holds the instant the
on-prem router's own BGP log says the session went down."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from rich.console import Console
from typer.testing import CliRunner

from failover_harness.cli import app
from failover_harness.history.store import open_index
from failover_harness.lab.state import LabState
from failover_harness.orchestrator.gameday import run_gameday
from failover_harness.orchestrator.session import RunOptions
from failover_harness.reports import cli as reports_cli
from tests.lab.test_gameday import onprem_neighbor_down

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "tests/data/playbooks/history-short.yaml"
CLOCKS_S = 0.05  # FRR's log stamps (ms) against the timeline's wall clock, same host
runner = CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_three_runs_trend_and_export_from_the_index_alone(
        lab: LabState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert lab.inventory is not None
    monkeypatch.setattr(reports_cli, "console", Console(width=250))  # run ids unwrapped
    reports = tmp_path / "reports"
    runs = []
    for _ in range(3):
        result = run_gameday(Path(lab.inventory), [PLAYBOOK],
                             RunOptions(reports_root=reports, gate_timeout_s=40), say=print)
        assert result.exit_code == 0, result.message
        runs.append(result)

    # Each run's on-prem detection, as indexed, holds the router's own log instant.
    with open_index(reports / "history.sqlite", create=False) as index:
        indexed = index.runs(playbook="history-short")
    assert [r.run_id for r in indexed] == [r.run_id for r in runs]
    for run in indexed:
        timeline = (reports / run.run_id / "timeline.jsonl").read_text()
        shut = next(line for line in timeline.splitlines()
                    if '"action_start"' in line and '"shut_interface"' in line)
        sent = datetime.fromisoformat(shut.split('"wall":"')[1].split('"')[0].replace("Z", "+00:00"))
        logged = (onprem_neighbor_down(lab, "169.254.21.1", sent) - sent).total_seconds()
        detection = run.metric("onprem_detection_s")
        assert detection is not None and detection.lo is not None and detection.hi is not None
        print(run.run_id, "router log", logged, "index", detection.lo, detection.hi)
        assert detection.lo - CLOCKS_S <= logged <= detection.hi + CLOCKS_S
        assert run.labels["lab"] == "true" and run.labels["bgp_hold_s"] == "3"
        assert run.labels["gateway"] == "active-active"
        assert (run.labels["design"], run.labels["bfd"]) == ("ecmp", "off")  # the default lab

    moved = tmp_path / "moved"
    moved.mkdir()
    for result in runs:
        shutil.move(result.run_dir, moved / result.run_id)
    assert sorted(p.name for p in reports.iterdir() if p.is_dir()) == []

    trend = runner.invoke(app, ["report", "trend", str(reports), "--metric", "onprem_detection_s",
                                "--playbook", "history-short"])
    assert trend.exit_code == 0, trend.output
    assert "run index" in _flat(trend.output)
    order = [_flat(trend.output).find(r.run_id) for r in runs]
    assert -1 not in order and order == sorted(order)

    compare = runner.invoke(app, ["report", "compare", "--baseline", "2", "--reports", str(reports)])
    assert compare.exit_code == 0, compare.output
    assert f"{runs[-1].run_id} against the last 2 of 2" in _flat(compare.output)

    out = tmp_path / "textfile" / "failover_harness.prom"
    export = runner.invoke(app, ["report", "export", "--format", "openmetrics", str(reports),
                                 "-o", str(out)])
    assert export.exit_code == 0, export.output
    samples = {(s.name, s.labels.get("metric"), s.labels.get("verdict")): s
               for f in text_string_to_metric_families(out.read_text()) for s in f.samples}
    latest = indexed[-1]
    value = samples[("failover_harness_metric_value", "onprem_detection_s", None)]
    assert value.labels["playbook"] == "history-short"
    assert value.value == latest.metric("onprem_detection_s").value  # type: ignore[union-attr]
    started = samples[("failover_harness_run_start_time_seconds", None, None)]
    assert started.labels["run_id"] == latest.run_id
    assert abs(started.value - datetime.now(UTC).timestamp()) < 600
    passed = samples[("failover_harness_metric_verdict", "onprem_detection_s", "passed")]
    assert passed.value == 1  # every run passed (exit 0 above)
