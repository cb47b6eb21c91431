"""The journal folded record by record in file order, into what is left changed per target
(the rules are in the package docstring)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from failover_harness.journal.records import Change, Holder, JournalState


@dataclass
class _Target:
    last: Change  # the last intent on this target
    acknowledged: bool = False  # "done" of `last` (or "undone" of it, when it is a shut)
    last_shut: Change | None = None
    shut_seq: int = -1  # file position of last_shut, for newest-first ordering
    unacked_shut_ids: list[int] = field(default_factory=list)  # shuts no "undone" names yet

    @property
    def left_changed(self) -> bool:
        if self.last_shut is None:
            return False  # only restores were ever sent: nothing of ours to undo
        return not (self.last.is_restore and self.acknowledged)


class Replay:
    """The journal folded record by record, in file order."""

    def __init__(self) -> None:
        self.inventory: str | None = None
        self.run_id: str | None = None
        self.holder: Holder | None = None
        self.closed = False
        self.next_id = 0
        self.skipped = 0
        self.seq = 0
        self.by_id: dict[int, Change] = {}  # the latest intent with each id (old files reuse ids)
        self.targets: dict[tuple[str, str, str], _Target] = {}

    def feed_line(self, line: bytes) -> None:
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            record = None
        if not isinstance(record, dict) or not self.feed(record):
            self.skipped += 1

    def feed(self, rec: dict[str, object]) -> bool:
        """Apply one record; False when it is not a valid record."""
        self.seq += 1
        op = rec.get("op")
        try:
            if op == "open":
                self.inventory = _str_or_none(rec.get("inventory"))
                self.run_id = _str_or_none(rec.get("run_id"))
                self.holder = Holder.model_validate({**rec, "by": "run"})
            elif op == "resume":
                self.holder = Holder.model_validate({**rec, "by": str(rec.get("by", "recover"))})
            elif op == "intent":
                self._intent(Change.model_validate(rec))
            elif op in ("done", "undone"):
                self._ack(int(str(rec["id"])), undone=op == "undone")
            elif op == "closed":
                self.closed = True
        except (ValidationError, KeyError, ValueError):
            return False
        return True

    def _intent(self, change: Change) -> None:
        self.next_id = max(self.next_id, change.id + 1)
        self.by_id[change.id] = change
        self.closed = False
        target = self.targets.get(change.target_key)
        if target is None:
            target = self.targets[change.target_key] = _Target(last=change)
        target.last, target.acknowledged = change, False
        if not change.is_restore:
            target.last_shut, target.shut_seq = change, self.seq
            target.unacked_shut_ids.append(change.id)

    def _ack(self, change_id: int, *, undone: bool) -> None:
        change = self.by_id.get(change_id)
        if change is None:
            return
        target = self.targets[change.target_key]
        if undone and change.id in target.unacked_shut_ids:
            target.unacked_shut_ids.remove(change.id)
        if target.last is not change:
            return  # a later intent on this target decides, not this late acknowledgement
        if not undone:
            target.acknowledged = True
        elif not change.is_restore:
            # An old-style reader's "undone" of the last shut: its undo reached the device.
            target.acknowledged = True
            target.last = change.model_copy(update={"action": change.undo_action})

    def outstanding(self) -> list[Change]:
        left = [t for t in self.targets.values() if t.left_changed]
        left.sort(key=lambda t: t.shut_seq, reverse=True)
        return [t.last_shut for t in left if t.last_shut is not None]

    def state(self) -> JournalState:
        return JournalState(inventory=self.inventory, run_id=self.run_id,
                            outstanding=self.outstanding(), closed=self.closed,
                            next_id=self.next_id, holder=self.holder,
                            skipped_lines=self.skipped)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def replay(data: bytes) -> Replay:
    folded = Replay()
    for line in data.splitlines():
        if line.strip():
            folded.feed_line(line)
    return folded


def read_journal(path: Path) -> JournalState:
    return replay(path.read_bytes()).state()
