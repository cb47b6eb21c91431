"""The smallest command set each platform must allow the harness's login, derived from the
platform table (platforms.PLATFORMS), for a router's AAA / role configuration.
`python -m failover_harness.devices.privileges` prints it as Markdown (docs/router-commands.md)."""

from __future__ import annotations

from failover_harness.devices.interfaces import INTERFACE_ADDRESS_COMMANDS
from failover_harness.devices.neighbor_detail import FRR_BFD_COMMAND, FRR_TABLE_COMMAND, NEIGHBOR_DETAIL
from failover_harness.devices.platforms import PLATFORMS, PlatformSpec

# Sent by the gate on every platform: how the router routes back to our SSH source.
MANAGEMENT_ROUTE_COMMAND = "show ip route <our-address>"
# What the templates' fields stand for in the listing.
_FIELDS = {"interface": "<tunnel-interface>", "junos_interface": "<st0 unit N>",
           "vyos_interface": "<vti vtiN>", "panos_interface": "<ethernetN/N>",
           "neighbor": "<azure-bgp-address>", "asn": "<local-asn>"}


def show_commands(spec: PlatformSpec) -> list[str]:
    return [spec.bgp_summary_command, MANAGEMENT_ROUTE_COMMAND]


def config_commands(spec: PlatformSpec) -> list[str]:
    templates = (spec.interface_shutdown + spec.interface_no_shutdown
                 + spec.neighbor_shutdown + spec.neighbor_no_shutdown)
    lines = list(dict.fromkeys(t.format(**_FIELDS) for t in templates))
    return lines + (["commit"] if spec.commit else [])


def markdown() -> str:
    out = ["# Router commands the harness needs", "",
           "Generated from `failover_harness/devices/platforms.py` by",
           "`python -m failover_harness.devices.privileges`; a test keeps it in step.",
           "Allow exactly these to the harness's login (e.g. a privilege level, a",
           "command-authorization rule set or a Junos/PAN-OS role). Configuration mode is",
           "entered and left the way netmiko does for the platform (`configure terminal`/`end`,",
           "`configure`/`exit`), and netmiko's session preparation (`terminal length 0`,",
           "`terminal width 511` or the platform's equivalent) must be allowed. The harness never",
           "saves the configuration (no `write memory`/`save`): a reload undoes a stranded fault.", ""]
    for name, spec in PLATFORMS.items():
        out += [f"## {name} (netmiko `{spec.netmiko_device_type}`)", "", "Read:", ""]
        out += [f"- `{c}`" for c in show_commands(spec)]
        if name in NEIGHBOR_DETAIL:  # timers, BFD and learned routes for the prediction
            out.append(f"- `{NEIGHBOR_DETAIL[name][0]}` (the prediction, before a fault and in `check`)")
        if name == "frr":
            out += [f"- `{c}` (the prediction)" for c in (FRR_BFD_COMMAND, FRR_TABLE_COMMAND)]
        if name in INTERFACE_ADDRESS_COMMANDS:
            out.append(f"- `{INTERFACE_ADDRESS_COMMANDS[name]}` (only `inventory discover --ssh`)")
        out += ["", "Change (the fault and its restore):", ""]
        out += [f"- `{c}`" for c in config_commands(spec)]
        if not spec.neighbor_shutdown:
            out += ["", f"Neighbor shutdown is not offered: {spec.unsupported_hint}."]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover - writes the doc
    print(markdown(), end="")
