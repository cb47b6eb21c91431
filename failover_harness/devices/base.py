"""The device interface the orchestrator sees, and the models it exchanges.

A `Device` is one on-prem router behind SSH (or a replay of one in tests). The orchestrator
never learns which platform it talks to: platform details live in `platforms.PLATFORMS`.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from failover_harness.vocabulary import ChangeAction, Platform

ActionKind = ChangeAction  # the names the drivers use
PlatformName = Platform

# Normalized BGP FSM states (RFC 4271 names). Vendor spellings ("Establ", "Idle (Admin)",
# a prefix count in IOS' State/PfxRcd column) are mapped onto these.
BgpState = Literal[
    "Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established", "Unknown",
]


class BgpNeighbor(BaseModel):
    """One BGP session as the device reports it."""

    model_config = ConfigDict(frozen=True)

    address: str
    remote_as: int | None = None  # asdot "1.10" is converted to asplain 65546
    state: BgpState
    established: bool
    admin_down: bool = False  # shut on purpose ("Idle (Admin)"); state is then "Idle"
    uptime_s: float | None = None  # time in the current state (Up/Down column); None = never
    prefixes_received: int | None = None  # None when the device does not say (or not up)
    raw_state: str = ""  # what the device printed, for reports and debugging


class BgpSummary(BaseModel):
    """What a platform's BGP summary command yields: the local ASN (when printed) and peers."""

    local_as: int | None = None
    router_id: str | None = None
    neighbors: list[BgpNeighbor] = Field(default_factory=list)


class DeviceAction(BaseModel):
    """A state change the playbook asks of a device (also what --dry-run prints)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ActionKind
    target: str  # an interface name (Tunnel1) or a neighbor IP (169.254.21.1)

    @property
    def enabled(self) -> bool:
        return self.kind.startswith("no_shut")

    @property
    def on_interface(self) -> bool:
        return self.kind.endswith("interface")


class DeviceConnection(BaseModel):
    """How to reach one device; built by the caller from the inventory (secrets resolved)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    platform: PlatformName
    host: str
    port: int = Field(default=22, ge=1, le=65535)
    username: str
    password: SecretStr  # repr and str show '**********'
    known_hosts: Path | None = None  # None: the user's ~/.ssh/known_hosts; never auto-added
    bgp_asn: int | None = None  # local ASN; read from the BGP summary when absent
    conn_timeout_s: float = Field(default=10.0, gt=0)
    auth_timeout_s: float = Field(default=10.0, gt=0)
    command_timeout_s: float = Field(default=30.0, gt=0)

    @property
    def where(self) -> str:
        """'edge1 at 198.18.255.2:22' for messages; never includes credentials."""
        return f"{self.name} at {self.host}:{self.port}"


@runtime_checkable
class Device(Protocol):
    """One network device. Methods raise errors.DeviceError on failure."""

    name: str
    platform: PlatformName

    def connect(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Device: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def send_show(self, command: str) -> str: ...

    def set_interface_enabled(self, interface: str, enabled: bool) -> list[str]: ...

    def set_neighbor_enabled(self, neighbor_ip: str, enabled: bool) -> list[str]: ...

    def bgp_neighbors(self) -> list[BgpNeighbor]: ...

    def planned_commands(self, action: DeviceAction) -> list[str]: ...
