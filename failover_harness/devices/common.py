"""What every driver shares: BGP reading and shut / no shut built on the platform table.

A driver supplies only the I/O: connect, close, send_show and _send_config.
"""

from __future__ import annotations

import re
from types import TracebackType

from failover_harness.devices.base import (
    ActionKind,
    BgpNeighbor,
    BgpSummary,
    DeviceAction,
    PlatformName,
)
from failover_harness.devices.platforms import PLATFORMS, PlatformSpec, needs_asn, render_commands
from failover_harness.errors import DeviceError


class CommandDevice:
    """Base of the netmiko and replay drivers; satisfies `Device` once the I/O is filled in."""

    def __init__(self, name: str, platform: PlatformName, bgp_asn: int | None = None) -> None:
        self.name = name
        self.platform: PlatformName = platform
        self.spec: PlatformSpec = PLATFORMS[platform]
        self._asn = bgp_asn
        self._error_line = re.compile(self.spec.error_pattern, re.M | re.I)

    # --- I/O, supplied by the driver
    def connect(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def send_show(self, command: str) -> str:
        raise NotImplementedError

    def _send_config(self, commands: list[str]) -> str:
        raise NotImplementedError

    # --- shared logic
    def __enter__(self) -> CommandDevice:
        self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def local_asn(self) -> int | None:
        return self._asn

    def check_output(self, command: str, output: str) -> str:
        """Raise DeviceError when the device's answer is a refusal ('% Invalid input')."""
        m = self._error_line.search(output)
        if m:
            line = output[m.start():].splitlines()[0].strip()
            raise DeviceError(f"{self.name}: device refused {command!r}: {line}")
        return output

    def bgp_summary(self) -> BgpSummary:
        output = self.send_show(self.spec.bgp_summary_command)
        summary = self.spec.parse_bgp_summary(output)
        if self._asn is None and summary.local_as is not None:
            self._asn = summary.local_as
        return summary

    def bgp_neighbors(self) -> list[BgpNeighbor]:
        return self.bgp_summary().neighbors

    def planned_commands(self, action: DeviceAction) -> list[str]:
        return render_commands(self.spec, action, self._asn)

    def apply(self, action: DeviceAction) -> list[str]:
        """Send the commands of `action`; returns them as sent."""
        if needs_asn(self.spec, action) and self._asn is None:
            self.bgp_summary()
            if self._asn is None:
                raise DeviceError(f"{self.name}: the local BGP ASN is needed to {action.kind} "
                                  f"and the device did not print it; set bgp_asn in the "
                                  f"inventory")
        commands = render_commands(self.spec, action, self._asn)
        self._send_config(commands)
        return commands

    def set_interface_enabled(self, interface: str, enabled: bool) -> list[str]:
        kind: ActionKind = "no_shut_interface" if enabled else "shut_interface"
        return self.apply(DeviceAction(kind=kind, target=interface))

    def set_neighbor_enabled(self, neighbor_ip: str, enabled: bool) -> list[str]:
        kind: ActionKind = "no_shut_neighbor" if enabled else "shut_neighbor"
        return self.apply(DeviceAction(kind=kind, target=neighbor_ip))
