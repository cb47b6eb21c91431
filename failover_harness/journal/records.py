"""What a journal holds: a device change (`Change`), who writes the journal (`Holder`), and
the state folded from it (`JournalState`)."""

from __future__ import annotations

from pydantic import BaseModel

from failover_harness.errors import InfrastructureError
from failover_harness.vocabulary import UNDO, ChangeAction

JOURNAL_NAME = "journal.jsonl"


class JournalBusyError(InfrastructureError):
    """Another live process writes this journal (a run still going, or a recovery)."""


class Change(BaseModel):
    id: int
    device: str
    action: ChangeAction
    target: str  # interface name or neighbor address

    @property
    def undo_action(self) -> ChangeAction:
        return UNDO[self.action]

    @property
    def is_restore(self) -> bool:
        return self.action.startswith("no_shut")

    @property
    def target_key(self) -> tuple[str, str, str]:
        kind = "interface" if self.action.endswith("interface") else "neighbor"
        return (self.device, kind, self.target)


class Holder(BaseModel):
    """Who writes (or last wrote) a journal."""

    by: str  # "run" or "recover"
    pid: int | None = None
    host: str | None = None
    since: str | None = None
    run_id: str | None = None

    def describe(self) -> str:
        what = f"run {self.run_id}" if self.by == "run" and self.run_id else self.by
        return f"{what} (pid {self.pid} on host {self.host}, since {self.since})"


class JournalState(BaseModel):
    inventory: str | None
    run_id: str | None
    outstanding: list[Change]  # the last shut of each target left changed, newest first
    closed: bool  # a "closed" record with no intent after it
    next_id: int  # the id the next intent takes
    holder: Holder | None  # the last open/resume record
    skipped_lines: int  # unparseable or invalid lines (torn writes)

    @property
    def finished(self) -> bool:
        return self.closed and not self.outstanding
