"""Pure mapping from observations and the lab's topology to ARM (Microsoft.Network) JSON.

No I/O here: everything is a function of its arguments, so the wording Azure uses lives in
one place and is unit-tested without a lab. Wording follows what ARM answers:
BGP states Connected/Connecting/Idle/Stopped/Unknown, .NET TimeSpan durations, route rows
with origin Network/EBgp/IBgp and asPath joined with '-'.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from failover_harness.lab.state import AzureInstanceState, AzureResources, TunnelState
from failover_harness.lab.topology import DPD_TIMEOUT_S

from .observations import (
    IkeSaObservation,
    PeerObservation,
    RouteObservation,
    TunnelObservation,
)

ArmPeerState = Literal["Unknown", "Stopped", "Idle", "Connecting", "Connected"]
ArmConnectionStatus = Literal["Unknown", "Connecting", "Connected", "NotConnected"]

# Weights real gateways report: their own and IBgp rows 32768, EBgp rows 32769.
WEIGHT_OWN = 32768
WEIGHT_EBGP = 32769


class ArmModel(BaseModel):
    """camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def wire(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)


class ArmError(ArmModel):
    code: str
    message: str


class ArmErrorBody(ArmModel):
    error: ArmError


def error_body(code: str, message: str) -> dict[str, object]:
    return ArmErrorBody(error=ArmError(code=code, message=message)).wire()


# --- resource ids -------------------------------------------------------------------------

def provider_prefix(res: AzureResources) -> str:
    return (f"/subscriptions/{res.subscription_id}/resourceGroups/{res.resource_group}"
            "/providers/Microsoft.Network")


def gateway_id(res: AzureResources) -> str:
    return f"{provider_prefix(res)}/virtualNetworkGateways/{res.gateway}"


def connection_id(res: AzureResources, name: str) -> str:
    return f"{provider_prefix(res)}/connections/{name}"


def local_network_gateway_id(res: AzureResources, name: str) -> str:
    return f"{provider_prefix(res)}/localNetworkGateways/{name}"


def ip_configuration_id(res: AzureResources, inst: AzureInstanceState) -> str:
    return f"{gateway_id(res)}/ipConfigurations/{inst.ip_configuration}"


def etag(name: str) -> str:
    # Stable per resource; the SDK only echoes it.
    return f'W/"{zlib.crc32(name.encode()):08x}-0000-4000-8000-00000000fa11"'


# --- BGP peers ----------------------------------------------------------------------------

_CONNECTING_STATES = {"Active", "Connect", "OpenSent", "OpenConfirm"}


def arm_peer_state(peer: PeerObservation) -> ArmPeerState:
    if peer.admin_shutdown:
        return "Stopped"
    if peer.bgp_state == "Established":
        return "Connected"
    if peer.bgp_state in _CONNECTING_STATES:
        return "Connecting"
    if peer.bgp_state.startswith("Idle"):
        return "Idle"
    return "Unknown"


def dotnet_timespan(milliseconds: int) -> str:
    """A .NET TimeSpan as ARM prints it: "d.hh:mm:ss.fffffff" or "hh:mm:ss.fffffff"."""
    ticks = milliseconds * 10_000  # 100 ns ticks
    seconds, fraction = divmod(ticks, 10_000_000)
    minutes, sec = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    clock = f"{hour:02d}:{minute:02d}:{sec:02d}.{fraction:07d}"
    return f"{days}.{clock}" if days else clock


class BgpPeerStatus(ArmModel):
    local_address: str
    neighbor: str
    asn: int
    state: ArmPeerState
    connected_duration: str | None
    routes_received: int
    messages_sent: int
    messages_received: int


def bgp_peer_status(inst: AzureInstanceState, peer: PeerObservation) -> BgpPeerStatus:
    state = arm_peer_state(peer)
    duration = (dotnet_timespan(peer.uptime_ms)
                if state == "Connected" and peer.uptime_ms is not None else None)
    return BgpPeerStatus(
        local_address=inst.private_ip, neighbor=peer.neighbor, asn=peer.asn, state=state,
        connected_duration=duration, routes_received=peer.prefixes_received,
        messages_sent=peer.messages_sent, messages_received=peer.messages_received)


def bgp_peer_status_list(per_instance: list[tuple[AzureInstanceState, list[PeerObservation]]],
                         peer: str | None = None) -> dict[str, object]:
    rows = [bgp_peer_status(inst, p).wire() for inst, peers in per_instance for p in peers
            if peer is None or p.neighbor == peer]
    return {"value": rows}


# --- routes -------------------------------------------------------------------------------

class GatewayRoute(ArmModel):
    local_address: str
    network: str
    next_hop: str | None
    source_peer: str | None
    origin: str
    as_path: str
    weight: int


def learned_route(inst: AzureInstanceState, route: RouteObservation) -> GatewayRoute:
    own = route.origin == "Network"
    return GatewayRoute(
        local_address=inst.private_ip, network=route.network,
        next_hop=None if own else route.next_hop,
        source_peer=inst.private_ip if own else route.source_peer,
        origin=route.origin, as_path="" if own else "-".join(str(a) for a in route.as_path),
        weight=WEIGHT_EBGP if route.origin == "EBgp" else WEIGHT_OWN)


def advertised_route(inst: AzureInstanceState, gateway_asn: int, local_address: str,
                     route: RouteObservation) -> GatewayRoute:
    """A row of getAdvertisedRoutes: what the peer receives (our ASN prepended, us as next hop)."""
    return GatewayRoute(
        local_address=inst.private_ip, network=route.network, next_hop=local_address,
        source_peer=inst.private_ip, origin=route.bgp_origin.capitalize(),
        as_path="-".join(str(a) for a in [gateway_asn, *route.as_path]), weight=0)


def route_list(rows: list[GatewayRoute]) -> dict[str, object]:
    return {"value": [r.wire() for r in rows]}


# --- connections --------------------------------------------------------------------------

def tunnel_status(obs: TunnelObservation) -> ArmConnectionStatus:
    """Connected needs working links on both ends and, with IPsec, an established IKE SA with
    an installed CHILD SA: a real router that shuts its tunnel interface drops the SA, so a
    shut end means NotConnected even though the lab's VXLAN-over-IPsec keeps its SA."""
    if obs.azure_interface is None or obs.onprem_interface is None:
        return "Unknown"
    links_up = all(i.admin_up and i.oper_up for i in (obs.azure_interface, obs.onprem_interface))
    if not links_up:
        return "NotConnected"
    if not obs.ipsec:
        return "Connected"
    ike = obs.ike_sa
    if ike is None:
        return "NotConnected"
    if ike.state == "ESTABLISHED" and any(c.state == "INSTALLED" for c in ike.children):
        return "Connected"
    if ike.state in {"CONNECTING", "ESTABLISHED", "REKEYING", "REKEYED"}:
        return "Connecting"
    return "NotConnected"


def connection_status(statuses: list[ArmConnectionStatus]) -> ArmConnectionStatus:
    """One connection over several tunnels is Connected as long as one tunnel is."""
    for candidate in ("Connected", "Connecting", "NotConnected"):
        if candidate in statuses:
            return candidate
    return "Unknown"


def azure_utc_time(when: dt.datetime) -> str:
    """lastConnectionEstablishedUtcTime as Azure prints it: "11/22/2026 2:20:47 AM"."""
    when = when.astimezone(dt.UTC)
    hour12 = when.hour % 12 or 12
    half = "AM" if when.hour < 12 else "PM"
    return f"{when.month}/{when.day}/{when.year} {hour12}:{when.minute:02d}:{when.second:02d} {half}"


class TunnelConnectionHealth(ArmModel):
    tunnel: str
    connection_status: ArmConnectionStatus
    ingress_bytes_transferred: int
    egress_bytes_transferred: int
    last_connection_established_utc_time: str | None


def tunnel_health(tunnel: TunnelState, obs: TunnelObservation | None,
                  now: dt.datetime) -> TunnelConnectionHealth:
    status: ArmConnectionStatus = "Unknown" if obs is None else tunnel_status(obs)
    iface = obs.azure_interface if obs else None
    established: str | None = None
    if obs and obs.ike_sa and obs.ike_sa.established_s is not None and status == "Connected":
        established = azure_utc_time(now - dt.timedelta(seconds=obs.ike_sa.established_s))
    return TunnelConnectionHealth(
        tunnel=f"{tunnel.connection}_{tunnel.azure_public_ip}", connection_status=status,
        ingress_bytes_transferred=iface.rx_bytes if iface else 0,
        egress_bytes_transferred=iface.tx_bytes if iface else 0,
        last_connection_established_utc_time=established)


def connection_resource(res: AzureResources, name: str, tunnels: list[TunnelState],
                        observed: dict[str, TunnelObservation], now: dt.datetime) -> dict[str, object]:
    health = [tunnel_health(t, observed.get(t.name), now) for t in tunnels]
    lng = tunnels[0].local_network_gateway
    return {
        "name": name, "id": connection_id(res, name), "etag": etag(name),
        "type": "Microsoft.Network/connections", "location": res.location,
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": "0c1d2e3f-0000-4000-8000-00000000fa11",
            "virtualNetworkGateway1": {"id": gateway_id(res)},
            "localNetworkGateway2": {"id": local_network_gateway_id(res, lng)},
            "connectionType": "IPsec", "connectionProtocol": "IKEv2", "routingWeight": 0,
            "dpdTimeoutSeconds": DPD_TIMEOUT_S, "connectionMode": "Default", "enableBgp": True,
            "useLocalAzureIpAddress": False, "usePolicyBasedTrafficSelectors": False,
            "ipsecPolicies": [], "trafficSelectorPolicies": [],
            "expressRouteGatewayBypass": False, "enablePrivateLinkFastPath": False,
            "connectionStatus": connection_status([h.connection_status for h in health]),
            "ingressBytesTransferred": sum(h.ingress_bytes_transferred for h in health),
            "egressBytesTransferred": sum(h.egress_bytes_transferred for h in health),
            "tunnelConnectionStatus": [h.wire() for h in health],
        },
    }


# --- IKE SAs ------------------------------------------------------------------------------

class QuickModeSa(ArmModel):
    encryption: str
    integrity: str
    pfs_group_id: str
    inbound_spi: str = Field(alias="inboundSPI")
    outbound_spi: str = Field(alias="outboundSPI")
    local_traffic_selectors: list[str]
    remote_traffic_selectors: list[str]
    lifetime_seconds: int
    elapsed_time_inseconds: int
    is_sa_initiator: bool
    inbound_packets: int
    inbound_bytes: int
    outbound_packets: int
    outbound_bytes: int


class IkeSa(ArmModel):
    local_endpoint: str
    remote_endpoint: str
    initiator_cookie: str
    responder_cookie: str
    local_udp_encapsulation_port: int
    remote_udp_encapsulation_port: int
    encryption: str
    integrity: str
    dh_group: str
    life_time_seconds: int
    is_sa_initiator: bool
    elapsed_time_inseconds: int
    quick_mode_sa: list[QuickModeSa]


def ike_sas_text(sas: list[IkeSaObservation]) -> str:
    """getikesas answers a JSON *string*; this is the JSON inside it (not checked against
    real Azure, see the contract notes)."""
    rows = [IkeSa(
        local_endpoint=sa.local_host, remote_endpoint=sa.remote_host,
        initiator_cookie=sa.initiator_spi, responder_cookie=sa.responder_spi,
        local_udp_encapsulation_port=sa.local_port, remote_udp_encapsulation_port=sa.remote_port,
        encryption=sa.encryption, integrity=sa.integrity, dh_group=sa.dh_group,
        life_time_seconds=sa.rekey_s + (sa.established_s or 0), is_sa_initiator=sa.initiator,
        elapsed_time_inseconds=sa.established_s or 0,
        quick_mode_sa=[QuickModeSa(
            encryption=c.encryption, integrity=c.integrity or c.encryption,
            pfs_group_id=c.dh_group or "None", inbound_spi=c.spi_in, outbound_spi=c.spi_out,
            local_traffic_selectors=c.local_ts, remote_traffic_selectors=c.remote_ts,
            lifetime_seconds=c.lifetime_s, elapsed_time_inseconds=c.installed_s,
            is_sa_initiator=sa.initiator, inbound_packets=c.packets_in, inbound_bytes=c.bytes_in,
            outbound_packets=c.packets_out, outbound_bytes=c.bytes_out) for c in sa.children],
    ).wire() for sa in sas]
    return json.dumps(rows)
