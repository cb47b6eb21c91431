"""One run per target: before a run (or a recovery) changes anything, it takes the locks on
its devices, its Azure gateway and (a run) its reports directory, and undoes what earlier
runs on those targets left changed.

Leftovers are found three ways: the locks' stale holders (runs that ended without closing
their journal), unfinished journals under the reports directory, and the per-user index
(runs anywhere whose locks overlap ours). A leftover whose journal is still being written
belongs to a live process: refused, never recovered under it. Index entries on other
targets are only named: they are not this run's to touch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from failover_harness import state_index
from failover_harness.errors import InfrastructureError
from failover_harness.journal import journal_holder, read_journal, unfinished_journals
from failover_harness.locks import LockHeldError, RunLocks, acquire, new_record

Say = Callable[[str], None]
Recover = Callable[[Path], list[str]]  # undo a run directory's journal; returns problems


def claim(keys: list[str], run_id: str, run_dir: Path | None, say: Say, recover: Recover,
          reports_root: Path | None = None) -> RunLocks:
    """Take the locks (LockHeldError if a live run holds one), then recover every leftover
    on these targets; the locks are settled only when that succeeded."""
    locks = acquire(keys, new_record(run_id, run_dir))
    try:
        for old in leftovers(locks, keys, reports_root, run_dir, say):
            say(f"[yellow]an earlier run did not finish ({old}): undoing its changes first[/]")
            problems = recover(old)
            if problems:
                raise InfrastructureError(f"could not recover {old}: {'; '.join(problems)}; "
                                          f"fix that and run `failover-harness recover {old}`")
    except BaseException:
        locks.release(clean=False)  # the stale holders stay on record for the next taker
        raise
    locks.settle()
    return locks


def leftovers(locks: RunLocks, keys: list[str], reports_root: Path | None,
              own_run_dir: Path | None, say: Say) -> list[Path]:
    """Run directories with an unfinished journal on these targets, oldest first."""
    found: list[Path] = []
    for stale in locks.stale:
        if stale.run_dir:
            found.append(Path(stale.run_dir))
    if reports_root is not None:
        found.extend(unfinished_journals(reports_root))
    device_keys = {k for k in keys if not k.startswith("reports ")}
    for entry in state_index.unfinished():
        if device_keys & set(entry.locks):
            found.append(Path(entry.run_dir))
        elif journal_holder(Path(entry.run_dir)) is None:
            say(f"[yellow]note: a run on other targets did not finish: {entry.run_dir} "
                f"(run {entry.run_id}); `failover-harness recover {entry.run_dir}` undoes it[/]")
    out: list[Path] = []
    own = own_run_dir.resolve() if own_run_dir else None
    for run_dir in found:
        path = run_dir.resolve()
        journal = path / "journal.jsonl"
        if path in out or path == own or not journal.is_file() or read_journal(journal).finished:
            continue
        holder = journal_holder(path)
        if holder is not None:
            raise LockHeldError(f"{path} is being written by {holder.describe()}: it is "
                                "alive and restores its own changes; wait for it to end")
        out.append(path)
    return out
