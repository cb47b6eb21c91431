"""What the emulator knows about a gateway, independent of where it came from.

A `GatewaySource` yields these; `arm` maps them to ARM JSON. Field values are raw facts
(FRR states, byte counters, seconds), never ARM wording.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel

RouteOrigin = Literal["Network", "EBgp", "IBgp"]


class PeerObservation(BaseModel):
    """One BGP neighbor of one gateway instance, as the instance's router sees it."""

    neighbor: str
    asn: int
    bgp_state: str  # FRR wording: Established, Active, Connect, OpenSent, OpenConfirm, Idle
    admin_shutdown: bool = False
    uptime_ms: int | None = None  # time in Established; None when not Established
    prefixes_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0


class RouteObservation(BaseModel):
    """One path of one prefix in an instance's BGP table (learned or advertised)."""

    network: str
    next_hop: str | None  # None for the instance's own (Network) routes
    source_peer: str | None  # neighbor it came from; None for own routes
    origin: RouteOrigin
    as_path: list[int]
    bgp_origin: str = "IGP"  # the BGP ORIGIN attribute (IGP/EGP/incomplete)


class InterfaceObservation(BaseModel):
    name: str
    admin_up: bool
    oper_up: bool
    rx_bytes: int = 0
    tx_bytes: int = 0


class ChildSaObservation(BaseModel):
    name: str
    state: str  # strongSwan wording: INSTALLED, REKEYING, ...
    encryption: str = ""
    integrity: str = ""
    dh_group: str = ""
    spi_in: str = ""
    spi_out: str = ""
    bytes_in: int = 0
    bytes_out: int = 0
    packets_in: int = 0
    packets_out: int = 0
    local_ts: list[str] = []
    remote_ts: list[str] = []
    lifetime_s: int = 0
    installed_s: int = 0


class IkeSaObservation(BaseModel):
    name: str  # swanctl connection name
    state: str  # ESTABLISHED, CONNECTING, ...
    local_host: str = ""
    remote_host: str = ""
    local_port: int = 500
    remote_port: int = 500
    initiator: bool = False
    initiator_spi: str = ""
    responder_spi: str = ""
    encryption: str = ""
    integrity: str = ""
    dh_group: str = ""
    established_s: int | None = None  # seconds since established
    rekey_s: int = 0
    children: list[ChildSaObservation] = []


class TunnelObservation(BaseModel):
    """Both ends of one tunnel: the on-prem side matters because a real router tears down
    its IPsec SA when its tunnel interface is shut; the lab's VXLAN-over-IPsec does not."""

    tunnel: str  # Tunnel1.. (lab name), maps to TunnelState
    azure_interface: InterfaceObservation | None
    onprem_interface: InterfaceObservation | None
    ipsec: bool
    ike_sa: IkeSaObservation | None = None  # on the Azure instance, None when absent


class GatewaySource(Protocol):
    """Where the emulator reads a gateway from. Instances are indexed 0 and 1."""

    async def peers(self, instance: int) -> list[PeerObservation]: ...

    async def learned_routes(self, instance: int) -> list[RouteObservation]: ...

    async def advertised_routes(self, instance: int, peer: str) -> list[RouteObservation]: ...

    async def tunnels(self) -> list[TunnelObservation]: ...

    async def ike_sas(self, tunnel: str) -> list[IkeSaObservation]: ...

    async def reset_instance(self, instance: int, outage_s: float, takeover_s: float = 0.0) -> None:
        """Take the instance's BGP sessions and IKE SAs away for `outage_s`, then bring them
        back (a reboot of one instance); returns once they are back, restores if cancelled.
        An active-standby gateway's standby takes the VIP and BGP over after `takeover_s`."""
        ...

    async def reset_connection(self, tunnel: str, outage_s: float) -> None:
        """Tear down the tunnel's IKE SA, keep it down `outage_s`, re-initiate it."""
        ...
