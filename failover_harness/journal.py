"""The change journal: every change to a device is written (and fsynced) before it is made,
so that after SIGKILL or power loss `failover-harness recover RUN_DIR` (or the next `run`)
can undo what the journal says was changed.

journal.jsonl lines:
  {"op": "open", "inventory": PATH, "run_id": ...}
  {"op": "intent", "id": N, "device": NAME, "action": "shut_interface", "target": "Tunnel1",
   "undo": {"action": "no_shut_interface", "device": NAME, "target": "Tunnel1"}}
  {"op": "done", "id": N}           the device acknowledged the change
  {"op": "undone", "id": N}         the undo was acknowledged
  {"op": "closed"}                  the run ended and nothing is left to undo
An intent without "undone" is outstanding whether or not "done" was written: the change may
have reached the device before the crash, and every undo is safe to repeat.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

JOURNAL_NAME = "journal.jsonl"
ChangeAction = Literal["shut_interface", "no_shut_interface", "shut_neighbor", "no_shut_neighbor"]

UNDO: dict[str, ChangeAction] = {
    "shut_interface": "no_shut_interface",
    "no_shut_interface": "shut_interface",
    "shut_neighbor": "no_shut_neighbor",
    "no_shut_neighbor": "shut_neighbor",
}


class Change(BaseModel):
    id: int
    device: str
    action: ChangeAction
    target: str  # interface name or neighbor address

    @property
    def undo_action(self) -> ChangeAction:
        return UNDO[self.action]


class Journal:
    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / JOURNAL_NAME
        self._lock = threading.Lock()
        self._next_id = 0
        run_dir.mkdir(parents=True, exist_ok=True)

    def _write(self, record: dict[str, object]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def open(self, inventory: Path, run_id: str) -> None:
        self._write({"op": "open", "inventory": str(inventory.resolve()), "run_id": run_id})

    def intent(self, device: str, action: ChangeAction, target: str) -> Change:
        with self._lock:
            change = Change(id=self._next_id, device=device, action=action, target=target)
            self._next_id += 1
        self._write({"op": "intent", **change.model_dump()})
        return change

    def done(self, change: Change) -> None:
        self._write({"op": "done", "id": change.id})

    def undone(self, change: Change) -> None:
        self._write({"op": "undone", "id": change.id})

    def close(self) -> None:
        self._write({"op": "closed"})


class JournalState(BaseModel):
    inventory: str | None
    run_id: str | None
    outstanding: list[Change]  # changes not undone, newest first (undo in this order)
    closed: bool


def read_journal(path: Path) -> JournalState:
    inventory = run_id = None
    changes: dict[int, Change] = {}
    closed = False
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line from a crash
        op = rec.get("op")
        if op == "open":
            inventory, run_id = rec.get("inventory"), rec.get("run_id")
        elif op == "intent":
            changes[rec["id"]] = Change.model_validate(rec)
        elif op == "undone":
            changes.pop(rec["id"], None)
        elif op == "closed":
            closed = True
    # An undo action that is itself a restore (no_shut) needs no undo of its own.
    outstanding = [c for c in changes.values() if c.action.startswith("shut")]
    outstanding.sort(key=lambda c: c.id, reverse=True)
    return JournalState(inventory=inventory, run_id=run_id, outstanding=outstanding, closed=closed)


def unfinished_journals(reports_root: Path) -> list[Path]:
    """Run directories whose journal was never closed (the run was killed)."""
    if not reports_root.is_dir():
        return []
    found = []
    for journal in sorted(reports_root.glob(f"*/{JOURNAL_NAME}")):
        if not read_journal(journal).closed:
            found.append(journal.parent)
    return found
