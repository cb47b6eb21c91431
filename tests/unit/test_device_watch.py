"""The device watcher writes an SSH blackout as one poll_gap (with its reason), which the
metrics then name as the gap the on-prem detection's evidence falls in."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from failover_harness.devices import BgpNeighbor
from failover_harness.errors import DeviceError
from failover_harness.events import PollGap
from failover_harness.orchestrator.device_watch import DeviceWatcher
from failover_harness.timeline import Timeline


class FlakyDevice:
    """Answers, then fails while `down` is set (an SSH blackout), then answers again."""

    def __init__(self) -> None:
        self.down = threading.Event()

    def connect(self) -> None:
        pass

    def close(self) -> None:
        pass

    def bgp_neighbors(self) -> list[BgpNeighbor]:
        if self.down.is_set():
            raise DeviceError("edge1: SSH session dropped (timed out)")
        return [BgpNeighbor(address="169.254.21.1", state="Established", established=True)]


def _watch(tmp_path: Path, device: FlakyDevice) -> tuple[DeviceWatcher, Timeline]:
    timeline = Timeline(tmp_path / "timeline.jsonl")
    watcher = DeviceWatcher("edge1", lambda: device, timeline, interval_s=0.02)  # type: ignore[arg-type,return-value]
    return watcher.start(), timeline


def _wait(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():  # type: ignore[operator]
        time.sleep(0.01)


def test_a_blackout_becomes_one_poll_gap_with_its_reason(tmp_path: Path) -> None:
    device = FlakyDevice()
    watcher, timeline = _watch(tmp_path, device)
    try:
        _wait(lambda: watcher.last_ok is not None)
        device.down.set()
        _wait(lambda: watcher.errors >= 2)
        blackout_end = timeline.clock.now()
        device.down.clear()
        _wait(lambda: any(isinstance(e, PollGap) for e in timeline.events))
    finally:
        watcher.stop()
        timeline.close()
    gaps = [e for e in timeline.events if isinstance(e, PollGap)]
    assert len(gaps) == 1 and not gaps[0].data.open
    assert gaps[0].data.failed_polls >= 2 and "SSH session dropped" in gaps[0].data.reason
    start, end = gaps[0].window
    assert start < blackout_end < end and end - start >= 1.0  # retried after 1 s


def test_a_blackout_still_on_at_stop_is_an_open_gap(tmp_path: Path) -> None:
    device = FlakyDevice()
    watcher, timeline = _watch(tmp_path, device)
    try:
        _wait(lambda: watcher.last_ok is not None)
        device.down.set()
        _wait(lambda: watcher.errors >= 1)
    finally:
        watcher.stop()
        timeline.close()
    gaps = [e for e in timeline.events if isinstance(e, PollGap)]
    assert len(gaps) == 1 and gaps[0].data.open
