"""The gate refuses a fault when the steady state does not hold, the guard aborts when the
surviving path fails, and `recover` (or the next run) undoes what a killed run left.
Against the replay router and fake Azure/probes, no root."""

from __future__ import annotations

from pathlib import Path

from failover_harness.journal import Journal, read_journal
from failover_harness.orchestrator.gameday import run_gameday
from failover_harness.orchestrator.recovery import recover
from failover_harness.orchestrator.session import Session
from tests.unit.orchestrator_fakes import (
    EVERY_KIND,
    FAST,
    INVENTORY_PATH,
    T1,
    T2,
    World,
    assert_all_restored,
    events,
    playbook,
    run,
)

SHUT_AND_HOLD = playbook([EVERY_KIND[0], EVERY_KIND[1], {"action": "hold", "seconds": 5}])


def test_the_gate_refuses_when_the_other_tunnel_is_down(tmp_path: Path) -> None:
    world = World()
    world.router.shut("Tunnel2")
    sent_before = len(world.router.device.config_log)
    result = run(world, SHUT_AND_HOLD, tmp_path, gate_timeout_s=0.3)
    assert result.exit_code == 3
    assert result.outcomes[0].status == "gate_failed"
    assert T2 in result.message and "no fault was injected" in result.message
    assert len(world.router.device.config_log) == sent_before  # nothing sent to the router
    assert not any(e["source"] == "action" for e in events(result))
    assert world.router.established() == {T1: True, T2: False}  # left as found


def test_the_gate_refuses_while_probes_lose(tmp_path: Path) -> None:
    world = World(monitor_defaults={"loss_free": False})
    pb = playbook(SHUT_AND_HOLD.model_dump(mode="json")["method"],
                  steady_state=[{"check": "no_loss", "seconds": 1}])
    result = run(world, pb, tmp_path, gate_timeout_s=0.3)
    assert result.outcomes[0].status == "gate_failed"
    assert "some loss" in result.message
    assert world.router.established() == {T1: True, T2: True}


def test_the_guard_aborts_when_the_surviving_tunnel_fails(tmp_path: Path) -> None:
    world, sessions = World(), list[Session]()

    def cut_the_survivor() -> None:  # during the hold after the shut
        if sessions and sessions[0].current_step.startswith("3. "):
            world.tick = lambda: None
            world.router.shut("Tunnel2")
    world.tick = cut_the_survivor
    result = run(world, SHUT_AND_HOLD, tmp_path, sessions)
    assert result.exit_code == 1
    assert result.outcomes[0].status == "aborted"
    assert "surviving path" in (result.outcomes[0].reason or "")
    timeline = events(result)
    tripped = [e for e in timeline if e["kind"] == "guard_tripped"]
    run_end = next(e for e in timeline if e["kind"] == "run_end")
    assert tripped and run_end["t"] < 4.0  # long before the 5 s hold would have ended
    assert world.router.established() == {T1: True, T2: False}  # ours restored, not theirs


def test_the_guard_aborts_when_every_flow_loses(tmp_path: Path) -> None:
    world = World(monitor_defaults={"all_losing": True})
    result = run(world, SHUT_AND_HOLD, tmp_path)
    assert result.outcomes[0].status == "aborted"
    assert "every probe flow" in (result.outcomes[0].reason or "")
    assert_all_restored(world, result)


def killed_run(tmp_path: Path, world: World) -> Path:
    """A run directory as SIGKILL leaves it: the shut journaled and made, nothing undone."""
    run_dir = tmp_path / "reports" / "killed"
    journal = Journal(run_dir)
    journal.open(INVENTORY_PATH, "killed")
    journal.done(journal.intent("edge1", "shut_interface", "Tunnel1"))
    journal.release()  # the process is gone: so is its lock
    world.router.shut("Tunnel1")
    return run_dir


def test_recover_undoes_a_killed_runs_journal(tmp_path: Path) -> None:
    world = World()
    run_dir = killed_run(tmp_path, world)
    said: list[str] = []
    assert recover(run_dir, said.append, parts=world.parts()) == []
    assert world.router.established() == {T1: True, T2: True}
    state = read_journal(run_dir / "journal.jsonl")
    assert state.closed and not state.outstanding
    assert said == ["recover: edge1 no_shut_interface Tunnel1"]
    said.clear()
    assert recover(run_dir, said.append, parts=world.parts()) == []
    assert said == [f"{run_dir}: nothing to recover (its journal is closed)"]


def test_recover_that_cannot_reach_the_router_keeps_the_journal_open(tmp_path: Path) -> None:
    world = World()
    run_dir = killed_run(tmp_path, world)
    world.router.fail(True, "Tunnel1", times=3)
    problems = recover(run_dir, lambda _m: None, parts=world.parts())
    assert len(problems) == 1 and "Tunnel1" in problems[0]
    assert not read_journal(run_dir / "journal.jsonl").closed  # the next recover tries again
    assert recover(run_dir, lambda _m: None, parts=world.parts()) == []
    assert world.router.established()[T1]


def test_the_next_run_undoes_a_killed_run_first(tmp_path: Path) -> None:
    world = World()
    killed = killed_run(tmp_path, world)
    opts = FAST.model_copy(update={"reports_root": tmp_path / "reports", "run_id": "next"})
    result = run_gameday(INVENTORY_PATH, [playbook([EVERY_KIND[0]])], opts,
                         say=lambda _m: None, parts=world.parts())
    assert read_journal(killed / "journal.jsonl").closed
    assert result.exit_code == 0, result.message
    assert_all_restored(world, result)
