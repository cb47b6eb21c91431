"""Processes the lab starts and ends: recorded with their start time, ended by PID only."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from failover_harness.lab.state import LabState, ProcessRecord

# Children of this process, kept so they are reaped (and not reported as leaked) when ended.
_children: dict[int, subprocess.Popen[bytes]] = {}


def start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks), None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def is_running(record: ProcessRecord) -> bool:
    return start_ticks(record.pid) == record.start_ticks


def spawn(state: LabState, name: str, argv: list[str], log: Path,
          netns: str | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a long-running process in its own session and record it in the state file at once."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True, env=env)
    _children[proc.pid] = proc
    ticks = start_ticks(proc.pid)
    state.processes.append(ProcessRecord(pid=proc.pid, start_ticks=ticks or 0, name=name,
                                         netns=netns))
    state.save()
    return proc


def _gone(pid: int, ticks: int) -> bool:
    """True once the process has exited, reaping it if it is our child. A child's exit is
    read with poll() (its pid cannot be reused before that); testing /proc first would skip
    a child that turned zombie in between, and leave it a zombie whose Popen warns at exit."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return False
        del _children[pid]
        return True
    try:
        os.waitpid(pid, os.WNOHANG)  # a child started by an earlier `up` of this process
    except ChildProcessError:
        pass
    return start_ticks(pid) != ticks


def terminate(pids_with_ticks: list[tuple[int, int]], grace: float = 1.5) -> None:
    """SIGTERM each (pid, start_ticks) still matching, SIGKILL what remains after `grace`."""
    alive = [(pid, ticks) for pid, ticks in pids_with_ticks if not _gone(pid, ticks)]
    alive = _signal_and_wait(alive, signal.SIGTERM, grace)
    _signal_and_wait(alive, signal.SIGKILL, 2.0)


def _signal_and_wait(alive: list[tuple[int, int]], sig: signal.Signals,
                     timeout: float) -> list[tuple[int, int]]:
    """Send `sig` to each process, reap our children; returns those still running."""
    for pid, _ in alive:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [(pid, ticks) for pid, ticks in alive if not _gone(pid, ticks)]
    return alive
