"""Report files, their schemas, compare, trend, the CLI and the secrets scan."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
import xmlschema
from typer.testing import CliRunner

from failover_harness.cli import app
from failover_harness.errors import InputError
from failover_harness.reports.compare import collect_trend, compare_reports, load_reports
from failover_harness.reports.render import load_events, render_report
from failover_harness.reports.schema import schema_text, shipped_schema
from failover_harness.reports.secrets import scan_for_secrets
from tests.synthetic import SyntheticRun, write_synthetic_timeline

JUNIT_XSD = Path(__file__).parent.parent / "data" / "junit.xsd"
NO_BFD = SyntheticRun(run_id="run-nobfd", outage_s=2.6, azure_detect_s=2.7)
BFD = SyntheticRun(run_id="run-bfd", playbook="tunnel1-failover-bfd", outage_s=0.42,
                   azure_detect_s=0.33)
runner = CliRunner()


def _run_dir(tmp_path: Path, name: str, *runs: SyntheticRun) -> Path:
    run_dir = tmp_path / name
    write_synthetic_timeline(run_dir, *runs)
    return run_dir


def test_shipped_schema_matches_the_model() -> None:
    assert json.dumps(shipped_schema(), indent=2, sort_keys=True) + "\n" == schema_text(), (
        "regenerate: python -m failover_harness.reports.schema")


def test_render_writes_valid_files(tmp_path: Path) -> None:
    failing = NO_BFD.model_copy(update={"expectations": [
        {"metric": "max_outage_s", "max": 0.5}, {"metric": "flows_without_loss", "min": 1},
        {"metric": "connection_detection_s", "max": 30}]})
    run_dir = _run_dir(tmp_path, "run", failing)
    rendered = render_report(run_dir)

    doc = json.loads(rendered.json_path.read_text())
    jsonschema.Draft202012Validator(shipped_schema()).validate(doc)
    assert doc["schema_version"] == "2.1" and doc["status"] == "failed"
    section = doc["sections"][0]
    assert section["run"]["playbook_digest"].startswith("sha256:")
    assert section["run"]["operator"] == "synthetic"
    assert [v["status"] for v in section["verdicts"]] == ["failed", "passed", "passed"]
    assert len(section["flows"]) == 4 and section["flows"][0]["episodes"]

    junit = xmlschema.XMLSchema(str(JUNIT_XSD))
    junit.validate(str(rendered.junit_path))
    xml = junit.to_dict(str(rendered.junit_path))
    suite = xml["testsuite"][0]
    assert suite["@tests"] == 3 and suite["@failures"] == 1
    failure = suite["testcase"][0]["failure"][0]["@message"]
    assert re.search(r"max_outage_s = 2\.6 s \(2\.59\.\.2\.61, loss period\) > max 0\.5 s: "
                     r"missed by 2\.1 s", failure)
    props = {p["@name"]: p["@value"] for p in suite["properties"]["property"]}
    assert props["max_outage_s"] == "2.6" and props["max_outage_s.hi"] == "2.61"
    assert props["max_outage_s.estimate"] == "loss_period"
    assert props["onprem_detection_s.estimate"] == "upper_edge"
    assert props["verdict.max_outage_s"] == "failed"

    html = rendered.html_path.read_text()
    assert "<svg" in html and 'id="loss-episodes-icmp-0"' in html
    assert 'id="azure-peer-azure_instance_169.254.21.1_peer_169.254.21.2"' in html
    # self-contained: nothing loaded from elsewhere (SVG namespaces are names, not fetches)
    assert not re.search(r"<(script|link|img|iframe)\b", html)
    assert not re.search(r"(src|href)=\"https?:", html)
    md = rendered.md_path.read_text()
    assert "![Timeline of tunnel1-failover](report.png)" in md
    assert "| max_outage_s | <= 0.5 | 2.6 s (2.59..2.61, loss period) | FAILED (by 2.1 s) |" in md
    # Which estimate each value is, in every form of the report.
    assert section["metrics"]["onprem_detection_s"]["estimate"] == "upper_edge"
    assert section["metrics"]["flows_with_loss"]["estimate"] == "count"
    assert '<td class="estimate" title="upper edge of the window' in html
    assert re.search(r"\| onprem_detection_s \| [0-9.]+ s \([0-9.]+\.\.[0-9.]+, upper edge\) \| "
                     r"upper edge \|", md)
    assert rendered.png_paths == [run_dir / "report.png"]
    assert rendered.png_paths[0].read_bytes().startswith(b"\x89PNG")


def test_game_day_with_several_playbooks_gives_one_section_each(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, "gameday", NO_BFD, BFD)
    rendered = render_report(run_dir)
    report = rendered.report
    assert [s.run.playbook for s in report.sections] == ["tunnel1-failover",
                                                         "tunnel1-failover-bfd"]
    outages = [s.metrics["max_outage_s"].value for s in report.sections]
    assert outages == pytest.approx([2.6, 0.42])
    assert [p.name for p in rendered.png_paths] == ["report-1.png", "report-2.png"]
    html = rendered.html_path.read_text()
    assert html.count('class="playbook-section"') == 2 and html.count("<svg") == 2
    xml = xmlschema.XMLSchema(str(JUNIT_XSD)).to_dict(str(rendered.junit_path))
    assert [s["@name"] for s in xml["testsuite"]] == ["tunnel1-failover", "tunnel1-failover-bfd"]


def test_compare_flags_regression_beyond_uncertainty(tmp_path: Path) -> None:
    bfd = _run_dir(tmp_path, "bfd", BFD)
    nobfd = _run_dir(tmp_path, "nobfd", NO_BFD)
    comparison = compare_reports(load_reports([bfd, nobfd]), threshold=0.2)
    rows = {r.metric: r for r in comparison.rows}
    outage = rows["max_outage_s"].cells[1]
    assert outage.regression and outage.delta == pytest.approx(2.18)
    assert any(line.startswith("max_outage_s: nobfd") for line in comparison.regressions)
    assert not rows["failback_lost_probes"].cells[1].regression  # equal values
    # the other way round it is an improvement, not a regression
    reverse = compare_reports(load_reports([nobfd, bfd]))
    assert not any(r.startswith("max_outage_s") for r in reverse.regressions)
    assert any(r.startswith("max_outage_s") for r in reverse.improvements)
    # a difference inside the probe interval is no regression
    same = _run_dir(tmp_path, "same", NO_BFD.model_copy(update={"outage_s": 2.61}))
    close = compare_reports(load_reports([nobfd, same]), threshold=0.0)
    assert not any(r.startswith("max_outage_s") for r in close.regressions)
    assert any(r.startswith("total_lost_probes") for r in close.regressions)  # exact counts

    result = runner.invoke(app, ["report", "compare", str(bfd), str(nobfd),
                                 "--fail-on-regression"])
    assert result.exit_code == 1, result.output
    assert "REGRESSION" in result.output and "max_outage_s" in result.output


def test_trend_over_a_directory(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    for index, outage in enumerate((2.5, 2.7, 0.4)):
        _run_dir(root, f"run-{index}", NO_BFD.model_copy(update={"outage_s": outage}))
    (root / "broken").mkdir()
    (root / "broken" / "timeline.jsonl").write_text('{"seq": "x"}\n{"seq": 1}\n')
    trend = collect_trend(root, "max_outage_s")
    assert [p.run_dir for p in trend.points] == ["run-0", "run-1", "run-2"]
    assert [p.value.value for p in trend.points] == pytest.approx([2.5, 2.7, 0.4])
    assert len(trend.skipped) == 1 and "broken/timeline.jsonl:1" in trend.skipped[0]

    result = runner.invoke(app, ["report", "trend", str(root), "--metric", "max_outage_s"])
    assert result.exit_code == 0, result.output
    assert "run-2" in result.output and "0.4 s" in result.output
    assert (root / "trend-max_outage_s.png").read_bytes().startswith(b"\x89PNG")
    bad = runner.invoke(app, ["report", "trend", str(root), "--metric", "nope"])
    assert bad.exit_code == 2


def test_report_command_exit_status_follows_verdicts(tmp_path: Path) -> None:
    good = _run_dir(tmp_path, "good", NO_BFD)
    result = runner.invoke(app, ["report", str(good)])
    assert result.exit_code == 0, result.output
    assert (good / "report.html").is_file()
    bad = _run_dir(tmp_path, "bad", NO_BFD.model_copy(
        update={"expectations": [{"metric": "max_outage_s", "max": 1}]}))
    assert runner.invoke(app, ["report", "render", str(bad)]).exit_code == 1


def test_inconclusive_is_its_own_status_exit_and_junit_skip(tmp_path: Path) -> None:
    # Azure answered nothing while it should have gone down (throttled): the detection is
    # unknown, never failed; CI sees exit 4 and a skipped case, not a failure.
    run_dir = _run_dir(tmp_path, "gap", NO_BFD.model_copy(update={"azure_gap": (7.0, 12.0)}))
    result = runner.invoke(app, ["report", "render", str(run_dir)])
    assert result.exit_code == 4, result.output
    report = json.loads((run_dir / "report.json").read_text())
    section = report["sections"][0]
    assert report["status"] == section["status"] == "inconclusive"
    verdicts = {v["metric"]: v for v in section["verdicts"]}
    detection = verdicts["azure_detection_s"]
    assert detection["status"] == "inconclusive"
    assert "azure:bgp_peer_status" in detection["measured"]["evidence_gap"]
    assert any(g["source"] == "azure:bgp_peer_status" and g["reasons"] == ["throttled"]
               for g in section["data_gaps"])
    xml = xmlschema.XMLSchema(str(JUNIT_XSD)).to_dict(str(run_dir / "junit.xml"))
    suite = xml["testsuite"][0]
    assert suite["@failures"] == 0 and suite["@skipped"] >= 1
    case = next(c for c in suite["testcase"] if c["@name"].startswith("azure_detection_s"))
    assert case["@status"] == "inconclusive" and "skipped" in case and "failure" not in case
    assert "data gap azure:bgp_peer_status" in (run_dir / "report.md").read_text()


def test_bad_timeline_line_names_file_line_field(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, "run", NO_BFD)
    lines = (run_dir / "timeline.jsonl").read_text().splitlines()
    lines[3] = lines[3].replace('"t":', '"t": "soon", "x":', 1)
    lines.append('{"seq": 99, "t": 1')  # torn last line: skipped, not an error
    (run_dir / "timeline.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        load_events(run_dir / "timeline.jsonl")
    assert "timeline.jsonl:4" in str(err.value) and "field 't'" in str(err.value)
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 2


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, "run", NO_BFD)
    with (run_dir / "timeline.jsonl").open("a") as f:
        f.write('{"seq": 99999, "t": 1')
    events = load_events(run_dir / "timeline.jsonl")
    assert events and events[-1].kind == "run_end"


def test_secrets_scan_finds_leaks_and_passes_clean_runs(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, "run", NO_BFD)
    render_report(run_dir)
    secrets = ["s3cr3t-Pa55word!", "tok/en+value=="]
    assert scan_for_secrets(run_dir, secrets) == []
    (run_dir / "logs").mkdir()
    (run_dir / "logs" / "device.log").write_text("login ok\npassword s3cr3t-Pa55word! sent\n")
    shutil.copy(run_dir / "report.json", run_dir / "copy.json")
    with (run_dir / "copy.json").open("a") as f:
        f.write(json.dumps({"token": "tok%2Fen%2Bvalue%3D%3D"}))
    findings = scan_for_secrets(run_dir, secrets)
    assert {(f.file, f.line, f.secret_index, f.encoding) for f in findings} == {
        ("logs/device.log", 2, 0, "raw"),
        ("copy.json", (run_dir / "copy.json").read_text().count("\n") + 1, 1, "url-encoded")}
    assert all("s3cr3t" not in f.model_dump_json() for f in findings)
    with pytest.raises(ValueError):
        scan_for_secrets(run_dir, ["abc"])
