"""The null-body quirks of real Azure, on demand (azure-rest-api-specs #34019)."""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from pathlib import Path

import pytest
from azure.core.exceptions import AzureError
from azure.mgmt.network import NetworkManagementClient

from failover_harness.lab.azure_emulator.settings import Fault
from failover_harness.lab.azure_emulator.testing import FastARMPolling
from tests.unit.azure_emulator_fixtures import (  # noqa: F401 - fixtures
    RES,
    Running,
    client,
    emu,
    running,
)

RG, GW = RES.resource_group, RES.gateway


def test_null_body_at_start_is_a_none_result(emu: Running, client: NetworkManagementClient) -> None:
    emu.control.add_fault(Fault(kind="null_body", match="getLearnedRoutes", count=1))
    assert client.virtual_network_gateways.begin_get_learned_routes(RG, GW, polling=FastARMPolling()).result() is None
    assert client.virtual_network_gateways.begin_get_learned_routes(RG, GW, polling=FastARMPolling()).result().value
    assert emu.control.state().counters["null_body"] == 1


def test_null_body_as_the_final_result(emu: Running, client: NetworkManagementClient) -> None:
    emu.control.add_fault(Fault(kind="null_body", at="result", match="getLearnedRoutes", count=1))
    start = time.monotonic()
    assert client.virtual_network_gateways.begin_get_learned_routes(RG, GW, polling=FastARMPolling()).result() is None
    assert time.monotonic() - start >= 0.2, "the operation ran its latency first"
    peers = client.virtual_network_gateways.begin_get_bgp_peer_status(RG, GW, polling=FastARMPolling()).result()
    assert peers.value, "other operations are not hit"


def _token(emu: Running) -> str:
    secret = Path(emu.state.identity_header_file).read_text()
    req = urllib.request.Request(emu.state.identity_endpoint + "?api-version=2019-08-01&resource=https://management.azure.com",
                                 headers={"X-IDENTITY-HEADER": secret})
    with urllib.request.urlopen(req) as r:
        return str(json.loads(r.read())["access_token"])


def test_status_resource_without_status(emu: Running, client: NetworkManagementClient) -> None:
    emu.control.add_fault(Fault(kind="no_status", match="getLearnedRoutes", count=2))
    with pytest.raises(AzureError):  # the SDK's poller cannot tell whether it finished
        client.virtual_network_gateways.begin_get_learned_routes(RG, GW, polling=FastARMPolling()).result()
    # What the status resource says, raw: the routes, but no status (running: {}).
    ctx = ssl.create_default_context(cafile=emu.state.ca_bundle)
    auth = {"Authorization": f"Bearer {_token(emu)}"}
    url = (f"{emu.state.base_url}/subscriptions/{RES.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network"
           f"/virtualNetworkGateways/{GW}/getLearnedRoutes?api-version=2024-05-01")
    with urllib.request.urlopen(urllib.request.Request(url, method="POST", headers=auth), context=ctx) as r:
        status_url = r.headers["Azure-AsyncOperation"]
    with urllib.request.urlopen(urllib.request.Request(status_url, headers=auth), context=ctx) as r:
        assert json.loads(r.read()) == {}
    time.sleep(0.3)
    with urllib.request.urlopen(urllib.request.Request(status_url, headers=auth), context=ctx) as r:
        body = json.loads(r.read())
    assert "status" not in body and len(body["value"]) == 4
