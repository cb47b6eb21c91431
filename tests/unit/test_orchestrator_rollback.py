"""Whatever ends a run, what it broke is put back: an exception in every kind of step, a
restore that fails before it succeeds, SIGTERM in the middle of a wait. Against the replay
router and fake Azure/probes (tests/unit/orchestrator_fakes.py), no root."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from failover_harness.errors import DeviceError
from failover_harness.journal import Journal
from failover_harness.orchestrator.changes import DeviceChanger
from failover_harness.orchestrator.session import Session
from failover_harness.orchestrator.steps import DeviceChange, device_change
from failover_harness.timeline import Timeline
from tests.unit.orchestrator_fakes import (
    EVERY_KIND,
    INVENTORY,
    T1,
    T2,
    World,
    assert_all_restored,
    events,
    playbook,
    run,
)


def raise_during_step(world: World, sessions: list[Session], n: int,
                      error: BaseException) -> None:
    """Raise `error` once, the next time step n sleeps or reads Azure."""
    armed = [True]

    def tick() -> None:
        if armed[0] and sessions and sessions[0].current_step.startswith(f"{n}. "):
            armed[0] = False
            raise error
    world.tick = tick


@pytest.mark.parametrize("n", range(1, len(EVERY_KIND) + 1),
                         ids=[f"{i}-{s['action']}" for i, s in enumerate(EVERY_KIND, 1)])
def test_an_exception_in_any_step_is_rolled_back(tmp_path: Path, n: int) -> None:
    world, sessions = World(), list[Session]()
    change = device_change(playbook(EVERY_KIND).method[n - 1])
    if change is not None:  # the device refuses this step's command
        world.router.fail(change.action.enabled, change.target, DeviceError("edge1: refused"))
    else:  # a bug while the step waits or reads
        raise_during_step(world, sessions, n, RuntimeError("a bug"))
    result = run(world, playbook(EVERY_KIND), tmp_path, sessions)
    outcome = result.outcomes[0]
    assert outcome.status == "failed", outcome
    assert ("refused" if change else "a bug") in (outcome.reason or "")
    assert result.exit_code == 1
    assert_all_restored(world, result)
    ends = [e["data"]["status"] for e in events(result) if e["kind"] == "run_end"]
    assert ends == ["failed"]


def test_a_complete_run_leaves_everything_as_found(tmp_path: Path) -> None:
    world = World()
    result = run(world, playbook(EVERY_KIND), tmp_path)
    assert [o.status for o in result.outcomes] == ["completed"], result.message
    assert_all_restored(world, result)
    done = [(e["data"]["action"], e["subject"]) for e in events(result)
            if e["kind"] == "action_done"]
    assert done == [("shut_interface", "device:edge1/Tunnel1"),
                    ("no_shut_interface", "device:edge1/Tunnel1"),
                    ("shut_neighbor", f"device:edge1/{T2}"),
                    ("no_shut_neighbor", f"device:edge1/{T2}")]
    assert world.monitors[0].started and world.monitors[0].stopped
    assert world.pollers[0].stopped


def test_a_restore_that_fails_once_then_succeeds(tmp_path: Path) -> None:
    world = World()
    world.router.fail(True, "Tunnel1", times=1)
    pb = playbook(EVERY_KIND[:4])  # shut Tunnel1 and hold: the rollback restores it
    result = run(world, pb, tmp_path)
    assert_all_restored(world, result)
    timeline = events(result)
    restores = [e["kind"] for e in timeline if e["kind"].startswith("action_")
                and e["data"]["action"] == "no_shut_interface"]
    assert restores == ["action_start", "action_failed", "action_start", "action_done",
                        "action_late"]
    start, done, late = (next(e for e in timeline if e["kind"] == k and
                              e["data"]["action"] == "no_shut_interface")
                         for k in ("action_start", "action_done", "action_late"))
    assert late["data"]["asked_t"] == start["t"] and late["t"] == done["t"]
    assert late["data"]["late_s"] == pytest.approx(done["t"] - start["t"], abs=1e-5)
    assert late["data"]["attempts"] == 2 and "session dropped" in late["data"]["why"]
    assert any(e["kind"] == "rollback_failed" for e in timeline)
    assert result.outcomes[0].status == "completed"


def test_the_last_resort_retries_a_dropped_session(tmp_path: Path) -> None:
    """restore_outstanding reconnects and tries again; three failures are reported."""
    world = World()
    timeline = Timeline(tmp_path / "timeline.jsonl")
    journal = Journal(tmp_path)
    changer = DeviceChanger(INVENTORY, journal, timeline,
                            lambda _name: world.router.session(), sleep=lambda _s: None)
    changer.apply(DeviceChange.of("edge1", "shut_interface", "Tunnel1"))
    world.router.fail(True, "Tunnel1", times=2)
    assert changer.restore_outstanding() == []
    assert world.router.established()[T1] and not changer.outstanding
    assert world.router.sessions == 3  # the first, and one new session per retry
    changer.apply(DeviceChange.of("edge1", "shut_interface", "Tunnel1"))
    world.router.fail(True, "Tunnel1", times=3)
    problems = changer.restore_outstanding()
    assert len(problems) == 1 and "Tunnel1" in problems[0] and "session dropped" in problems[0]
    assert len(changer.outstanding) == 1  # still known: `recover` or the next run undoes it
    timeline.close()


def test_sigterm_during_a_wait_restores_and_says_interrupted(tmp_path: Path) -> None:
    world, sessions = World(), list[Session]()
    pb = playbook([*EVERY_KIND[:4], {"action": "hold", "seconds": 30}])
    before = signal.getsignal(signal.SIGTERM)  # the pytest plugin's under --failover-lab

    def tick() -> None:
        if sessions and sessions[0].current_step.startswith("5. "):
            world.tick = lambda: None
            os.kill(os.getpid(), signal.SIGTERM)
    world.tick = tick
    result = run(world, pb, tmp_path, sessions)
    assert result.exit_code == 3
    (outcome,) = result.outcomes
    assert (outcome.playbook, outcome.status) == ("unit", "interrupted")
    assert outcome.reason == ("SIGTERM during step 5. hold seconds=30.0; what it changed was "
                              "restored")
    assert result.message == "interrupted by SIGTERM; everything it changed was restored"
    assert_all_restored(world, result)
    ends = [e for e in events(result) if e["kind"] == "run_end"]
    assert ends[-1]["data"]["status"] == "interrupted"
    assert signal.getsignal(signal.SIGTERM) is before  # handlers put back


def test_a_fault_whose_command_fails_is_still_undone(tmp_path: Path) -> None:
    """The shut may reach the router although the session broke before it answered."""
    world = World()
    world.router.fail(False, "Tunnel1", DeviceError("edge1: timed out after the command"))
    result = run(world, playbook(EVERY_KIND[:2]), tmp_path)
    undo = [e for e in events(result) if e["kind"] == "action_done"]
    assert [e["data"]["action"] for e in undo] == ["no_shut_interface"]
    assert_all_restored(world, result)

