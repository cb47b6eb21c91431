"""Findings (reports/findings.py) from synthetic timelines: which side bounded the outage and by
which timer, predicted against measured, flows against the path role, and the wording in
report.json, report.md and report.html."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from failover_harness.reports.build import build_report
from failover_harness.reports.findings import Finding
from failover_harness.reports.render import load_events, render_report
from tests.synthetic import SyntheticRun, synthetic_prediction, write_synthetic_timeline


def section_findings(tmp_path: Path, run: SyntheticRun) -> list[Finding]:
    path = write_synthetic_timeline(tmp_path, run)
    report, _ = build_report(load_events(path), "timeline.jsonl")
    return report.sections[0].findings


def by_kind(found: list[Finding], kind: str) -> list[str]:
    return [f.text for f in found if f.kind == kind]


def test_azure_hold_timer_bounds_the_outage_inside_its_prediction(tmp_path: Path) -> None:
    found = section_findings(tmp_path, SyntheticRun(outage_s=2.6, azure_detect_s=2.5,
                                                    prediction=synthetic_prediction()))
    bound = by_kind(found, "bound")
    assert len(bound) == 1
    assert bound[0].startswith("Azure's side bounded the outage (2.6")
    assert "its BGP hold timer is 3 s" in bound[0] and "on-prem router noticed in" in bound[0]
    inside = by_kind(found, "prediction")
    assert {f.metric for f in found if f.kind == "prediction"} == {
        "onprem_detection_s", "azure_detection_s", "max_outage_s"}
    assert all("inside the predicted" in t for t in inside), inside
    assert by_kind(found, "outside_prediction") == []
    advice = by_kind(found, "advice")
    assert advice and "shorter BGP hold time" in advice[0] and "Tunnel1" in advice[0]
    flows = by_kind(found, "flows")
    assert flows == ["2 of 4 flows lost probes; predicted: flows Azure hashes onto Tunnel1 "
                     "(about 1 in 2) (path role ecmp: 192.168.10.0/24: AS path 1 on 2 paths)."]


def test_an_outage_longer_than_the_timers_allow_is_a_finding(tmp_path: Path) -> None:
    # Hold 3 s allows at most 3.8 s of blackhole; this run lost 7 s and Azure took 6.5 s.
    found = section_findings(tmp_path, SyntheticRun(outage_s=7.0, azure_detect_s=6.5,
                                                    hold_s=10, prediction=synthetic_prediction()))
    outside = [f for f in found if f.kind == "outside_prediction"]
    assert {f.metric for f in outside} == {"azure_detection_s", "max_outage_s"}
    assert all("OUTSIDE the predicted" in f.text and "came later than BGP hold timer allows"
               in f.text for f in outside)


def test_bfd_prediction_against_a_hold_timer_outage(tmp_path: Path) -> None:
    """The design said BFD (0.3 s); Azure took the hold time: the finding says it came later."""
    found = section_findings(tmp_path, SyntheticRun(outage_s=2.6, azure_detect_s=2.5,
                                                    prediction=synthetic_prediction(bfd_detect_s=0.3)))
    assert "BFD detects in 0.3 s" in by_kind(found, "bound")[0]
    assert any(f.metric == "azure_detection_s" for f in found if f.kind == "outside_prediction")
    assert "BFD already bounds" in by_kind(found, "advice")[0]


def test_primary_backup_asymmetry_and_contrary_flows(tmp_path: Path) -> None:
    """Tunnel1 is the primary: every flow should lose; two did not, which contradicts it."""
    found = section_findings(tmp_path, SyntheticRun(prediction=synthetic_prediction(prepend_tunnel2=2)))
    contrary = [f for f in found if f.kind == "outside_prediction" and f.metric == "flows_with_loss"]
    assert contrary and "contradicts the path role" in contrary[0].text
    asym = by_kind(found, "asymmetry")
    assert asym == ["The instances are not equal for Azure's flows (edge1 Tunnel1 is primary; "
                    "edge1 Tunnel2 is backup): the same fault on another tunnel costs a "
                    "different share of the flows."]


def test_without_a_prediction_the_findings_say_so(tmp_path: Path) -> None:
    found = section_findings(tmp_path, SyntheticRun())
    assert "Azure's side bounded the outage" in by_kind(found, "bound")[0]
    assert by_kind(found, "prediction") == [
        "No prediction for this fault in the timeline: measured values stand alone."]


def test_findings_and_prediction_reach_every_report_file(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_synthetic_timeline(run_dir, SyntheticRun(outage_s=7.0, azure_detect_s=6.5,
                                                   prediction=synthetic_prediction()))
    render_report(run_dir)
    report = json.loads((run_dir / "report.json").read_text())
    section = report["sections"][0]
    assert section["prediction"]["tunnels"][0]["azure_detection"]["timer_s"] == 3.0
    assert any(f["kind"] == "outside_prediction" for f in section["findings"])
    md = (run_dir / "report.md").read_text()
    assert "### Findings" in md and "**Outside the prediction.**" in md
    html = (run_dir / "report.html").read_text()
    assert "<h3>Findings</h3>" in html and 'class="finding bound"' in html
    # Re-rendered from the timeline alone (the prediction is an event in it): the same.
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(run_dir / "timeline.jsonl", copy / "timeline.jsonl")
    render_report(copy)
    assert json.loads((copy / "report.json").read_text())["sections"][0]["findings"] == \
        section["findings"]


def test_the_same_fault_on_two_tunnels_side_by_side(tmp_path: Path) -> None:
    """Tunnel1's runs lost 2.6 s, the 'Tunnel2' runs 0.4 s (BFD-like): an asymmetry finding."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    slow = SyntheticRun(run_id="r1", outage_s=2.6, azure_detect_s=2.5)
    fast = SyntheticRun(run_id="r2", outage_s=0.4, azure_detect_s=0.3)
    path = write_synthetic_timeline(run_dir, slow, fast)
    # The second section faulted Tunnel2 (instance 1): rename its fault in the timeline.
    lines = path.read_text().splitlines()
    second = next(i for i, line in enumerate(lines) if '"run_start"' in line and '"r2"' in line)
    for i in range(second, len(lines)):
        lines[i] = (lines[i].replace('"interface":"Tunnel1"', '"interface":"Tunnel2"')
                    .replace('"azure_instance":"169.254.21.1"', '"azure_instance":"169.254.21.5"'))
    path.write_text("\n".join(lines) + "\n")
    render_report(run_dir)
    report = json.loads((run_dir / "report.json").read_text())
    texts = [f["text"] for f in report["findings"]]
    assert texts[0].startswith("edge1 Tunnel1 (instance 169.254.21.1) failed in 1 run(s): outage 2.6 s")
    assert texts[1].startswith("edge1 Tunnel2 (instance 169.254.21.5) failed in 1 run(s): outage 0.4 s")
    assert texts[2].startswith("Asymmetric: a failure of edge1 Tunnel1 (instance 169.254.21.1) "
                               "costs more than one of edge1 Tunnel2")
    assert "## Findings across runs" in (run_dir / "report.md").read_text()
    assert "<h2>Findings across runs</h2>" in (run_dir / "report.html").read_text()
    # One tunnel only: nothing across runs.
    one = tmp_path / "one"
    one.mkdir()
    write_synthetic_timeline(one, slow, SyntheticRun(run_id="r3"))
    render_report(one)
    assert json.loads((one / "report.json").read_text())["findings"] == []


def test_no_flow_on_the_failed_ecmp_path_is_not_a_miss(tmp_path: Path) -> None:
    found = section_findings(tmp_path, SyntheticRun(flows_on_tunnel1=0,
                                                    prediction=synthetic_prediction()))
    outage = [f for f in found if f.metric == "max_outage_s" and f.kind != "bound"]
    assert [f.kind for f in outage] == ["prediction"]
    assert "none was hashed onto Tunnel1" in outage[0].text and "not tested" in outage[0].text
    # Under primary/backup the same zero would contradict the design.
    pb = section_findings(tmp_path / "pb", SyntheticRun(flows_on_tunnel1=0,
                                                        prediction=synthetic_prediction(prepend_tunnel2=2)))
    assert any(f.kind == "outside_prediction" and f.metric == "max_outage_s" for f in pb)
