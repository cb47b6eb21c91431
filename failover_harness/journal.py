"""The change journal: every change to a device is written (and fsynced) before it is made,
so that after SIGKILL or power loss `failover-harness recover RUN_DIR` (or the next `run`)
can undo what the journal says was changed.

journal.jsonl is one JSON object a line, appended only, by one writer at a time (the writer
holds an exclusive flock on the file for its life, so a live run's journal is never
recovered under it):
  {"op": "open", "inventory": PATH, "run_id": R, "pid": P, "host": H, "since": ISO}
                                    a run starts (pid/host/since: who writes from here on)
  {"op": "resume", "by": "recover", "pid": P, "host": H, "since": ISO}
                                    a recovery continues the journal
  {"op": "intent", "id": N, "device": NAME, "action": "shut_interface", "target": "Tunnel1"}
                                    a change is about to be sent to the device
  {"op": "done", "id": N}           the device acknowledged intent N
  {"op": "undone", "id": N}         the undo of intent N was acknowledged (written after a
                                    restore's "done", for readers that match undos by id)
  {"op": "azure_action", "action": "reset_azure_instance", "target": "instance0", "vip": V,
   "at": ISO}                       an Azure reset was requested: nothing undoes it (it ends
                                    by itself); recover reports it for the operator to verify
  {"op": "closed"}                  nothing is outstanding (only ever written then)
Ids are unique over the whole life of the file: every writer continues after the highest id
already in it. Unknown ops are ignored; so is an unparseable line (a write torn by a crash;
a new writer first ends such a line, so its own records start on a line of their own).

What is outstanding is decided per target (device + interface or neighbor), from the whole
history in file order, not by id: a target is left changed when it was ever shut and its
last intent is not an acknowledged restore. A shut intent counts whether or not "done"
followed (the command may have reached the device before the crash), and so does a restore
intent without "done" (it may not have). Every undo is safe to repeat.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

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


class _Replay:
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


def _replay(data: bytes) -> _Replay:
    replay = _Replay()
    for line in data.splitlines():
        if line.strip():
            replay.feed_line(line)
    return replay


def read_journal(path: Path) -> JournalState:
    return _replay(path.read_bytes()).state()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _me() -> dict[str, object]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}


class Journal:
    """The one writer of a run directory's journal. Holds an exclusive flock on the file from
    construction until `release()` (or the process's end, however it ends); a second writer
    gets JournalBusyError naming the holder."""

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / JOURNAL_NAME
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            _flock_briefly_contended(fd)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise InfrastructureError(f"{self.path}: cannot lock the journal: {exc}") from exc
            holder = read_journal(self.path).holder
            raise JournalBusyError(
                f"{self.path} is being written by "
                f"{holder.describe() if holder else 'another process'}: it restores its own "
                "changes; stop it (SIGTERM) instead of recovering under it") from None
        self._fd: int | None = fd
        self._lock = threading.Lock()
        data = self.path.read_bytes()
        self._replay = _replay(data)
        if created:
            _fsync_dir(run_dir)  # the file itself must survive a power loss, not only its data
        if data and not data.endswith(b"\n"):
            self._append(b"\n")  # end a torn last line: our records must not extend it

    # --- writing ---

    def _append(self, data: bytes) -> None:
        """One write and an fsync: a crash leaves a prefix of `data`, never an interleaving."""
        if self._fd is None:
            raise InfrastructureError(f"{self.path}: journal already released")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        os.fsync(self._fd)

    def _write(self, *records: dict[str, object]) -> None:
        self._append(b"".join(json.dumps(r).encode() + b"\n" for r in records))
        for r in records:
            self._replay.feed(r)

    def open(self, inventory: Path, run_id: str, **extra: object) -> None:
        with self._lock:
            self._write({"op": "open", "inventory": str(inventory.resolve()), "run_id": run_id,
                         **_me(), **extra})

    def resume(self, by: str = "recover") -> None:
        with self._lock:
            self._write({"op": "resume", "by": by, **_me()})

    def intent(self, device: str, action: ChangeAction, target: str) -> Change:
        with self._lock:
            change = Change(id=self._replay.next_id, device=device, action=action, target=target)
            self._write({"op": "intent", **change.model_dump()})
        return change

    def done(self, change: Change) -> None:
        """The device acknowledged `change`. A restore also marks the shuts it undoes as
        undone, and itself (it needs no undo), for readers that match undos by id."""
        with self._lock:
            records: list[dict[str, object]] = [{"op": "done", "id": change.id}]
            if change.is_restore:
                target = self._replay.targets.get(change.target_key)
                shut_ids = list(target.unacked_shut_ids) if target else []
                records += [{"op": "undone", "id": i} for i in shut_ids]
                records.append({"op": "undone", "id": change.id})
            self._write(*records)

    def azure_action(self, action: str, target: str, **detail: object) -> None:
        """An Azure fault (a reset) about to be requested. Nothing undoes it (it ends by
        itself), so readers that undo changes skip it; `recover` reports it."""
        with self._lock:
            self._write({"op": "azure_action", "action": action, "target": target,
                         "at": datetime.now(UTC).isoformat(timespec="seconds"), **detail})

    def undone(self, change: Change) -> None:
        with self._lock:
            self._write({"op": "undone", "id": change.id})

    def close(self) -> bool:
        """Write "closed" if nothing is outstanding (once); False, nothing written, otherwise."""
        with self._lock:
            if self._replay.outstanding():
                return False
            if not self._replay.closed:
                self._write({"op": "closed"})
            return True

    def release(self) -> None:
        """Stop writing: unlock the file (a later recover may take it over)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __del__(self) -> None:  # a writer dropped without release() still unlocks
        fd = getattr(self, "_fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()

    # --- reading what this writer knows ---

    def outstanding(self) -> list[Change]:
        with self._lock:
            return self._replay.outstanding()

    def state(self) -> JournalState:
        with self._lock:
            return self._replay.state()

    def undo_outstanding(self, apply: Callable[[Change], None]) -> list[str]:
        """Undo every target left changed, newest first: intent, `apply(undo)` (which raises
        InfrastructureError when the device refuses), done. Closes the journal when nothing
        is left; returns what could not be undone."""
        problems = []
        for change in self.outstanding():
            undo = self.intent(change.device, change.undo_action, change.target)
            try:
                apply(undo)
            except InfrastructureError as exc:
                problems.append(f"{change.device} {change.target}: {exc}")
                continue
            self.done(undo)
        if not problems:
            self.close()
        return problems


def _flock_briefly_contended(fd: int) -> None:
    """LOCK_EX, waiting out a reader's momentary probe (journal_holder) but not a writer."""
    for attempt in range(5):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if attempt == 4:
                raise
            time.sleep(0.05)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def journal_holder(run_dir: Path) -> Holder | None:
    """The live writer of a run directory's journal, or None when nobody writes it."""
    path = run_dir / JOURNAL_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_journal(path).holder or Holder(by="unknown")
    finally:
        os.close(fd)
    return None


def unfinished_journals(reports_root: Path) -> list[Path]:
    """Run directories whose journal was never closed (the run was killed), alive or not."""
    if not reports_root.is_dir():
        return []
    found = []
    for journal in sorted(reports_root.glob(f"*/{JOURNAL_NAME}")):
        if not read_journal(journal).finished:
            found.append(journal.parent)
    return found
