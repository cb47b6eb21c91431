"""The change journal: what a killed run left changed, as recovery reads it."""

from __future__ import annotations

from pathlib import Path

from failover_harness.journal import Journal, read_journal, unfinished_journals


def test_a_shut_without_undo_is_outstanding_even_before_the_device_answered(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "run")
    journal.open(tmp_path / "inv.yaml", "run")
    journal.intent("edge1", "shut_interface", "Tunnel1")  # killed before "done"
    state = read_journal(journal.path)
    assert not state.closed
    assert [(c.device, c.undo_action, c.target) for c in state.outstanding] == [
        ("edge1", "no_shut_interface", "Tunnel1")]
    assert state.inventory == str((tmp_path / "inv.yaml").resolve())
    assert unfinished_journals(tmp_path) == [tmp_path / "run"]


def test_undone_changes_and_restores_leave_nothing_outstanding(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "run")
    journal.open(tmp_path / "inv.yaml", "run")
    shut = journal.intent("edge1", "shut_interface", "Tunnel1")
    journal.done(shut)
    neighbor = journal.intent("edge1", "shut_neighbor", "169.254.21.5")
    journal.done(neighbor)
    restore = journal.intent("edge1", "no_shut_interface", "Tunnel1")
    journal.done(restore)
    journal.undone(shut)
    journal.undone(restore)
    state = read_journal(journal.path)
    assert [c.target for c in state.outstanding] == ["169.254.21.5"]
    journal.undone(neighbor)
    journal.close()
    state = read_journal(journal.path)
    assert state.closed and not state.outstanding
    assert unfinished_journals(tmp_path) == []


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "run")
    journal.intent("edge1", "shut_interface", "Tunnel1")
    with journal.path.open("a") as f:
        f.write('{"op": "undo')  # power went out mid-write
    assert [c.target for c in read_journal(journal.path).outstanding] == ["Tunnel1"]


def test_outstanding_changes_are_undone_newest_first(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "run")
    for target in ("Tunnel1", "Tunnel2"):
        journal.intent("edge1", "shut_interface", target)
    assert [c.target for c in read_journal(journal.path).outstanding] == ["Tunnel2", "Tunnel1"]
