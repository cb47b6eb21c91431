"""Signal handlers for the span of a `with` block (main thread only; elsewhere a no-op), and
the two a run uses: raise on SIGTERM/SIGHUP, then hold them off while restoring."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from types import FrameType

Handler = Callable[[int, FrameType | None], None]


class RunInterruptedError(BaseException):
    """SIGTERM (or SIGHUP) arrived; raised in the main thread so every finally runs.
    A BaseException like KeyboardInterrupt, so no `except Exception` swallows it."""

    @property
    def signal_name(self) -> str:
        return str(self.args[0]) if self.args else "signal"


@contextmanager
def handled(signals: Sequence[signal.Signals], handler: Handler) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # Python delivers signals to the main thread only
        return
    old = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def termination_raises() -> AbstractContextManager[None]:
    """SIGTERM/SIGHUP raise RunInterruptedError in the main thread (Ctrl-C raises
    KeyboardInterrupt)."""
    def handler(signum: int, _frame: FrameType | None) -> None:
        raise RunInterruptedError(signal.Signals(signum).name)
    return handled((signal.SIGTERM, signal.SIGHUP), handler)


def termination_deferred(say: Callable[[str], None]) -> AbstractContextManager[None]:
    """While restoring, a second SIGTERM/Ctrl-C must not cut the restore short."""
    def handler(signum: int, _frame: FrameType | None) -> None:
        say(f"{signal.Signals(signum).name}: restoring what was changed first")
    return handled((signal.SIGTERM, signal.SIGHUP, signal.SIGINT), handler)
