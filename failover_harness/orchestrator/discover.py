"""`failover-harness inventory discover`: an inventory skeleton from what Azure knows about
a VPN gateway, optionally with tunnel interface names from the router's own output.

Azure gives the gateway (active-active or not), each instance's BGP address and public IP,
the connections and their local network gateways (the on-prem BGP address and ASN). Azure
cannot know the router's management address, platform, login, interface names, where to
probe from and what to probe: those are placeholders, strings starting with `FILL-ME`, which
`validate` refuses by file, line and field until they are replaced.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict
from ruamel.yaml import YAML

from failover_harness.azure.discovery import DiscoveredConnection, DiscoveredGateway
from failover_harness.devices.interfaces import interface_for
from failover_harness.inventory import PLACEHOLDER

PLATFORM_CHOICES = "cisco_ios, cisco_xe, frr, cisco_asa, juniper_junos, fortinet, paloalto_panos, vyos"


class DeviceHints(BaseModel):
    """What the operator already knows about the on-prem router (command-line options)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    platform: str | None = None
    host: str | None = None
    username: str | None = None
    password: dict[str, Any] | None = None  # a secret reference, e.g. {"env": "EDGE1_PASSWORD"}
    known_hosts: str | None = None


def fill(what: str) -> str:
    return f"{PLACEHOLDER}: {what}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def _device_groups(gw: DiscoveredGateway) -> dict[tuple[str, int | None], list[DiscoveredConnection]]:
    """Connections per on-prem router: local network gateways with the same public address
    (or FQDN) and ASN are one router with several tunnels."""
    groups: dict[tuple[str, int | None], list[DiscoveredConnection]] = {}
    for conn in gw.connections:
        lng = conn.local_gateway
        key = (lng.gateway_ip or lng.fqdn or lng.name, lng.asn)
        groups.setdefault(key, []).append(conn)
    return groups


def skeleton(gw: DiscoveredGateway, hints: DeviceHints, azure_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The inventory as plain YAML-ready data (pure)."""
    groups = _device_groups(gw)
    if hints.name and len(groups) > 1:
        raise ValueError(f"--device names one router but the gateway's connections reach {len(groups)} "
                         f"(by public address and ASN: {', '.join(k[0] for k in groups)}); "
                         "run without --device and rename them in the file")
    devices: dict[str, Any] = {}
    for (address, asn), conns in groups.items():
        name = hints.name or _slug(conns[0].local_gateway.name)
        tunnels: dict[str, Any] = {}
        taken: set[str] = set()
        for conn in conns:
            for instance, azure_address, onprem_address in gw.tunnels_of(conn, taken):
                key = f"{PLACEHOLDER}-interface-{_slug(conn.name)}-i{instance.index}"
                tunnels[key] = {
                    "neighbor": azure_address or fill(f"Azure instance {instance.index}'s BGP address"),
                    "local_address": onprem_address or fill("the router's BGP address"),
                    "azure_instance": instance.index,
                    "connection": conn.name,
                }
                if onprem_address:
                    taken.add(onprem_address)
        device: dict[str, Any] = {
            "platform": hints.platform or fill(f"one of {PLATFORM_CHOICES}"),
            "bgp_asn": asn if asn is not None else fill("the router's BGP ASN"),
            "host": hints.host or fill(f"management address of the router at {address} "
                                       "(never through a tunnel under test)"),
            "port": 22,
            "username": hints.username or fill("SSH login"),
            "password": hints.password or fill("a secret reference, e.g. {env: EDGE1_PASSWORD}"),
        }
        if hints.known_hosts:
            device["known_hosts"] = hints.known_hosts
        device["tunnels"] = tunnels
        devices[name] = device
    azure: dict[str, Any] = {
        "subscription_id": gw.subscription_id, "resource_group": gw.resource_group, "gateway": gw.name,
        "connections": [c.name for c in gw.connections], "credential": "default", **(azure_extra or {})}
    onprem = sorted({p for c in gw.connections for p in c.local_gateway.address_prefixes
                     if not p.endswith(("/32", "/128"))})
    return {
        "name": f"discovered-{gw.name}",
        "devices": devices,
        "azure": azure,
        "vantage_points": {f"{PLACEHOLDER}-vantage-point": fill(
            "{sources: [on-prem addresses to probe from]} (and netns: NAME to probe from a namespace)")},
        "targets": {f"{PLACEHOLDER}-target": fill("{ip: an Azure VM address, tcp_ports: [443], reflector_port: 8620"
                                                      " (udp probes: `failover-harness reflect` there)}")},
        "prefixes": {"onprem": onprem or [fill("on-prem prefix announced to Azure")],
                     "azure": [fill("Azure VNet prefix")]},
    }


def name_interfaces(data: dict[str, Any], device: str, addresses: dict[str, list[str]]) -> list[str]:
    """Replace the device's placeholder tunnel keys by the interfaces that carry each
    tunnel's addresses on the router; returns what could not be matched."""
    tunnels: dict[str, Any] = data["devices"][device]["tunnels"]
    renamed: dict[str, Any] = {}
    unmatched = []
    for key, tunnel in tunnels.items():
        found = interface_for(addresses, str(tunnel["local_address"]), str(tunnel["neighbor"]))
        if found is None or found in renamed:
            unmatched.append(f"{device}: no interface on the router holds {tunnel['local_address']} "
                             f"(tunnel of {tunnel['connection']}, Azure instance {tunnel['azure_instance']})")
            renamed[key] = tunnel
        else:
            renamed[found] = tunnel
    data["devices"][device]["tunnels"] = renamed
    return unmatched


def render(data: dict[str, Any], command: str) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 200
    out = io.StringIO()
    out.write(f"# Written by `{command}`.\n"
              f"# Replace every {PLACEHOLDER} key and value (Azure cannot know them); "
              "`failover-harness validate` lists those left.\n")
    yaml.dump(data, out)
    return out.getvalue()


def discover(gw: DiscoveredGateway, hints: DeviceHints, *, azure_extra: dict[str, Any] | None = None,
             read_interfaces: Callable[[str], dict[str, list[str]]] | None = None) -> tuple[dict[str, Any], list[str]]:
    """(inventory data, notes). `read_interfaces(device)` returns the router's interface
    addresses (over SSH); without it interface names stay placeholders."""
    data = skeleton(gw, hints, azure_extra)
    notes: list[str] = []
    if not gw.active_active and len(gw.instances) > 1:
        notes.append("the gateway is active-standby: every tunnel goes to instance 0")
    if read_interfaces is not None:
        for device in data["devices"]:
            notes += name_interfaces(data, device, read_interfaces(device))
    return data, notes
