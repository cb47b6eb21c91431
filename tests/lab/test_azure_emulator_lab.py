"""The real Azure SDK against the lab's emulator, answering from the live FRR/strongSwan lab."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import BgpPeerStatus, GatewayRoute

from failover_harness.lab.azure_emulator.control import EmulatorControl
from failover_harness.lab.azure_emulator.testing import FastARMPolling, identity_environment, network_client
from failover_harness.lab.state import LabState
from tests.lab.conftest import lab_vtysh

pytestmark = pytest.mark.lab

ONPREM_LAN = "192.168.10.0/24"
T = TypeVar("T")


@pytest.fixture(scope="module")
def arm(lab: LabState) -> Iterator[NetworkManagementClient]:
    assert lab.emulator is not None, "the lab started no Azure emulator"
    control = EmulatorControl.from_state(lab.emulator)
    before = control.state().settings
    control.set(lro_latency_s=0.3, snapshot_at="end")
    try:
        with identity_environment(lab.emulator), network_client(lab.emulator, lab.azure.subscription_id) as client:
            yield client
    finally:
        control.clear_faults()
        control.set(**before.model_dump())


def peers(lab: LabState, arm: NetworkManagementClient) -> dict[tuple[str, str], BgpPeerStatus]:
    az = lab.azure
    result = arm.virtual_network_gateways.begin_get_bgp_peer_status(
        az.resource_group, az.gateway, polling=FastARMPolling()).result()
    return {(p.local_address, p.neighbor): p for p in result.value or []}


def learned(lab: LabState, arm: NetworkManagementClient) -> list[GatewayRoute]:
    az = lab.azure
    return list(arm.virtual_network_gateways.begin_get_learned_routes(
        az.resource_group, az.gateway, polling=FastARMPolling()).result().value or [])


def wait_for(what: str, probe: Callable[[], T], done: Callable[[T], bool], timeout_s: float) -> tuple[T, float]:
    """Polls `probe` until `done`; returns the last value and the seconds it took."""
    start = time.monotonic()
    while True:
        value = probe()
        if done(value):
            return value, time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            pytest.fail(f"{what}: not within {timeout_s:.0f} s; last: {value!r}")
        time.sleep(0.2)


def all_connected(p: dict[tuple[str, str], BgpPeerStatus]) -> bool:
    return bool(p) and all(x.state == "Connected" for x in p.values())


def vtysh(lab: LabState, router: str, *commands: str) -> None:
    argv = ["vtysh", "--vty_socket", lab.routers[router].frr_dir]
    for c in commands:
        argv += ["-c", c]
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


def test_peers_and_routes_match_the_routers(lab: LabState, arm: NetworkManagementClient) -> None:
    status, _ = wait_for("all Azure peers Connected", lambda: peers(lab, arm), all_connected, 60)
    for inst in lab.azure.instances:
        frr = lab_vtysh(lab, inst.router, "show bgp summary json")["ipv4Unicast"]["peers"]  # type: ignore[index]
        for t in (t for t in lab.tunnels if t.azure_instance == inst.index):
            p = status[(inst.private_ip, t.onprem_bgp_ip)]
            assert p.asn == frr[t.onprem_bgp_ip]["remoteAs"] and p.connected_duration
            assert p.routes_received == frr[t.onprem_bgp_ip]["pfxRcd"]
        others = [i for i in lab.azure.instances if i.index != inst.index]
        assert all(status[(inst.private_ip, o.private_ip)].asn == lab.azure.asn for o in others)
    # The VNet router stands in for Azure's SDN: it is no peer of the gateway.
    assert {n for _, n in status} == {t.onprem_bgp_ip for t in lab.tunnels} | {i.private_ip for i in lab.azure.instances}
    rows = learned(lab, arm)
    for t in lab.tunnels:
        inst = lab.azure.instances[t.azure_instance]
        ebgp = [r for r in rows if r.local_address == inst.private_ip and r.network == ONPREM_LAN and r.origin == "EBgp"]
        assert [(r.next_hop, r.source_peer, r.weight) for r in ebgp] == [(t.onprem_bgp_ip, t.onprem_bgp_ip, 32769)]
        assert ebgp[0].as_path == "65010"
    for inst in lab.azure.instances:
        own = [r for r in rows if r.local_address == inst.private_ip and r.origin == "Network"]
        assert [(r.network, r.next_hop, r.as_path) for r in own] == [(p, None, "") for p in lab.azure.vnet_prefixes]
        assert any(r.origin == "IBgp" and r.network == ONPREM_LAN for r in rows if r.local_address == inst.private_ip)


def test_connections_and_ike_sas_follow_strongswan(lab: LabState, arm: NetworkManagementClient) -> None:
    az = lab.azure
    conns = {c.name: c for c in arm.virtual_network_gateways.list_connections(az.resource_group, az.gateway)}
    assert set(conns) == {t.connection for t in lab.tunnels}
    for t in lab.tunnels:
        c = conns[t.connection]
        assert c.connection_status == "Connected", c.as_dict()
        assert (c.ingress_bytes_transferred or 0) > 0 and (c.egress_bytes_transferred or 0) > 0
        if t.ipsec:
            text = arm.virtual_network_gateway_connections.begin_get_ike_sas(
                az.resource_group, t.connection, polling=FastARMPolling()).result()
            sas = json.loads(text)
            assert [(s["localEndpoint"], s["remoteEndpoint"]) for s in sas] == [(t.azure_public_ip, t.onprem_public_ip)]
            assert sas[0]["quickModeSa"], "no CHILD SA"


def test_tunnel1_shut_and_restore(lab: LabState, arm: NetworkManagementClient) -> None:
    t1 = next(t for t in lab.tunnels if t.name == "Tunnel1")
    inst = lab.azure.instances[t1.azure_instance]
    key = (inst.private_ip, t1.onprem_bgp_ip)
    wait_for("all peers Connected", lambda: peers(lab, arm), all_connected, 60)
    neighbor = lab_vtysh(lab, inst.router, f"show bgp neighbors {t1.onprem_bgp_ip} json")[t1.onprem_bgp_ip]
    hold_s = int(neighbor["bgpTimerHoldTimeMsecs"]) / 1000  # type: ignore[index]

    def via_t1() -> bool:
        return any(r.network == ONPREM_LAN and r.next_hop == t1.onprem_bgp_ip for r in learned(lab, arm))

    vtysh(lab, t1.onprem_router, "configure terminal", f"interface {t1.onprem_interface}", "shutdown")
    try:
        status, took = wait_for("instance 0 peer leaves Connected", lambda: peers(lab, arm),
                                lambda p: p[key].state != "Connected", hold_s + 10)
        print(f"Azure peer {t1.onprem_bgp_ip} left Connected {took:.1f} s after shut (hold {hold_s:.0f} s)")
        assert status[key].connected_duration is None
        wait_for("learned routes drop Tunnel1's next hop", via_t1, lambda v: not v, 10)
        conn = arm.virtual_network_gateway_connections.get(lab.azure.resource_group, t1.connection)
        assert conn.connection_status == "NotConnected"
    finally:
        vtysh(lab, t1.onprem_router, "configure terminal", f"interface {t1.onprem_interface}", "no shutdown")
    _, took = wait_for("instance 0 peer Connected again", lambda: peers(lab, arm),
                       lambda p: p[key].state == "Connected", 60)
    print(f"Azure peer {t1.onprem_bgp_ip} Connected {took:.1f} s after no shutdown")
    wait_for("learned routes regain Tunnel1's next hop", via_t1, lambda v: v, 30)
    conn = arm.virtual_network_gateway_connections.get(lab.azure.resource_group, t1.connection)
    assert conn.connection_status == "Connected"


def test_reset_one_instance_restarts_its_sessions(lab: LabState, arm: NetworkManagementClient) -> None:
    inst = lab.azure.instances[1]
    t = next(t for t in lab.tunnels if t.azure_instance == inst.index)
    wait_for("all peers Connected", lambda: peers(lab, arm), all_connected, 60)

    def dropped() -> int:
        n = lab_vtysh(lab, inst.router, f"show bgp neighbors {t.onprem_bgp_ip} json")[t.onprem_bgp_ip]
        return int(n.get("connectionsDropped", 0))  # type: ignore[union-attr]

    def spis() -> list[str]:
        if not t.ipsec:
            return []
        text = arm.virtual_network_gateway_connections.begin_get_ike_sas(
            lab.azure.resource_group, t.connection, polling=FastARMPolling()).result()
        return [sa["initiatorCookie"] for sa in json.loads(text)]

    before, spis_before = dropped(), spis()
    arm.virtual_network_gateways.begin_reset(lab.azure.resource_group, lab.azure.gateway,
                                             gateway_vip=inst.public_ip, polling=FastARMPolling()).result()
    assert dropped() > before
    wait_for("all peers Connected after the reset", lambda: peers(lab, arm), all_connected, 60)
    conn, _ = wait_for("connection Connected after the reset", lambda: arm.virtual_network_gateway_connections.get(
        lab.azure.resource_group, t.connection), lambda c: c.connection_status == "Connected", 30)
    assert conn.connection_status == "Connected"
    if t.ipsec:  # a new IKE SA, not the old one
        now = spis()
        assert len(now) == 1 and now != spis_before


def test_example_script_prints_peers_and_routes(lab: LabState) -> None:
    out = subprocess.run([sys.executable, "-m", "failover_harness.lab.azure_emulator.example", "--lab-dir", lab.run_dir],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    assert all(t.onprem_bgp_ip in out for t in lab.tunnels) and ONPREM_LAN in out
