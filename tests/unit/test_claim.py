"""Claiming a run's targets: locks first, then every leftover on those targets recovered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from failover_harness import state_index
from failover_harness.errors import InfrastructureError
from failover_harness.journal import Journal, read_journal
from failover_harness.locks import LockHeldError, acquire, new_record
from failover_harness.orchestrator.claim import claim

EDGE1 = ["device 10.20.0.1:22", "gateway https://management.azure.com/gw"]
EDGE9 = ["device 10.90.0.1:22", "gateway https://management.azure.com/other"]


def killed_run(run_dir: Path, keys: list[str], *, locked: bool = True) -> Journal:
    """A run that shut Tunnel1 and died: journal open, registered, its locks left on record."""
    journal = Journal(run_dir)
    journal.open(run_dir / "inv.yaml", run_dir.name, locks=keys)
    journal.done(journal.intent("edge1", "shut_interface", "Tunnel1"))
    state_index.register(run_dir, run_dir.name, None, keys)
    if locked:
        acquire(keys, new_record(run_dir.name, run_dir)).release(clean=False)
    return journal


def recover_all(recovered: list[Path]) -> Callable[[Path], list[str]]:
    def recover(run_dir: Path) -> list[str]:
        recovered.append(run_dir)
        with Journal(run_dir) as journal:
            journal.undo_outstanding(lambda undo: None)
        state_index.deregister(run_dir)
        return []
    return recover


def test_a_killed_runs_targets_are_recovered_before_the_next_run_takes_them(tmp_path: Path) -> None:
    killed_run(tmp_path / "elsewhere" / "r1", EDGE1).release()
    killed_run(tmp_path / "third" / "r9", EDGE9, locked=False).release()
    recovered: list[Path] = []
    notes: list[str] = []
    locks = claim([*EDGE1, f"reports {tmp_path / 'reports'}"], "r2", tmp_path / "reports" / "r2",
                  notes.append, recover_all(recovered), tmp_path / "reports")
    assert recovered == [tmp_path / "elsewhere" / "r1"]
    assert read_journal(tmp_path / "elsewhere" / "r1" / "journal.jsonl").finished
    assert any("r9" in n and "other targets" in n for n in notes)  # named, not touched
    assert not read_journal(tmp_path / "third" / "r9" / "journal.jsonl").finished
    locks.release(clean=True)
    assert acquire(EDGE1, new_record("r3", None)).stale == []  # settled


def test_an_unlocked_leftover_found_only_through_the_index_is_recovered(tmp_path: Path) -> None:
    killed_run(tmp_path / "old" / "r1", EDGE1, locked=False).release()
    recovered: list[Path] = []
    claim(EDGE1, "r2", None, print, recover_all(recovered)).release(clean=True)
    assert recovered == [tmp_path / "old" / "r1"]


def test_a_live_journal_is_never_recovered_under_its_writer(tmp_path: Path) -> None:
    live = killed_run(tmp_path / "reports" / "r1", EDGE9, locked=False)  # still writing
    recovered: list[Path] = []
    with pytest.raises(LockHeldError, match=r"being written by run r1 \(pid "):
        claim(EDGE1, "r2", None, print, recover_all(recovered), tmp_path / "reports")
    assert recovered == []
    live.release()


def test_a_failed_recovery_keeps_the_stale_holder_on_record(tmp_path: Path) -> None:
    killed_run(tmp_path / "r1", EDGE1).release()
    with pytest.raises(InfrastructureError, match=r"could not recover .*r1: edge1 Tunnel1: down"):
        claim(EDGE1, "r2", None, print, lambda run_dir: ["edge1 Tunnel1: down"])
    again = acquire(EDGE1, new_record("r3", None))
    assert "r1" in {s.run_id for s in again.stale}
    again.release(clean=True)
