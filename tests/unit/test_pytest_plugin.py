"""The pytest plugin itself, through pytester: inner pytest sessions with a fake game-day
runner (a synthetic timeline rendered into a real report) and, where needed, a fake lab."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import failover_harness.reports.render  # noqa: F401 - numpy loads once per process; inner runs reuse it
from failover_harness.playbook import load_playbook
from failover_harness.pytest_plugin import (SESSION_KEY, FailoverSession, OverrideError,
                                            apply_overrides, parse_lab_options, safe_dirname,
                                            summary_line)

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "lab.yaml"
PLAYBOOK = ROOT / "playbooks" / "tunnel1-failover.yaml"

# The inner sessions' conftest: run_gameday replaced by a synthetic run of the playbook's
# expectations (Tunnel1 flows dark for OUTAGE_S), rendered by the real report code.
FAKE_RUNNER = '''
import json, os
from pathlib import Path
import pytest
from failover_harness.orchestrator import gameday
from failover_harness.orchestrator.gameday import GameDayResult
from failover_harness.orchestrator.playbook_run import PlaybookOutcome
from failover_harness.reports.render import render_report
from tests.synthetic import SyntheticRun, write_synthetic_run
from failover_harness.timeline import Timeline

OUTAGE_S = float(os.environ.get("FAKE_OUTAGE_S", "2.6"))
STATUS = os.environ.get("FAKE_STATUS", "completed")
AZURE_DATA = os.environ.get("FAKE_AZURE_DATA", "1") == "1"
CALLS = Path(os.environ["FAKE_CALLS"]) if "FAKE_CALLS" in os.environ else None


def fake_run_gameday(inventory_path, playbooks, options, say=print, on_session=None):
    pb = playbooks[0]
    if CALLS is not None:
        with CALLS.open("a") as f:
            f.write(json.dumps({"inventory": str(inventory_path), "reports_root":
                                str(options.reports_root), "expectations":
                                [e.model_dump(exclude_none=True) for e in pb.expectations]}) + "\\n")
    run_id = f"fake-{len(list(options.reports_root.glob('*'))) if options.reports_root.exists() else 0}"
    run_dir = options.reports_root / run_id
    run_dir.mkdir(parents=True)
    timeline = Timeline(run_dir / "timeline.jsonl")
    write_synthetic_run(timeline, SyntheticRun(
        run_id=run_id, playbook=pb.name, outage_s=OUTAGE_S, azure_data=AZURE_DATA,
        expectations=[e.model_dump(exclude_none=True) for e in pb.expectations]))
    timeline.close()
    rendered = render_report(run_dir)
    failed = any(v.status == "failed" for s in rendered.report.sections for v in s.verdicts)
    if STATUS == "gate_failed":
        return GameDayResult(run_id=run_id, run_dir=run_dir, exit_code=3, message="gate: edge1 "
                             "Tunnel2 not Established; no fault was injected",
                             outcomes=[PlaybookOutcome(playbook=pb.name, status="gate_failed",
                                                       reason="gate: edge1 Tunnel2 down")])
    if STATUS == "interrupted":
        return GameDayResult(run_id=run_id, run_dir=run_dir, exit_code=3,
                             message="interrupted (KeyboardInterrupt); restored",
                             outcomes=[PlaybookOutcome(playbook="?", status="interrupted")])
    return GameDayResult(run_id=run_id, run_dir=run_dir, exit_code=1 if failed else 0,
                         outcomes=[PlaybookOutcome(playbook=pb.name, status="completed")],
                         message="an expectation was not met" if failed else "all expectations met",
                         report_files=[rendered.html_path, rendered.json_path])


@pytest.fixture(autouse=True, scope="session")
def _fake_runner():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gameday, "run_gameday", fake_run_gameday)
        yield
'''

# A fake lab API (up/down recorded in a file) for --failover-lab without root.
FAKE_LAB = '''
import types
from failover_harness.lab import lab as lab_api

LAB_LOG = Path(os.environ["FAKE_LAB_LOG"])


@pytest.fixture(autouse=True, scope="session")
def _fake_lab(tmp_path_factory):
    inventory = Path(os.environ["FAKE_LAB_INVENTORY"])

    def up(prefix, options=None, root=None):
        with LAB_LOG.open("a") as f:
            f.write(f"up {prefix} bfd={options.bfd}\\n")
        return types.SimpleNamespace(inventory=str(inventory))

    def down(prefix, root=None):
        with LAB_LOG.open("a") as f:
            f.write(f"down {prefix}\\n")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lab_api, "up", up)
        mp.setattr(lab_api, "down", down)
        yield
'''


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """An inner project: the lab inventory and the Tunnel1 playbook, the fake runner."""
    shutil.copy(INVENTORY, pytester.path / "inventory.yaml")
    (pytester.path / "playbooks").mkdir()
    shutil.copy(PLAYBOOK, pytester.path / "playbooks" / "tunnel1.yaml")
    pytester.makeconftest(FAKE_RUNNER)
    monkeypatch.setenv("FAKE_CALLS", str(pytester.path / "calls.jsonl"))
    return pytester


def run_failover(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest("-p", "no:cacheprovider", "-ra",
                             "--failover-inventory", "inventory.yaml", *args)


# ---------------------------------------------------------------- registration, options


def test_marker_and_options_registered(pytester: pytest.Pytester) -> None:
    markers = pytester.runpytest("--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.failover(playbook=None, **expectation_overrides)*"])
    help_ = pytester.runpytest("--help")
    help_.stdout.fnmatch_lines(["failover tests (failover-harness):", "*--failover-inventory=PATH*",
                                "*--failover-lab *", "*--failover-lab-options=OPTS*",
                                "*--failover-report-dir=DIR*"])


def test_marker_passes_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.failover
        def test_marked(): pass
    """)
    result = pytester.runpytest("--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)  # a failover test without an inventory: skipped


def test_options_parsed_and_checked(project: pytest.Pytester) -> None:
    project.makepyfile("""
        def test_options(pytestconfig):
            assert pytestconfig.getoption("failover_inventory").name == "inventory.yaml"
            assert str(pytestconfig.getoption("failover_report_dir")) == "out/r"
    """)
    run_failover(project, "--failover-report-dir", "out/r").assert_outcomes(passed=1)
    both = project.runpytest("--failover-inventory", "inventory.yaml", "--failover-lab")
    assert both.ret == pytest.ExitCode.USAGE_ERROR
    both.stderr.fnmatch_lines(["*--failover-inventory and --failover-lab exclude each other*"])
    bad_opts = project.runpytest("--failover-lab", "--failover-lab-options", "bfd,timers=slow")
    assert bad_opts.ret == pytest.ExitCode.USAGE_ERROR
    bad_opts.stderr.fnmatch_lines(["*--failover-lab-options 'bfd,timers=slow': timers:*"])


def test_bad_inventory_is_a_usage_error_naming_the_file(project: pytest.Pytester) -> None:
    (project.path / "broken.yaml").write_text("name: x\ndevices: {}\n")
    result = project.runpytest("--failover-inventory", "broken.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --failover-inventory: *",
                                 "*broken.yaml:2: field 'devices': *"])


def test_without_inventory_failover_tests_skip_with_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.failover(playbook="p.yaml", max_outage_s=5)
        def test_marked(failover_result): pass
        def test_uses_fixture(failover_run): pass
        def test_plain(): pass
    """)
    result = pytester.runpytest("-ra", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines([
        "failover: NOT RUN - 2 failover test(s) skipped: no inventory (pass "
        "--failover-inventory PATH, or --failover-lab*",
        "SKIPPED *failover test: no inventory*"])
    # Tests using failover fixtures are marked too, so -m selects them.
    deselected = pytester.runpytest("-m", "not failover", "-p", "no:cacheprovider")
    deselected.assert_outcomes(passed=1, deselected=2)
    deselected.stdout.fnmatch_lines(["failover: no failover tests run; 2 deselected"])


def test_plain_project_prints_nothing_about_failover(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain(): pass")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert not [line for line in result.stdout.lines if line.startswith("failover")]


# ---------------------------------------------------------------- the marker's verdicts


def test_failed_expectation_fails_with_metric_value_bound_and_report(project: pytest.Pytester) -> None:
    project.makepyfile("""
        import pytest
        @pytest.mark.failover(playbook="playbooks/tunnel1.yaml", max_outage_s=1)
        def test_tunnel1(failover_result):
            assert failover_result.metrics["max_outage_s"] > 0
    """)
    result = run_failover(project)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "*failover expectations not met (tunnel1-failover, run fake-0):",
        "*max_outage_s = 2.6 s* > max 1 s: missed by 1.6 s",
        "report: */reports/*.py__test_tunnel1/fake-0/report.html",
        "failover: 1 failover test(s) ran (1 playbook run(s)) against inventory *inventory.yaml: "
        "1 failed; reports in */reports"])
    assert "failover_harness/pytest_plugin" not in out  # a readable message, not the plugin's traceback
    reports = list((project.path / "reports").glob("*__test_tunnel1/fake-0/report.html"))
    assert len(reports) == 1 and reports[0].stat().st_size > 0


def test_inconclusive_expectation_skips_never_passes(project: pytest.Pytester,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_AZURE_DATA", "0")  # no Azure data at all: detection unknown
    project.makepyfile("""
        import pytest
        @pytest.mark.failover(playbook="playbooks/tunnel1.yaml")
        def test_tunnel1(failover_result):
            r = failover_result
            assert not r.passed and not r.failed_verdicts
            assert {v.metric for v in r.inconclusive_verdicts} >= {"azure_detection_s"}
    """)
    result = run_failover(project, "--junitxml", "junit.xml")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([
        "failover: 1 failover test(s) ran (1 playbook run(s)) against inventory *: 1 inconclusive;*",
        "SKIPPED *failover expectations inconclusive (tunnel1-failover, run fake-0):",
        "  inconclusive: azure_detection_s: no data*"])
    case = ET.parse(project.path / "junit.xml").getroot().find(".//testcase")
    assert case is not None and case.find("skipped") is not None
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["failover.verdict.azure_detection_s"] == "inconclusive"


def test_met_expectations_pass_and_reach_junit(project: pytest.Pytester) -> None:
    project.makepyfile("""
        import pytest
        @pytest.mark.failover(playbook="playbooks/tunnel1.yaml")
        def test_tunnel1(failover_result):
            r = failover_result
            assert r.passed and r.exit_code == 0
            assert r.metrics["onprem_detection_s"] < r.metrics["azure_detection_s"]
            assert {f for f, eps in r.loss_episodes.items() if eps} == {"icmp-0", "icmp-1"}
            assert r.outage_s("icmp-2") == 0 and r.outage_s("icmp-0") > 2
            assert r.events_of("action", "action_done")
    """)
    result = run_failover(project, "--junitxml", "junit.xml")
    result.assert_outcomes(passed=1)
    case = ET.parse(project.path / "junit.xml").getroot().find(".//testcase")
    assert case is not None
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert float(props["failover.max_outage_s"] or "nan") == pytest.approx(2.6, abs=0.01)
    assert props["failover.verdict.max_outage_s"] == "passed"
    assert props["failover.run_id"] == "fake-0"
    assert (props["failover.report"] or "").endswith("fake-0/report.html")


def test_xfail_strict_on_expectations_not_met(project: pytest.Pytester) -> None:
    project.makepyfile("""
        import pytest
        from failover_harness.pytest_plugin import ExpectationsNotMet
        @pytest.mark.xfail(strict=True, raises=ExpectationsNotMet)
        @pytest.mark.failover(playbook="playbooks/tunnel1.yaml", max_outage_s=0.1)
        def test_cannot(failover_result): pass
        @pytest.mark.xfail(strict=True, raises=ExpectationsNotMet)
        @pytest.mark.failover(playbook="playbooks/tunnel1.yaml")
        def test_can(failover_result): pass
    """)
    result = run_failover(project)
    result.assert_outcomes(xfailed=1, failed=1)  # strict: an unexpected pass fails


def test_overrides_reach_the_runner(project: pytest.Pytester) -> None:
    project.makepyfile("""
        def test_run(failover_run):
            r = failover_run("playbooks/tunnel1.yaml", max_outage_s=None, flows_without_loss=3,
                             azure_detection_s={"min": 1, "max": 2})
            assert not r.passed
            failed = {v.metric for v in r.failed_verdicts}
            assert failed == {"flows_without_loss", "azure_detection_s"}, r.failure_message()
            r2 = failover_run("playbooks/tunnel1.yaml")
            assert r2.passed and r2.run_dir != r.run_dir
    """)
    result = run_failover(project, "--junitxml", "junit.xml")
    result.assert_outcomes(passed=1)
    import json
    calls = [json.loads(line) for line in (project.path / "calls.jsonl").read_text().splitlines()]
    metrics = {e["metric"]: e for e in calls[0]["expectations"]}
    assert "max_outage_s" not in metrics
    assert metrics["flows_without_loss"] == {"metric": "flows_without_loss", "min": 3.0}
    assert metrics["azure_detection_s"] == {"metric": "azure_detection_s", "min": 1.0, "max": 2.0}
    assert calls[0]["reports_root"] == calls[1]["reports_root"]  # one directory per test
    props = [p.get("name") for p in ET.parse(project.path / "junit.xml").getroot().iter("property")]
    assert "failover.max_outage_s" in props and "failover.run2.max_outage_s" in props


def test_bad_override_is_a_setup_error(project: pytest.Pytester) -> None:
    project.makepyfile("""
        import pytest
        @pytest.mark.failover(playbook="playbooks/tunnel1.yaml", max_outgae_s=3)
        def test_typo(failover_result): pass
        @pytest.mark.failover(playbook="playbooks/nope.yaml")
        def test_missing(failover_result): pass
    """)
    result = run_failover(project)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*unknown expectation override 'max_outgae_s'*",
                                 "*nope.yaml*playbook not found*"])


def test_gate_failure_is_an_error_not_a_failure(project: pytest.Pytester,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_STATUS", "gate_failed")
    project.makepyfile("""
        import pytest
        @pytest.mark.failover(playbook="playbooks/tunnel1.yaml")
        def test_tunnel1(failover_result): pass
    """)
    result = run_failover(project)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*failover run could not be done: gate: edge1 Tunnel2 not "
                                 "Established; no fault was injected*"])


# ---------------------------------------------------------------- the lab, Ctrl-C


def test_lab_per_session_and_down_after_ctrl_c(project: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner caught Ctrl-C and restored; the plugin re-raises it, pytest stops, the
    session's lab still goes down."""
    lab_log = project.path / "lab.log"
    monkeypatch.setenv("FAKE_LAB_LOG", str(lab_log))
    monkeypatch.setenv("FAKE_LAB_INVENTORY", str(project.path / "inventory.yaml"))
    monkeypatch.setenv("FAKE_STATUS", "interrupted")
    conftest = project.path / "conftest.py"
    conftest.write_text(conftest.read_text() + FAKE_LAB)
    project.makepyfile("""
        import pytest
        @pytest.mark.failover(playbook="playbooks/tunnel1.yaml")
        def test_a(failover_result): pass
        @pytest.mark.failover(playbook="playbooks/tunnel1.yaml")
        def test_b(failover_result): pass
    """)
    reprec = project.inline_run("-p", "no:cacheprovider", "--failover-lab",
                                "--failover-lab-options", "bfd", no_reraise_ctrlc=True)
    assert reprec.ret == pytest.ExitCode.INTERRUPTED
    assert reprec.getcalls("pytest_keyboard_interrupt")
    lines = lab_log.read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("up fhp") and lines[0].endswith("bfd=True")
    assert lines[1] == "down " + lines[0].split()[1]
    assert len(reprec.getcalls("pytest_runtest_logstart")) == 1  # test_b never started
    session = reprec.getcall("pytest_unconfigure").config.stash[SESSION_KEY]
    assert summary_line(session).startswith("failover: INTERRUPTED after 1 playbook run(s) "
                                            "against the embedded lab fhp")


def test_lab_up_once_and_summary_names_it(project: pytest.Pytester,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    lab_log = project.path / "lab.log"
    monkeypatch.setenv("FAKE_LAB_LOG", str(lab_log))
    monkeypatch.setenv("FAKE_LAB_INVENTORY", str(project.path / "inventory.yaml"))
    conftest = project.path / "conftest.py"
    conftest.write_text(conftest.read_text() + FAKE_LAB)
    project.makepyfile("""
        import pytest
        @pytest.mark.failover(playbook="playbooks/tunnel1.yaml")
        def test_a(failover_result): pass
        def test_b(failover_inventory):
            assert set(failover_inventory.devices) == {"edge1"}
    """)
    result = project.runpytest("-p", "no:cacheprovider", "--failover-lab")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "failover: the embedded lab (up on first use, down at the end of the session)",
        "failover: 2 failover test(s) ran (1 playbook run(s)) against the embedded lab fhp* "
        "(inventory *inventory.yaml): 2 passed; reports in *"])
    assert [line.split()[0] for line in lab_log.read_text().splitlines()] == ["up", "down"]


# ---------------------------------------------------------------- pure parts


def test_apply_overrides_rules() -> None:
    pb = load_playbook(PLAYBOOK)
    before = [e.model_copy() for e in pb.expectations]
    bounds = {e.metric: (e.min, e.max) for e in apply_overrides(pb, {
        "max_outage_s": 3, "flows_without_loss": 4, "min_outage_s": 0.5,
        "failback_lost_probes": None}).expectations}
    assert bounds["max_outage_s"] == (None, 3.0)
    assert bounds["flows_without_loss"] == (4.0, None)  # more is better: a min
    assert bounds["min_outage_s"] == (None, 0.5)  # a new one gets a max
    assert "failback_lost_probes" not in bounds
    assert pb.expectations == before  # the loaded playbook is left alone
    replaced = apply_overrides(pb, {"onprem_detection_s": 0.5}).expectations
    assert [(e.metric, e.max) for e in replaced].count(("onprem_detection_s", 0.5)) == 1
    assert len(replaced) == len(before)
    for bad, why in (({"max_outage": 1}, "unknown expectation override"),
                     ({"max_outage_s": True}, "expected a number"),
                     ({"max_outage_s": {"top": 1}}, "only 'min' and 'max'"),
                     ({"max_outage_s": {"min": 5, "max": None}}, None)):
        if why is None:
            assert apply_overrides(pb, bad).expectations[-1].min == 5
            continue
        with pytest.raises(OverrideError, match=why):
            apply_overrides(pb, bad)


def test_lab_options_and_dirnames() -> None:
    options = parse_lab_options("bfd, timers=tuned,mode=primary-backup")
    assert (options.bfd, options.timers, options.mode) == (True, "tuned", "primary-backup")
    with pytest.raises(pytest.UsageError, match="warp: Extra inputs"):
        parse_lab_options("warp=9")
    assert safe_dirname("tests/failover/test_x.py::test_y[a/b c]") == \
        "tests_failover_test_x.py__test_y_a_b_c"


def test_summary_line_counts() -> None:
    session = FailoverSession(None, None, False, "", Path("reports"))  # type: ignore[arg-type]
    session.items = {"a", "b"}
    session.outcomes = {"a": "skipped", "b": "skipped"}
    session.skip_reasons = {"a": "failover test: no inventory", "b": "failover test: no inventory"}
    assert summary_line(session) == "failover: NOT RUN - 2 failover test(s) skipped: no inventory"
    session.inventory_option = Path("inv.yaml")
    session.outcomes = {"a": "passed", "b": "xfailed"}
    session.runs = 2
    assert summary_line(session) == ("failover: 2 failover test(s) ran (2 playbook run(s)) "
                                     "against inventory inv.yaml: 1 passed, 1 xfailed; "
                                     "reports in reports")
