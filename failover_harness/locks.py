"""One run per target: exclusive locks on what a run changes, held for the whole run.

A lock is an flock on a file under `<state dir>/locks/` (state_index.state_dir), one per key:
every device (`device HOST:PORT`: a router, with every tunnel on it), the Azure gateway
(`gateway ARM-URL/subscriptions/.../virtualNetworkGateways/NAME`), and the reports directory
(`reports PATH`). The kernel drops an flock when its process ends however it ends, so a held
lock always means a live holder; the file's content says who (pid, host, run id, since,
run directory) for the refusal message.

Content is left in place when a run ends without closing its journal (killed, or its
restore failed): the next taker finds the lock free but not empty, a stale holder, and must
recover that holder's journal before it changes anything (`RunLocks.stale`, then
`settle()`). Until it settles, its own record carries the stale ones, so a taker killed
while recovering hands them on.

Locks are per user (the state directory is); two users driving one router are not stopped.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import socket
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from failover_harness.errors import InfrastructureError
from failover_harness.inventory import Inventory
from failover_harness.state_index import state_dir

PUBLIC_ARM = "https://management.azure.com"


class LockHeldError(InfrastructureError):
    """Another live run holds a lock this run needs (exit 3); the message names it."""


class LockRecord(BaseModel):
    key: str = ""
    pid: int
    host: str
    run_id: str
    since: str
    run_dir: str | None = None

    def describe(self) -> str:
        where = f", reports in {self.run_dir}" if self.run_dir else ""
        return f"run {self.run_id} (pid {self.pid} on host {self.host}, since {self.since}{where})"


class _Content(BaseModel):
    holder: LockRecord | None = None
    stale: list[LockRecord] = []  # earlier holders whose journals are not known recovered


def new_record(run_id: str, run_dir: Path | None) -> LockRecord:
    return LockRecord(pid=os.getpid(), host=socket.gethostname(), run_id=run_id,
                      since=datetime.now(UTC).isoformat(timespec="seconds"),
                      run_dir=str(run_dir.resolve()) if run_dir else None)


def device_keys(inventory: Inventory) -> list[str]:
    """What a run against this inventory changes: its devices and its Azure gateway."""
    keys = [f"device {dev.host.lower()}:{dev.port}" for dev in inventory.devices.values()]
    az = inventory.azure
    arm = (az.base_url or PUBLIC_ARM).rstrip("/")
    keys.append(f"gateway {arm}/subscriptions/{az.subscription_id}/resourceGroups/"
                f"{az.resource_group}/providers/Microsoft.Network/virtualNetworkGateways/"
                f"{az.gateway}".lower())  # Azure resource ids are case-insensitive
    return sorted(set(keys))


def reports_key(reports_root: Path) -> str:
    return f"reports {reports_root.resolve()}"


def _lock_path(key: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[:80]
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return state_dir() / "locks" / f"{slug}-{digest}.lock"


def _read(fd: int) -> _Content:
    raw = os.pread(fd, 1 << 20, 0)
    if not raw.strip():
        return _Content()
    try:
        return _Content.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return _Content()  # torn by a crash mid-write: nobody recorded as needing recovery


def _write(fd: int, content: _Content) -> None:
    data = content.model_dump_json().encode() if content.holder or content.stale else b""
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


class RunLocks:
    """The locks of one run. `stale`: earlier holders that ended without closing their
    journal; recover each, then `settle()`."""

    def __init__(self, fds: dict[str, int], record: LockRecord, stale: list[LockRecord]) -> None:
        self._fds = fds
        self.record = record
        self.stale = stale
        self.keys = sorted(fds)

    def settle(self) -> None:
        """The stale holders' journals are recovered: forget them."""
        self.stale = []
        for key, fd in self._fds.items():
            _write(fd, _Content(holder=self.record.model_copy(update={"key": key})))

    def release(self, *, clean: bool) -> None:
        """Unlock. `clean`: this run's journal is closed; otherwise the record stays, and
        the next taker recovers this run first."""
        for fd in self._fds.values():
            try:
                if clean:
                    _write(fd, _Content())
            finally:
                os.close(fd)
        self._fds = {}


def acquire(keys: list[str], record: LockRecord) -> RunLocks:
    """Take every lock or none: LockHeldError names the live holder of the first one held."""
    fds: dict[str, int] = {}
    stale: list[LockRecord] = []
    try:
        for key in sorted(set(keys)):
            path = _lock_path(key)
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                held = _read(fd).holder
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise InfrastructureError(f"cannot lock {path}: {exc}") from exc
                who = held.describe() if held else "another process"
                raise LockHeldError(f"{key} is in use by {who}: one run per target; wait "
                                    "for it to end (or stop it with SIGTERM: it restores "
                                    "what it changed)") from None
            fds[key] = fd
            found = _read(fd)
            for old in ([found.holder] if found.holder else []) + found.stale:
                if all((s.pid, s.host, s.run_id) != (old.pid, old.host, old.run_id)
                       for s in stale):
                    stale.append(old)
    except BaseException:
        for fd in fds.values():
            os.close(fd)  # content untouched: the stale holders stay recorded
        raise
    for key, fd in fds.items():
        _write(fd, _Content(holder=record.model_copy(update={"key": key}), stale=stale))
    return RunLocks(fds, record, stale)
