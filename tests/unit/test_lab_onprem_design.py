"""Two ISP uplinks (`--isps 2`) and iBGP between the on-prem routers (`--dual`): topology
data, rendered configs and the inventory the lab writes (no root needed)."""

from __future__ import annotations

from failover_harness.lab import render
from failover_harness.lab.topology import LabOptions, build_topology

MGMT = {"edge1": "198.18.255.0/30", "edge2": "198.18.255.4/30"}


def test_two_isps_put_the_instance_1_tunnel_on_a_second_uplink() -> None:
    topo = build_topology(LabOptions(isps=2), MGMT)
    by_name = {t.name: t for t in topo.tunnels}
    assert (by_name["Tunnel1"].onprem_uplink, by_name["Tunnel1"].onprem_public_ip) == \
        ("wan0", "203.0.113.10")
    assert (by_name["Tunnel2"].onprem_uplink, by_name["Tunnel2"].onprem_public_ip) == \
        ("wan1", "100.66.0.2")
    link = next(x for x in topo.links if x.name == "edge1-isp2")
    assert link.underlay and (link.a.node, link.a.interface.name) == ("edge1", "wan1")
    assert link.b.node == "inet" and link.b.interface.addresses == ["100.66.0.1/30"]
    assert "edge1-isp2" in topo.underlay_links()  # loss may go on ISP2 too
    config = render.frr_config(topo.router("edge1"), "/x/frr.log")
    # In FRR so it comes back with the link; the floating blackhole keeps it off ISP1.
    assert "ip route 198.51.100.14/32 100.66.0.1\n" in config
    assert "ip route 198.51.100.14/32 blackhole 250\n" in config
    # the default route too: a shut uplink drops the kernel's, zebra restores its own
    assert "ip route 0.0.0.0/0 203.0.113.1\n" in config
    swan = render.swanctl_conf(topo, "gw1", "psk")
    assert "remote_addrs = 100.66.0.2" in swan
    # on-prem IKE retries until the uplink is back (a restart during the outage fails)
    assert render.swanctl_conf(topo, "edge1", "psk").count("keyingtries = 0") == 2
    assert "keyingtries = 0" not in swan


def test_one_isp_is_the_default_and_unchanged() -> None:
    topo = build_topology(LabOptions(), MGMT)
    assert {t.onprem_uplink for t in topo.tunnels} == {"wan0"}
    assert not [x for x in topo.links if x.name.endswith("-isp2")]
    assert "blackhole" not in render.frr_config(topo.router("edge1"), "/x/frr.log")


def test_two_isps_on_both_routers_of_a_dual_lab() -> None:
    topo = build_topology(LabOptions(isps=2, dual=True), MGMT)
    assert {(t.name, t.onprem_uplink, t.onprem_public_ip) for t in topo.tunnels
            if t.azure_instance == 1} == {("Tunnel2", "wan1", "100.66.0.2"),
                                          ("Tunnel4", "wan1", "100.66.1.2")}


def test_dual_routers_peer_over_the_lan_with_next_hop_self() -> None:
    topo = build_topology(LabOptions(dual=True), MGMT)
    edge1 = topo.router("edge1")
    ibgp = [n for n in edge1.neighbors if n.remote_as == edge1.asn]
    assert [(n.address, n.next_hop_self, n.bfd) for n in ibgp] == [("192.168.10.2", True, False)]
    assert "neighbor 192.168.10.2 next-hop-self" in render.frr_config(edge1, "/x/frr.log")
    assert not [n for n in build_topology(LabOptions(), MGMT).router("edge1").neighbors
                if n.remote_as == edge1.asn]
