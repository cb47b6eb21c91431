"""The real Azure SDK against the lab's emulator, answering from the live FRR/strongSwan lab."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
import vici
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import BgpPeerStatus, GatewayRoute

from failover_harness.lab.azure_emulator.control import EmulatorControl
from failover_harness.lab.azure_emulator.testing import FastARMPolling, identity_environment, network_client
from failover_harness.lab.state import LabState, TunnelState
from tests.lab.azcli import AzCli, az_venv
from tests.lab.conftest import lab_vtysh

pytestmark = pytest.mark.lab

ONPREM_LAN = "192.168.10.0/24"
TEST_NET_2 = ipaddress.ip_network("198.51.100.0/24")
T = TypeVar("T")


@pytest.fixture(scope="module")
def arm(lab: LabState) -> Iterator[NetworkManagementClient]:
    assert lab.emulator is not None, "the lab started no Azure emulator"
    control = EmulatorControl.from_state(lab.emulator)
    before = control.state().settings
    control.set(lro_latency_s=0.3, lro_jitter_s=0, snapshot_at="end")
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


RESET_OUTAGE_S = 4.0


def onprem_peer_states(lab: LabState, router: str) -> dict[str, str]:
    peers_ = lab_vtysh(lab, router, "show bgp summary json")["ipv4Unicast"]["peers"]  # type: ignore[index]
    return {a: str(p["state"]) for a, p in peers_.items()}  # type: ignore[union-attr]


def onprem_ike_spis(lab: LabState, t: TunnelState) -> list[str]:
    """The IKE SA SPIs of a tunnel as the on-prem router's own charon has them."""
    sock = lab.routers[t.onprem_router].vici_socket
    assert sock is not None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sock)
        return [bytes(sa.get("initiator-spi", b"")).decode() for entry in vici.Session(s).list_sas({"ike": t.ike_name})
                for sa in entry.values() if sa.get("state") == b"ESTABLISHED"]
    finally:
        s.close()


def test_resources_follow_the_lab(lab: LabState, arm: NetworkManagementClient) -> None:
    az = lab.azure
    gw = arm.virtual_network_gateways.get(az.resource_group, az.gateway)
    assert gw.active_active is True
    for inst, config in zip(az.instances, gw.ip_configurations or [], strict=True):
        assert config.public_ip_address is not None and config.public_ip_address.id
        pip = arm.public_ip_addresses.get(az.resource_group, config.public_ip_address.id.rsplit("/", 1)[-1])
        assert pip.ip_address is not None and ipaddress.ip_address(pip.ip_address) in TEST_NET_2
        # Independent: the VIP is the address the instance router really has on its underlay.
        addrs = subprocess.run(["ip", "-n", lab.routers[inst.router].netns, "-j", "addr"], check=True,
                               capture_output=True, text=True).stdout
        assert f'"{pip.ip_address}"' in addrs
    conns = list(arm.virtual_network_gateway_connections.list(az.resource_group))
    assert {c.name for c in conns} == {t.connection for t in lab.tunnels}
    for t in lab.tunnels:
        c = arm.virtual_network_gateway_connections.get(az.resource_group, t.connection)
        assert c.local_network_gateway2 is not None and c.local_network_gateway2.id
        lng = arm.local_network_gateways.get(az.resource_group, c.local_network_gateway2.id.rsplit("/", 1)[-1])
        onprem_as = lab_vtysh(lab, t.onprem_router, "show bgp summary json")["ipv4Unicast"]["as"]  # type: ignore[index]
        assert lng.bgp_settings is not None and lng.bgp_settings.asn == onprem_as
        assert lng.gateway_ip_address == t.onprem_public_ip
        assert f"{t.onprem_bgp_ip}/32" in lng.local_network_address_space.address_prefixes  # type: ignore[union-attr]
        # Independent: the peering address is one the on-prem router really has.
        onprem_addrs = subprocess.run(["ip", "-n", lab.routers[t.onprem_router].netns, "-j", "addr"], check=True,
                                      capture_output=True, text=True).stdout
        assert f'"{lng.bgp_settings.bgp_peering_address}"' in onprem_addrs


def test_reset_takes_one_instance_away_for_the_outage(lab: LabState, arm: NetworkManagementClient) -> None:
    assert lab.emulator is not None
    EmulatorControl.from_state(lab.emulator).set(reset_outage_s=(RESET_OUTAGE_S, RESET_OUTAGE_S))
    inst = lab.azure.instances[1]
    t = next(t for t in lab.tunnels if t.azure_instance == inst.index)
    other = next(t for t in lab.tunnels if t.azure_instance != inst.index)
    key = (inst.private_ip, t.onprem_bgp_ip)
    wait_for("all peers Connected", lambda: peers(lab, arm), all_connected, 60)
    spis_before = onprem_ike_spis(lab, t) if t.ipsec else []
    start = time.monotonic()
    poller = arm.virtual_network_gateways.begin_reset(lab.azure.resource_group, lab.azure.gateway,
                                                      gateway_vip=inst.public_ip, polling=FastARMPolling())
    onprem: list[tuple[float, str, str]] = []  # (s since start, state towards inst, towards the other)
    azure_states: list[str] = []
    while not poller.done():
        states = onprem_peer_states(lab, t.onprem_router)
        onprem.append((time.monotonic() - start, states[t.azure_bgp_ip], states[other.azure_bgp_ip]))
        azure_states.append(peers(lab, arm)[key].state or "")
        time.sleep(0.1)
    took = time.monotonic() - start
    poller.result()
    down = [at for at, state, _ in onprem if state != "Established"]
    print(f"reset of instance {inst.index}: LRO {took:.1f} s; on-prem saw its session down "
          f"{down[0]:.1f}..{down[-1]:.1f} s; Azure states {sorted(set(azure_states))}")
    # The on-prem router (independent of the emulator) saw the session go down at once and
    # stay down about the outage; the other instance's session never left Established.
    assert down and down[0] < 2.0
    assert RESET_OUTAGE_S - 1.0 <= down[-1] - down[0] + 0.5, "down for less than the outage"
    assert all(o == "Established" for _, _, o in onprem)
    notification = lab_vtysh(lab, t.onprem_router, f"show bgp neighbors {t.azure_bgp_ip} json")[t.azure_bgp_ip]
    assert "Cease" in str(notification.get("lastNotificationReason", ""))  # type: ignore[union-attr]
    assert took >= RESET_OUTAGE_S, "the reset operation ends once the instance is back"
    assert any(s != "Connected" for s in azure_states), "Azure's view did not follow the outage"
    wait_for("all peers Connected after the reset", lambda: peers(lab, arm), all_connected, 60)
    wait_for("connection Connected after the reset", lambda: arm.virtual_network_gateway_connections.get(
        lab.azure.resource_group, t.connection).connection_status, lambda s: s == "Connected", 30)
    if t.ipsec:  # a new IKE SA, as the on-prem router's charon sees it
        spis, _ = wait_for("a new IKE SA on-prem", lambda: onprem_ike_spis(lab, t), lambda s: len(s) == 1, 30)
        assert spis != spis_before


def test_reset_connection_renews_the_ike_sa_without_a_reboot(lab: LabState, arm: NetworkManagementClient) -> None:
    t = next(t for t in lab.tunnels if t.ipsec)
    inst = next(i for i in lab.azure.instances if i.index == t.azure_instance)
    wait_for("all peers Connected", lambda: peers(lab, arm), all_connected, 60)
    ibgp = [i.private_ip for i in lab.azure.instances if i.index != inst.index]

    def ibgp_drops() -> list[int]:
        return [int(lab_vtysh(lab, inst.router, f"show bgp neighbors {a} json")[a].get(  # type: ignore[union-attr]
            "connectionsDropped", 0)) for a in ibgp]

    drops_before, spis_before = ibgp_drops(), onprem_ike_spis(lab, t)
    arm.virtual_network_gateway_connections.begin_reset_connection(
        lab.azure.resource_group, t.connection, polling=FastARMPolling()).result()
    spis, took = wait_for("a new IKE SA on-prem", lambda: onprem_ike_spis(lab, t),
                          lambda s: len(s) == 1 and s != spis_before, 30)
    print(f"connection reset: new IKE SA on-prem within {took:.1f} s")
    assert ibgp_drops() == drops_before, "the gateway instance rebooted (its iBGP session dropped)"
    gw = arm.virtual_network_gateways.get(lab.azure.resource_group, lab.azure.gateway)
    assert gw.provisioning_state == "Succeeded"
    wait_for("connection Connected after the reset", lambda: arm.virtual_network_gateway_connections.get(
        lab.azure.resource_group, t.connection).connection_status, lambda s: s == "Connected", 30)


def test_example_script_prints_peers_and_routes(lab: LabState) -> None:
    out = subprocess.run([sys.executable, "-m", "failover_harness.lab.azure_emulator.example", "--lab-dir", lab.run_dir],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    assert all(t.onprem_bgp_ip in out for t in lab.tunnels) and ONPREM_LAN in out


# --- any Azure client: the az CLI ------------------------------------------------------

@pytest.fixture(scope="module")
def az(lab: LabState, arm: NetworkManagementClient, tmp_path_factory: pytest.TempPathFactory) -> AzCli:
    assert lab.emulator is not None
    cli = AzCli(az_venv(), lab.emulator, tmp_path_factory.mktemp("azure-config"))
    [account] = cli.log_in(lab.emulator.base_url)  # type: ignore[misc]
    assert account["id"] == lab.azure.subscription_id and account["user"]["type"] == "servicePrincipal"
    return cli


def test_az_cli_lists_the_labs_peers_and_routes(lab: LabState, arm: NetworkManagementClient, az: AzCli) -> None:
    wait_for("all peers Connected", lambda: peers(lab, arm), all_connected, 60)
    rg, gw = lab.azure.resource_group, lab.azure.gateway
    status = az.json("network", "vnet-gateway", "list-bgp-peer-status", "-g", rg, "-n", gw)
    rows = {(p["localAddress"], p["neighbor"]): p for p in status["value"]}  # type: ignore[index]
    for inst in lab.azure.instances:  # independent: each instance router's own BGP table
        frr = lab_vtysh(lab, inst.router, "show bgp summary json")["ipv4Unicast"]["peers"]  # type: ignore[index]
        for t in (t for t in lab.tunnels if t.azure_instance == inst.index):
            assert frr[t.onprem_bgp_ip]["state"] == "Established"  # type: ignore[index]
            row = rows[(inst.private_ip, t.onprem_bgp_ip)]
            assert (row["state"], row["asn"]) == ("Connected", frr[t.onprem_bgp_ip]["remoteAs"])  # type: ignore[index]
    routes = az.json("network", "vnet-gateway", "list-learned-routes", "-g", rg, "-n", gw)
    for t in lab.tunnels:
        inst = next(i for i in lab.azure.instances if i.index == t.azure_instance)
        table = lab_vtysh(lab, inst.router, f"show bgp ipv4 unicast {ONPREM_LAN} json")
        frr_hops = {h["ip"] for p in table["paths"] for h in p["nexthops"]}  # type: ignore[index, union-attr, attr-defined]
        assert t.onprem_bgp_ip in frr_hops
        assert any(r["localAddress"] == inst.private_ip and r["network"] == ONPREM_LAN and r["nextHop"] == t.onprem_bgp_ip
                   and r["origin"] == "EBgp" for r in routes["value"])  # type: ignore[index]


def test_az_cli_resets_an_instance_by_its_vip(lab: LabState, arm: NetworkManagementClient, az: AzCli) -> None:
    assert lab.emulator is not None
    EmulatorControl.from_state(lab.emulator).set(reset_outage_s=(3.0, 3.0))
    rg, gw = lab.azure.resource_group, lab.azure.gateway
    inst = lab.azure.instances[1]
    t = next(t for t in lab.tunnels if t.azure_instance == inst.index)
    other = next(t for t in lab.tunnels if t.azure_instance != inst.index)
    wait_for("all peers Connected", lambda: peers(lab, arm), all_connected, 60)
    # The user's way to the VIP: the gateway's ip configuration -> its public IP resource.
    pip_id = az.run("network", "vnet-gateway", "show", "-g", rg, "-n", gw, "--query",
                    f"ipConfigurations[{inst.index}].publicIPAddress.id", "-o", "tsv").strip()
    vip = az.run("network", "public-ip", "show", "--ids", pip_id, "--query", "ipAddress", "-o", "tsv").strip()
    assert vip == inst.public_ip

    def dropped(tunnel: TunnelState) -> int:
        n = lab_vtysh(lab, tunnel.onprem_router, f"show bgp neighbors {tunnel.azure_bgp_ip} json")[tunnel.azure_bgp_ip]
        return int(n.get("connectionsDropped", 0))  # type: ignore[union-attr]

    before, other_before = dropped(t), dropped(other)
    state = az.run("network", "vnet-gateway", "reset", "-g", rg, "-n", gw, "--gateway-vip", vip,
                   "--query", "provisioningState", "-o", "tsv")
    assert state.strip() == "Succeeded"
    # Independent: the on-prem router lost its session to that instance only.
    assert dropped(t) > before and dropped(other) == other_before
    wait_for("all peers Connected after the reset", lambda: peers(lab, arm), all_connected, 60)
