"""`inventory discover`'s Azure reads through the real SDK against the emulator (no root):
the lab's shape (one local network gateway per router, a connection per tunnel), in
active-active and active-standby mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from failover_harness.azure.client import AzureConnection
from failover_harness.azure.discovery import DiscoveredGateway, discover_gateway
from failover_harness.azure.settings import AzureSettings
from failover_harness.lab.azure_emulator.control import EmulatorControl
from failover_harness.lab.azure_emulator.runner import EmulatorThread, write_secret
from failover_harness.lab.azure_emulator.server import Emulator
from failover_harness.lab.azure_emulator.settings import EmulatorSettings
from failover_harness.lab.azure_emulator.static_source import StaticGatewaySource
from failover_harness.lab.azure_emulator.testing import identity_environment, sample_gateway, sample_topology
from failover_harness.lab.azure_emulator.tls import make_lab_tls
from failover_harness.lab.state import EmulatorState
from failover_harness.orchestrator.discover import DeviceHints, discover

RES, TUNNELS = sample_topology()
SHARED_LNG = [t.model_copy(update={"local_network_gateway": "lng-edge1"}) for t in TUNNELS]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorState]:
    d: Path = tmp_path_factory.mktemp("azure")
    tls = make_lab_tls(d)
    write_secret(d / "identity-header", "s3cret-header")
    emu = Emulator(RES, SHARED_LNG, StaticGatewaySource(sample_gateway()), "s3cret-header",
                   EmulatorSettings(lro_latency_s=0.2))
    with EmulatorThread(emu, tls, d / "identity-header") as thread, identity_environment(thread.state):
        yield thread.state


def _read(state: EmulatorState, active_active: bool) -> DiscoveredGateway:
    EmulatorControl.from_state(state).set(active_active=active_active)
    settings = AzureSettings(subscription_id=RES.subscription_id, resource_group=RES.resource_group,
                             gateway=RES.gateway, base_url=state.base_url, ca_bundle=state.ca_bundle)
    conn = AzureConnection(settings)
    try:
        return discover_gateway(conn.client, RES.subscription_id, RES.resource_group, RES.gateway)
    finally:
        conn.close()


def _tunnels(gw: DiscoveredGateway) -> list[tuple[str, int, str, str]]:
    data, _ = discover(gw, DeviceHints(name="edge1"))
    return sorted((t["connection"], t["azure_instance"], t["neighbor"], t["local_address"])
                  for t in data["devices"]["edge1"]["tunnels"].values())


def test_active_active_lab_shape_maps_each_tunnel_to_its_instance(emulator: EmulatorState) -> None:
    gw = _read(emulator, active_active=True)
    assert gw.active_active and [i.public_ip for i in gw.instances] == ["198.51.100.10", "198.51.100.11"]
    # Independent source: the lab topology the emulator was built from.
    expected = sorted((t.connection, t.azure_instance, t.azure_bgp_ip, t.onprem_bgp_ip) for t in TUNNELS)
    assert _tunnels(gw) == expected


def test_active_standby_keeps_the_tunnels_instance_0_serves(emulator: EmulatorState) -> None:
    try:
        gw = _read(emulator, active_active=False)
    finally:
        EmulatorControl.from_state(emulator).set(active_active=True)
    assert not gw.active_active and len(gw.instances) == 1
    expected = sorted((t.connection, 0, t.azure_bgp_ip, t.onprem_bgp_ip) for t in TUNNELS if t.azure_instance == 0)
    assert _tunnels(gw) == expected
