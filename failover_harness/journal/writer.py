"""The journal's one writer (`Journal`): an exclusive flock for its life, every record
appended in one write and fsynced before the change it announces is made."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from failover_harness.errors import InfrastructureError
from failover_harness.journal.records import JOURNAL_NAME, Change, JournalBusyError, JournalState
from failover_harness.journal.replay import read_journal, replay
from failover_harness.vocabulary import ChangeAction


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
        self._replay = replay(data)
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
