"""`report export --format openmetrics`: the latest figures per playbook, inventory and
metric as gauges, checked with prometheus_client's own parsers (OpenMetrics and the
Prometheus text format a node-exporter textfile collector reads), and written atomically."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_prom
from typer.testing import CliRunner

from failover_harness.cli import app
from failover_harness.history.openmetrics import latest_runs, openmetrics_text, write_atomically
from failover_harness.history.records import IndexedMetric, IndexedRun
from failover_harness.history.store import open_index

runner = CliRunner()


def _run(run_id: str, playbook: str, started: datetime, outage: float,
         verdict: str | None = "passed") -> IndexedRun:
    return IndexedRun(
        run_id=run_id, section=1, run_dir=f"/r/{run_id}", started_at=started, playbook=playbook,
        inventory='lab "fh"\\1', status="passed", metrics=[
            IndexedMetric(metric="max_outage_s", unit="s", available=True, value=outage,
                          lo=outage - 0.01, hi=outage + 0.01, estimate="loss_period",
                          verdict=verdict, regression=outage > 4),
            IndexedMetric(metric="azure_detection_s", unit="s", available=True, value=7.0,
                          lo=7.0, hi=None, censored=True, estimate="lower_bound"),
            IndexedMetric(metric="failback_azure_s", unit="s", available=False,
                          reason="no failback seen")])


def _samples(text: str, parse: object) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in parse(text):  # type: ignore[operator]
        assert family.type == "gauge"
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def test_export_holds_the_latest_run_per_playbook_and_parses(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    t = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    with open_index(reports / "history.sqlite") as index:
        index.put([_run("old", "tunnel1-failover", t, 2.6)])
        index.put([_run("new", "tunnel1-failover", t.replace(day=2), 4.5, "failed")])
        index.put([_run("t2", "tunnel2-failover", t, 2.4, None)])
    result = runner.invoke(app, ["report", "export", "--format", "openmetrics", str(reports)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.endswith("# EOF\n")
    for parse in (parse_om, parse_prom):
        samples = _samples(text, parse)
        inv = ("inventory", 'lab "fh"\\1')  # escaped on the way out, the same on the way in
        it0 = ("iteration", "0")  # a playbook run once
        key = frozenset({("playbook", "tunnel1-failover"), inv, it0, ("metric", "max_outage_s"),
                         ("unit", "s"), ("estimate", "loss_period")})
        assert samples[("failover_harness_metric_value", key)] == 4.5  # the newest run only
        assert samples[("failover_harness_metric_lo", key)] == 4.49
        assert samples[("failover_harness_metric_hi", key)] == 4.51
        verdict = frozenset({("playbook", "tunnel1-failover"), inv, it0, ("metric", "max_outage_s")})
        assert samples[("failover_harness_metric_verdict", verdict | {("verdict", "failed")})] == 1
        assert samples[("failover_harness_metric_verdict", verdict | {("verdict", "passed")})] == 0
        assert samples[("failover_harness_metric_regression", verdict)] == 1
        censored = frozenset({("playbook", "tunnel1-failover"), inv, it0,
                              ("metric", "azure_detection_s"), ("unit", "s"),
                              ("estimate", "lower_bound")})
        assert math.isinf(samples[("failover_harness_metric_hi", censored)])
        started = frozenset({("playbook", "tunnel1-failover"), inv, it0, ("run_id", "new"),
                             ("status", "passed")})
        assert samples[("failover_harness_run_start_time_seconds", started)] == (
            t.replace(day=2).timestamp())
        names = {labels for (name, labels) in samples if name == "failover_harness_metric_value"}
        assert {dict(k)["playbook"] for k in names} == {"tunnel1-failover", "tunnel2-failover"}
        assert not any(dict(k)["metric"] == "failback_azure_s" for k in names)  # unavailable
        # no expectation on tunnel2's metric: no verdict series for it
        assert not any(n == "failover_harness_metric_verdict" and ("playbook", "tunnel2-failover")
                       in k for n, k in samples)


def test_export_file_is_replaced_atomically_and_readable_by_the_collector(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    with open_index(reports / "history.sqlite") as index:
        index.put([_run("a", "p", datetime(2026, 12, 1, tzinfo=UTC), 2.0)])
    out = tmp_path / "textfile" / "failover_harness.prom"
    out.parent.mkdir()
    out.write_text("old contents\n")
    inode = out.stat().st_ino
    result = runner.invoke(app, ["report", "export", str(reports), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_ino != inode  # a new file renamed over the old one
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in out.parent.iterdir()) == ["failover_harness.prom"]
    assert list(parse_om(out.read_text()))


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "x.prom"
    out.write_text("old\n")

    def failing_replace(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_atomically(out, openmetrics_text([]))
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.prom"]


def test_an_empty_index_exports_valid_empty_families() -> None:
    families = list(parse_om(openmetrics_text([])))
    assert families and all(not f.samples for f in families)


def test_a_repeated_run_exports_each_iteration_of_the_newest_run(tmp_path: Path) -> None:
    t = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    with open_index(tmp_path / "history.sqlite") as index:
        index.put([_run("old", "p", t, 2.0)])
        index.put([_run("rep", "p", t.replace(day=2), v).model_copy(
            update={"section": i, "iteration": i}) for i, v in ((1, 2.5), (2, 2.7))])
        values = {dict(s.labels)["iteration"]: s.value for f in parse_om(openmetrics_text(
            latest_runs(index))) for s in f.samples
            if s.name == "failover_harness_metric_value" and s.labels["metric"] == "max_outage_s"}
    assert values == {"1": 2.5, "2": 2.7}


def test_the_scheduled_game_day_feeds_the_textfile_collector() -> None:
    service = (Path(__file__).resolve().parents[2] / "deploy/systemd/"
               "failover-harness-gameday.service").read_text().replace("\\\n", " ")
    settings = [ln.split("=", 1) for ln in service.splitlines() if "=" in ln
                and not ln.startswith("#")]
    [post] = [v.split() for k, v in settings if k == "ExecStopPost"]
    [start] = [v.split() for k, v in settings if k == "ExecStart"]
    assert post[0] == "-" + start[0]  # the same harness; a failed export never fails the unit
    reports = start[start.index("--reports") + 1]
    assert post[1:6] == ["report", "export", "--format", "openmetrics", reports]
    out = Path(post[post.index("-o") + 1])
    assert out.suffix == ".prom"  # the collector reads *.prom only
    assert ("ReadWritePaths", f"-{out.parent}") in [tuple(kv) for kv in settings]
    result = runner.invoke(app, [*post[1:6], "--help"])
    assert result.exit_code == 0 and "--output" in result.output
