"""Where the run tells the Azure poller to look hardest (orchestrator/azure_focus.py), and
that a game-day does tell it, at every fault and restore."""

from __future__ import annotations

from pathlib import Path

from failover_harness.azure.rates import FOCUS_RESERVE
from failover_harness.orchestrator.azure_focus import DEFAULT_S, MARGIN_S, RESTORE_KEEP, RESTORE_S, focus_window
from failover_harness.orchestrator.gameday import run_gameday
from failover_harness.orchestrator.steps import DeviceChange
from failover_harness.prediction import Prediction, TunnelPrediction, Window
from failover_harness.timeline import load_timeline
from tests.unit.orchestrator_fakes import EVERY_KIND, FAST, INVENTORY_PATH, World, playbook

SHUT = DeviceChange.of("edge1", "shut_interface", "Tunnel1")


def prediction(lo: float, hi: float) -> Prediction:
    def window(a: float, b: float) -> Window:
        return Window(lo=a, hi=b, bound_by="BGP hold timer", why="test")
    return Prediction(single_points_of_failure=[], tunnels=[TunnelPrediction(
        device="edge1", interface="Tunnel1", neighbor="169.254.21.1", azure_peer="169.254.21.2",
        role="ecmp", role_why="test", onprem_detection=window(0, 1), azure_detection=window(lo, hi),
        blackhole=window(lo, hi), affected="some", unaffected="others")])


def test_a_fault_focuses_on_the_predicted_azure_detection_window() -> None:
    assert focus_window(SHUT, prediction(2.0, 3.3)) == (2.0 - MARGIN_S, 3.3 + MARGIN_S, FOCUS_RESERVE)
    # Azure's default timers: the focus starts two minutes later and lasts a minute.
    assert focus_window(SHUT, prediction(120.0, 180.3)) == (120.0 - MARGIN_S, 180.3 + MARGIN_S, FOCUS_RESERVE)
    assert focus_window(SHUT, prediction(0.2, 0.4))[:2] == (0.0, 0.4 + MARGIN_S)  # never before the send


def test_restores_get_a_short_focus_unpredicted_faults_the_default() -> None:
    # A restore's finishes calibrate; the fault's bound the figure: it keeps more reads.
    assert focus_window(SHUT.undo(), prediction(2.0, 3.3)) == (0.0, RESTORE_S, RESTORE_KEEP)
    assert RESTORE_KEEP > FOCUS_RESERVE
    assert focus_window(SHUT, None) == (0.0, DEFAULT_S, FOCUS_RESERVE)
    other = DeviceChange.of("edge1", "shut_interface", "Tunnel9")
    assert focus_window(other, prediction(2.0, 3.3)) == (0.0, DEFAULT_S, FOCUS_RESERVE)
    assert focus_window(None, None) == (0.0, DEFAULT_S, FOCUS_RESERVE)  # an Azure reset


def test_a_game_day_focuses_the_poller_before_every_device_change(tmp_path: Path) -> None:
    world = World()
    run_gameday(INVENTORY_PATH, [playbook(EVERY_KIND)],
                FAST.model_copy(update={"reports_root": tmp_path}), say=lambda _m: None,
                parts=world.parts())
    focused = world.pollers[0].focused
    changes = [s for s in EVERY_KIND if "shut" in s["action"]]
    assert len(focused) == len(changes) == 4
    restores = [f for f, s in zip(focused, changes, strict=True) if s["action"].startswith("no_shut")]
    assert restores == [(0.0, RESTORE_S)] * 2
    for after, until in focused:
        assert 0.0 <= after < until


def test_a_fault_waits_the_pollers_lead_a_restore_does_not(tmp_path: Path) -> None:
    """The calls answering in a fault's focus start one LRO latency before it: the run names
    the window `lead_s` early (shifted by it) and waits that long before the change."""
    lead = 0.4
    world = World(azure_lead=lead)
    result = run_gameday(INVENTORY_PATH, [playbook(EVERY_KIND)],
                         FAST.model_copy(update={"reports_root": tmp_path}), say=lambda _m: None,
                         parts=world.parts())
    focused = world.pollers[0].focused
    changes = [s for s in EVERY_KIND if "shut" in s["action"]]
    for (after, until), step in zip(focused, changes, strict=True):
        if step["action"].startswith("no_shut"):
            assert (after, until) == (0.0, RESTORE_S)
        else:
            assert after >= lead and until > after
    events = load_timeline(result.run_dir / "timeline.jsonl").events
    starts = [e.t for e in events if e.kind == "step_start"]
    faults = [e for e in events if e.kind == "action_start" and not e.data.action.startswith("no_")]
    assert len(faults) == 2
    for fault in faults:
        assert fault.t - max(t for t in starts if t <= fault.t) >= lead
