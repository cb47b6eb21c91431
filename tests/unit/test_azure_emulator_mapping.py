"""Pure parts of the Azure emulator: FRR/ip/vici parsing (captured lab outputs) and ARM wording."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from failover_harness.lab.azure_emulator import arm
from failover_harness.lab.azure_emulator.frr_parse import (
    PeerFilter,
    hidden_addresses,
    parse_advertised,
    parse_bgp_summary,
    parse_bgp_table,
    parse_links,
    parse_vici_sa,
)
from failover_harness.lab.azure_emulator.observations import InterfaceObservation, PeerObservation, TunnelObservation
from failover_harness.lab.azure_emulator.settings import Fault, FaultBook
from failover_harness.lab.azure_emulator.testing import (
    identity_environment,
    network_client,
    sample_gateway,
    sample_topology,
)
from failover_harness.lab.state import EmulatorState, LabState

# Captured from a lab's gw0 (FRR 8.4) while `neighbor 169.254.21.2 shutdown` was configured.
SUMMARY = json.loads("""{"ipv4Unicast": {"peers": {
 "10.0.255.1": {"hostname": "vnet", "remoteAs": 65515, "msgRcvd": 176, "msgSent": 180, "peerUptimeMsec": 173000,
   "pfxRcd": 0, "state": "Established", "peerState": "OK", "desc": "vnet"},
 "10.0.255.5": {"hostname": "gw1", "remoteAs": 65515, "msgRcvd": 178, "msgSent": 180, "peerUptimeMsec": 174000,
   "pfxRcd": 2, "pfxSnt": 1, "state": "Established", "peerState": "OK", "desc": "gw1"},
 "169.254.21.2": {"hostname": "edge1", "remoteAs": 65010, "msgRcvd": 178, "msgSent": 179, "peerUptimeMsec": 0,
   "pfxRcd": 0, "pfxSnt": 0, "state": "Idle (Admin)", "peerState": "Admin", "desc": "Tunnel1"}}}}""")
TABLE = json.loads("""{"routes": {"10.0.0.0/16": [
 {"valid": true, "pathFrom": "internal", "network": "10.0.0.0/16", "weight": 0, "peerId": "10.0.255.5", "path": "",
  "origin": "IGP", "nexthops": [{"ip": "10.0.255.5", "hostname": "gw1", "afi": "ipv4", "used": true}]},
 {"valid": true, "bestpath": true, "pathFrom": "external", "network": "10.0.0.0/16", "weight": 32768,
  "peerId": "(unspec)", "path": "", "origin": "IGP", "nexthops": [{"ip": "0.0.0.0", "hostname": "gw0", "afi": "ipv4"}]}],
 "192.168.10.0/24": [
 {"valid": true, "bestpath": true, "pathFrom": "internal", "network": "192.168.10.0/24", "weight": 0,
  "peerId": "10.0.255.5", "path": "65010", "origin": "IGP", "nexthops": [{"ip": "10.0.255.5", "afi": "ipv4"}]},
 {"valid": true, "pathFrom": "external", "network": "192.168.10.0/24", "weight": 0, "peerId": "169.254.21.2",
  "path": "65010 65020", "origin": "IGP", "nexthops": [{"ip": "169.254.21.2", "afi": "ipv4"}]},
 {"valid": true, "pathFrom": "internal", "network": "192.168.10.0/24", "weight": 0, "peerId": "10.0.255.1",
  "path": "", "origin": "IGP", "nexthops": [{"ip": "10.0.255.1", "afi": "ipv4"}]}]}}""")
ADVERTISED = json.loads("""{"localAS": 65515, "advertisedRoutes": {
 "10.0.0.0/16": {"addrPrefix": "10.0.0.0", "prefixLen": 16, "network": "10.0.0.0/16", "nextHop": "0.0.0.0",
   "weight": 32768, "path": "", "bgpOriginCode": "i"},
 "192.168.10.0/24": {"network": "192.168.10.0/24", "nextHop": "0.0.0.0", "weight": 0, "path": "65010",
   "bgpOriginCode": "?"}}, "totalPrefixCounter": 2}""")
LINKS = json.loads("""[
 {"ifname": "Tunnel1", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], "operstate": "UNKNOWN",
  "stats64": {"rx": {"bytes": 21493}, "tx": {"bytes": 17245}}},
 {"ifname": "Tunnel2", "flags": ["BROADCAST", "MULTICAST"], "operstate": "DOWN",
  "stats64": {"rx": {"bytes": 18508}, "tx": {"bytes": 22550}}}]""")
VNET = PeerFilter(hostnames={"vnet"})


def test_summary_hides_the_vnet_router_and_sees_admin_shutdown() -> None:
    peers = {p.neighbor: p for p in parse_bgp_summary(SUMMARY, VNET)}
    assert set(peers) == {"10.0.255.5", "169.254.21.2"}
    assert (peers["10.0.255.5"].uptime_ms, peers["10.0.255.5"].prefixes_received) == (174000, 2)
    shut = peers["169.254.21.2"]
    assert (shut.bgp_state, shut.admin_shutdown, shut.uptime_ms) == ("Idle", True, None)
    assert arm.arm_peer_state(shut) == "Stopped"


def test_table_classifies_origins_and_folds_vnet_routes_into_network() -> None:
    rows = parse_bgp_table(TABLE, hidden_addresses(SUMMARY, VNET))
    got = sorted((r.network, r.origin, r.next_hop, tuple(r.as_path)) for r in rows)
    assert got == [("10.0.0.0/16", "IBgp", "10.0.255.5", ()),
                   ("10.0.0.0/16", "Network", None, ()),
                   ("192.168.10.0/24", "EBgp", "169.254.21.2", (65010, 65020)),
                   ("192.168.10.0/24", "IBgp", "10.0.255.5", (65010,)),
                   ("192.168.10.0/24", "Network", None, ())]
    inst = sample_topology()[0].instances[0]
    ebgp = next(arm.learned_route(inst, r) for r in rows if r.origin == "EBgp")
    assert (ebgp.as_path, ebgp.weight, ebgp.source_peer) == ("65010-65020", 32769, "169.254.21.2")
    own = next(arm.learned_route(inst, r) for r in rows if r.origin == "Network")
    assert (own.next_hop, own.as_path, own.weight, own.source_peer) == (None, "", 32768, "10.0.255.4")


def test_advertised_routes_prepend_the_gateway_asn() -> None:
    inst = sample_topology()[0].instances[0]
    rows = [arm.advertised_route(inst, 65515, "169.254.21.1", r).wire() for r in parse_advertised(ADVERTISED)]
    assert [(r["network"], r["asPath"], r["origin"], r["nextHop"]) for r in rows] == [
        ("10.0.0.0/16", "65515", "Igp", "169.254.21.1"), ("192.168.10.0/24", "65515-65010", "Incomplete", "169.254.21.1")]


def test_links_and_tunnel_status() -> None:
    links = parse_links(LINKS)
    assert links["Tunnel1"] == InterfaceObservation(name="Tunnel1", admin_up=True, oper_up=True, rx_bytes=21493,
                                                    tx_bytes=17245)
    assert (links["Tunnel2"].admin_up, links["Tunnel2"].oper_up) == (False, False)
    up, down = links["Tunnel1"], links["Tunnel2"]
    ike = sample_gateway().tunnels[0].ike_sa
    assert ike is not None
    def status(a: InterfaceObservation | None, b: InterfaceObservation | None, ipsec: bool, sa: object = ike) -> str:
        return arm.tunnel_status(TunnelObservation(tunnel="T", azure_interface=a, onprem_interface=b, ipsec=ipsec,
                                                   ike_sa=sa))  # type: ignore[arg-type]
    assert status(up, up, False) == "Connected"
    assert status(up, down, False) == "NotConnected"
    assert status(up, up, True) == "Connected"
    assert status(up, down, True) == "NotConnected"  # a shut tunnel interface drops the SA on a real router
    assert status(up, up, True, None) == "NotConnected"
    assert status(up, up, True, ike.model_copy(update={"children": []})) == "Connecting"
    assert status(up, up, True, ike.model_copy(update={"state": "CONNECTING"})) == "Connecting"
    assert status(None, up, True) == "Unknown"
    assert arm.connection_status(["NotConnected", "Connected"]) == "Connected"
    assert arm.connection_status([]) == "Unknown"


def test_vici_sa_parsing() -> None:
    # vici answers with bytes values and str keys.
    sa = parse_vici_sa("cn-edge1-t1", {
        "state": b"ESTABLISHED", "local-host": b"198.51.100.10", "remote-host": b"203.0.113.10",
        "local-port": b"4500", "initiator": b"yes", "encr-alg": b"AES_GCM_16", "encr-keysize": b"256",
        "established": b"25", "child-sas": {"c-1": {"name": b"cn-edge1-t1", "state": b"INSTALLED",
                                                    "bytes-in": b"5285", "local-ts": [b"100.64.1.1/32"]}}})
    assert (sa.state, sa.local_port, sa.initiator, sa.encryption, sa.established_s) == (
        "ESTABLISHED", 4500, True, "AES_GCM_16256", 25)
    [child] = sa.children
    assert (child.state, child.bytes_in, child.local_ts) == ("INSTALLED", 5285, ["100.64.1.1/32"])
    text = arm.ike_sas_text([sa])
    assert json.loads(text)[0]["quickModeSa"][0]["inboundBytes"] == 5285


@given(st.integers(min_value=0, max_value=10**11))
def test_timespan_round_trips(ms: int) -> None:
    text = arm.dotnet_timespan(ms)
    m = re.fullmatch(r"(?:(\d+)\.)?(\d\d):(\d\d):(\d\d)\.(\d{7})", text)
    assert m is not None, text
    days, h, mi, s, frac = (int(g or 0) for g in m.groups())
    assert (m.group(1) is None) == (days == 0) and h < 24
    assert ((((days * 24 + h) * 60 + mi) * 60 + s) * 10**7 + frac) == ms * 10**4


def test_peer_state_wording() -> None:
    def state(s: str) -> str:
        return arm.arm_peer_state(PeerObservation(neighbor="x", asn=1, bgp_state=s))
    assert [state(s) for s in ("Established", "Active", "Connect", "OpenSent", "OpenConfirm", "Idle", "Clearing")] == [
        "Connected", "Connecting", "Connecting", "Connecting", "Connecting", "Idle", "Unknown"]


def test_azure_utc_time() -> None:
    assert arm.azure_utc_time(dt.datetime(2026, 11, 22, 0, 5, 7, tzinfo=dt.UTC)) == "11/22/2026 12:05:07 AM"
    assert arm.azure_utc_time(dt.datetime(2026, 1, 2, 14, 20, 47, tzinfo=dt.UTC)) == "1/2/2026 2:20:47 PM"


def test_fault_book_counts_and_matches() -> None:
    book = FaultBook()
    book.add(Fault(kind="throttle", count=2, match="getBgpPeerStatus"))
    assert book.take("/x/getLearnedRoutes", {"throttle"}) is None
    assert book.take("/x/getBgpPeerStatus", {"error"}) is None
    assert [book.take("/x/getBgpPeerStatus", {"throttle"}) is not None for _ in range(3)] == [True, True, False]
    with pytest.raises(ValueError):
        Fault(kind="error", count=1, duration_s=1)


def test_module_entry_point_writes_endpoint_and_stops_on_sigterm(tmp_path: Path) -> None:
    resources, tunnels = sample_topology()
    LabState(prefix="t", run_dir=str(tmp_path), azure=resources, tunnels=tunnels).save()
    proc = subprocess.Popen([sys.executable, "-m", "failover_harness.lab.azure_emulator", "--lab-dir", str(tmp_path),
                             "--port", "0"], stderr=subprocess.PIPE)
    try:
        endpoint = tmp_path / "azure" / "endpoint.json"
        deadline = time.monotonic() + 20
        while not endpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        state = EmulatorState.model_validate_json(endpoint.read_text())
        assert (tmp_path / "azure" / "identity-header").stat().st_mode & 0o777 == 0o600
        with identity_environment(state), network_client(state, resources.subscription_id) as client:
            assert client.virtual_network_gateways.get(resources.resource_group, resources.gateway).active_active
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()


def test_module_entry_point_names_bad_input(tmp_path: Path) -> None:
    (tmp_path / "lab.json").write_text('{"prefix": "t", "run_dir": "x", "azure": {"asn": "many"}}')
    proc = subprocess.run([sys.executable, "-m", "failover_harness.lab.azure_emulator", "--lab-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"{tmp_path / 'lab.json'}: field 'azure.asn'" in proc.stderr
