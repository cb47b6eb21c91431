"""What a game-day talks to, as small factories: devices, the Azure poller, the probe
monitor, the clock (and sleep), the local routing table and the report renderer. The
defaults build the real ones; tests pass a replay device, a fake poller and fake probes
instead (as `AzurePoller(connect=...)` does).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from failover_harness.azure.actions import AzureActions, InstanceVip
from failover_harness.azure.design import AzureDesign, read_design
from failover_harness.azure.models import AzureSnapshot
from failover_harness.azure.poller import AzurePoller
from failover_harness.devices import Device, open_device
from failover_harness.inventory import Inventory, VantagePoint
from failover_harness.orchestrator.components import azure_settings, device_connection
from failover_harness.orchestrator.probe_monitor import ProbeMonitor
from failover_harness.probes.flows import FlowSpec
from failover_harness.timeline import Clock, Timeline

if TYPE_CHECKING:
    from failover_harness.reports.render import RenderedReport


class Poller(Protocol):
    """The Azure side as the run reads it (AzurePoller)."""

    def start(self) -> object: ...

    def stop(self) -> None: ...

    def snapshot(self) -> AzureSnapshot: ...

    def focus(self, after_s: float, until_s: float, keep: float = ...) -> None:
        """Azure's view should change between these seconds from now: look harder there,
        spending the read bucket down to `keep` of it."""

    def lead_s(self, after_s: float) -> float:
        """How long before a change to name its focus from `after_s` after it (0: at once)."""


class Monitor(Protocol):
    """The probes as the run reads them (ProbeMonitor)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def loss_free_for(self, seconds: float) -> bool: ...

    def all_flows_losing_for(self, seconds: float, now: float) -> bool: ...

    def summary(self) -> dict[str, tuple[int, int, bool]]: ...


class Actions(Protocol):
    """Azure's own faults as the run asks for them (azure.actions.AzureActions)."""

    def vips(self) -> list[InstanceVip]: ...

    def begin_reset_instance(self, vip: str) -> object: ...

    def begin_reset_connection(self, name: str) -> object: ...

    def close(self, wait_s: float = 5.0) -> list[str]: ...


def real_actions(inventory: Inventory) -> Actions:
    return AzureActions(azure_settings(inventory))


def real_design(inventory: Inventory) -> AzureDesign:
    return read_design(azure_settings(inventory))


def real_device(inventory: Inventory, name: str) -> Device:
    return open_device(device_connection(inventory, name))


def real_poller(inventory: Inventory, timeline: Timeline) -> Poller:
    return AzurePoller(azure_settings(inventory), timeline)


def real_monitor(flows: Sequence[FlowSpec], netns: str | None, timeline: Timeline) -> Monitor:
    return ProbeMonitor(flows, netns, timeline)


def real_remote_monitor(flows: Sequence[FlowSpec], name: str, vantage: VantagePoint,
                        timeline: Timeline) -> Monitor:
    from failover_harness.orchestrator.remote_monitor import RemoteProbeMonitor
    return RemoteProbeMonitor(flows, name, vantage, timeline)


def real_report(run_dir: Path) -> RenderedReport:
    from failover_harness.reports.render import (
        render_report,  # matplotlib: only when needed
    )
    return render_report(run_dir)


def local_source_for(host: str) -> str | None:
    """The address this machine sends from to reach `host` (None: cannot tell here)."""
    try:
        out = subprocess.run(["ip", "-o", "route", "get", host], capture_output=True,
                             text=True, timeout=5, check=True).stdout.split()
        return out[out.index("src") + 1]
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None  # not Linux routing here


@dataclass(frozen=True)
class Parts:
    """Factories for everything outside the process. Devices come back not yet connected."""

    device: Callable[[Inventory, str], Device] = real_device
    azure_poller: Callable[[Inventory, Timeline], Poller] = real_poller
    azure_actions: Callable[[Inventory], Actions] = real_actions  # resets, through ARM
    probe_monitor: Callable[[Sequence[FlowSpec], str | None, Timeline], Monitor] = real_monitor
    # a vantage point reached over SSH (inventory `ssh:`): (flows, its name, it, timeline)
    remote_monitor: Callable[[Sequence[FlowSpec], str, VantagePoint, Timeline],
                             Monitor] = real_remote_monitor
    clock: Callable[[], Clock] = Clock  # the timeline's
    sleep: Callable[[float], None] = time.sleep  # every wait of the run sleeps through this
    route_source: Callable[[str], str | None] = local_source_for
    report: Callable[[Path], RenderedReport] = real_report  # renders the run's report files
    azure_design: Callable[[Inventory], AzureDesign] = real_design  # read before a fault (prediction)
