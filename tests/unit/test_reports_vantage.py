"""Reports group flows by vantage point and source prefix and show each remote vantage
point's clock (a synthetic lab-shaped timeline, two flows moved to an SSH vantage host)."""

from __future__ import annotations

import json
from pathlib import Path

from failover_harness.reports.render import render_report
from tests.synthetic import write_synthetic_timeline


def move_flows_to_a_site(path: Path) -> None:
    """icmp-0 (on Tunnel1, loses probes) and icmp-2 (Tunnel2) run on site1 over SSH."""
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    for e in lines:
        if e["kind"] == "flow_start" and e["subject"] in ("flow:icmp-0", "flow:icmp-2"):
            e["data"].update(vantage="site1", host="198.18.7.2",
                             src=e["data"]["src"].replace("192.168.10.", "192.168.21."))
    last = lines[-1]
    lines.append({**last, "seq": last["seq"] + 1, "source": "probe", "kind": "vantage_clock",
                  "subject": "vantage:site1", "window": None,
                  "data": {"host": "198.18.7.2", "offset_s": 0.00004, "drift_ppm": 1.5,
                           "uncertainty_s": 0.0003, "rtt_min_s": 0.0004, "samples": 90,
                           "used": 20}})
    path.write_text("".join(json.dumps(e) + "\n" for e in lines))


def test_flows_grouped_by_vantage_point_and_prefix_with_the_clock(tmp_path: Path) -> None:
    move_flows_to_a_site(write_synthetic_timeline(tmp_path))
    render_report(tmp_path)
    section = json.loads((tmp_path / "report.json").read_text())["sections"][0]
    groups = {(g["vantage"], g["prefix"]): g for g in section["vantage_points"]}
    site = groups[("site1", "192.168.21.0/24")]
    assert site["flows"] == 2 and site["flows_with_loss"] == 1 and site["host"] == "198.18.7.2"
    assert site["clock"]["uncertainty_s"] == 0.0003
    local = groups[("this host", "192.168.10.0/24")]
    assert local["clock"] is None and local["flows"] >= 2
    md = (tmp_path / "report.md").read_text()
    assert "site1 (198.18.7.2), sources in 192.168.21.0/24: 1 of 2 flows lost probes" in md
    assert "+/- 0.3 ms" in md
    (finding,) = [f for f in section["findings"] if f["kind"] == "vantage"]
    assert finding["text"].startswith("By vantage point: site1 (192.168.21.0/24) lost probes "
                                      "on 1 of 2 flows")
    assert "No loss at" not in finding["text"] or "site1" not in finding["text"].split(
        "No loss at")[1]
    assert finding["text"] in md
    html = (tmp_path / "report.html").read_text()
    assert "By vantage point" in html and "192.168.21.0/24" in html


def test_no_vantage_table_without_remote_vantage_points(tmp_path: Path) -> None:
    write_synthetic_timeline(tmp_path)
    render_report(tmp_path)
    section = json.loads((tmp_path / "report.json").read_text())["sections"][0]
    assert section["vantage_points"] is None
    assert "By vantage point" not in (tmp_path / "report.md").read_text()
