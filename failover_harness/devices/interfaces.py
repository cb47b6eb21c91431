"""Which interface carries which address, from the router's own output (for `inventory
discover`, which maps Azure's tunnels to interface names). Platforms without a parser here
leave the interface names to the operator."""

from __future__ import annotations

import ipaddress
import json
import re

from failover_harness.devices.base import PlatformName

# The read-only command per platform (docs/router-commands.md lists it too).
INTERFACE_ADDRESS_COMMANDS: dict[PlatformName, str] = {
    "frr": "show interface json",
    "cisco_ios": "show ip interface brief",
    "cisco_xe": "show ip interface brief",
}
_IOS_ROW = re.compile(r"^(?P<name>\S+)\s+(?P<ip>\d+\.\d+\.\d+\.\d+)\s+\S+\s+\S+")


def parse_interface_addresses(platform: PlatformName, output: str) -> dict[str, list[str]]:
    """interface -> its IPv4/IPv6 addresses (without prefix length)."""
    if platform == "frr":
        data = json.loads(output)
        out: dict[str, list[str]] = {}
        for name, body in data.items():
            addresses = [str(a.get("address", "")).split("/")[0] for a in body.get("ipAddresses") or []]
            out[name] = [a for a in addresses if a]
        return out
    if platform in ("cisco_ios", "cisco_xe"):
        rows = (_IOS_ROW.match(line) for line in output.splitlines())
        return {m["name"]: [m["ip"]] for m in rows if m}
    raise ValueError(f"{platform}: no interface-address parser")


def interface_for(addresses: dict[str, list[str]], local_address: str, neighbor: str) -> str | None:
    """The interface holding `local_address`; else the one whose address shares a /30 with
    `neighbor` (point-to-point tunnels); None when no interface or more than one fits."""
    exact = [name for name, ips in addresses.items() if local_address in ips]
    if len(exact) == 1:
        return exact[0]
    try:
        net = ipaddress.ip_network(f"{neighbor}/30", strict=False)
    except ValueError:
        return None
    near = [name for name, ips in addresses.items()
            if any(_in(ip, net) and ip != neighbor for ip in ips)]
    return near[0] if len(near) == 1 else None


def _in(address: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(address) in net
    except ValueError:
        return False
