"""`recover`: undo what an unfinished run's journal says was changed, through the same
DeviceChanger a run uses (journal first, then the command, then the events).

It continues the journal (never a new one): its writes take the next ids, and whatever it
is killed at, the next `recover` still finds the target left changed. It refuses a journal
whose writer is alive (JournalBusyError, exit 3), and takes the devices' locks as a run
does, so it never undoes under a live run on the same targets. On a full or read-only disk
it still restores, then says what it could not record (RecordWriteError, exit 3).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from failover_harness import state_index
from failover_harness.errors import InputError
from failover_harness.inventory import Inventory, load_inventory
from failover_harness.journal import JOURNAL_NAME, Journal, JournalState, read_journal
from failover_harness.locks import RunLocks, device_keys
from failover_harness.orchestrator.changes import DeviceChanger
from failover_harness.orchestrator.claim import claim
from failover_harness.orchestrator.failsafe import FailsafeTimeline, RecordWriteError, os_reason
from failover_harness.orchestrator.parts import Parts

Say = Callable[[str], None]


def azure_actions(journal_path: Path) -> list[dict[str, object]]:
    """The journal's Azure resets (op azure_action), oldest first."""
    out = []
    for line in journal_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn write
        if isinstance(record, dict) and record.get("op") == "azure_action":
            out.append(record)
    return out


def recover(run_dir: Path, say: Say, inventory_path: Path | None = None,
            parts: Parts | None = None, *, locks_held: bool = False) -> list[str]:
    """Undo what an unfinished run's journal says was changed. Returns what could not be
    restored (empty: everything was); raises RecordWriteError after restoring when the
    journal or timeline could not be written.
    `locks_held`: the caller (a run) already holds the locks of these devices."""
    parts = parts or Parts()
    journal_path = run_dir / JOURNAL_NAME
    if not journal_path.is_file():
        raise InputError("no journal here (expected a run directory)", file=str(journal_path))
    unwritable: list[str] = []
    journal: Journal | None = None
    try:
        journal = Journal(run_dir)  # JournalBusyError while its run (or another recover) lives
    except OSError as exc:  # a read-only disk: it can still be read, and the devices restored
        unwritable.append(f"journal: {os_reason(exc)}")
    try:
        state = journal.state() if journal is not None else read_journal(journal_path)
        if state.finished:
            state_index.deregister(run_dir)
            say(f"{run_dir}: nothing to recover (its journal is closed)")
            return []
        for reset in azure_actions(journal_path):
            # Nothing undoes a reset: it ends by itself. Say so; the operator verifies.
            say(f"recover: {reset.get('action')} {reset.get('target')} at {reset.get('at')} "
                "cannot be undone (it ends by itself): verify with `failover-harness check`")
        inv_path = inventory_path or (Path(state.inventory) if state.inventory else None)
        if inv_path is None:
            raise InputError("the journal names no inventory; pass one with -i",
                             file=str(journal_path))
        inventory = load_inventory(inv_path)
        locks: RunLocks | None = None
        if not locks_held:
            locks = claim(device_keys(inventory), f"recover of {state.run_id or run_dir.name}",
                          run_dir, say, lambda old: recover(old, say, parts=parts, locks_held=True))
        problems, closed = ["not started"], False
        try:
            if journal is not None:
                try:
                    journal.resume()
                except OSError as exc:
                    unwritable.append(f"journal: {os_reason(exc)}")
            problems, closed = _undo(journal, state, inventory, run_dir, say, parts, unwritable)
            if closed:
                state_index.deregister(run_dir)
        finally:
            if locks is not None:
                locks.release(clean=closed)  # not closed: the next taker recovers it again
    finally:
        if journal is not None:
            journal.release()
    if not state.outstanding:
        say(f"{run_dir}: nothing was left changed" + ("; journal closed" if closed else ""))
    if not problems and (unwritable or not closed):
        restored = ", ".join(f"{c.device} {c.target}" for c in state.outstanding) or "nothing"
        raise RecordWriteError(
            f"restored {restored}, but {run_dir} could not be written ("
            + "; ".join(dict.fromkeys(unwritable or ["journal not closed"]))
            + f"): run `failover-harness recover {run_dir}` again once the disk has room, "
            "to close its journal")
    return problems


def _undo(journal: Journal | None, state: JournalState, inventory: Inventory, run_dir: Path,
          say: Say, parts: Parts, unwritable: list[str]) -> tuple[list[str], bool]:
    """(what could not be restored, whether the journal is closed); what could not be
    written is added to `unwritable`."""
    timeline = FailsafeTimeline(run_dir / "timeline.jsonl", parts.clock())
    changer = DeviceChanger(inventory, journal, timeline,
                            lambda name: parts.device(inventory, name),
                            event_data={"recovered": True}, sleep=parts.sleep, say=say)
    if journal is None:
        changer.adopt(state.outstanding)
    closed = False
    try:
        problems = changer.restore_outstanding(
            on_restore=lambda change: say(f"recover: {change}"))
        if not problems and journal is not None:
            try:
                closed = journal.close()
            except OSError as exc:
                unwritable.append(f"journal: {os_reason(exc)}")
    finally:
        changer.close()
        timeline.close()
    unwritable += changer.write_problems
    if timeline.write_error:
        unwritable.append(timeline.write_error)
    return problems, closed
