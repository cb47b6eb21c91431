"""One run per target, wired into the run and `recover` (replay router, fake Azure/probes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from failover_harness import state_index
from failover_harness.inventory import load_inventory
from failover_harness.journal import Journal, JournalBusyError, read_journal
from failover_harness.locks import LockHeldError, acquire, device_keys, new_record, reports_key
from failover_harness.orchestrator.gameday import run_gameday
from failover_harness.orchestrator.recovery import recover
from failover_harness.orchestrator.session import RunOptions
from tests.unit.orchestrator_fakes import EVERY_KIND, FAST, INVENTORY_PATH, T1, World, playbook

SHUT_AND_BACK = playbook([EVERY_KIND[0], EVERY_KIND[1]])
KEYS = device_keys(load_inventory(INVENTORY_PATH))


def killed_run(run_dir: Path, world: World, *, locks: bool = True) -> None:
    """A run as SIGKILL leaves it: shut journaled and made, registered, its locks on record."""
    journal = Journal(run_dir)
    journal.open(INVENTORY_PATH, run_dir.name, locks=KEYS)
    journal.done(journal.intent("edge1", "shut_interface", "Tunnel1"))
    world.router.shut("Tunnel1")
    state_index.register(run_dir, run_dir.name, INVENTORY_PATH, KEYS)
    if locks:
        acquire(KEYS, new_record(run_dir.name, run_dir)).release(clean=False)
    journal.release()


def options(reports: Path, run_id: str) -> RunOptions:
    return FAST.model_copy(update={"reports_root": reports, "run_id": run_id})


def test_a_run_refuses_targets_a_live_run_holds_and_touches_nothing(tmp_path: Path) -> None:
    world = World()
    live = acquire(KEYS, new_record("r-live", tmp_path / "elsewhere" / "r-live"))
    sent = len(world.router.device.config_log)
    with pytest.raises(LockHeldError) as refused:
        run_gameday(INVENTORY_PATH, [SHUT_AND_BACK], options(tmp_path / "reports", "second"),
                    say=lambda _m: None, parts=world.parts())
    assert refused.value.exit_code == 3
    assert f"in use by run r-live (pid {os.getpid()} on host" in str(refused.value)
    assert not (tmp_path / "reports" / "second").exists()
    assert len(world.router.device.config_log) == sent
    live.release(clean=True)


def test_the_same_reports_directory_is_one_run_at_a_time(tmp_path: Path) -> None:
    world = World()
    live = acquire([reports_key(tmp_path / "reports")], new_record("r-live", None))
    with pytest.raises(LockHeldError, match=r"reports .* is in use by run r-live"):
        run_gameday(INVENTORY_PATH, [SHUT_AND_BACK], options(tmp_path / "reports", "second"),
                    say=lambda _m: None, parts=world.parts())
    live.release(clean=True)


def test_a_killed_run_in_another_reports_directory_is_recovered_first(tmp_path: Path) -> None:
    world = World()
    killed = tmp_path / "elsewhere" / "killed"
    killed_run(killed, world, locks=False)  # found through the per-user index only
    said: list[str] = []
    result = run_gameday(INVENTORY_PATH, [SHUT_AND_BACK], options(tmp_path / "reports", "next"),
                         say=said.append, parts=world.parts())
    assert result.exit_code == 0, result.message
    assert read_journal(killed / "journal.jsonl").finished
    assert any(str(killed) in m and "did not finish" in m for m in said)
    assert world.router.established()[T1]
    assert state_index.registered() == []  # both journals closed: both deregistered
    assert acquire(KEYS, new_record("after", None)).stale == []  # clean release


def test_recover_refuses_a_journal_whose_run_is_alive(tmp_path: Path) -> None:
    world = World()
    run_dir = tmp_path / "live"
    with Journal(run_dir) as journal:
        journal.open(INVENTORY_PATH, "r-live")
        journal.done(journal.intent("edge1", "shut_interface", "Tunnel1"))
        with pytest.raises(JournalBusyError, match=r"being written by run r-live \(pid "):
            recover(run_dir, lambda _m: None, parts=world.parts())
    assert read_journal(run_dir / "journal.jsonl").outstanding  # untouched


def test_recover_refuses_while_another_run_holds_the_devices(tmp_path: Path) -> None:
    world = World()
    killed = tmp_path / "killed"
    killed_run(killed, world, locks=False)
    live = acquire(KEYS, new_record("r-live", tmp_path / "r-live"))
    with pytest.raises(LockHeldError, match="in use by run r-live"):
        recover(killed, lambda _m: None, parts=world.parts())
    live.release(clean=True)
    assert recover(killed, lambda _m: None, parts=world.parts()) == []
    assert world.router.established()[T1]
    assert state_index.registered() == []
