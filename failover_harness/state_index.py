"""The per-user state directory and its index of runs whose journal is not closed yet.

Every run registers its run directory here at start and deregisters when its journal is
closed, so an unfinished journal is found wherever its reports went, not only under one
reports root. One small JSON file per run (`runs/<hash>.json`): registering and
deregistering never rewrite a shared file.

The directory: $FAILOVER_HARNESS_STATE_DIR if set (tests), else /var/lib/failover-harness
for root, else $XDG_STATE_HOME/failover-harness (default ~/.local/state/failover-harness).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from failover_harness.errors import InfrastructureError
from failover_harness.journal import JOURNAL_NAME, read_journal

STATE_DIR_ENV = "FAILOVER_HARNESS_STATE_DIR"


def state_dir() -> Path:
    """The per-user state directory (created, mode 0700)."""
    if os.environ.get(STATE_DIR_ENV):
        path = Path(os.environ[STATE_DIR_ENV])
    elif os.geteuid() == 0:
        path = Path("/var/lib/failover-harness")
    else:
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        path = Path(base) / "failover-harness"
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise InfrastructureError(f"cannot create the state directory {path}: {exc} "
                                  f"(set {STATE_DIR_ENV} to a writable directory)") from exc
    return path


class RunEntry(BaseModel):
    run_dir: str
    run_id: str
    pid: int
    host: str
    since: str
    inventory: str | None = None
    locks: list[str] = []  # the lock keys the run held (see locks.py)


def _entry_path(run_dir: Path) -> Path:
    digest = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:20]
    return state_dir() / "runs" / f"{digest}.json"


def register(run_dir: Path, run_id: str, inventory: Path | None = None,
             locks: list[str] | None = None) -> RunEntry:
    entry = RunEntry(run_dir=str(run_dir.resolve()), run_id=run_id, pid=os.getpid(),
                     host=socket.gethostname(),
                     since=datetime.now(UTC).isoformat(timespec="seconds"),
                     inventory=str(inventory.resolve()) if inventory else None,
                     locks=locks or [])
    path = _entry_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(entry.model_dump_json())
    os.replace(tmp, path)  # a reader sees the old entry or the new one, never half
    return entry


def deregister(run_dir: Path) -> None:
    _entry_path(run_dir).unlink(missing_ok=True)


def registered() -> list[RunEntry]:
    """Every registered run, oldest first; entries that cannot be read are skipped."""
    runs_dir = state_dir() / "runs"
    entries = []
    for path in sorted(runs_dir.glob("*.json")) if runs_dir.is_dir() else []:
        try:
            entries.append(RunEntry.model_validate(json.loads(path.read_text())))
        except (OSError, ValueError, ValidationError):
            continue
    return sorted(entries, key=lambda e: e.since)


def unfinished() -> list[RunEntry]:
    """Registered runs whose journal is not closed, alive or not. An entry without a journal
    (its run directory was deleted; a run registers after creating its journal) or with a
    closed one (deregistering was cut short) is dropped."""
    left = []
    for entry in registered():
        journal = Path(entry.run_dir) / JOURNAL_NAME
        if not journal.is_file() or read_journal(journal).finished:
            deregister(Path(entry.run_dir))
        else:
            left.append(entry)
    return left
