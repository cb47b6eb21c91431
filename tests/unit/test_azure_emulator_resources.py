"""ARM resources a user's script reads (gateway, public IPs, local network gateways,
connections in the resource group), active-standby, and resets, through the real SDK."""

from __future__ import annotations

import ipaddress
import threading
import time

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.network import NetworkManagementClient

from failover_harness.lab.azure_emulator.testing import FastARMPolling
from tests.unit.azure_emulator_fixtures import (  # noqa: F401 - fixtures
    RES,
    TUNNELS,
    Running,
    client,
    emu,
    running,
)

RG, GW = RES.resource_group, RES.gateway
TEST_NET_2 = ipaddress.ip_network("198.51.100.0/24")


def vip_of_instance(client: NetworkManagementClient, index: int) -> str:
    """What a user's script does: gateway ip configuration -> public IP resource -> address."""
    gw = client.virtual_network_gateways.get(RG, GW)
    config = (gw.ip_configurations or [])[index]
    assert config.public_ip_address is not None and config.public_ip_address.id
    pip_name = config.public_ip_address.id.rsplit("/", 1)[-1]
    address = client.public_ip_addresses.get(RG, pip_name).ip_address
    assert address is not None
    return address


def test_vip_found_through_ip_configurations_and_public_ips(client: NetworkManagementClient) -> None:
    vips = [vip_of_instance(client, i) for i in (0, 1)]
    assert vips == [i.public_ip for i in RES.instances]
    assert all(ipaddress.ip_address(v) in TEST_NET_2 for v in vips)
    gw = client.virtual_network_gateways.get(RG, GW)
    peering = gw.bgp_settings.bgp_peering_addresses  # type: ignore[union-attr]
    assert [p.tunnel_ip_addresses for p in peering or []] == [[v] for v in vips]
    pip = client.public_ip_addresses.get(RG, f"{GW}-pip1")
    assert pip.ip_configuration is not None and pip.ip_configuration.id == (gw.ip_configurations or [])[1].id
    assert (pip.public_ip_allocation_method, pip.sku.name) == ("Static", "Standard")  # type: ignore[union-attr]
    listed = {p.name: p.ip_address for p in client.public_ip_addresses.list(RG)}
    assert listed == {f"{GW}-pip0": vips[0], f"{GW}-pip1": vips[1]}
    with pytest.raises(ResourceNotFoundError):
        client.public_ip_addresses.get(RG, "pip-none")


def test_local_network_gateways_and_connections_in_the_resource_group(client: NetworkManagementClient) -> None:
    conns = {c.name: c for c in client.virtual_network_gateway_connections.list(RG)}
    assert set(conns) == {t.connection for t in TUNNELS}
    for t in TUNNELS:
        c = client.virtual_network_gateway_connections.get(RG, t.connection)
        assert c.virtual_network_gateway1.id.endswith(f"/virtualNetworkGateways/{GW}")
        assert c.local_network_gateway2 is not None and c.local_network_gateway2.id
        assert (c.enable_bgp, c.dpd_timeout_seconds) == (True, 45)
        lng = client.local_network_gateways.get(RG, c.local_network_gateway2.id.rsplit("/", 1)[-1])
        assert lng.gateway_ip_address == t.onprem_public_ip
        assert lng.bgp_settings is not None
        assert (lng.bgp_settings.asn, lng.bgp_settings.bgp_peering_address) == (65010, t.onprem_bgp_ip)
        assert f"{t.onprem_bgp_ip}/32" in lng.local_network_address_space.address_prefixes  # type: ignore[union-attr]
    assert conns["cn-edge1-t1"].connection_status == "Connected"
    assert {g.name for g in client.local_network_gateways.list(RG)} == {t.local_network_gateway for t in TUNNELS}
    assert [g.name for g in client.virtual_network_gateways.list(RG)] == [GW]


def test_active_standby_serves_one_instance(emu: Running, client: NetworkManagementClient) -> None:
    emu.control.set(active_active=False)
    gw = client.virtual_network_gateways.get(RG, GW)
    assert gw.active_active is False
    assert [c.name for c in gw.ip_configurations or []] == ["vnetGatewayConfig0"]
    assert gw.bgp_settings.bgp_peering_address == "10.0.255.4"  # type: ignore[union-attr]
    assert [p.name for p in client.public_ip_addresses.list(RG)] == [f"{GW}-pip0"]
    peers = client.virtual_network_gateways.begin_get_bgp_peer_status(RG, GW, polling=FastARMPolling()).result()
    assert {p.local_address for p in peers.value or []} == {"10.0.255.4"}
    with pytest.raises(HttpResponseError) as e:  # instance 1's address is no VIP of this gateway
        client.virtual_network_gateways.begin_reset(RG, GW, gateway_vip="198.51.100.11", polling=FastARMPolling())
    assert e.value.status_code == 400


def test_reset_lasts_the_outage_and_shows_updating(emu: Running, client: NetworkManagementClient) -> None:
    emu.control.set(reset_outage_s=(2.0, 2.0))  # long enough to be seen under load
    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(client.virtual_network_gateways.get(RG, GW).provisioning_state or "")
            time.sleep(0.1)

    start = time.monotonic()
    poller = client.virtual_network_gateways.begin_reset(RG, GW, gateway_vip="198.51.100.11", polling=FastARMPolling())
    watcher = threading.Thread(target=watch)
    watcher.start()
    gw = poller.result()
    took = time.monotonic() - start
    stop.set()
    watcher.join()
    assert gw.name == GW and gw.provisioning_state == "Succeeded"
    assert took >= 2.0, "the reset LRO completes only once the instance is back"
    assert "Updating" in seen
    [record] = [r for r in emu.control.state().resets if r.target == "instance 1" and r.outage_s == 2.0]
    assert record.restored_unix is not None and record.restored_unix - record.started_unix >= 2.0
    assert emu.source.resets == [("instance", 1)]
