"""Loss by direction (metrics/directions.py) in report.json, the words, the chart and the
terminal summary, on synthetic timelines written through the real Timeline."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from failover_harness import cli
from failover_harness.metrics import FlowMetrics, LossEpisode, MetricValue
from failover_harness.metrics.directions import direction_summary, flow_directions
from failover_harness.reports.chart import _gid
from failover_harness.reports.render import render_report
from failover_harness.reports.schema import Report, shipped_schema
from tests.synthetic import SyntheticRun, write_synthetic_timeline

T = 0.01


def episode(lost: int, forward: int | None, back: int | None, *, start: float = 10.0,
            open_: bool = False, phase: str = "fault") -> LossEpisode:
    return LossEpisode(flow="udp-0", start=start, end=start + lost * T, duration_s=lost * T,
                       lost=lost, open=open_, phase=phase,  # type: ignore[arg-type]
                       min_duration_s=(lost - 1) * T,
                       max_duration_s=None if open_ else (lost + 1) * T,
                       forward_lost=forward, return_lost=back)


def flow(*episodes: LossEpisode, kind: str = "udp") -> FlowMetrics:
    nothing = MetricValue.measured("outage_s", 0.0, estimate="loss_period")
    return FlowMetrics(flow="udp-0", kind=kind, interval_s=T, episodes=list(episodes),
                       outage_s=nothing, loss_outage_s=nothing)


def bounds(metric: MetricValue) -> tuple[float | None, float | None, float | None]:
    return metric.value, metric.lo, metric.hi


def test_an_episode_lost_one_way_only_has_the_episodes_own_bounds() -> None:
    d = flow_directions(flow(episode(268, 0, 268)))
    assert (d.forward_lost, d.return_lost, d.unknown_lost) == (0, 268, 0)
    assert bounds(d.return_loss_s) == (2.68, 2.67, 2.69)
    assert bounds(d.forward_loss_s) == (0.0, 0.0, 0.0)
    assert d.return_loss_s.estimate == "lost_x_interval"


def test_a_mixed_episode_bounds_each_direction_by_what_the_counts_allow() -> None:
    # 12 forward and 248 return: at most 12 separate forward runs (0..24 slots) and at most
    # 13 separate return runs (235..261 slots, and never beyond the episode's 261).
    d = flow_directions(flow(episode(260, 12, 248)))
    assert bounds(d.forward_loss_s) == (0.12, 0.0, 0.24)
    assert bounds(d.return_loss_s) == (2.48, 2.35, 2.61)
    # 5 forward and 1 return: at most 2 forward runs -> 3..7 slots.
    d = flow_directions(flow(episode(6, 5, 1)))
    assert bounds(d.forward_loss_s) == (0.05, 0.03, 0.07)
    for metric in (d.forward_loss_s, d.return_loss_s):
        assert metric.lo is not None and metric.hi is not None
        assert 0 <= metric.lo <= (metric.value or 0) <= metric.hi


def test_unknown_splits_widen_the_upper_bound_and_an_open_one_leaves_it_open() -> None:
    d = flow_directions(flow(episode(50, 0, 50), episode(20, None, None, start=20.0)))
    assert d.unknown_lost == 20
    assert bounds(d.return_loss_s) == (0.5, 0.49, pytest.approx(0.51 + 0.21))
    assert bounds(d.forward_loss_s) == (0.0, 0.0, pytest.approx(0.21))
    d = flow_directions(flow(episode(30, None, None, open_=True)))
    assert d.forward_loss_s.censored and d.forward_loss_s.hi is None
    assert d.forward_loss_s.estimate == "lower_bound"


def test_only_fault_episodes_count_and_kinds_that_cannot_tell_are_left_out() -> None:
    d = flow_directions(flow(episode(10, 10, 0, phase="before_fault"),
                             episode(7, 0, 7, phase="failback")))
    assert (d.episodes, d.forward_lost, d.return_lost) == (0, 0, 0)
    assert direction_summary([flow(episode(10, None, None), kind="icmp")], {}) is None


def test_forward_loss_is_set_beside_the_onprem_detection() -> None:
    onprem = {"onprem_detection_s": MetricValue.delay("onprem_detection_s", 0.0, 0.05, 0.1,
                                                      detail="test")}
    within = direction_summary([flow(episode(260, 11, 249))], onprem)
    assert within is not None and within.forward_within_onprem_detection is True
    assert "within the on-prem detection time (0.1 s) plus one probe interval" in within.text
    late = direction_summary([flow(episode(260, 30, 230))], onprem)
    assert late is not None and late.forward_within_onprem_detection is False
    assert "longer than the on-prem detection time" in late.text
    unknown = direction_summary([flow(episode(260, 30, 230))], {})
    assert unknown is not None and unknown.forward_within_onprem_detection is None
    assert "on-prem detection" not in unknown.text


def test_the_words_say_which_path_lost() -> None:
    summary = direction_summary([flow(episode(260, 12, 248))], {})
    assert summary is not None and summary.dominant == "return"
    assert summary.text.startswith(
        "Loss by direction: UDP flows lost 248 probes on the return path (Azure -> on-prem) "
        "and 12 on the forward path (on-prem -> Azure) after the fault; forward loss per flow "
        "at most 0.12 s (0..0.24, lost x interval), return loss up to 2.48 s (2.35..2.61, "
        "lost x interval).")
    assert "mostly on the return path: the Azure side kept sending" in summary.text
    only_return = direction_summary([flow(episode(268, 0, 268))], {})
    assert only_return is not None
    assert "1 probes" not in only_return.text and "all on the return path" in only_return.text
    forward = direction_summary([flow(episode(40, 40, 0))], {})
    assert forward is not None and forward.dominant == "forward"
    assert "all on the forward path" in forward.text and "on-prem side kept" in forward.text
    clean = direction_summary([flow()], {})
    assert clean is not None and clean.dominant == "none"
    assert clean.text == "Loss by direction: the 1 UDP flow(s) lost no probe after the fault."


def _udp_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    write_synthetic_timeline(run_dir, SyntheticRun(udp_on_tunnel1=2, udp_on_tunnel2=1,
                                                   udp_forward_s=0.05))
    return run_dir


def test_report_json_carries_the_directions_and_matches_its_schema(tmp_path: Path) -> None:
    rendered = render_report(_udp_run(tmp_path))
    doc = json.loads(rendered.json_path.read_text())
    jsonschema.Draft202012Validator(shipped_schema()).validate(doc)
    assert doc["schema_version"] == "2.1"
    section = doc["sections"][0]
    flows = {f["flow"]: f for f in section["flows"]}
    # UDP episodes carry the split; ICMP ones cannot tell (null).
    assert [(e["forward_lost"], e["return_lost"]) for e in flows["udp-0"]["episodes"]] == [(5, 255)]
    assert all(e["forward_lost"] is None and e["return_lost"] is None
               for e in flows["icmp-0"]["episodes"])
    d = section["directions"]
    assert [f["flow"] for f in d["flows"]] == ["udp-0", "udp-1", "udp-2"]
    assert (d["forward_lost"], d["return_lost"], d["unknown_lost"]) == (10, 510, 0)
    assert d["dominant"] == "return" and d["forward_within_onprem_detection"] is True
    assert d["max_forward_loss_s"]["value"] == 0.05 and d["max_return_loss_s"]["value"] == 2.55
    assert d["text"] in section["summary"]


def test_old_reports_stay_readable(tmp_path: Path) -> None:
    """A 2.0 report (no directions, episodes without the split) validates and loads."""
    rendered = render_report(_udp_run(tmp_path))
    doc = json.loads(rendered.json_path.read_text())
    doc["schema_version"] = "2.0"
    for section in doc["sections"]:
        del section["directions"]
        for f in section["flows"]:
            for e in f["episodes"]:
                del e["forward_lost"], e["return_lost"]
    jsonschema.Draft202012Validator(shipped_schema()).validate(doc)
    report = Report.model_validate(doc)
    assert report.schema_version == "2.0" and report.sections[0].directions is None


def test_html_markdown_chart_and_terminal_say_it(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = _udp_run(tmp_path)
    rendered = render_report(run_dir)
    text = rendered.report.sections[0].directions
    assert text is not None
    html = rendered.html_path.read_text()
    md = rendered.md_path.read_text()
    assert "<h3>Loss by direction</h3>" in html and "(5 forward, 255 return)" in html
    assert html.count(text.text.replace("->", "-&gt;")) >= 1
    assert text.text in md and "| udp-0 | 1 | 5 | 255 | 0 |" in md
    # The chart: a forward and a return lane under each UDP flow that lost probes.
    for name in ("udp-0", "udp-1"):
        assert f'id="{_gid("loss-forward", name)}"' in html
        assert f'id="{_gid("loss-return", name)}"' in html
    assert f'id="{_gid("loss-return", "udp-2")}-episodes"' not in html  # it lost nothing
    cli._print_summary(run_dir)
    printed = capsys.readouterr().out
    assert "UDP flows lost 510 probes on the return path" in printed.replace("\n", " ")


RECORDED = Path(__file__).resolve().parent.parent / "data" / "timelines" / "lab-tunnel1-udp-3a27194.jsonl"


def test_the_recorded_lab_game_day_reads_as_return_path_loss(tmp_path: Path) -> None:
    """A real Tunnel1 game-day (tests/data/timelines/README.md): its report says what its
    own loss_end events say, per flow and in words, with causal figures."""
    run_dir = tmp_path / "lab"
    run_dir.mkdir()
    (run_dir / "timeline.jsonl").write_bytes(RECORDED.read_bytes())
    rendered = render_report(run_dir)
    doc = json.loads(rendered.json_path.read_text())
    jsonschema.Draft202012Validator(shipped_schema()).validate(doc)
    section = doc["sections"][0]
    events = [json.loads(line) for line in RECORDED.read_text().splitlines()]
    fault_start = section["fault_start"]
    split: dict[str, list[int]] = {}
    for e in events:
        if e["kind"] == "loss_end" and e["data"].get("forward_lost") is not None and e["t"] > fault_start:
            counts = split.setdefault(e["subject"].removeprefix("flow:"), [0, 0])
            counts[0] += e["data"]["forward_lost"]
            counts[1] += e["data"]["return_lost"]
    d = section["directions"]
    assert split and {f["flow"]: [f["forward_lost"], f["return_lost"]]
                      for f in d["flows"] if f["episodes"]} == split
    back = sum(c[1] for c in split.values())
    assert d["dominant"] == "return" and d["return_lost"] == back > 0 and d["forward_lost"] == 0
    assert d["text"].startswith(f"Loss by direction: UDP flows lost {back} probes after the fault, "
                                "all on the return path (Azure -> on-prem)")
    assert d["forward_within_onprem_detection"] is True
    for f in d["flows"]:
        for m in (f["forward_loss_s"], f["return_loss_s"]):
            assert m["estimate"] == "lost_x_interval" and 0 <= m["lo"] <= m["value"] <= m["hi"]
    assert d["max_return_loss_s"]["value"] == pytest.approx(max(c[1] for c in split.values()) * 0.01)
    for flow in section["flows"]:
        if flow["kind"] != "udp":
            assert all(ep["forward_lost"] is None for ep in flow["episodes"])
