"""Polls each on-prem device's BGP neighbors on its own SSH session (apart from the session
that makes changes, so a slow poll never delays a fault) and writes changes to the timeline.

When polls fail (an SSH blackout, a hung CLI), each failure is a `poll_error` and the whole
span without an answer one `poll_gap` (from the last good answer to the next one, or to the
stop, `open`), so that metrics resting on this device's view can say they are unknown."""

from __future__ import annotations

import threading
from collections.abc import Callable

from failover_harness.devices import BgpNeighbor, Device
from failover_harness.errors import DeviceError
from failover_harness.timeline import Timeline


class DeviceWatcher:
    """One thread per device. `states()` is the newest view: neighbor address -> state."""

    def __init__(self, name: str, open_device: Callable[[], Device], timeline: Timeline, *,
                 interval_s: float = 0.2) -> None:
        self.name = name
        self._open = open_device
        self.timeline = timeline
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._neighbors: dict[str, BgpNeighbor] = {}
        self._last_ok: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._device: Device | None = None
        self.errors = 0
        self._gap: _Gap | None = None  # polls failing since the last good answer

    def start(self) -> DeviceWatcher:
        self._device = self._open()
        self._device.connect()
        self._thread = threading.Thread(target=self._run, name=f"watch-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._gap is not None and (self._thread is None or not self._thread.is_alive()):
            self._end_gap(self.timeline.clock.now(), open_=True)
        if self._device is not None:
            try:
                self._device.close()
            except DeviceError:
                pass

    def neighbors(self) -> dict[str, BgpNeighbor]:
        with self._lock:
            return dict(self._neighbors)

    def established(self, address: str) -> bool | None:
        """None until the first successful poll."""
        with self._lock:
            if self._last_ok is None:
                return None
            n = self._neighbors.get(address)
            return bool(n and n.established)

    @property
    def last_ok(self) -> float | None:
        with self._lock:
            return self._last_ok

    def _run(self) -> None:
        clock = self.timeline.clock
        prev_start: float | None = None
        while not self._stop.is_set():
            start = clock.now()
            assert self._device is not None
            try:
                neighbors = self._device.bgp_neighbors()
            except DeviceError as exc:
                # The device layer already reconnected once; record the gap and go on.
                self.errors += 1
                self.timeline.emit("device", "poll_error", f"device:{self.name}",
                                   window=(start, clock.now()), error=str(exc))
                if self._gap is None:
                    with self._lock:
                        since = self._last_ok if self._last_ok is not None else start
                    self._gap = _Gap(since, str(exc))
                self._gap.failed += 1
                self._stop.wait(1.0)
                continue
            end = clock.now()
            if self._gap is not None:
                self._end_gap(end, open_=False)
            self._apply(neighbors, prev_start if prev_start is not None else start, end)
            prev_start = start
            self._stop.wait(max(0.0, self.interval_s - (clock.now() - start)))

    def _end_gap(self, end: float, *, open_: bool) -> None:
        gap, self._gap = self._gap, None
        assert gap is not None
        self.timeline.emit("device", "poll_gap", f"device:{self.name}", t=end,
                           window=(gap.since, end), reason=gap.reason,
                           failed_polls=gap.failed, open=open_)

    def _apply(self, neighbors: list[BgpNeighbor], since: float, end: float) -> None:
        with self._lock:
            old = self._neighbors
            self._neighbors = {n.address: n for n in neighbors}
            self._last_ok = end
        for n in neighbors:
            before = old.get(n.address)
            if before is None or before.state != n.state or before.admin_down != n.admin_down:
                self.timeline.emit(
                    "device", "bgp_state", f"device:{self.name}/neighbor:{n.address}", t=end,
                    window=(since, end), state=n.state,
                    previous=before.state if before else None, admin_down=n.admin_down,
                    raw_state=n.raw_state, remote_as=n.remote_as)


class _Gap:
    """Polls failing since `since` (the last good answer), the first failure's reason."""

    def __init__(self, since: float, reason: str) -> None:
        self.since = since
        self.reason = reason
        self.failed = 0
