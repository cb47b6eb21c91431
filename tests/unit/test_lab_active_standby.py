"""The active-standby lab (`lab up --mode active-standby`) as data and configs (no root)."""

from __future__ import annotations

from failover_harness.lab import render
from failover_harness.lab.topology import ACTIVE_STANDBY_VIP, LabOptions, build_topology

MGMT = {"edge1": "198.18.255.0/30", "edge2": "198.18.255.4/30"}


def test_one_vip_one_tunnel_per_router_both_instances_carry_it() -> None:
    topo = build_topology(LabOptions(mode="active-standby"), MGMT)
    [tunnel] = topo.tunnels
    assert (tunnel.name, tunnel.azure_instance, tunnel.azure_public_ip, tunnel.azure_bgp_ip) == \
        ("Tunnel1", 0, ACTIVE_STANDBY_VIP, "169.254.21.1")
    assert tunnel.azure_routers == ["gw0", "gw1"]
    # One public IP and BGP address for the gateway; each instance keeps its own link.
    assert {i.public_ip for i in topo.instances} == {ACTIVE_STANDBY_VIP}
    assert {i.bgp_ip for i in topo.instances} == {"169.254.21.1"}
    assert [i.wan_ip for i in topo.instances] == ["198.51.100.10", "198.51.100.14"]
    # The VIP sits on the active instance only, and the underlay routes it there.
    assert ACTIVE_STANDBY_VIP in topo.node("gw0").loopback
    assert ACTIVE_STANDBY_VIP not in topo.node("gw1").loopback
    assert "100.64.1.1" in topo.node("gw1").loopback  # the standby's inner endpoint, ready
    assert [(r.prefix, r.via) for r in topo.node("inet").routes] == \
        [(f"{ACTIVE_STANDBY_VIP}/32", "198.51.100.10")]


def test_standby_sessions_towards_onprem_are_shut_its_ibgp_is_not() -> None:
    topo = build_topology(LabOptions(mode="active-standby"), MGMT)
    gw0, gw1 = render.frr_config(topo.router("gw0"), "/l"), render.frr_config(topo.router("gw1"), "/l")
    assert "neighbor 169.254.21.2 remote-as 65010" in gw0 and "neighbor 169.254.21.2 shutdown" not in gw0
    assert "neighbor 169.254.21.2 remote-as 65010" in gw1 and "neighbor 169.254.21.2 shutdown" in gw1
    assert "neighbor 10.0.255.4 shutdown" not in gw1
    edge = render.frr_config(topo.router("edge1"), "/l")
    assert "neighbor 169.254.21.1 remote-as 65515" in edge and "169.254.21.5" not in edge


def test_both_instances_carry_the_ipsec_connection_to_the_vip() -> None:
    topo = build_topology(LabOptions(mode="active-standby"), MGMT)
    for router in ("gw0", "gw1"):
        conf = render.swanctl_conf(topo, router, "psk")
        assert "cn-edge1-t1 {" in conf and f"local_addrs = {ACTIVE_STANDBY_VIP}" in conf
    assert f"remote_addrs = {ACTIVE_STANDBY_VIP}" in render.swanctl_conf(topo, "edge1", "psk")


def test_composes_with_dual_timers_and_bfd() -> None:
    topo = build_topology(LabOptions(mode="active-standby", dual=True, timers="tuned", bfd=True), MGMT)
    assert [(t.name, t.onprem_router, t.azure_instance) for t in topo.tunnels] == \
        [("Tunnel1", "edge1", 0), ("Tunnel3", "edge2", 0)]
    gw1 = render.frr_config(topo.router("gw1"), "/l")
    assert "neighbor 169.254.21.10 timers 5 15" in gw1 and "neighbor 169.254.21.10 shutdown" in gw1
    assert "bfd profile lab" in gw1


def test_active_active_unchanged() -> None:
    topo = build_topology(LabOptions(), MGMT)
    assert all(t.standby_router is None for t in topo.tunnels)
    assert [i.public_ip for i in topo.instances] == [i.wan_ip for i in topo.instances]
    assert topo.node("inet").routes == []
