"""Several vantage points probing at once, answering as one probe monitor: every flow of
every vantage point counts for the gate's and the guard's loss questions."""

from __future__ import annotations

from collections.abc import Sequence

from failover_harness.orchestrator.parts import Monitor


class MultiMonitor:
    def __init__(self, monitors: Sequence[Monitor]) -> None:
        self.monitors = list(monitors)

    def start(self) -> None:
        started: list[Monitor] = []
        try:
            for monitor in self.monitors:
                monitor.start()
                started.append(monitor)
        except BaseException:
            for monitor in started:  # one vantage point failed: stop the others' probes
                monitor.stop()
            raise

    def stop(self) -> None:
        errors: list[BaseException] = []
        for monitor in self.monitors:
            try:
                monitor.stop()
            except Exception as exc:  # stop every vantage point even when one fails
                errors.append(exc)
        if errors:
            raise errors[0]

    def loss_free_for(self, seconds: float) -> bool:
        return all(m.loss_free_for(seconds) for m in self.monitors)

    def all_flows_losing_for(self, seconds: float, now: float) -> bool:
        return all(m.all_flows_losing_for(seconds, now) for m in self.monitors)

    def summary(self) -> dict[str, tuple[int, int, bool]]:
        merged: dict[str, tuple[int, int, bool]] = {}
        for monitor in self.monitors:
            merged.update(monitor.summary())
        return merged
