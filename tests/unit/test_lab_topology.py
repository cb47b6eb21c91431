"""Topology data and config rendering for every lab variant (no root needed)."""

from __future__ import annotations

import ipaddress

import pytest

from failover_harness.errors import InputError
from failover_harness.lab import render
from failover_harness.lab.inventory import inventory_data
from failover_harness.lab.state import LabState
from failover_harness.lab.topology import DPD_TIMEOUT_S, LabOptions, LossImpairment, build_topology

MGMT = {"edge1": "198.18.255.0/30", "edge2": "198.18.255.4/30"}


def test_default_design_addresses() -> None:
    topo = build_topology(LabOptions(), MGMT)
    assert [n.name for n in topo.nodes] == ["host", "inet", "vnet", "vm", "edge1", "gw0", "gw1"]
    assert [(t.name, t.onprem_bgp_ip, t.azure_bgp_ip, t.azure_router) for t in topo.tunnels] == [
        ("Tunnel1", "169.254.21.2", "169.254.21.1", "gw0"),
        ("Tunnel2", "169.254.21.6", "169.254.21.5", "gw1")]
    assert len({t.vni for t in topo.tunnels}) == 2
    assert topo.router("edge1").mgmt_ip == "198.18.255.2"
    assert [i.public_ip for i in topo.instances] == ["198.51.100.10", "198.51.100.14"]
    assert topo.host_ips == ["192.168.10.10", "192.168.10.11", "192.168.10.12", "192.168.10.13"]


def test_dual_has_four_tunnels_in_the_apipa_range() -> None:
    topo = build_topology(LabOptions(dual=True), MGMT)
    low, high = ipaddress.ip_address("169.254.21.0"), ipaddress.ip_address("169.254.22.255")
    plan = {(t.onprem_router, t.azure_router): (t.onprem_bgp_ip, t.azure_bgp_ip)
            for t in topo.tunnels}
    assert plan == {("edge1", "gw0"): ("169.254.21.2", "169.254.21.1"),
                    ("edge1", "gw1"): ("169.254.21.6", "169.254.21.5"),
                    ("edge2", "gw0"): ("169.254.21.10", "169.254.21.9"),
                    ("edge2", "gw1"): ("169.254.21.14", "169.254.21.13")}
    assert all(low <= ipaddress.ip_address(ip) <= high for pair in plan.values() for ip in pair)
    assert next(t for t in topo.tunnels if t.onprem_router == "edge2").onprem_public_ip \
        == "203.0.113.20"
    assert sorted(topo.underlay_links()) == ["edge1-inet", "edge2-inet", "gw0-inet", "gw1-inet"]
    assert len({t.ike_name for t in topo.tunnels}) == 4


def test_ipsec_moves_tunnel_endpoints_to_inner_addresses() -> None:
    plain = build_topology(LabOptions(ipsec=False), MGMT).tunnels[0]
    sealed = build_topology(LabOptions(), MGMT).tunnels[0]
    assert plain.endpoints("onprem") == ("203.0.113.10", "198.51.100.10")
    assert sealed.endpoints("onprem") == ("100.64.1.2", "100.64.1.1")
    assert sealed.endpoints("azure") == ("100.64.1.1", "100.64.1.2")


@pytest.mark.parametrize("timers,expected", [("fast", "1 3"), ("tuned", "5 15"),
                                              ("azure-default", "60 180")])
def test_timers_rendered_on_ebgp_sessions(timers: str, expected: str) -> None:
    topo = build_topology(LabOptions(timers=timers), MGMT)  # type: ignore[arg-type]
    edge = render.frr_config(topo.router("edge1"), "/x/frr.log")
    assert f"neighbor 169.254.21.1 timers {expected}" in edge
    assert "neighbor 169.254.21.1 timers connect 1" in edge
    gw0 = render.frr_config(topo.router("gw0"), "/x/frr.log")
    assert f"neighbor 169.254.21.2 timers {expected}" in gw0
    assert "neighbor 10.0.255.5 timers 1 3" in gw0  # the SDN's own iBGP stays fast


def test_edge_config() -> None:
    conf = render.frr_config(build_topology(LabOptions(), MGMT).router("edge1"), "/x/frr.log")
    for line in ("router bgp 65010", "no bgp ebgp-requires-policy", "  network 192.168.10.0/24",
                 "  maximum-paths 2", "neighbor 169.254.21.5 remote-as 65515", "hostname edge1"):
        assert line in conf
    assert "route-map BACKUP" not in conf and "bfd" not in conf


def test_primary_backup_prepends_and_lowers_local_pref_on_instance_1_only() -> None:
    conf = render.frr_config(build_topology(LabOptions(mode="primary-backup"), MGMT)
                             .router("edge1"), "/x/frr.log")
    assert "set as-path prepend 65010 65010" in conf
    assert "set local-preference 50" in conf
    assert "neighbor 169.254.21.5 route-map BACKUP-OUT out" in conf
    assert "neighbor 169.254.21.5 route-map BACKUP-IN in" in conf
    assert "neighbor 169.254.21.1 route-map" not in conf


def test_bfd_profile_100ms_x3() -> None:
    conf = render.frr_config(build_topology(LabOptions(bfd=True), MGMT).router("gw0"), "/x/l")
    assert "receive-interval 100" in conf and "detect-multiplier 3" in conf
    assert "neighbor 169.254.21.2 bfd profile lab" in conf
    assert "neighbor 10.0.255.5 bfd" not in conf  # BFD only across the tunnels


def test_azure_instance_and_vnet_configs() -> None:
    topo = build_topology(LabOptions(), MGMT)
    gw0 = render.frr_config(topo.router("gw0"), "/x/frr.log")
    assert "ip route 10.0.0.0/16 10.0.255.1" in gw0 and "  network 10.0.0.0/16" in gw0
    assert "  neighbor 10.0.255.5 next-hop-self" in gw0
    assert "  neighbor 10.0.255.1 next-hop-self" in gw0
    vnet = render.frr_config(topo.router("vnet"), "/x/frr.log")
    assert "ip prefix-list FROM-GATEWAY-DENY seq 5 permit 10.0.0.0/16 le 32" in vnet
    assert "route-map FROM-GATEWAY deny 10" in vnet
    assert "maximum-paths ibgp 2" in vnet and "bgp route-map delay-timer 0" in vnet
    assert topo.node("vnet").l4_multipath_hash and topo.node("edge1").l4_multipath_hash


def test_swanctl_both_ends_match() -> None:
    topo = build_topology(LabOptions(), MGMT)
    edge = render.swanctl_conf(topo, "edge1", "k3y")
    gw0 = render.swanctl_conf(topo, "gw0", "k3y")
    assert edge.count("proposals = aes256gcm16-prfsha256-modp2048") == 2
    assert "esp_proposals = aes256gcm16-modp2048" in gw0 and "encap = yes" in gw0
    assert "cn-edge1-t1 {" in edge and "cn-edge1-t1 {" in gw0 and "cn-edge1-t2" not in gw0
    assert "local_ts = 100.64.1.2/32" in edge and "local_ts = 100.64.1.1/32" in gw0
    assert "start_action = start" in edge and "start_action = none" in gw0
    assert "dpd_delay = 2s" in edge
    conf = render.strongswan_conf("/etc/swanctl")
    assert "retransmit_tries = 4" in conf and "retransmit_timeout = 2.0" in conf
    # DPD gives a peer up after about the DPD timeout the emulator reports for the lab
    assert abs(render.dpd_give_up_s() - DPD_TIMEOUT_S) < 1
    assert "kernel-libipsec" in render.strongswan_conf("/etc/swanctl")
    assert "kdf" in render.strongswan_conf("/etc/swanctl").split()


def test_sshd_and_vtysh_and_accounts() -> None:
    sshd = render.sshd_config("198.18.255.2", "/etc/ssh", "netops")
    assert "ListenAddress 198.18.255.2" in sshd and "UsePAM no" in sshd
    assert "username netops nopassword" in render.vtysh_config("netops")
    group = render.group_with_member("root:x:0:\nfrrvty:x:106:frr\n", "frrvty", "netops")
    assert "frrvty:x:106:frr,netops" in group
    assert render.passwd_line("netops", 64010, 106, "/tmp", "/usr/bin/vtysh").endswith(
        ":/tmp:/usr/bin/vtysh\n")


def test_loss_option() -> None:
    assert LossImpairment.parse("gw0-inet:5") == LossImpairment(link="gw0-inet", percent=5)
    for bad in ("gw0-inet", "gw0-inet:x", ":5", "gw0-inet:101"):
        with pytest.raises(InputError, match="LINK:PERCENT"):
            LossImpairment.parse(bad)
    with pytest.raises(InputError, match="unknown underlay link 'edge2-inet'"):
        build_topology(LabOptions(loss=[LossImpairment(link="edge2-inet", percent=3)]), MGMT)
    rules = render.loss_ruleset("fhloss", "wan0", 7)
    assert rules.count("numgen random mod 100 < 7 drop") == 2


def test_options_reject_unknown_fields_and_bad_mgmt_subnet() -> None:
    with pytest.raises(ValueError):
        LabOptions.model_validate({"timer": "fast"})
    with pytest.raises(ValueError):
        LabOptions(mgmt_subnet="198.18.0.0/24")


def test_inventory_matches_the_checked_in_shape(tmp_path: object) -> None:
    topo = build_topology(LabOptions(), MGMT)
    state = LabState(prefix="fh", run_dir="/run/failover-harness/fh", host_netns="fh-host",
                     host_ips=topo.host_ips, vm_tcp_ports=[443], vm_reflector_port=8620, mgmt={"edge1": "198.18.255.2"})
    from failover_harness.lab.state import RouterState, TunnelState

    state.routers["edge1"] = RouterState(name="edge1", netns="fh-edge1", role="onprem_edge",
                                         asn=65010, frr_dir="/x", router_id="203.0.113.10")
    state.tunnels = [TunnelState(
        name=t.name, onprem_router=t.onprem_router, onprem_interface=t.onprem_interface,
        onprem_bgp_ip=t.onprem_bgp_ip, onprem_public_ip=t.onprem_public_ip,
        azure_instance=t.azure_instance, azure_interface=t.azure_interface,
        azure_bgp_ip=t.azure_bgp_ip, azure_public_ip=t.azure_public_ip, ipsec=True,
        connection=t.connection, local_network_gateway=t.local_network_gateway)
        for t in topo.tunnels]
    data = inventory_data(state)
    from pathlib import Path

    from ruamel.yaml import YAML

    checked_in = YAML(typ="safe").load(Path(__file__).parents[2] / "inventories" / "lab.yaml")
    assert data["devices"] == checked_in["devices"]
    assert data["vantage_points"] == checked_in["vantage_points"]
    assert data["targets"] == checked_in["targets"]
    assert data["prefixes"] == checked_in["prefixes"]
    assert data["azure"]["connections"] == checked_in["azure"]["connections"]  # type: ignore[index]
