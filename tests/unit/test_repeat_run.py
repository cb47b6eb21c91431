"""`run --repeat N` and `repeat:` against the fake world (orchestrator_fakes): one section per
iteration on one timeline, the steady state waited for between iterations, alternating
tunnels, a stop that restores, an interrupt in iteration k, statistics in report.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from failover_harness.cli import app
from failover_harness.errors import EXIT_EXPECTATION_FAILED, EXIT_INFRASTRUCTURE, EXIT_OK
from failover_harness.orchestrator.session import Session
from tests.unit.orchestrator_fakes import (
    INVENTORY_PATH,
    T1,
    T2,
    World,
    assert_all_restored,
    events,
    playbook,
    run,
)

SHUT_AND_BACK: list[dict[str, Any]] = [
    {"action": "baseline", "seconds": 0.05},
    {"action": "shut_interface", "device": "edge1", "interface": "Tunnel1"},
    {"action": "wait_until", "condition": "onprem_peer_down", "peer": T1, "timeout_s": 2},
    {"action": "hold", "seconds": 0.05},
    {"action": "no_shut_interface", "device": "edge1", "interface": "Tunnel1"},
    {"action": "wait_until", "condition": "onprem_peer_up", "peer": T1, "timeout_s": 2},
]


def report_of(result: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((result.run_dir / "report.json").read_text())
    return loaded


def shuts(result: Any) -> list[tuple[int | None, str]]:
    """(iteration of the section, subject) of every shut action, in order."""
    out, iteration = [], None
    for e in events(result):
        if e["kind"] == "run_start":
            iteration = e["data"].get("iteration")
        elif e["kind"] == "action_done" and e["data"]["action"] == "shut_interface":
            out.append((iteration, e["subject"]))
    return out


def test_repeat_3_is_three_sections_on_one_timeline_and_a_summary(tmp_path: Path) -> None:
    world = World()
    pb = playbook(SHUT_AND_BACK, expectations=[{"metric": "onprem_detection_s", "max": 5},
                                               {"metric": "onprem_detection_s",
                                                "max": {"p95": 5, "median": 4}}])
    result = run(world, pb, tmp_path, repeat=3)
    assert result.exit_code == EXIT_OK, result.message
    assert [(o.iteration, o.iterations, o.status) for o in result.outcomes] == [
        (1, 3, "completed"), (2, 3, "completed"), (3, 3, "completed")]
    timeline = events(result)
    starts = [e["data"] for e in timeline if e["kind"] == "run_start"]
    assert [(d["iteration"], d["iterations"], d["tunnel"]) for d in starts] == [
        (1, 3, "edge1/Tunnel1"), (2, 3, "edge1/Tunnel1"), (3, 3, "edge1/Tunnel1")]
    # Every step event names its iteration, and it is the section's.
    section = None
    for e in timeline:
        if e["kind"] == "run_start":
            section = e["data"]["iteration"]
        elif e["kind"] in ("step_start", "step_end"):
            assert e["data"]["iteration"] == section, e
    assert shuts(result) == [(1, "device:edge1/Tunnel1"), (2, "device:edge1/Tunnel1"),
                             (3, "device:edge1/Tunnel1")]
    report = report_of(result)
    assert [s["run"]["iteration"] for s in report["sections"]] == [1, 2, 3]
    assert all(len(s["verdicts"]) == 1 for s in report["sections"])  # the plain bound each
    [summary] = report["repeats"]
    assert summary["iterations"] == 3 and summary["completed"] == 3
    assert summary["sections"] == [1, 2, 3]
    onprem = next(s for s in summary["series"] if s["metric"] == "onprem_detection_s")
    values = [v["value"]["value"] for v in onprem["values"]]
    assert [v["iteration"] for v in onprem["values"]] == [1, 2, 3]
    assert onprem["stats"]["max"]["value"] == max(values)
    assert onprem["stats"]["min"]["value"] == min(values)
    assert onprem["stats"]["median"]["value"] == sorted(values)[1]
    assert onprem["stats"]["p95"]["value"] == max(values)  # nearest rank, n < 20
    lows = [v["value"]["lo"] for v in onprem["values"]]
    assert onprem["stats"]["median"]["lo"] == sorted(lows)[1]
    assert [(v["statistic"], v["status"]) for v in summary["verdicts"]] == [
        ("median", "passed"), ("p95", "passed")]
    assert_all_restored(world, result)


def test_alternate_faults_tunnel1_then_tunnel2_and_mirrors_the_method(tmp_path: Path) -> None:
    world = World()
    pb = playbook(SHUT_AND_BACK, repeat={"count": 3, "alternate": ["Tunnel1", "Tunnel2"]})
    result = run(world, pb, tmp_path)
    assert result.exit_code == EXIT_OK, result.message
    assert shuts(result) == [(1, "device:edge1/Tunnel1"), (2, "device:edge1/Tunnel2"),
                             (3, "device:edge1/Tunnel1")]
    # The wait_until of iteration 2 watched Tunnel2's neighbor, not Tunnel1's.
    waits = [e["data"]["step"].get("peer") for e in events(result)
             if e["kind"] == "step_start" and e["data"]["step"]["action"] == "wait_until"]
    assert waits == [T1, T1, T2, T2, T1, T1]
    report = report_of(result)
    assert [s["run"]["tunnel"] for s in report["sections"]] == [
        "edge1/Tunnel1", "edge1/Tunnel2", "edge1/Tunnel1"]
    assert report["repeats"][0]["tunnels"] == ["edge1/Tunnel1", "edge1/Tunnel2", "edge1/Tunnel1"]
    assert_all_restored(world, result)


def test_the_command_line_repeat_and_alternate_win_over_the_playbook(tmp_path: Path) -> None:
    world = World()
    pb = playbook(SHUT_AND_BACK, repeat={"count": 5})
    result = run(world, pb, tmp_path, repeat=2, alternate=["Tunnel2"])
    assert result.exit_code == EXIT_OK, result.message
    assert shuts(result) == [(1, "device:edge1/Tunnel2"), (2, "device:edge1/Tunnel2")]


def test_a_steady_state_that_never_returns_stops_the_repeat_restored_exit_1(
        tmp_path: Path) -> None:
    world = World()

    def losing_from_the_second_iteration() -> None:
        for monitor in world.monitors[1:]:
            monitor.loss_free = False
    world.tick = losing_from_the_second_iteration
    pb = playbook(SHUT_AND_BACK, steady_state=[{"check": "no_loss", "seconds": 1}],
                  repeat={"count": 4, "steady_timeout_s": 0.3})
    result = run(world, pb, tmp_path, gate_timeout_s=5.0)
    assert result.exit_code == EXIT_EXPECTATION_FAILED, result.message
    assert [(o.iteration, o.status) for o in result.outcomes] == [(1, "completed"),
                                                                  (2, "aborted")]
    reason = result.outcomes[1].reason or ""
    assert "did not return within 0.3 s after iteration 1 of 4" in reason
    assert "some loss" in reason and "no fault was injected" in reason
    assert "iteration 2 of 4" in result.message
    assert len(shuts(result)) == 1  # iteration 2 never faulted
    summary = report_of(result)["repeats"][0]
    assert summary["status"] == "incomplete" and summary["completed"] == 1
    assert_all_restored(world, result)


def test_an_interrupt_in_iteration_2_restores_and_runs_no_more(tmp_path: Path) -> None:
    world, sessions = World(), list[Session]()
    pb = playbook([*SHUT_AND_BACK[:3], {"action": "hold", "seconds": 5}, *SHUT_AND_BACK[4:]],
                  repeat={"count": 3})

    def interrupt_in_the_second_hold() -> None:
        if len(world.monitors) == 2 and sessions[0].current_step.startswith("4. "):
            world.tick = lambda: None
            raise KeyboardInterrupt
    world.tick = interrupt_in_the_second_hold
    result = run(world, pb, tmp_path, sessions)
    assert result.exit_code == EXIT_INFRASTRUCTURE
    assert [(o.iteration, o.status) for o in result.outcomes] == [(1, "completed"),
                                                                  (2, "interrupted")]
    assert "restored" in (result.outcomes[1].reason or "")
    assert len(shuts(result)) == 2
    assert_all_restored(world, result)


def test_a_statistic_out_of_bounds_fails_the_run_and_says_which(tmp_path: Path) -> None:
    pb = playbook(SHUT_AND_BACK, repeat={"count": 2},
                  expectations=[{"metric": "onprem_detection_s", "max": {"max": 0.0}}])
    result = run(World(), pb, tmp_path)
    assert result.exit_code == EXIT_EXPECTATION_FAILED, result.message
    report = report_of(result)
    assert report["status"] == "failed"
    assert all(s["status"] == "no_expectations" for s in report["sections"])
    [verdict] = report["repeats"][0]["verdicts"]
    assert verdict["status"] == "failed" and verdict["statistic"] == "max"
    assert verdict["message"].startswith("max of onprem_detection_s = ")


def test_run_repeat_on_the_command_line(tmp_path: Path) -> None:
    world = World()
    pb_file = tmp_path / "pb.yaml"
    pb_file.write_text(json.dumps(playbook(SHUT_AND_BACK).model_dump(mode="json",
                                                                      by_alias=True)))
    result = CliRunner().invoke(app, ["run", str(pb_file), "-i", str(INVENTORY_PATH),
                                      "--reports", str(tmp_path / "r"), "--no-live",
                                      "--repeat", "2", "--alternate", "Tunnel1,Tunnel2",
                                      "--gate-timeout", "2", "--guard-loss", "1"],
                                obj=world.parts())
    assert result.exit_code == 0, result.output
    assert "unit #2 of 2 (edge1/Tunnel2)" in result.output
    assert "onprem_detection_s" in result.output and "median" in result.output
    assert world.router.established() == {T1: True, T2: True}


def test_an_unknown_tunnel_on_the_command_line_is_bad_input(tmp_path: Path) -> None:
    world = World()
    pb_file = tmp_path / "pb.yaml"
    pb_file.write_text(json.dumps(playbook(SHUT_AND_BACK).model_dump(mode="json",
                                                                      by_alias=True)))
    result = CliRunner().invoke(app, ["run", str(pb_file), "-i", str(INVENTORY_PATH),
                                      "--reports", str(tmp_path / "r"), "--no-live",
                                      "--repeat", "2", "--alternate", "Tunnel1,Tunnel9"],
                                obj=world.parts())
    assert result.exit_code == 2, result.output
    assert "--alternate" in result.output and "unknown tunnel 'Tunnel9'" in result.output
    assert world.router.device.config_log == []  # nothing touched


def test_reports_show_iterations_statistics_and_verdicts_on_statistics(tmp_path: Path) -> None:
    from failover_harness.reports.render import render_report
    pb = playbook(SHUT_AND_BACK, repeat={"count": 2, "alternate": ["Tunnel1", "Tunnel2"]},
                  expectations=[{"metric": "onprem_detection_s", "max": {"p95": 0.0}}])
    result = run(World(), pb, tmp_path)
    assert result.exit_code == EXIT_EXPECTATION_FAILED
    rendered = render_report(result.run_dir)
    html, md = rendered.html_path.read_text(), rendered.md_path.read_text()
    junit = rendered.junit_path.read_text()
    for text in (html, md):
        assert "unit: 2 of 2 iterations" in text
        assert "#2 of 2 (edge1/Tunnel2)" in text
        assert "nearest rank" in text and "lower bounds" in text
    assert md.count("| onprem_detection_s |") >= 3  # every iteration, then per instance
    assert 'name="unit (repeated 2)"' in junit
    assert 'name="p95 of onprem_detection_s (max 0)"' in junit and "<failure" in junit
    assert 'name="onprem_detection_s.p95.hi"' in junit


def test_the_pytest_plugin_sees_every_iteration_and_the_statistics(tmp_path: Path) -> None:
    from failover_harness.pytest_plugin import apply_overrides, junit_properties, read_run
    pb = apply_overrides(playbook(SHUT_AND_BACK, repeat={"count": 2}),
                         {"onprem_detection_s": {"max": {"median": 0.0}}})
    assert pb.expectations[0].on_statistics() == [("max", "median", 0.0)]
    result = read_run(run(World(), pb, tmp_path))
    assert [(v.statistic, v.status) for v in result.failed_verdicts] == [("median", "failed")]
    assert len(result.repeats[0].series[0].values) == 2
    props = dict(junit_properties(result))
    assert props["failover.verdict.median.onprem_detection_s"] == "failed"
    assert float(props["failover.onprem_detection_s.median"]) >= 0


def test_a_repeat_status_is_a_section_status() -> None:
    from typing import get_args

    from failover_harness.reports.repeat_model import RepeatStatus
    from failover_harness.reports.schema import SectionStatus
    assert get_args(RepeatStatus) == get_args(SectionStatus)


def test_dry_run_lists_each_tunnel_of_an_alternation_with_its_iterations() -> None:
    playbook_path = INVENTORY_PATH.parents[1] / "playbooks" / "tunnel1-failover.yaml"
    result = CliRunner().invoke(app, ["run", str(playbook_path), "-i", str(INVENTORY_PATH),
                                      "--dry-run", "--repeat", "3", "--alternate",
                                      "Tunnel1,Tunnel2"])
    assert result.exit_code == 0, result.output
    assert "tunnel1-failover: 3 iterations" in result.output
    assert "iterations 1, 3 (edge1/Tunnel1):" in result.output
    assert "iterations 2 (edge1/Tunnel2):" in result.output
    assert "interface Tunnel2 / shutdown" in result.output


def test_an_iteration_knows_the_state_an_earlier_one_saw(tmp_path: Path) -> None:
    """Azure's learned routes are change events: the poller wrote the routes once, in the
    first section; the second section's metrics still start from them."""
    from failover_harness.reports.build import build_report, build_section, split_sections
    from failover_harness.timeline import load_timeline
    from tests.synthetic import SyntheticRun, write_synthetic_timeline
    path = write_synthetic_timeline(tmp_path, SyntheticRun(), SyntheticRun())
    events = load_timeline(path).events
    second = split_sections(events)[1]
    fault = next(e.t for e in second if e.kind == "action_start")
    events = [e for e in events if not (e in second and e.kind == "route_next_hops"
                                        and e.t < fault)]
    report, _ = build_report(events, "timeline.jsonl")
    carried = report.sections[1].metrics["routes_withdrawn_s"]
    assert carried.available and carried.value == report.sections[0].metrics[
        "routes_withdrawn_s"].value
    alone, _ = build_section(2, split_sections(events)[1])  # without what came before
    assert not alone.metrics["routes_withdrawn_s"].available


def test_an_interrupt_in_the_gate_of_iteration_2_names_the_gate(tmp_path: Path) -> None:
    world, sessions = World(), list[Session]()
    pb = playbook(SHUT_AND_BACK, steady_state=[{"check": "no_loss", "seconds": 1}],
                  repeat={"count": 3})

    def interrupt_while_waiting_for_the_steady_state() -> None:
        if len(world.monitors) == 2 and sessions[0].current_step == "":
            world.tick = lambda: None
            raise KeyboardInterrupt
    world.tick = interrupt_while_waiting_for_the_steady_state
    result = run(world, pb, tmp_path, sessions)
    assert result.exit_code == EXIT_INFRASTRUCTURE
    assert [(o.iteration, o.status) for o in result.outcomes] == [(1, "completed"),
                                                                  (2, "interrupted")]
    assert "during step the gate" in (result.outcomes[1].reason or "")
    assert len(shuts(result)) == 1
    assert_all_restored(world, result)
