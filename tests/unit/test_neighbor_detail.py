"""Neighbor detail parsers (devices/neighbor_detail.py) on recorded output: ntc-templates'
real device captures (tests/data/device-outputs, Apache-2.0) and the lab's FRR JSON
(tests/data/frr)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from failover_harness.azure.design import as_path_length, dpd_of, learned_paths
from failover_harness.azure.models import parse_learned_routes
from failover_harness.devices.neighbor_detail import (
    NEIGHBOR_DETAIL,
    frr_bfd_timers,
    parse_frr_neighbors_json,
    parse_frr_table_json,
    parse_ios_neighbors,
    parse_junos_neighbors,
    with_frr_bfd,
)
from failover_harness.errors import DeviceError

DATA = Path(__file__).resolve().parents[1] / "data"
OUTPUTS = DATA / "device-outputs"


def raw(path: str) -> str:
    return (OUTPUTS / path).read_text()


def test_cisco_ios_negotiated_timers() -> None:
    out = parse_ios_neighbors(raw("cisco_ios/show_ip_bgp_neighbors/cisco_ios_show_ip_bgp_neighbors.raw"))
    assert list(out) == ["20.30.255.14"]
    n = out["20.30.255.14"]
    assert (n.established, n.hold_s, n.keepalive_s, n.bfd) == (True, 180.0, 60.0, None)


def test_fortinet_two_vpn_neighbors_with_fast_timers() -> None:
    out = parse_ios_neighbors(raw("fortinet/get_router_info_bgp_neighbors/"
                                  "fortinet_get_router_info_bgp_neighbors.raw"))
    assert sorted(out) == ["10.105.1.254", "10.105.2.254"]
    assert all((n.hold_s, n.keepalive_s, n.established) == (3.0, 1.0, True) for n in out.values())


def test_junos_active_holdtime_keepalive_and_bfd_off() -> None:
    out = parse_junos_neighbors(raw("juniper_junos/show_bgp_neighbor/juniper_junos_show_bgp_neighbor.raw"))
    n = out["192.168.0.1"]
    assert (n.established, n.hold_s, n.keepalive_s, n.bfd) == (True, 90.0, 30.0, "off")


def test_ios_bfd_line_and_configured_timers_are_not_the_negotiated_ones() -> None:
    text = ("BGP neighbor is 169.254.21.1,  remote AS 65515, external link\n"
            "  BGP state = Idle\n"
            "  Last read 00:00:04, last write 00:00:04, hold time is 30, keepalive interval is 10 seconds\n"
            "  Configured hold time is 180, keepalive interval is 60 seconds\n"
            "  BFD is configured. BFD peer is Up. Using BFD to detect fast fallover (single-hop).\n")
    n = parse_ios_neighbors(text)["169.254.21.1"]
    assert (n.established, n.hold_s, n.keepalive_s, n.bfd) == (False, 30.0, 10.0, "up")


def test_frr_json_from_the_lab_with_bfd() -> None:
    out = parse_frr_neighbors_json((DATA / "frr/edge1-show-bgp-neighbors-bfd.json").read_text())
    assert sorted(out) == ["169.254.21.1", "169.254.21.5"]
    n = out["169.254.21.1"]
    assert (n.established, n.hold_s, n.keepalive_s, n.bfd) == (True, 3.0, 1.0, "up")
    # bfdd's own figures replace bgpd's copy (which shows its defaults under a BFD profile).
    peers = json.dumps([{"peer": "169.254.21.1", "status": "up", "detect-multiplier": 3,
                         "transmit-interval": 100, "receive-interval": 100,
                         "remote-detect-multiplier": 3, "remote-receive-interval": 100,
                         "remote-transmit-interval": 100}])
    assert frr_bfd_timers(peers) == {"169.254.21.1": (pytest.approx(0.3), 0.1, "up")}
    merged = with_frr_bfd(out, peers)
    assert merged["169.254.21.1"].bfd_detect_s == pytest.approx(0.3)
    assert merged["169.254.21.5"].bfd_detect_s is None


def test_frr_table_neighbors_per_prefix() -> None:
    table = parse_frr_table_json((DATA / "frr/edge1-show-bgp-ipv4-unicast-primary-backup.json").read_text())
    assert table == {"10.0.0.0/16": ["169.254.21.1", "169.254.21.5"], "192.168.10.0/24": []}


def test_frr_non_json_answer_is_a_device_error() -> None:
    with pytest.raises(DeviceError, match="did not answer JSON"):
        parse_frr_neighbors_json("% Unknown command: show bgp neighbors json")


def test_every_netmiko_platform_but_panos_has_a_reader() -> None:
    assert set(NEIGHBOR_DETAIL) == {"frr", "cisco_ios", "cisco_xe", "cisco_asa", "fortinet",
                                    "vyos", "juniper_junos"}


def test_azure_learned_routes_as_path_lengths_and_dpd() -> None:
    routes = parse_learned_routes({"value": [
        {"localAddress": "10.0.255.5", "network": "192.168.10.0/24", "nextHop": "169.254.21.6",
         "sourcePeer": "169.254.21.6", "origin": "EBgp", "asPath": "65010-65010-65010", "weight": 32768},
        {"localAddress": "10.0.255.5", "network": "10.0.0.0/16", "origin": "Network", "weight": 32768}]})
    paths = learned_paths(routes)
    assert [(p.next_hop, p.as_path_len) for p in paths] == [("169.254.21.6", 3), (None, 0)]
    assert as_path_length("65515 65010") == 2 and as_path_length(None) == 0
    assert dpd_of({"properties": {"dpdTimeoutSeconds": 45}}) == 45
    assert dpd_of({"properties": {}}) is None
