"""Records that must never stop a restore: the timeline on a full or read-only disk.

A failing write is told once on stderr and remembered (`write_error`); the run goes on,
restores what it changed, and then exits 3 saying its record is incomplete.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from failover_harness.errors import InfrastructureError
from failover_harness.timeline import Clock, Event, Timeline


class RecordWriteError(InfrastructureError):
    """What was changed is restored, but the run's journal or timeline could not be written."""


def os_reason(exc: BaseException) -> str:
    """'No space left on device' rather than '[Errno 28] No space left on device: ...'."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def warn(message: str) -> None:
    print(f"failover-harness: {message}", file=sys.stderr, flush=True)


class FailsafeTimeline(Timeline):
    """A Timeline whose writes never raise: on a write error the events stay in memory,
    the first error is kept in `write_error` and told once on stderr."""

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.write_error: str | None = None
        self._closed = False
        self.path = path
        try:
            super().__init__(path, clock)
        except OSError as exc:
            self._failed(exc)
            super().__init__(Path(os.devnull), clock)  # the clock and the events carry on
            self.path = path

    def _failed(self, exc: BaseException) -> None:
        if self.write_error is None:
            self.write_error = f"{self.path}: {os_reason(exc)}"
            warn(f"cannot write the timeline ({self.write_error}); going on, and restoring "
                 "whatever is changed - this run's record will be incomplete")

    def emit(self, *args: Any, **kwargs: Any) -> Event:
        try:
            return super().emit(*args, **kwargs)
        except OSError as exc:
            self._failed(exc)
        except ValueError:
            if not self._closed:  # not a write after close (a late thread): a real bug
                raise
        return self.events[-1]  # appended before the write was tried

    def close(self) -> None:
        self._closed = True
        try:
            super().close()
        except OSError as exc:
            self._failed(exc)
