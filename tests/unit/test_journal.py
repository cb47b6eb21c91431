"""The change journal: what a killed run (or a killed recovery) left changed, as the next
recovery reads it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from failover_harness.errors import DeviceError
from failover_harness.journal import (
    Change,
    Journal,
    JournalBusyError,
    journal_holder,
    read_journal,
    unfinished_journals,
)


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")
            and line.endswith("}")]


def test_a_shut_without_undo_is_outstanding_even_before_the_device_answered(tmp_path: Path) -> None:
    with Journal(tmp_path / "run") as journal:
        journal.open(tmp_path / "inv.yaml", "run")
        journal.intent("edge1", "shut_interface", "Tunnel1")  # killed before "done"
    state = read_journal(journal.path)
    assert not state.closed
    assert [(c.device, c.undo_action, c.target) for c in state.outstanding] == [
        ("edge1", "no_shut_interface", "Tunnel1")]
    assert state.inventory == str((tmp_path / "inv.yaml").resolve())
    assert state.holder is not None and state.holder.pid == os.getpid()
    assert state.holder.run_id == "run"
    assert unfinished_journals(tmp_path) == [tmp_path / "run"]


def test_undone_changes_and_restores_leave_nothing_outstanding(tmp_path: Path) -> None:
    with Journal(tmp_path / "run") as journal:
        journal.open(tmp_path / "inv.yaml", "run")
        shut = journal.intent("edge1", "shut_interface", "Tunnel1")
        journal.done(shut)
        neighbor = journal.intent("edge1", "shut_neighbor", "169.254.21.5")
        journal.done(neighbor)
        restore = journal.intent("edge1", "no_shut_interface", "Tunnel1")
        journal.done(restore)
        assert [c.target for c in read_journal(journal.path).outstanding] == ["169.254.21.5"]
        assert not journal.close(), "closed must not be written while something is outstanding"
        assert not read_journal(journal.path).closed
        journal.done(journal.intent("edge1", "no_shut_neighbor", "169.254.21.5"))
        assert journal.close()
    state = read_journal(journal.path)
    assert state.closed and not state.outstanding
    assert unfinished_journals(tmp_path) == []


def test_a_restore_also_writes_undone_for_readers_that_match_by_id(tmp_path: Path) -> None:
    with Journal(tmp_path / "run") as journal:
        shut = journal.intent("edge1", "shut_interface", "Tunnel1")
        journal.done(shut)
        restore = journal.intent("edge1", "no_shut_interface", "Tunnel1")
        journal.done(restore)
    assert records(journal.path)[-3:] == [{"op": "done", "id": restore.id},
                                          {"op": "undone", "id": shut.id},
                                          {"op": "undone", "id": restore.id}]


def test_a_torn_last_line_is_skipped_and_the_next_writer_starts_a_new_line(tmp_path: Path) -> None:
    with Journal(tmp_path / "run") as journal:
        journal.intent("edge1", "shut_interface", "Tunnel1")
    with journal.path.open("a") as f:
        f.write('{"op": "undo')  # power went out mid-write
    state = read_journal(journal.path)
    assert [c.target for c in state.outstanding] == ["Tunnel1"] and state.skipped_lines == 1
    with Journal(tmp_path / "run") as again:
        again.done(again.intent("edge1", "no_shut_interface", "Tunnel1"))
    lines = journal.path.read_text().splitlines()
    assert lines[1] == '{"op": "undo' and json.loads(lines[2])["id"] == 1
    assert not read_journal(journal.path).outstanding


def test_outstanding_changes_are_undone_newest_first(tmp_path: Path) -> None:
    with Journal(tmp_path / "run") as journal:
        for target in ("Tunnel1", "Tunnel2"):
            journal.intent("edge1", "shut_interface", target)
    assert [c.target for c in read_journal(journal.path).outstanding] == ["Tunnel2", "Tunnel1"]


def test_ids_continue_over_the_life_of_the_run_directory(tmp_path: Path) -> None:
    with Journal(tmp_path / "run") as run:
        run.open(tmp_path / "inv.yaml", "run")
        run.done(run.intent("edge1", "shut_interface", "Tunnel1"))
    for _ in range(2):  # two recoveries, the first one dies after its intent
        with Journal(tmp_path / "run") as recovery:
            recovery.resume()
            recovery.intent("edge1", "no_shut_interface", "Tunnel1")
    ids = [r["id"] for r in records(run.path) if r["op"] == "intent"]
    assert ids == [0, 1, 2]
    assert [c.id for c in read_journal(run.path).outstanding] == [0]


def test_a_journal_written_by_the_old_recover_with_a_reused_id_still_needs_the_undo(
        tmp_path: Path) -> None:
    """Issue 10's bug as the old code wrote it: recover's no_shut took id 0 again and was
    killed before the device answered."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "journal.jsonl").write_text(
        '{"op": "open", "inventory": "/x/inv.yaml", "run_id": "r1"}\n'
        '{"op": "intent", "id": 0, "device": "edge1", "action": "shut_interface", "target": "Tunnel1"}\n'
        '{"op": "done", "id": 0}\n'
        '{"op": "intent", "id": 0, "device": "edge1", "action": "no_shut_interface", "target": "Tunnel1"}\n')
    state = read_journal(run_dir / "journal.jsonl")
    assert [(c.device, c.target, c.undo_action) for c in state.outstanding] == [
        ("edge1", "Tunnel1", "no_shut_interface")]
    assert state.next_id == 1


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    with Journal(tmp_path / "run") as run:
        run.open(tmp_path / "inv.yaml", "r-live")
        holder = journal_holder(tmp_path / "run")
        assert holder is not None and holder.run_id == "r-live" and holder.pid == os.getpid()
        with pytest.raises(JournalBusyError, match=rf"run r-live \(pid {os.getpid()} on host "):
            Journal(tmp_path / "run")
    assert journal_holder(tmp_path / "run") is None
    Journal(tmp_path / "run").release()


def test_undo_outstanding_keeps_what_the_device_refused_and_does_not_close(tmp_path: Path) -> None:
    with Journal(tmp_path / "run") as run:
        run.done(run.intent("edge1", "shut_interface", "Tunnel1"))
        run.done(run.intent("edge1", "shut_neighbor", "169.254.21.5"))

    def refuse_tunnel1(undo: Change) -> None:
        if undo.target == "Tunnel1":
            raise DeviceError("timed out")

    with Journal(tmp_path / "run") as recovery:
        problems = recovery.undo_outstanding(refuse_tunnel1)
    assert problems == ["edge1 Tunnel1: timed out"]
    state = read_journal(run.path)
    assert [c.target for c in state.outstanding] == ["Tunnel1"] and not state.closed


RECOVER_THAT_HANGS_IN_THE_DEVICE = """
import sys, time
from pathlib import Path
from failover_harness.journal import Journal
journal = Journal(Path(sys.argv[1]))
journal.resume()
journal.undo_outstanding(lambda undo: time.sleep(60))  # the router never answers
"""


def test_sigkill_of_recover_right_after_its_intent_then_recover_again_restores(
        tmp_path: Path) -> None:
    """Issue 10's bug end to end: a recovery SIGKILLed right after writing its no_shut
    intent; the next recovery must still undo the shut (and may take the journal over)."""
    run_dir = tmp_path / "run"
    with Journal(run_dir) as run:
        run.open(tmp_path / "inv.yaml", "r1")
        run.done(run.intent("edge1", "shut_interface", "Tunnel1"))
    proc = subprocess.Popen([sys.executable, "-c", RECOVER_THAT_HANGS_IN_THE_DEVICE, str(run_dir)])
    try:
        deadline = time.monotonic() + 30
        while not any(r.get("action") == "no_shut_interface" for r in records(run.path)):
            assert time.monotonic() < deadline and proc.poll() is None, "recover never wrote its intent"
            time.sleep(0.02)
        with pytest.raises(JournalBusyError, match=f"recover \\(pid {proc.pid} "):
            Journal(run_dir)  # refused while that recovery lives
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    applied: list[tuple[str, str, str]] = []
    with Journal(run_dir) as again:
        assert again.undo_outstanding(lambda u: applied.append((u.device, u.action, u.target))) == []
    assert applied == [("edge1", "no_shut_interface", "Tunnel1")]
    state = read_journal(run.path)
    assert state.finished
    ids = [r["id"] for r in records(run.path) if r["op"] == "intent"]
    assert len(ids) == len(set(ids)) == 3
