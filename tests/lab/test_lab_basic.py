"""The default lab: sessions, ECMP, data plane, IPsec."""

from __future__ import annotations

import subprocess

import pytest

from failover_harness.lab.state import LabState
from tests.lab.conftest import lab_vtysh

pytestmark = pytest.mark.lab


def test_all_bgp_sessions_established(lab: LabState) -> None:
    expected_peers = {"edge1": 2, "gw0": 3, "gw1": 3, "vnet": 2}
    for router, count in expected_peers.items():
        peers = lab_vtysh(lab, router, "show bgp summary json")["ipv4Unicast"]["peers"]  # type: ignore[index]
        assert len(peers) == count, router
        assert {p["state"] for p in peers.values()} == {"Established"}, (router, peers)


def test_vnet_has_ecmp_back_to_onprem(lab: LabState) -> None:
    routes = lab_vtysh(lab, "vnet", "show ip route 192.168.10.0/24 json")["192.168.10.0/24"]
    hops = {h["ip"] for h in routes[0]["nexthops"] if h.get("active")}  # type: ignore[index]
    assert hops == {"10.0.255.4", "10.0.255.5"}


def test_vnet_prefix_is_not_learned_back_by_the_vnet(lab: LabState) -> None:
    assert lab_vtysh(lab, "vnet", "show ip route 10.0.0.0/16 json") == {}


def test_instances_show_network_and_ibgp_rows(lab: LabState) -> None:
    table = lab_vtysh(lab, "gw0", "show bgp ipv4 unicast json")["routes"]
    vnet_paths = table["10.0.0.0/16"]  # type: ignore[index]
    assert any(p["nexthops"][0]["ip"] == "0.0.0.0" for p in vnet_paths)
    onprem_hops = {p["nexthops"][0]["ip"] for p in table["192.168.10.0/24"]}  # type: ignore[index]
    assert onprem_hops == {"169.254.21.2", "10.0.255.5"}


def test_ping_host_to_vm_from_every_source(lab: LabState) -> None:
    assert lab.host_netns
    for source in lab.host_ips:
        proc = subprocess.run(["ip", "netns", "exec", lab.host_netns, "ping", "-c", "2",
                               "-i", "0.2", "-W", "2", "-I", source, lab.vm_ip],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_tcp_host_to_vm(lab: LabState) -> None:
    assert lab.host_netns
    script = ("import socket; s = socket.create_connection(('%s', %d), 3); "
              "s.sendall(b'probe'); print(s.recv(16).decode())" % (lab.vm_ip, lab.vm_tcp_ports[0]))
    proc = subprocess.run(["ip", "netns", "exec", lab.host_netns, "python3", "-c", script],
                          capture_output=True, text=True, timeout=10)
    assert proc.stdout.strip() == "probe", proc.stderr


def test_udp_echo_on_the_vm(lab: LabState) -> None:
    assert lab.host_netns
    script = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
              "s.settimeout(3); s.sendto(b'udp-probe', ('%s', 7)); print(s.recv(64).decode())"
              % lab.vm_ip)
    proc = subprocess.run(["ip", "netns", "exec", lab.host_netns, "python3", "-c", script],
                          capture_output=True, text=True, timeout=10)
    assert proc.stdout.strip() == "udp-probe", proc.stderr


def test_cli_status_json_and_inventory(lab: LabState) -> None:
    import json
    import sys

    from failover_harness.inventory import load_inventory

    base = [sys.executable, "-m", "failover_harness.cli", "lab"]
    out = subprocess.run([*base, "status", "--prefix", lab.prefix, "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert {s["state"] for s in status["sessions"]} == {"Established"}
    assert status["vnet_next_hops"] == ["10.0.255.4", "10.0.255.5"]
    path = subprocess.run([*base, "inventory", "--prefix", lab.prefix], capture_output=True,
                          text=True, timeout=60).stdout.strip()
    assert path == lab.inventory
    inventory = load_inventory(path)
    dumped = inventory.model_dump(mode="json")
    assert dumped["devices"]["edge1"]["host"] == lab.mgmt["edge1"]
    assert set(dumped["devices"]["edge1"]["tunnels"]) == {"Tunnel1", "Tunnel2"}
    if lab.emulator is not None:
        assert dumped["azure"]["base_url"] == lab.emulator.base_url


def test_exec_runs_in_the_node(lab: LabState) -> None:
    import sys

    out = subprocess.run([sys.executable, "-m", "failover_harness.cli", "lab", "exec",
                          "--prefix", lab.prefix, "vm", "--", "ip", "-4", "-o", "addr", "show",
                          "eth0"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and f"{lab.vm_ip}/24" in out.stdout, out.stderr
