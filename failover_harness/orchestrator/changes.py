"""The one place that changes devices: journal first, then the command, then the events.

It also undoes what is left changed (`outstanding`, read from the journal, per target),
newest first, whatever ended the run; `recover` hands it an old run's journal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from failover_harness.devices import Device
from failover_harness.errors import DeviceError
from failover_harness.inventory import Inventory
from failover_harness.journal import Change, Journal
from failover_harness.orchestrator.steps import DeviceChange, change_data
from failover_harness.timeline import Timeline

RESTORE_ATTEMPTS = 3
RESTORE_RETRY_S = 1.0


def _no_instance(_azure_peer: str) -> str | None:
    return None


class DeviceChanger:
    def __init__(self, inventory: Inventory, journal: Journal, timeline: Timeline,
                 open_device: Callable[[str], Device], *,
                 azure_instance_of: Callable[[str], str | None] = _no_instance,
                 event_data: dict[str, object] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.inventory = inventory
        self.journal = journal
        self.timeline = timeline
        self._open = open_device
        self._azure_instance_of = azure_instance_of
        self._event_data = event_data or {}  # e.g. recovered=True on every event
        self._devices: dict[str, Device] = {}
        self._sleep = sleep

    # --- sessions

    def device(self, name: str) -> Device:
        dev = self._devices.get(name)
        if dev is None:
            dev = self._open(name)
            dev.connect()
            self._devices[name] = dev
        return dev

    def forget(self, name: str) -> None:
        """Drop a device's session (it broke); the next change opens a new one."""
        self._devices.pop(name, None)

    def connect_all(self) -> None:
        for name in self.inventory.devices:
            self.device(name)

    def close(self) -> None:
        for dev in self._devices.values():
            try:
                dev.close()
            except DeviceError:
                pass

    # --- changes

    @property
    def outstanding(self) -> list[Change]:
        """The targets left changed, newest first, as the journal (the one record) says:
        this run's changes and whatever an earlier writer of the same journal left."""
        return self.journal.outstanding()

    def is_outstanding(self, change: DeviceChange) -> bool:
        """Is this restore's fault still in place (so the restore is still needed)?"""
        return any(c.device == change.device and c.target == change.target
                   for c in self.outstanding)

    def apply(self, change: DeviceChange) -> Change:
        """Make one change. A fault is outstanding from its journal intent on (it may reach
        the device even if the command fails); a restore closes the fault it undoes."""
        journaled = self.journal.intent(change.device, change.kind, change.target)
        self._send(change)
        self.journal.done(journaled)  # a restore's "done" also marks what it undoes
        return journaled

    def _send(self, change: DeviceChange) -> None:
        """The command itself, between its action_start and action_done/failed events."""
        data: dict[str, Any] = {**change_data(self.inventory, change, self._azure_instance_of),
                                **self._event_data}
        subject = f"device:{change.device}/{change.target}"
        dev = self.device(change.device)
        self.timeline.emit("action", "action_start", subject,
                           commands=dev.planned_commands(change.action), **data)
        try:
            if change.action.on_interface:
                commands = dev.set_interface_enabled(change.target, change.action.enabled)
            else:
                commands = dev.set_neighbor_enabled(change.target, change.action.enabled)
        except DeviceError as exc:
            self.timeline.emit("action", "action_failed", subject, error=str(exc), **data)
            raise
        self.timeline.emit("action", "action_done", subject, commands=commands, **data)

    def restore_outstanding(self, on_restore: Callable[[DeviceChange], None] | None = None
                            ) -> list[str]:
        """Undo every change still outstanding, newest first; retries a dropped session.
        Returns what could not be restored (empty: everything was)."""
        problems = []
        for change in self.outstanding:
            restore = DeviceChange.undo_of(change)
            if on_restore is not None:
                on_restore(restore)
            for attempt in range(RESTORE_ATTEMPTS):
                try:
                    self.apply(restore)
                    break
                except DeviceError as exc:
                    if attempt == RESTORE_ATTEMPTS - 1:
                        problems.append(f"{change.device} {change.target}: {exc}")
                    else:
                        self.forget(change.device)  # reconnect
                        self._sleep(RESTORE_RETRY_S)
        return problems
