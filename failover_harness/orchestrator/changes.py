"""The one place that changes devices: journal first, then the command, then the events.

It also undoes what is left changed (`outstanding`, read from the journal, per target),
newest first, whatever ended the run; `recover` hands it an old run's journal.

Restoring never depends on the disk: a fault that cannot be journaled is not made, but a
restore goes to the device whether or not its journal line or its events can be written
(the failures are kept in `write_problems` and told on stderr). Once the journal cannot be
written (or opened), what is left changed is kept in memory from then on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from failover_harness.devices import Device
from failover_harness.errors import DeviceError, InfrastructureError
from failover_harness.inventory import Inventory
from failover_harness.journal import Change, Journal
from failover_harness.orchestrator.failsafe import os_reason, warn
from failover_harness.orchestrator.steps import DeviceChange, change_data
from failover_harness.timeline import Timeline

RESTORE_ATTEMPTS = 3
RESTORE_RETRY_S = 1.0
SLOW_CHANGE_S = 2.0  # a command that took longer than this is recorded as late

T = TypeVar("T")


def _no_instance(_azure_peer: str) -> str | None:
    return None


class DeviceChanger:
    def __init__(self, inventory: Inventory, journal: Journal | None, timeline: Timeline,
                 open_device: Callable[[str], Device], *,
                 azure_instance_of: Callable[[str], str | None] = _no_instance,
                 event_data: dict[str, object] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 say: Callable[[str], None] = warn) -> None:
        self.inventory = inventory
        self.journal = journal  # None: it cannot be opened (recover on a broken disk)
        self.timeline = timeline
        self._open = open_device
        self._azure_instance_of = azure_instance_of
        self._event_data = event_data or {}  # e.g. recovered=True on every event
        self._sleep = sleep
        self._say = say
        self._devices: dict[str, Device] = {}
        self._tries: dict[DeviceChange, tuple[float, list[str]]] = {}  # first ask, errors
        # None while the journal is the record; a list once it cannot be written or opened
        self._memory: list[Change] | None = None if journal is not None else []
        self.write_problems: list[str] = []  # journal/timeline writes that failed

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

    # --- records that must not stop a restore

    def _tolerate(self, what: str, write: Callable[[], T]) -> T | None:
        try:
            return write()
        except Exception as exc:  # noqa: BLE001 - a record must never stop a restore
            self._write_failed(what, exc)
            return None

    def _write_failed(self, what: str, exc: BaseException) -> None:
        problem = f"{what}: {os_reason(exc)}"
        if problem not in self.write_problems:
            self.write_problems.append(problem)
            warn(f"cannot write the {problem}; restoring anyway")

    def _emit(self, kind: str, subject: str, **data: Any) -> None:
        self._tolerate("timeline", lambda: self.timeline.emit("action", kind, subject, **data))

    # --- changes

    def adopt(self, changes: list[Change]) -> None:
        """Changes an earlier run left outstanding, when there is no journal to read them
        from (recover on a disk where it cannot be opened): ours to undo now."""
        self._memory = [*(self._memory or []), *changes]

    @property
    def outstanding(self) -> list[Change]:
        """The targets left changed, newest first, as the journal (the one record) says:
        this run's changes and whatever an earlier writer of the same journal left; kept in
        memory instead once the journal cannot be written."""
        if self._memory is not None or self.journal is None:
            return list(self._memory or [])
        return self.journal.outstanding()

    def is_outstanding(self, change: DeviceChange) -> bool:
        """Is this restore's fault still in place (so the restore is still needed)?"""
        return any(c.device == change.device and c.target == change.target
                   for c in self.outstanding)

    def apply(self, change: DeviceChange) -> Change | None:
        """Make one change. A fault is outstanding from its journal intent on (it may reach
        the device even if the command fails); a restore closes the fault it undoes.
        Returns the journal's record of it (None: it could not be written)."""
        journaled: Change | None
        if change.is_restore:
            journaled = self._journal_write(lambda j: j.intent(
                change.device, change.kind, change.target))
        else:
            journaled = self._journal_fault(change)
            if self._memory is not None:
                self._memory.insert(0, journaled)  # newest first
        self._send(change)
        if journaled is not None:
            done = journaled
            self._journal_write(lambda j: j.done(done))  # also marks what it undoes
        if change.is_restore and self._memory is not None:
            self._memory = [c for c in self._memory
                            if (c.device, c.target) != (change.device, change.target)]
        return journaled

    def _journal_write(self, write: Callable[[Journal], T]) -> T | None:
        """A journal write on the restore path: tolerated; on failure, what is left changed
        is taken from the journal as last written and kept in memory from then on."""
        journal = self.journal
        if journal is None:
            return None
        try:
            return write(journal)
        except Exception as exc:  # noqa: BLE001 - a record must never stop a restore
            self._write_failed("journal", exc)
            if self._memory is None:
                self._memory = journal.outstanding()  # only what was written is in it
            return None

    def _journal_fault(self, change: DeviceChange) -> Change:
        """A fault is journaled before it is made, or not made at all."""
        if self.journal is None:
            raise InfrastructureError(f"{change}: no journal to record it in; not made")
        try:
            return self.journal.intent(change.device, change.kind, change.target)
        except OSError as exc:
            raise InfrastructureError(f"{change}: cannot write the journal "
                                      f"({os_reason(exc)}); the change was not made") from None

    def _send(self, change: DeviceChange) -> None:
        """The command, between its action_start and action_done/failed events; a change
        that got through only after failures or slowly is recorded as late."""
        data: dict[str, Any] = {**change_data(self.inventory, change, self._azure_instance_of),
                                **self._event_data}
        subject = f"device:{change.device}/{change.target}"
        clock = self.timeline.clock
        try:
            dev = self.device(change.device)
        except DeviceError as exc:  # no session: asked, but not sent
            self._tries.setdefault(change, (clock.now(), []))[1].append(str(exc))
            raise
        start = clock.now()
        first, errors = self._tries.setdefault(change, (start, []))
        self._emit("action_start", subject, t=start,
                   commands=dev.planned_commands(change.action), **data)
        try:
            if change.action.on_interface:
                commands = dev.set_interface_enabled(change.target, change.action.enabled)
            else:
                commands = dev.set_neighbor_enabled(change.target, change.action.enabled)
        except DeviceError as exc:
            errors.append(str(exc))
            self._emit("action_failed", subject, error=str(exc), **data)
            raise
        end = clock.now()
        del self._tries[change]
        self._emit("action_done", subject, t=end, commands=commands, **data)
        if errors or end - start > SLOW_CHANGE_S:
            why = ("; ".join(errors) if errors
                   else f"the device took {end - start:.1f} s to answer")
            self._emit("action_late", subject, t=end, asked_t=round(first, 6),
                       late_s=round(end - first, 6), attempts=len(errors) + 1, why=why, **data)
            self._say(f"{change} got through {end - first:.1f} s after it was first asked "
                      f"({len(errors) + 1} attempts): {why}")

    def restore_outstanding(self, on_restore: Callable[[DeviceChange], None] | None = None
                            ) -> list[str]:
        """Undo every change still outstanding, newest first; retries any failure (a dropped
        session, a broken disk) with a new session. Returns what could not be restored."""
        problems = []
        for change in self.outstanding:
            restore = DeviceChange.undo_of(change)
            if on_restore is not None:
                on_restore(restore)
            for attempt in range(RESTORE_ATTEMPTS):
                try:
                    self.apply(restore)
                    break
                except Exception as exc:  # noqa: BLE001 - whatever broke, try again
                    if attempt == RESTORE_ATTEMPTS - 1:
                        problems.append(f"{change.device} {change.target}: {exc}")
                    else:
                        self.forget(change.device)  # reconnect
                        self._sleep(RESTORE_RETRY_S)
        return problems
