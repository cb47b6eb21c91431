"""One entry per platform: how to drive it with netmiko, read BGP, and shut things.

Config command templates are format strings. Fields: {interface}, {neighbor}, {asn}, and
derived interface paths for platforms whose CLI splits the name ({junos_interface}:
'st0 unit 1'; {vyos_interface}: 'vti vti1'; {panos_interface}: 'ethernet1/1').
An empty template list means the platform cannot do that action from this tool; the message
says what to do instead.
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel, ConfigDict

from failover_harness.devices.base import DeviceAction, PlatformName
from failover_harness.devices.parsing import (
    SummaryParser,
    parse_frr_summary_json,
    parse_junos_summary,
    parse_panos_summary,
    textfsm_table_parser,
)
from failover_harness.errors import DeviceError, InputError

ASN_PLACEHOLDER = "<local-asn>"  # shown by --dry-run when the ASN is only known from the device

_CISCO_ERRORS = r"^\s*% ?(Invalid|Unknown|Incomplete|Ambiguous|Specify|Create|Cannot|Error)"


class PlatformSpec(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: PlatformName
    netmiko_device_type: str
    bgp_summary_command: str
    parse_bgp_summary: SummaryParser
    interface_shutdown: tuple[str, ...]
    interface_no_shutdown: tuple[str, ...]
    neighbor_shutdown: tuple[str, ...]
    neighbor_no_shutdown: tuple[str, ...]
    commit: bool = False  # candidate-config platforms: changes only take effect on commit
    save_command: str | None = None  # persists config; the harness does not save faults
    error_pattern: str  # a line of command output that means the device refused it
    unsupported_hint: str = ""


_IOS_SUMMARY = textfsm_table_parser(
    "cisco_ios", "show ip bgp summary", neighbor="bgp_neighbor", asn="neighbor_as",
    state="state_or_prefixes_received", uptime="up_down", local_as="local_as",
    router_id="router_id")

_CISCO_INTERFACE = (("interface {interface}", "shutdown"), ("interface {interface}", "no shutdown"))
_CISCO_NEIGHBOR = (("router bgp {asn}", "neighbor {neighbor} shutdown"),
                   ("router bgp {asn}", "no neighbor {neighbor} shutdown"))

PLATFORMS: dict[PlatformName, PlatformSpec] = {
    "cisco_ios": PlatformSpec(
        name="cisco_ios", netmiko_device_type="cisco_ios",
        bgp_summary_command="show ip bgp summary", parse_bgp_summary=_IOS_SUMMARY,
        interface_shutdown=_CISCO_INTERFACE[0], interface_no_shutdown=_CISCO_INTERFACE[1],
        neighbor_shutdown=_CISCO_NEIGHBOR[0], neighbor_no_shutdown=_CISCO_NEIGHBOR[1],
        save_command="write memory", error_pattern=_CISCO_ERRORS),
    "cisco_xe": PlatformSpec(
        name="cisco_xe", netmiko_device_type="cisco_xe",
        bgp_summary_command="show ip bgp summary", parse_bgp_summary=_IOS_SUMMARY,
        interface_shutdown=_CISCO_INTERFACE[0], interface_no_shutdown=_CISCO_INTERFACE[1],
        neighbor_shutdown=_CISCO_NEIGHBOR[0], neighbor_no_shutdown=_CISCO_NEIGHBOR[1],
        save_command="write memory", error_pattern=_CISCO_ERRORS),
    # FRR's vtysh speaks an IOS-like CLI; netmiko has no FRR driver and cisco_ios works.
    "frr": PlatformSpec(
        name="frr", netmiko_device_type="cisco_ios",
        bgp_summary_command="show bgp summary json", parse_bgp_summary=parse_frr_summary_json,
        interface_shutdown=_CISCO_INTERFACE[0], interface_no_shutdown=_CISCO_INTERFACE[1],
        neighbor_shutdown=_CISCO_NEIGHBOR[0], neighbor_no_shutdown=_CISCO_NEIGHBOR[1],
        save_command="write memory", error_pattern=_CISCO_ERRORS),
    "cisco_asa": PlatformSpec(
        name="cisco_asa", netmiko_device_type="cisco_asa",
        bgp_summary_command="show bgp summary",
        parse_bgp_summary=textfsm_table_parser(
            "cisco_asa", "show bgp summary", neighbor="bgp_neigh", asn="neigh_as",
            state="state_pfxrcd", uptime="up_down", local_as="local_as",
            router_id="router_id"),
        interface_shutdown=_CISCO_INTERFACE[0], interface_no_shutdown=_CISCO_INTERFACE[1],
        # ASA keeps neighbor activation under the address family
        neighbor_shutdown=("router bgp {asn}", "address-family ipv4 unicast",
                           "neighbor {neighbor} shutdown"),
        neighbor_no_shutdown=("router bgp {asn}", "address-family ipv4 unicast",
                              "no neighbor {neighbor} shutdown"),
        save_command="write memory", error_pattern=r"^\s*(ERROR:|% ?Invalid|% ?Incomplete)"),
    "juniper_junos": PlatformSpec(
        name="juniper_junos", netmiko_device_type="juniper_junos",
        bgp_summary_command="show bgp summary", parse_bgp_summary=parse_junos_summary,
        interface_shutdown=("set interfaces {junos_interface} disable",),
        interface_no_shutdown=("delete interfaces {junos_interface} disable",),
        # Junos addresses a neighbor only inside its group, which the summary does not show.
        neighbor_shutdown=(), neighbor_no_shutdown=(),
        commit=True, error_pattern=r"^\s*(error:|syntax error|unknown command)",
        unsupported_hint="Junos needs the BGP group to deactivate a neighbor; shut the "
                         "tunnel interface (st0.N) instead"),
    "fortinet": PlatformSpec(
        name="fortinet", netmiko_device_type="fortinet",
        bgp_summary_command="get router info bgp summary",
        parse_bgp_summary=textfsm_table_parser(
            "fortinet", "get router info bgp summary", neighbor="bgp_neigh", asn="neigh_as",
            state="state_pfxrcd", uptime="up_down"),
        interface_shutdown=("config system interface", 'edit "{interface}"', "set status down",
                            "next", "end"),
        interface_no_shutdown=("config system interface", 'edit "{interface}"',
                               "set status up", "next", "end"),
        neighbor_shutdown=("config router bgp", "config neighbor", 'edit "{neighbor}"',
                           "set shutdown enable", "next", "end", "end"),
        neighbor_no_shutdown=("config router bgp", "config neighbor", 'edit "{neighbor}"',
                              "set shutdown disable", "next", "end", "end"),
        error_pattern=r"^\s*(command parse error|Command fail|entry not found)"),
    "paloalto_panos": PlatformSpec(
        name="paloalto_panos", netmiko_device_type="paloalto_panos",
        bgp_summary_command="show routing protocol bgp summary",
        parse_bgp_summary=parse_panos_summary,
        interface_shutdown=("set network interface ethernet {panos_interface} link-state down",),
        interface_no_shutdown=("set network interface ethernet {panos_interface} link-state up",),
        # A PAN-OS peer is named by virtual router, peer group and peer name, not by IP.
        neighbor_shutdown=(), neighbor_no_shutdown=(),
        commit=True, error_pattern=r"^\s*(Invalid syntax|Unknown command|Server error)",
        unsupported_hint="PAN-OS addresses BGP peers by virtual router/peer group/name; "
                         "shut the ethernet interface instead"),
    "vyos": PlatformSpec(
        name="vyos", netmiko_device_type="vyos",
        bgp_summary_command="show ip bgp summary",
        parse_bgp_summary=textfsm_table_parser(
            "vyos", "show ip bgp summary", neighbor="bgp_neigh", asn="neigh_as",
            state="state_pfxrcd", uptime="up_down", local_as="local_as",
            router_id="router_id"),
        interface_shutdown=("set interfaces {vyos_interface} disable",),
        interface_no_shutdown=("delete interfaces {vyos_interface} disable",),
        # VyOS 1.4+ syntax (1.2/1.3 put the ASN in the path: protocols bgp <asn> neighbor ...)
        neighbor_shutdown=("set protocols bgp neighbor {neighbor} shutdown",),
        neighbor_no_shutdown=("delete protocols bgp neighbor {neighbor} shutdown",),
        commit=True, save_command="save",
        error_pattern=r"^\s*(Invalid command|Configuration path: .* is not valid|Set failed"
                      r"|Delete failed|Commit failed)"),
}

_INTERFACE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_./:-]{0,63}$")
_VYOS_TYPES = (("eth", "ethernet"), ("vti", "vti"), ("tun", "tunnel"), ("wg", "wireguard"),
               ("bond", "bonding"), ("br", "bridge"), ("dum", "dummy"), ("lo", "loopback"))


def _interface_fields(platform: PlatformSpec, interface: str) -> dict[str, str]:
    if not _INTERFACE_NAME.match(interface):
        raise InputError(f"not an interface name: {interface!r}", field="interface")
    fields = {"interface": interface}
    if platform.name == "juniper_junos":
        ifd, _, unit = interface.partition(".")
        fields["junos_interface"] = f"{ifd} unit {unit}" if unit else ifd
    elif platform.name == "vyos":
        kind = next((k for prefix, k in _VYOS_TYPES if interface.startswith(prefix)), None)
        if kind is None:
            raise InputError(f"vyos: cannot tell the type of interface {interface!r}",
                             field="interface")
        fields["vyos_interface"] = f"{kind} {interface}"
    elif platform.name == "paloalto_panos":
        if not interface.startswith("ethernet"):
            raise DeviceError(f"paloalto_panos: only ethernet interfaces can be shut here, "
                              f"not {interface!r}")
        fields["panos_interface"] = interface
    return fields


def render_commands(platform: PlatformSpec, action: DeviceAction, asn: int | None) -> list[str]:
    """The config commands that carry out `action`; no I/O. Unknown ASN -> placeholder."""
    if action.on_interface:
        fields = _interface_fields(platform, action.target)
        templates = platform.interface_no_shutdown if action.enabled else (
            platform.interface_shutdown)
    else:
        try:
            neighbor = str(ipaddress.ip_address(action.target))
        except ValueError:
            raise InputError(f"not a neighbor IP address: {action.target!r}",
                             field="neighbor") from None
        fields = {"neighbor": neighbor, "asn": str(asn) if asn is not None else ASN_PLACEHOLDER}
        templates = platform.neighbor_no_shutdown if action.enabled else (
            platform.neighbor_shutdown)
    if not templates:
        raise DeviceError(f"{platform.name}: {action.kind} is not supported: "
                          f"{platform.unsupported_hint}")
    return [t.format(**fields) for t in templates]


def needs_asn(platform: PlatformSpec, action: DeviceAction) -> bool:
    templates = platform.neighbor_no_shutdown if action.enabled else platform.neighbor_shutdown
    return not action.on_interface and any("{asn}" in t for t in templates)
