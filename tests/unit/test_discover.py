"""`inventory discover` against recorded ARM JSON shapes (tests/data/arm/vpn-gateway.json, the
REST bodies of GET gateway / publicIPAddresses / connections / localNetworkGateways), with a
fake SDK client; placeholders stop `validate` with file, line and field until filled."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from failover_harness.azure.discovery import discover_gateway
from failover_harness.devices.interfaces import parse_interface_addresses
from failover_harness.errors import InfrastructureError, InputError
from failover_harness.inventory import PLACEHOLDER, load_inventory, placeholders
from failover_harness.orchestrator.discover import DeviceHints, discover, render

ARM = json.loads((Path(__file__).resolve().parents[1] / "data" / "arm" / "vpn-gateway.json").read_text())
SUB, RG = ARM["subscription_id"], ARM["resource_group"]


class _Group:
    def __init__(self, items: dict[str, Any], listing: list[Any] | None = None, refuse: bool = False) -> None:
        self.items, self.listing, self.refuse, self.calls = items, listing, refuse, []

    def get(self, rg: str, name: str) -> Any:
        self.calls.append((rg, name))
        if self.refuse:
            exc = HttpResponseError(message="AuthorizationFailed")
            exc.status_code = 403
            raise exc
        return copy.deepcopy(self.items[name])

    def list_connections(self, rg: str, name: str) -> list[Any]:
        return [{"name": c["name"], "properties": {}} for c in self.listing or []]


class FakeClient:
    def __init__(self, mode: str, refuse_lng: bool = False) -> None:
        gw = ARM["gateways"][mode]
        self.virtual_network_gateways = _Group({gw["name"]: gw}, list(ARM["connections"].values()))
        self.public_ip_addresses = _Group(ARM["publicIPAddresses"])
        self.virtual_network_gateway_connections = _Group(ARM["connections"])
        self.local_network_gateways = _Group(ARM["localNetworkGateways"], refuse=refuse_lng)


def test_active_active_gateway_maps_each_connection_to_its_instance() -> None:
    gw = discover_gateway(FakeClient("active-active"), SUB, RG, "vpngw-hub-prod")
    assert gw.active_active and gw.asn == 65515
    assert [(i.index, i.custom_bgp_addresses, i.public_ip) for i in gw.instances] == [
        (0, ["169.254.21.1"], "20.61.1.10"), (1, ["169.254.21.5"], "20.61.1.11")]
    data, notes = discover(gw, DeviceHints(name="edge1"))
    assert not notes
    tunnels = data["devices"]["edge1"]["tunnels"]
    assert sorted((t["connection"], t["azure_instance"], t["neighbor"], t["local_address"]) for t in tunnels.values()) == [
        ("cn-onprem-dc1", 0, "169.254.21.1", "169.254.21.2"), ("cn-onprem-dc1-t2", 1, "169.254.21.5", "169.254.21.6")]
    assert data["devices"]["edge1"]["bgp_asn"] == 65010
    assert data["azure"]["connections"] == ["cn-onprem-dc1", "cn-onprem-dc1-t2"]
    assert data["prefixes"]["onprem"] == ["192.168.10.0/24"]  # the BGP /32s are left out


def test_active_standby_gateway_puts_every_tunnel_on_instance_0() -> None:
    gw = discover_gateway(FakeClient("active-standby"), SUB, RG, "vpngw-hub-prod")
    assert not gw.active_active and len(gw.instances) == 1
    data, _ = discover(gw, DeviceHints())
    [device] = data["devices"].values()  # two local network gateways, one router (same IP and ASN)
    assert {t["azure_instance"] for t in device["tunnels"].values()} == {0}
    # Only one instance address can share a /30 with the on-prem peer; the other tunnel
    # falls back to the instance's default BGP address.
    assert sorted(t["neighbor"] for t in device["tunnels"].values()) == ["10.0.255.4", "169.254.21.1"]


def test_placeholders_name_what_azure_cannot_know_and_validate_refuses_them(tmp_path: Path) -> None:
    gw = discover_gateway(FakeClient("active-active"), SUB, RG, "vpngw-hub-prod")
    data, _ = discover(gw, DeviceHints(name="edge1"))
    path = tmp_path / "inventory.yaml"
    path.write_text(render(data, "test"))
    left = {".".join(map(str, loc)): text for loc, text in placeholders(data)}
    assert {"devices.edge1.platform", "devices.edge1.host", "devices.edge1.username", "devices.edge1.password",
            "prefixes.azure.0"} <= set(left)
    assert sum(1 for k in left if k.startswith("devices.edge1.tunnels.")) == 2
    with pytest.raises(InputError) as info:
        load_inventory(path)
    text = str(info.value)
    assert f"{path}:" in text and "devices.edge1.host" in text and "placeholder left by `inventory discover`" in text


def test_filled_skeleton_validates(tmp_path: Path) -> None:
    gw = discover_gateway(FakeClient("active-active"), SUB, RG, "vpngw-hub-prod")
    hints = DeviceHints(name="edge1", platform="cisco_xe", host="10.20.0.1", username="netops",
                        password={"env": "EDGE1_PASSWORD"})
    router = parse_interface_addresses("cisco_xe", IOS_BRIEF)
    data, notes = discover(gw, hints, read_interfaces=lambda _d: router)
    assert not notes
    assert set(data["devices"]["edge1"]["tunnels"]) == {"Tunnel1", "Tunnel2"}
    assert data["devices"]["edge1"]["tunnels"]["Tunnel2"]["azure_instance"] == 1
    data["vantage_points"] = {"onprem-host": {"sources": ["192.168.10.10"]}}
    data["targets"] = {"vm1": {"ip": "10.0.1.4", "tcp_ports": [443]}}
    data["prefixes"]["azure"] = ["10.0.0.0/16"]
    assert not placeholders(data)
    path = tmp_path / "inventory.yaml"
    path.write_text(render(data, "test"))
    inventory = load_inventory(path)
    assert inventory.tunnel_by_address("169.254.21.6").interface == "Tunnel2"  # type: ignore[union-attr]


def test_unmatched_interfaces_stay_placeholders_with_a_note() -> None:
    gw = discover_gateway(FakeClient("active-active"), SUB, RG, "vpngw-hub-prod")
    data, notes = discover(gw, DeviceHints(name="edge1"), read_interfaces=lambda _d: {"Tunnel1": ["169.254.21.2"]})
    assert set(data["devices"]["edge1"]["tunnels"]) == {"Tunnel1", f"{PLACEHOLDER}-interface-cn-onprem-dc1-t2-i1"}
    assert notes == ["edge1: no interface on the router holds 169.254.21.6 (tunnel of cn-onprem-dc1-t2, Azure instance 1)"]


def test_a_refused_read_names_the_missing_action() -> None:
    with pytest.raises(InfrastructureError) as info:
        discover_gateway(FakeClient("active-active", refuse_lng=True), SUB, RG, "vpngw-hub-prod")
    assert "Microsoft.Network/localNetworkGateways/read" in str(info.value)
    assert "local network gateway lng-onprem-dc1-t1" in str(info.value)


def test_frr_interface_json_is_parsed() -> None:
    frr = json.dumps({"Tunnel1": {"ipAddresses": [{"address": "169.254.21.2/30", "secondary": False}]},
                      "lo": {"ipAddresses": [{"address": "127.0.0.1/8"}]}, "eth0": {}})
    assert parse_interface_addresses("frr", frr) == {"Tunnel1": ["169.254.21.2"], "lo": ["127.0.0.1"], "eth0": []}


IOS_BRIEF = """\
Interface              IP-Address      OK? Method Status                Protocol
GigabitEthernet1       10.20.0.1       YES NVRAM  up                    up
GigabitEthernet2       198.51.100.77   YES NVRAM  up                    up
Tunnel1                169.254.21.2    YES NVRAM  up                    up
Tunnel2                169.254.21.6    YES NVRAM  up                    up
Loopback0              unassigned      YES unset  up                    up
"""


class _FakeConnection:
    refuse_lng = False

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.client = FakeClient("active-active", refuse_lng=self.refuse_lng)

    def close(self) -> None:
        pass


def _cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *extra: str, refuse: bool = False) -> Any:
    from typer.testing import CliRunner

    import failover_harness.azure.client as client_module
    from failover_harness.cli import app
    monkeypatch.setattr(_FakeConnection, "refuse_lng", refuse)
    monkeypatch.setattr(client_module, "AzureConnection", _FakeConnection)
    return CliRunner().invoke(app, ["inventory", "discover", "--subscription", SUB, "--resource-group", RG,
                                    "--gateway", "vpngw-hub-prod", "-o", str(tmp_path / "inv.yaml"), *extra])


def test_cli_writes_the_skeleton_and_lists_each_placeholder_with_its_line(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    result = _cli(monkeypatch, tmp_path, "--device", "edge1", "--platform", "cisco_xe")
    assert result.exit_code == 0, result.output
    assert "1 device(s), 2 tunnel(s), gateway active-active" in result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith(str(tmp_path / "inv.yaml") + ":")]
    written = (tmp_path / "inv.yaml").read_text().splitlines()
    for line in lines:  # every listed line really holds a placeholder
        number = int(line.split(":")[1])
        assert PLACEHOLDER in written[number - 1], (line, written[number - 1])
    assert any("devices.edge1.host" in ln for ln in lines)
    assert any("{sources: [on-prem addresses to probe from]}" in ln for ln in lines)  # printed as is
    assert not any("devices.edge1.platform" in ln for ln in lines)  # given on the command line
    again = _cli(monkeypatch, tmp_path)
    assert again.exit_code == 2 and "exists" in again.output


def test_cli_refused_read_exits_3_naming_the_action(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result = _cli(monkeypatch, tmp_path, refuse=True)
    assert result.exit_code == 3
    assert "Microsoft.Network/localNetworkGateways/read" in result.output
    assert not (tmp_path / "inv.yaml").exists()
