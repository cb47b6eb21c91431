"""Parsing FRR and vici answers into the lab status (recorded shapes, no lab needed)."""

from __future__ import annotations

from failover_harness.lab.status import parse_bgp_summary, parse_sas

SUMMARY = {"ipv4Unicast": {"as": 65010, "peers": {
    "169.254.21.1": {"remoteAs": 65515, "state": "Established", "peerUptimeMsec": 5000,
                     "pfxRcd": 1, "pfxSnt": 2, "desc": "Tunnel1"},
    "169.254.21.5": {"remoteAs": 65515, "state": "Active", "peerUptimeMsec": 0,
                     "pfxSnt": 0, "desc": "Tunnel2"}}}}


def test_bgp_summary() -> None:
    sessions = parse_bgp_summary("edge1", SUMMARY)
    assert [(s.peer, s.state, s.prefixes_received, s.description) for s in sessions] == [
        ("169.254.21.1", "Established", 1, "Tunnel1"), ("169.254.21.5", "Active", 0, "Tunnel2")]
    assert parse_bgp_summary("vnet", {}) == []


def test_sas_prefers_the_established_entry() -> None:
    sas = [{"cn-edge1-t1": {"state": b"CONNECTING"}},
           {"cn-edge1-t1": {"state": b"ESTABLISHED", "child-sas": {"cn-edge1-t1-3": {
               "state": b"INSTALLED", "bytes-in": b"10", "bytes-out": b"20",
               "protocol": b"ESP", "encr-alg": b"AES_GCM_16", "encr-keysize": b"256"}}}},
           {"cn-edge1-t2": {"state": b"ESTABLISHED"}}]
    end = parse_sas("edge1", sas, "cn-edge1-t1")
    assert (end.ike_state, end.child_state, end.bytes_in, end.bytes_out) == (
        "ESTABLISHED", "INSTALLED", 10, 20)
    assert end.proposal == "ESP/AES_GCM_16/256"
    assert parse_sas("edge1", sas, "cn-edge2-t3").ike_state == "NONE"
