"""`recover`: undo what an unfinished run's journal says was changed, through the same
DeviceChanger a run uses (journal first, then the command, then the events)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from failover_harness.errors import InputError
from failover_harness.inventory import load_inventory
from failover_harness.journal import Journal, read_journal
from failover_harness.orchestrator.changes import DeviceChanger
from failover_harness.orchestrator.parts import Parts
from failover_harness.timeline import Timeline

Say = Callable[[str], None]


def recover(run_dir: Path, say: Say, inventory_path: Path | None = None,
            parts: Parts | None = None) -> list[str]:
    """Undo what an unfinished run's journal says was changed. Returns problems (empty: done)."""
    parts = parts or Parts()
    journal_path = run_dir / "journal.jsonl"
    if not journal_path.is_file():
        raise InputError("no journal here (expected a run directory)", file=str(journal_path))
    state = read_journal(journal_path)
    if state.finished:
        say(f"{run_dir}: nothing to recover")
        return []
    inv_path = inventory_path or (Path(state.inventory) if state.inventory else None)
    if inv_path is None:
        raise InputError("the journal names no inventory; pass one with -i",
                         file=str(journal_path))
    inventory = load_inventory(inv_path)
    journal = Journal(run_dir)  # JournalBusyError when its run (or a recover) is alive
    journal.resume("recover")
    timeline = Timeline(run_dir / "timeline.jsonl", parts.clock())
    changer = DeviceChanger(inventory, journal, timeline,
                            lambda name: parts.device(inventory, name),
                            event_data={"recovered": True}, sleep=parts.sleep)
    changer.adopt(state.outstanding)
    try:
        problems = changer.restore_outstanding(
            on_restore=lambda change: say(f"recover: {change}"))
        if not problems:
            journal.close()
    finally:
        changer.close()
        timeline.close()
        journal.release()
    return problems
