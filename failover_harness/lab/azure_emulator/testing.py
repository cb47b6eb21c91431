"""Helpers for tests that talk to an emulator: a sample gateway, fast LRO polling and an
SDK client built the way production builds it (credential from the environment)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from azure.identity import DefaultAzureCredential
from azure.mgmt.core.polling.arm_polling import ARMPolling
from azure.mgmt.network import NetworkManagementClient

from failover_harness.lab.state import AzureInstanceState, AzureResources, EmulatorState, TunnelState

from .observations import (
    ChildSaObservation,
    IkeSaObservation,
    InterfaceObservation,
    PeerObservation,
    RouteObservation,
    TunnelObservation,
)
from .static_source import StaticGateway


class FastARMPolling(ARMPolling):
    """ARMPolling that never waits longer than `max_delay_s` between polls (ARM asks for
    Retry-After seconds; tests should not)."""

    def __init__(self, max_delay_s: float = 0.05, **kwargs: Any) -> None:
        super().__init__(timeout=max_delay_s, **kwargs)
        self.max_delay_s = max_delay_s

    def _extract_delay(self) -> float:
        return min(super()._extract_delay(), self.max_delay_s)


@contextmanager
def identity_environment(state: EmulatorState) -> Iterator[None]:
    """IDENTITY_ENDPOINT/IDENTITY_HEADER for DefaultAzureCredential; AZURE_CLIENT_* removed."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("AZURE_CLIENT_") or k in ("AZURE_TENANT_ID", "MSI_ENDPOINT")]:
        del os.environ[key]
    os.environ["IDENTITY_ENDPOINT"] = state.identity_endpoint
    os.environ["IDENTITY_HEADER"] = Path(state.identity_header_file).read_text().strip()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def network_client(state: EmulatorState, subscription_id: str, **kwargs: Any) -> Iterator[NetworkManagementClient]:
    """The client production code builds, pointed at the emulator (base URL + CA bundle);
    closes it and its credential afterwards."""
    with DefaultAzureCredential() as credential, NetworkManagementClient(
            credential, subscription_id, base_url=state.base_url, connection_verify=state.ca_bundle,
            **kwargs) as client:
        yield client


def sample_topology() -> tuple[AzureResources, list[TunnelState]]:
    """The seed lab's shape: two instances, Tunnel1 (IPsec) to instance 0, Tunnel2 (plain) to 1."""
    resources = AzureResources(instances=[
        AzureInstanceState(index=0, router="gw0", public_ip="198.51.100.10", bgp_ip="169.254.21.1",
                           private_ip="10.0.255.4", ip_configuration="vnetGatewayConfig0"),
        AzureInstanceState(index=1, router="gw1", public_ip="198.51.100.11", bgp_ip="169.254.21.5",
                           private_ip="10.0.255.5", ip_configuration="vnetGatewayConfig1"),
    ])
    tunnels = [
        TunnelState(name="Tunnel1", onprem_router="edge1", onprem_interface="Tunnel1", onprem_bgp_ip="169.254.21.2",
                    onprem_public_ip="203.0.113.10", azure_instance=0, azure_interface="cn-edge1-t1",
                    azure_bgp_ip="169.254.21.1", azure_public_ip="198.51.100.10", ipsec=True,
                    ike_name="tunnel1", connection="cn-edge1-t1", local_network_gateway="lng-edge1-t1"),
        TunnelState(name="Tunnel2", onprem_router="edge1", onprem_interface="Tunnel2", onprem_bgp_ip="169.254.21.6",
                    onprem_public_ip="203.0.113.10", azure_instance=1, azure_interface="cn-edge1-t2",
                    azure_bgp_ip="169.254.21.5", azure_public_ip="198.51.100.11", ipsec=False,
                    connection="cn-edge1-t2", local_network_gateway="lng-edge1-t2"),
    ]
    return resources, tunnels


def _up(name: str, rx: int, tx: int) -> InterfaceObservation:
    return InterfaceObservation(name=name, admin_up=True, oper_up=True, rx_bytes=rx, tx_bytes=tx)


def sample_gateway() -> StaticGateway:
    """Both peers up; instance 1 also hears 192.168.10.0/24 from instance 0 over iBGP."""
    onprem = RouteObservation(network="192.168.10.0/24", next_hop="169.254.21.2", source_peer="169.254.21.2",
                              origin="EBgp", as_path=[65010])
    vnet = RouteObservation(network="10.0.0.0/16", next_hop=None, source_peer=None, origin="Network", as_path=[])
    ike = IkeSaObservation(
        name="tunnel1", state="ESTABLISHED", local_host="198.51.100.10", remote_host="203.0.113.10",
        local_port=4500, remote_port=4500, initiator=False, initiator_spi="8f3a", responder_spi="11b2",
        encryption="AES_GCM_16256", integrity="", dh_group="CURVE_25519", established_s=125, rekey_s=3000,
        children=[ChildSaObservation(name="tunnel1", state="INSTALLED", encryption="AES_GCM_16256",
                                     spi_in="c1", spi_out="c2", bytes_in=1000, bytes_out=2000,
                                     packets_in=10, packets_out=20, local_ts=["10.0.0.0/16"],
                                     remote_ts=["192.168.10.0/24"], lifetime_s=3300, installed_s=125)])
    return StaticGateway(
        peers={
            0: [PeerObservation(neighbor="10.0.255.5", asn=65515, bgp_state="Established", uptime_ms=90_061_001,
                                prefixes_received=1, messages_sent=50, messages_received=51),
                PeerObservation(neighbor="169.254.21.2", asn=65010, bgp_state="Established", uptime_ms=3_723_456,
                                prefixes_received=1, messages_sent=120, messages_received=118)],
            1: [PeerObservation(neighbor="10.0.255.4", asn=65515, bgp_state="Established", uptime_ms=90_061_001,
                                prefixes_received=2, messages_sent=51, messages_received=50),
                PeerObservation(neighbor="169.254.21.6", asn=65010, bgp_state="Active",
                                messages_sent=3, messages_received=2)],
        },
        learned={
            0: [vnet, onprem],
            1: [vnet, RouteObservation(network="192.168.10.0/24", next_hop="10.0.255.4", source_peer="10.0.255.4",
                                       origin="IBgp", as_path=[65010])],
        },
        advertised={0: [RouteObservation(network="10.0.0.0/16", next_hop="0.0.0.0", source_peer=None,
                                         origin="Network", as_path=[])]},
        tunnels=[
            TunnelObservation(tunnel="Tunnel1", ipsec=True, ike_sa=ike, azure_interface=_up("cn-edge1-t1", 5000, 7000),
                              onprem_interface=_up("Tunnel1", 7000, 5000)),
            TunnelObservation(tunnel="Tunnel2", ipsec=False, azure_interface=_up("cn-edge1-t2", 10, 20),
                              onprem_interface=InterfaceObservation(name="Tunnel2", admin_up=False, oper_up=False)),
        ],
    )
