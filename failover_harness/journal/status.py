"""Journals seen from outside: who writes a run's journal now, and which runs' journals were
never closed (the run was killed)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from failover_harness.journal.records import JOURNAL_NAME, Holder
from failover_harness.journal.replay import read_journal


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
