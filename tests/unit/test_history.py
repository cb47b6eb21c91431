"""Run history (issue 15 part 4): the SQLite index's schema and migrations, indexing that is
idempotent and safe for two writers at once, the regression rule and what it does to a
report and its exit status, and trend / compare --baseline read from the index alone."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from failover_harness.cli import app
from failover_harness.history import store
from failover_harness.history.policy import RegressionPolicy
from failover_harness.history.record import baseline_of
from failover_harness.history.records import IndexedMetric, IndexedRun
from failover_harness.history.regression import find_regressions
from failover_harness.history.store import HistoryError, open_index
from failover_harness.metrics import MetricValue
from failover_harness.reports.render import render_report
from tests.synthetic import SyntheticRun, write_synthetic_timeline

runner = CliRunner()
RUN = SyntheticRun(run_id="r0", outage_s=2.6, azure_detect_s=2.7)


def _render(reports: Path, name: str, **knobs: object) -> Path:
    run_dir = reports / name
    write_synthetic_timeline(run_dir, RUN.model_copy(update={"run_id": name, **knobs}))
    render_report(run_dir)
    return run_dir


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# ------------------------------------------------------------------ schema and migrations


def test_new_index_is_wal_with_its_schema_version(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    with open_index(db) as index:
        assert index.schema_version() == store.SCHEMA_VERSION
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"schema_version", "runs", "labels", "metrics"} <= tables


def test_a_later_migration_upgrades_an_index_and_keeps_its_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reports = tmp_path / "reports"
    _render(reports, "r1")
    db = reports / "history.sqlite"
    v2 = [*store.MIGRATIONS, ("ALTER TABLE runs ADD COLUMN note TEXT",)]
    monkeypatch.setattr(store, "MIGRATIONS", v2)
    monkeypatch.setattr(store, "SCHEMA_VERSION", len(v2))
    with open_index(db) as index:
        assert index.schema_version() == len(v2)
        assert [r.run_id for r in index.runs()] == ["r1"]
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT version FROM schema_version")] == [1, 2]
        assert "note" in [r[1] for r in conn.execute("PRAGMA table_info(runs)")]


def test_an_index_from_a_newer_harness_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    with open_index(db):
        pass
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99)")
    with pytest.raises(HistoryError, match="newer failover-harness"), open_index(db):
        pass


def test_reading_a_missing_index_is_bad_input_naming_the_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "export", str(tmp_path)])
    assert result.exit_code == 2
    assert "history.sqlite" in result.output and "report index" in result.output


# ------------------------------------------------------------------ indexing


def test_render_indexes_the_run_with_its_figures_and_labels(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run_dir = _render(reports, "r1")
    doc = json.loads((run_dir / "report.json").read_text())
    section = doc["sections"][0]
    with open_index(reports / "history.sqlite", create=False) as index:
        [run] = index.runs()
    assert (run.run_id, run.playbook, run.inventory) == ("r1", "tunnel1-failover", "lab-fh")
    assert run.playbook_digest == section["run"]["playbook_digest"]
    assert run.labels["harness_version"] == "0.1.0" and run.labels["version.frr"] == "8.4.4"
    assert run.status == section["status"] and run.run_dir == str(run_dir.resolve())
    outage = run.metric("max_outage_s")
    assert outage is not None
    reported = section["metrics"]["max_outage_s"]
    assert (outage.value, outage.lo, outage.hi, outage.estimate) == (
        reported["value"], reported["lo"], reported["hi"], reported["estimate"])
    verdicts = {v["metric"]: v["status"] for v in section["verdicts"]}
    assert outage.verdict == verdicts["max_outage_s"]
    assert {m.metric for m in run.metrics} == set(section["metrics"])


def test_indexing_a_run_twice_keeps_one_run(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run_dir = _render(reports, "r1")
    db = reports / "history.sqlite"
    counts = (_count(db, "runs"), _count(db, "metrics"), _count(db, "labels"))
    render_report(run_dir)
    assert runner.invoke(app, ["report", "render", str(run_dir)]).exit_code == 0
    assert runner.invoke(app, ["report", "index", str(reports)]).exit_code == 0
    assert (_count(db, "runs"), _count(db, "metrics"), _count(db, "labels")) == counts
    assert counts[0] == 1


def test_a_game_day_of_two_playbooks_is_two_indexed_sections(tmp_path: Path) -> None:
    run_dir = tmp_path / "reports" / "gd"
    write_synthetic_timeline(run_dir, RUN.model_copy(update={"run_id": "gd"}),
                             RUN.model_copy(update={"run_id": "gd", "playbook": "tunnel2"}))
    render_report(run_dir)
    with open_index(tmp_path / "reports" / "history.sqlite") as index:
        assert [(r.section, r.playbook) for r in index.run("gd")] == [
            (1, "tunnel1-failover"), (2, "tunnel2")]


def _index_many(db: str, prefix: str, count: int) -> None:
    metric = IndexedMetric(metric="max_outage_s", unit="s", available=True, value=1.0, lo=0.9,
                           hi=1.1, estimate="loss_period")
    for i in range(count):
        run = IndexedRun(run_id=f"{prefix}{i}", section=1, run_dir="/x", playbook="p",
                         inventory="i", status="passed", labels={"k": prefix}, metrics=[metric])
        with open_index(Path(db)) as index:
            index.put([run])
            index.put([run.model_copy(update={"run_id": "shared"})])  # both write this one


def test_two_writers_at_once_lose_nothing_and_double_nothing(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_index_many, args=(str(db), p, 25)) for p in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with open_index(db) as index:
        ids = sorted(r.run_id for r in index.runs())
    assert ids == sorted([*(f"a{i}" for i in range(25)), *(f"b{i}" for i in range(25)), "shared"])
    assert _count(db, "metrics") == 51 and _count(db, "labels") == 51


def test_an_index_that_cannot_be_written_is_a_note_not_a_lost_report(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    (reports / "history.sqlite").mkdir(parents=True)  # not a database
    run_dir = reports / "r1"
    write_synthetic_timeline(run_dir, RUN.model_copy(update={"run_id": "r1"}))
    result = runner.invoke(app, ["report", "render", str(run_dir)])
    assert result.exit_code == 0, result.output
    section = json.loads((run_dir / "report.json").read_text())["sections"][0]
    assert section["status"] == "passed"
    assert any(n.startswith("run history: not indexed in") for n in section["notes"])
    assert "run history: not indexed" in (run_dir / "report.html").read_text()


# ------------------------------------------------------------------ the regression rule


def _m(value: float, lo: float, hi: float | None, name: str = "max_outage_s") -> MetricValue:
    return MetricValue.measured(name, value, lo, hi, estimate="loss_period", censored=hi is None)


def _run(run_id: str, *values: MetricValue) -> IndexedRun:
    return IndexedRun(run_id=run_id, section=1, run_dir="/x", playbook="p", inventory="i",
                      status="passed", metrics=[IndexedMetric.of(v, None) for v in values])


def test_regression_needs_the_whole_window_above_every_baseline_window() -> None:
    baseline = [_run("a", _m(2.5, 2.49, 2.51)), _run("b", _m(3.0, 2.99, 3.02))]
    assert [r.metric for r in find_regressions({"max_outage_s": _m(3.1, 3.03, 3.11)}, baseline)] == [
        "max_outage_s"]
    [reg] = find_regressions({"max_outage_s": _m(3.1, 3.03, 3.11)}, baseline)
    assert reg.bound == 3.02 and reg.baseline_runs == ["a", "b"]
    # its lower bound inside the worst baseline window: not a regression
    assert find_regressions({"max_outage_s": _m(3.1, 3.01, 3.11)}, baseline) == []
    # a baseline without an upper bound (censored) cannot be beaten
    censored = [*baseline, _run("c", _m(4.0, 4.0, None))]
    assert find_regressions({"max_outage_s": _m(9.0, 8.9, 9.1)}, censored) == []
    # no baseline, nothing to be worse than
    assert find_regressions({"max_outage_s": _m(9.0, 8.9, 9.1)}, []) == []


def test_higher_is_better_metrics_regress_downwards() -> None:
    def flows(n: float) -> MetricValue:
        return MetricValue.measured("flows_without_loss", n, estimate="count")
    baseline = [_run("a", flows(2)), _run("b", flows(3))]
    assert [r.metric for r in find_regressions({"flows_without_loss": flows(1)}, baseline)] == [
        "flows_without_loss"]
    assert find_regressions({"flows_without_loss": flows(2)}, baseline) == []
    assert find_regressions({"flows_without_loss": flows(4)}, baseline) == []


def test_a_regression_is_flagged_in_the_report_without_changing_the_exit_status(
        tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    for name in ("r1", "r2"):
        _render(reports, name)
    worse = _render(reports, "r3", outage_s=4.2, expectations=[{"metric": "max_outage_s", "max": 5}])
    section = json.loads((worse / "report.json").read_text())["sections"][0]
    assert section["status"] == "passed"
    assert any("regression: max_outage_s" in n and "last 2 runs" in n for n in section["notes"])
    assert "Flagged regression: max_outage_s" in section["summary"]
    with open_index(reports / "history.sqlite") as index:
        flagged = {m.metric for m in index.run("r3")[0].metrics if m.regression}
    assert "max_outage_s" in flagged
    # the earlier runs are not flagged (each compared with the runs before it only)
    result = runner.invoke(app, ["report", "render", str(reports / "r2")])
    assert result.exit_code == 0 and "regression" not in json.loads(
        (reports / "r2" / "report.json").read_text())["sections"][0]["summary"].lower()


def test_a_playbook_asking_for_it_fails_on_a_regression(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    for name in ("r1", "r2", "r3"):
        _render(reports, name, outage_s=2.6 if name != "r1" else 9.0)
    worse = reports / "r4"
    write_synthetic_timeline(worse, RUN.model_copy(update={
        "run_id": "r4", "outage_s": 4.2, "expectations": [{"metric": "max_outage_s", "max": 5}],
        "regression": {"baseline_runs": 2, "fail": True}}))
    result = runner.invoke(app, ["report", "render", str(worse)])
    assert result.exit_code == 1, result.output
    report = json.loads((worse / "report.json").read_text())
    section = report["sections"][0]
    assert report["status"] == section["status"] == "failed"
    regressions = [v for v in section["verdicts"] if v["message"].startswith("regression")]
    # the expectation (max 5 s) passed; each regressed metric is one failed verdict more
    assert section["summary"].startswith(
        f"tunnel1-failover: FAILED (1 of {1 + len(regressions)} expectations met).")
    [reg] = [v for v in regressions if v["metric"] == "max_outage_s"]
    assert reg["status"] == "failed"
    assert reg["max"] == pytest.approx(2.61, abs=0.02)  # r2/r3's upper bound, not r1's 9 s
    assert 'type="ExpectationFailed"' in (worse / "junit.xml").read_text()


# ------------------------------------------------------------------ reading the index alone


def test_trend_and_compare_read_the_index_alone(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    for name, outage in (("r1", 2.6), ("r2", 2.6), ("r3", 4.5)):
        _render(reports, name, outage_s=outage)
    for name in ("r1", "r2", "r3"):
        shutil.rmtree(reports / name)  # report files moved away: only the index is left
    result = runner.invoke(app, ["report", "trend", str(reports), "--metric", "max_outage_s"],
                           terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "run index" in result.output and "REGRESSION" in result.output
    rows = [line for line in result.output.splitlines() if "tunnel1-failover" in line]
    assert [next(w for w in r.split() if w.startswith("r")) for r in rows] == ["r1", "r2", "r3"]
    assert (reports / "trend-max_outage_s.png").read_bytes()[:4] == b"\x89PNG"

    result = runner.invoke(app, ["report", "compare", "--baseline", "2", "--reports",
                                 str(reports), "--fail-on-regression"], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "r3 against the last 2 of 2" in " ".join(result.output.split())
    assert "REGRESSION" in result.output
    result = runner.invoke(app, ["report", "compare", "--baseline", "last", "r2", "--reports",
                                 str(reports), "--fail-on-regression"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "r2 against the last 1 of 1" in " ".join(result.output.split())
    result = runner.invoke(app, ["report", "compare", "--baseline", "x", "--reports", str(reports)])
    assert result.exit_code == 2 and "--baseline" in result.output


def test_trend_without_an_index_still_reads_run_directories(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    for name in ("r1", "r2"):
        write_synthetic_timeline(reports / name, RUN.model_copy(update={"run_id": name}))
    result = runner.invoke(app, ["report", "trend", str(reports)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "no run index there" in " ".join(result.output.split())
    assert not (reports / "history.sqlite").exists()


def test_the_baseline_is_the_last_n_runs_with_every_iteration(tmp_path: Path) -> None:
    def section(run_id: str, day: int, iteration: int, outage: float) -> IndexedRun:
        return _run(run_id, _m(outage, outage - 0.01, outage + 0.01)).model_copy(update={
            "section": iteration, "iteration": iteration,
            "started_at": datetime(2026, 12, day, 6, iteration, tzinfo=UTC)})
    with open_index(tmp_path / "history.sqlite") as index:
        index.put([section("a", 1, 0, 9.0)])
        index.put([section("b", 2, 1, 2.0), section("b", 2, 2, 3.0)])  # repeated twice
        index.put([section("c", 3, 0, 2.5)])
        now = section("d", 4, 0, 3.5)
        index.put([now])
        baseline = baseline_of(index, now, RegressionPolicy(baseline_runs=2))
        assert [(r.run_id, r.iteration) for r in baseline] == [("b", 1), ("b", 2), ("c", 0)]
        [reg] = find_regressions({"max_outage_s": now.metrics[0].as_value()}, baseline)
        assert reg.bound == 3.01 and reg.baseline_runs == ["b", "c"]


def test_a_playbook_run_once_is_iteration_0_and_a_repeat_keeps_its_numbers(tmp_path: Path) -> None:
    from failover_harness.history.records import runs_from_report
    from failover_harness.reports.render import report_from_dir
    run_dir = tmp_path / "r1"
    write_synthetic_timeline(run_dir, RUN.model_copy(update={"run_id": "r1"}))
    report, sections, _ = report_from_dir(run_dir)
    iterations = []
    for number, count in ((None, None), (1, 1), (2, 3)):
        report.sections[0].run.iteration, report.sections[0].run.iterations = number, count
        [run] = runs_from_report(report, sections, run_dir)
        iterations.append((run.iteration, {m.iteration for m in run.metrics}, run.label()))
    assert iterations == [(0, {0}, "r1"), (0, {0}, "r1"), (2, {2}, "r1#2")]


@pytest.mark.parametrize(("design", "labels"), [
    ({}, {"design": "ecmp", "bfd": "off"}),
    ({"prepend_tunnel2": 2}, {"design": "primary-backup", "bfd": "off"}),
    ({"bfd_detect_s": 0.3}, {"design": "ecmp", "bfd": "on"}),
])
def test_the_design_labels_come_from_the_prediction(tmp_path: Path, design: dict[str, object],
                                                    labels: dict[str, str]) -> None:
    from tests.synthetic import synthetic_prediction
    reports = tmp_path / "reports"
    _render(reports, "r1", prediction=synthetic_prediction(**design))
    with open_index(reports / "history.sqlite") as index:
        [run] = index.runs()
    assert {k: run.labels.get(k) for k in labels} == labels
    assert run.labels["gateway"] == "active-active"
