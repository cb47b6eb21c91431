"""Everything a game-day holds open (devices, watchers, the Azure poller, probes) and what
it knows right now: the `RunView` that checks, conditions and the guard read."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from failover_harness.azure.models import AzureSnapshot
from failover_harness.devices import Device
from failover_harness.inventory import Inventory
from failover_harness.journal import Journal
from failover_harness.orchestrator import conditions
from failover_harness.orchestrator.azure_focus import FocusWindow
from failover_harness.orchestrator.changes import DeviceChanger
from failover_harness.orchestrator.device_watch import DeviceWatcher
from failover_harness.orchestrator.parts import Actions, Monitor, Parts, Poller
from failover_harness.timeline import Timeline

Say = Callable[[str], None]


class RunOptions(BaseModel):
    reports_root: Path = Path("reports")
    run_id: str | None = None
    operator: str | None = None
    gate_timeout_s: float = 60.0  # how long the steady state may take to hold
    # Every flow losing this long after a fault: abort. None: armed from the design's
    # timers and the playbook's bounds (guard_bounds.py).
    guard_loss_s: float | None = None
    skip_gate: bool = False  # labs only (refused elsewhere), and loud
    settle_s: float = 2.0  # after rollbacks, before probes stop: the tail of the failback
    device_poll_s: float = 0.2
    # run --repeat N / --alternate: every playbook's iterations (None: the playbook's repeat:)
    repeat: int | None = Field(default=None, ge=1, le=1000)
    alternate: list[str] | None = None


@dataclass
class Session:
    inventory: Inventory
    timeline: Timeline
    journal: Journal
    options: RunOptions
    say: Say
    parts: Parts = field(default_factory=Parts)
    watchers: dict[str, DeviceWatcher] = field(default_factory=dict)
    poller: Poller | None = None
    monitor: Monitor | None = None
    changer: DeviceChanger = field(init=False)
    current_step: str = ""
    _actions: Actions | None = None  # opened at the first Azure fault

    def __post_init__(self) -> None:
        self.changer = DeviceChanger(self.inventory, self.journal, self.timeline,
                                     lambda name: self.parts.device(self.inventory, name),
                                     azure_instance_of=self.azure_instance_of,
                                     sleep=self.parts.sleep, say=self.say)

    # --- RunView (conditions.py) ---

    def onprem_established(self, device: str, neighbor: str) -> bool | None:
        watcher = self.watchers.get(device)
        return watcher.established(neighbor) if watcher else None

    def azure(self) -> AzureSnapshot | None:
        return self.poller.snapshot() if self.poller else None

    def focus_azure(self, window: FocusWindow) -> None:
        """Tell the poller where (seconds from now) Azure's view should change."""
        if self.poller is not None:
            self.poller.focus(*window)

    def azure_lead_s(self, window: FocusWindow) -> float:
        """How long before the change the poller wants its focus named (0: no poller)."""
        return self.poller.lead_s(window.after_s) if self.poller is not None else 0.0

    def loss_free_for(self, seconds: float) -> bool:
        return self.monitor.loss_free_for(seconds) if self.monitor else False

    def azure_instance_of(self, azure_peer: str) -> str | None:
        snap = self.azure()
        if snap is None:
            return None
        for instance, peers in snap.peers.items():
            if azure_peer in peers:
                return instance
        return None

    def azure_actions(self) -> Actions:
        if self._actions is None:
            self._actions = self.parts.azure_actions(self.inventory)
        return self._actions

    # --- lifecycle ---

    def open(self) -> None:
        self.say("connecting to devices")
        self.changer.connect_all()  # a wrong password fails here, before anything changes
        for name in self.inventory.devices:
            # Each watcher polls on a session of its own, apart from the changer's.
            watcher = DeviceWatcher(name, self._opener(name), self.timeline,
                                    interval_s=self.options.device_poll_s)
            self.watchers[name] = watcher.start()
        self.say("starting the Azure poller")
        self.poller = self.parts.azure_poller(self.inventory, self.timeline)
        self.poller.start()

    def _opener(self, name: str) -> Callable[[], Device]:
        return lambda: self.parts.device(self.inventory, name)

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
            self.monitor = None
        if self._actions is not None:
            for problem in self._actions.close():  # the peers were verified by the run itself
                self.say(f"[yellow]Azure operation: {problem}[/]")
            self._actions = None
        if self.poller is not None:
            self.poller.stop()
        for w in self.watchers.values():
            w.stop()
        self.changer.close()

    # --- waiting ---

    def wait(self, seconds: float, guard: Callable[[], None] | None = None,
             until: Callable[[], conditions.Answer] | None = None) -> conditions.Answer | None:
        deadline = time.monotonic() + seconds
        answer = None
        while True:
            if guard is not None:
                guard()
            if until is not None:
                answer = until()
                if answer.ok:
                    return answer
            left = deadline - time.monotonic()
            if left <= 0:
                return answer
            self.parts.sleep(min(0.05, left))
