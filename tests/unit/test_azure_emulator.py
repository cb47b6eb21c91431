"""The real azure-identity + azure-mgmt-network against the emulator (static gateway, no root)."""

from __future__ import annotations

import gc
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceResponseTimeoutError,
)
from azure.mgmt.network import NetworkManagementClient

from failover_harness.lab.azure_emulator.control import EmulatorControl
from failover_harness.lab.azure_emulator.observations import PeerObservation
from failover_harness.lab.azure_emulator.runner import EmulatorThread, write_secret
from failover_harness.lab.azure_emulator.server import Emulator
from failover_harness.lab.azure_emulator.settings import EmulatorSettings, Fault
from failover_harness.lab.azure_emulator.static_source import StaticGatewaySource
from failover_harness.lab.azure_emulator.testing import (
    FastARMPolling,
    identity_environment,
    network_client,
    sample_gateway,
    sample_topology,
)
from failover_harness.lab.azure_emulator.tls import make_lab_tls
from failover_harness.lab.state import EmulatorState
from tests.unit.azure_emulator_fixtures import (  # noqa: F401 - fixtures
    RES,
    Running,
    client,
    collect_garbage,
    emu,
    running,
    sdk_retry_leaks,
)

RG, GW = RES.resource_group, RES.gateway


def poll() -> FastARMPolling:
    return FastARMPolling()


def test_gateway_is_active_active_with_per_instance_bgp_addresses(client: NetworkManagementClient) -> None:
    gw = client.virtual_network_gateways.get(RG, GW)
    assert gw.active_active is True and gw.enable_bgp is True
    assert gw.sku is not None and gw.sku.name == "VpnGw2AZ"
    assert [c.name for c in gw.ip_configurations or []] == ["vnetGatewayConfig0", "vnetGatewayConfig1"]
    assert gw.bgp_settings is not None and gw.bgp_settings.asn == 65515
    addrs = gw.bgp_settings.bgp_peering_addresses or []
    assert [a.custom_bgp_ip_addresses for a in addrs] == [["169.254.21.1"], ["169.254.21.5"]]
    assert [a.default_bgp_ip_addresses for a in addrs] == [["10.0.255.4"], ["10.0.255.5"]]
    assert [a.tunnel_ip_addresses for a in addrs] == [["198.51.100.10"], ["198.51.100.11"]]
    assert addrs[1].ipconfiguration_id == (gw.ip_configurations or [])[1].id


def test_bgp_peer_status_maps_states_and_durations(client: NetworkManagementClient) -> None:
    peers = client.virtual_network_gateways.begin_get_bgp_peer_status(RG, GW, polling=poll()).result().value
    by = {(p.local_address, p.neighbor): p for p in peers}
    assert len(by) == 4
    up = by[("10.0.255.4", "169.254.21.2")]
    assert (up.state, up.asn, up.connected_duration, up.routes_received) == ("Connected", 65010, "01:02:03.4560000", 1)
    assert (up.messages_sent, up.messages_received) == (120, 118)
    assert by[("10.0.255.4", "10.0.255.5")].connected_duration == "1.01:01:01.0010000"
    down = by[("10.0.255.5", "169.254.21.6")]
    assert (down.state, down.connected_duration) == ("Connecting", None)


def test_bgp_peer_status_filters_by_peer(client: NetworkManagementClient) -> None:
    res = client.virtual_network_gateways.begin_get_bgp_peer_status(RG, GW, peer="169.254.21.6", polling=poll())
    assert [(p.neighbor, p.state) for p in res.result().value] == [("169.254.21.6", "Connecting")]


def test_learned_routes_rows_per_instance(client: NetworkManagementClient) -> None:
    routes = client.virtual_network_gateways.begin_get_learned_routes(RG, GW, polling=poll()).result().value
    rows = {(r.local_address, r.network, r.origin): r for r in routes}
    own = rows[("10.0.255.4", "10.0.0.0/16", "Network")]
    assert (own.next_hop, own.source_peer, own.as_path, own.weight) == (None, "10.0.255.4", "", 32768)
    ebgp = rows[("10.0.255.4", "192.168.10.0/24", "EBgp")]
    assert (ebgp.next_hop, ebgp.source_peer, ebgp.as_path, ebgp.weight) == ("169.254.21.2", "169.254.21.2", "65010", 32769)
    ibgp = rows[("10.0.255.5", "192.168.10.0/24", "IBgp")]
    assert (ibgp.next_hop, ibgp.as_path, ibgp.weight) == ("10.0.255.4", "65010", 32768)


def test_advertised_routes_to_a_peer(client: NetworkManagementClient) -> None:
    res = client.virtual_network_gateways.begin_get_advertised_routes(RG, GW, peer="169.254.21.2", polling=poll())
    [row] = res.result().value
    assert (row.local_address, row.network, row.next_hop, row.as_path, row.origin) == (
        "10.0.255.4", "10.0.0.0/16", "169.254.21.1", "65515", "Igp")


def test_connections_are_paged_and_report_tunnel_state(emu: Running, client: NetworkManagementClient) -> None:
    emu.control.set(page_size=1)
    conns = {c.name: c for c in client.virtual_network_gateways.list_connections(RG, GW)}
    assert set(conns) == {"cn-edge1-t1", "cn-edge1-t2"}
    t1 = client.virtual_network_gateway_connections.get(RG, "cn-edge1-t1")
    assert (t1.connection_status, t1.ingress_bytes_transferred, t1.egress_bytes_transferred) == ("Connected", 5000, 7000)
    assert t1.enable_bgp and t1.connection_protocol == "IKEv2" and t1.virtual_network_gateway1.id.endswith(GW)
    [health] = t1.tunnel_connection_status or []
    assert health.tunnel == "cn-edge1-t1_198.51.100.10" and health.connection_status == "Connected"
    assert health.last_connection_established_utc_time and health.last_connection_established_utc_time[-2:] in ("AM", "PM")
    # Tunnel2's on-prem end is shut: a real router would have dropped the tunnel.
    assert conns["cn-edge1-t2"].connection_status == "NotConnected"
    assert emu.control.state().counters["arm"] == 3  # two pages + one get


def test_ike_sas_is_a_json_string(client: NetworkManagementClient) -> None:
    text = client.virtual_network_gateway_connections.begin_get_ike_sas(RG, "cn-edge1-t1", polling=poll()).result()
    [sa] = json.loads(text)
    assert (sa["localEndpoint"], sa["remoteEndpoint"], sa["elapsedTimeInseconds"]) == ("198.51.100.10", "203.0.113.10", 125)
    assert sa["quickModeSa"][0]["inboundBytes"] == 1000


def test_reset_picks_the_instance_by_vip(emu: Running, client: NetworkManagementClient) -> None:
    gw = client.virtual_network_gateways.begin_reset(RG, GW, gateway_vip="198.51.100.11", polling=poll()).result()
    assert gw.name == GW
    client.virtual_network_gateway_connections.begin_reset_connection(RG, "cn-edge1-t1", polling=poll()).result()
    assert emu.source.resets == [("instance", 1), ("connection", "Tunnel1")]


def test_unknown_resources_are_404_with_arm_body(emu: Running, client: NetworkManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError) as e:
        client.virtual_network_gateways.get(RG, "no-such-gw")
    assert e.value.error is not None and e.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError):
        client.virtual_network_gateway_connections.get(RG, "cn-missing")
    with pytest.raises(ResourceNotFoundError) as e:
        client.virtual_network_gateways.get("rg-other", GW)
    assert e.value.error is not None and e.value.error.code == "ResourceGroupNotFound"
    emu.control.add_fault(Fault(kind="not_found", match="cn-edge1-t1", count=1))
    with pytest.raises(ResourceNotFoundError):
        client.virtual_network_gateway_connections.get(RG, "cn-edge1-t1")
    assert client.virtual_network_gateway_connections.get(RG, "cn-edge1-t1").name == "cn-edge1-t1"


@sdk_retry_leaks
def test_throttling_is_retried_by_the_sdk(collect_garbage: None, emu: Running, client: NetworkManagementClient) -> None:
    emu.control.add_fault(Fault(kind="throttle", count=2, retry_after_s=1))
    assert client.virtual_network_gateways.get(RG, GW).name == GW
    counters = emu.control.state().counters
    assert (counters["throttle"], counters["arm"]) == (2, 3)


@sdk_retry_leaks
def test_throttling_beyond_retries_raises_429(collect_garbage: None, emu: Running) -> None:
    emu.control.add_fault(Fault(kind="throttle", retry_after_s=0))
    with network_client(emu.state, RES.subscription_id, retry_total=1, retry_backoff_factor=0.01) as client:
        with pytest.raises(HttpResponseError) as e:
            client.virtual_network_gateways.get(RG, GW)
        assert e.value.status_code == 429 and e.value.error is not None and e.value.error.code == "TooManyRequests"


@sdk_retry_leaks
def test_server_errors_on_lro_start_are_retried_then_raise(collect_garbage: None, emu: Running) -> None:
    emu.control.add_fault(Fault(kind="error", status=500, count=2, match="getLearnedRoutes"))
    with network_client(emu.state, RES.subscription_id, retry_backoff_factor=0.01) as client:
        assert client.virtual_network_gateways.begin_get_learned_routes(RG, GW, polling=poll()).result().value
    emu.control.add_fault(Fault(kind="error", status=503, match="getLearnedRoutes"))
    with network_client(emu.state, RES.subscription_id, retry_total=1, retry_backoff_factor=0.01) as client:
        with pytest.raises(HttpResponseError) as e:
            client.virtual_network_gateways.begin_get_learned_routes(RG, GW, polling=poll())
        assert e.value.status_code == 503


@pytest.mark.parametrize("style", ["location", "async_operation"])
def test_failed_lro_reaches_the_sdk(emu: Running, style: str) -> None:
    emu.control.set(lro_style=style)
    emu.control.add_fault(Fault(kind="fail_lro", count=1, status=400))
    with network_client(emu.state, RES.subscription_id, retry_total=0) as client:
        with pytest.raises(HttpResponseError) as e:
            client.virtual_network_gateways.begin_get_bgp_peer_status(RG, GW, polling=poll()).result()
        assert "InternalServerError" in str(e.value)
        # The next one succeeds.
        assert client.virtual_network_gateways.begin_get_bgp_peer_status(RG, GW, polling=poll()).result().value


def test_async_operation_style_polls_status_then_location(emu: Running, client: NetworkManagementClient) -> None:
    emu.control.set(lro_style="async_operation", lro_latency_s=0.3)
    routes = client.virtual_network_gateways.begin_get_learned_routes(RG, GW, polling=poll()).result().value
    assert len(routes) == 4
    assert emu.control.state().counters["poll"] >= 2


@pytest.mark.parametrize(("snapshot_at", "expected"), [("start", "Connected"), ("end", "Connecting")])
def test_snapshot_time_within_the_lro(emu: Running, client: NetworkManagementClient, snapshot_at: str,
                                      expected: str) -> None:
    emu.control.set(snapshot_at=snapshot_at, lro_latency_s=0.5)
    poller = client.virtual_network_gateways.begin_get_bgp_peer_status(RG, GW, peer="169.254.21.2", polling=poll())
    time.sleep(0.1)  # the peer goes down while the LRO runs
    emu.source.gateway.peers[0][1] = PeerObservation(neighbor="169.254.21.2", asn=65010, bgp_state="Connect")
    assert [p.state for p in poller.result().value] == [expected]


def test_stall_hits_the_client_read_timeout(emu: Running) -> None:
    emu.control.add_fault(Fault(kind="stall", stall_s=1.0, count=1))
    with network_client(emu.state, RES.subscription_id, retry_total=0) as client:
        with pytest.raises(ServiceResponseTimeoutError):
            client.virtual_network_gateways.get(RG, GW, read_timeout=0.3)


def _raw_get(state: EmulatorState, path: str, token: str | None) -> tuple[int, dict[str, object]]:
    ctx = ssl.create_default_context(cafile=state.ca_bundle)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(state.base_url + path, headers=headers), context=ctx) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _token(state: EmulatorState) -> tuple[str, int]:
    secret = Path(state.identity_header_file).read_text()
    req = urllib.request.Request(state.identity_endpoint + "?api-version=2019-08-01&resource=https://management.azure.com",
                                 headers={"X-IDENTITY-HEADER": secret})
    with urllib.request.urlopen(req) as r:
        body = json.loads(r.read())
    assert set(body) >= {"access_token", "expires_on", "resource", "token_type"}
    return str(body["access_token"]), int(body["expires_on"])


def test_auth_errors_have_arm_bodies(emu: Running) -> None:
    path = f"/subscriptions/{RES.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/virtualNetworkGateways/{GW}"
    assert _raw_get(emu.state, path + "?api-version=2024-05-01", None) == (401, {"error": {
        "code": "AuthenticationFailed", "message": "Authentication failed. The 'Authorization' header is missing."}})
    status, body = _raw_get(emu.state, path + "?api-version=2024-05-01", "forged")
    assert (status, body["error"]["code"]) == (401, "InvalidAuthenticationToken")  # type: ignore[index]
    token, _ = _token(emu.state)
    status, body = _raw_get(emu.state, path, token)
    assert (status, body["error"]["code"]) == (400, "MissingApiVersionParameter")  # type: ignore[index]
    assert _raw_get(emu.state, path + "?api-version=2024-05-01", token)[0] == 200


def test_tokens_expire_and_the_credential_renews_them(emu: Running, client: NetworkManagementClient) -> None:
    emu.control.set(token_lifetime_s=2)
    token, expires_on = _token(emu.state)
    time.sleep(max(0.0, expires_on - time.time()) + 0.05)
    path = f"/subscriptions/{RES.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/virtualNetworkGateways/{GW}"
    status, body = _raw_get(emu.state, path + "?api-version=2024-05-01", token)
    assert (status, body["error"]["code"]) == (401, "ExpiredAuthenticationToken")  # type: ignore[index]
    before = emu.control.state().counters.get("token", 0)
    client.virtual_network_gateways.get(RG, GW)
    time.sleep(2.1)
    client.virtual_network_gateways.get(RG, GW)  # the credential must fetch a fresh token
    assert emu.control.state().counters["token"] >= before + 2


def test_wrong_identity_header_gets_no_token(emu: Running) -> None:
    req = urllib.request.Request(emu.state.identity_endpoint + "?api-version=2019-08-01&resource=https://management.azure.com",
                                 headers={"X-IDENTITY-HEADER": "wrong"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 401
    emu.control.set(token_lifetime_s=3600)
    with pytest.raises(ClientAuthenticationError):
        with identity_environment(emu.state):
            import os
            os.environ["IDENTITY_HEADER"] = "wrong"
            with network_client(emu.state, RES.subscription_id) as c:
                c.virtual_network_gateways.get(RG, GW)
