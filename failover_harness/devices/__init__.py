"""On-prem devices behind one small interface (`Device`), driven over SSH by netmiko.

    with open_device(DeviceConnection(name="edge1", platform="frr", ...)) as dev:
        dev.bgp_neighbors()
        dev.set_interface_enabled("Tunnel1", False)

Platform details (commands, parsers) are data in `platforms.PLATFORMS`; tests of the
orchestrator use `replay.ReplayDevice` instead of SSH.
"""

from __future__ import annotations

from failover_harness.devices.base import (
    BgpNeighbor,
    BgpState,
    BgpSummary,
    Device,
    DeviceAction,
    DeviceConnection,
    PlatformName,
)
from failover_harness.devices.netmiko_device import NetmikoDevice
from failover_harness.devices.platforms import PLATFORMS, PlatformSpec
from failover_harness.devices.replay import ReplayDevice, render_frr_summary_json


def open_device(conn: DeviceConnection) -> Device:
    """A not-yet-connected device for `conn`; use it as a context manager (or connect())."""
    return NetmikoDevice(conn)


__all__ = [
    "PLATFORMS", "BgpNeighbor", "BgpState", "BgpSummary", "Device", "DeviceAction",
    "DeviceConnection", "NetmikoDevice", "PlatformName", "PlatformSpec", "ReplayDevice",
    "open_device", "render_frr_summary_json",
]
