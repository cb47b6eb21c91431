"""The inventory: on-prem devices and their tunnels, the Azure gateway, probe vantage points,
targets and prefixes. Typed models, cross-field checks (pure), and `load_inventory`.

A tunnel's BGP session is named by either of its addresses: `neighbor` (Azure's address, as
the on-prem router sees it) or `local_address` (the on-prem router's own, as Azure lists its
peer). Every such address is unique across the inventory, so one address finds one tunnel.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, IPvAnyAddress, IPvAnyNetwork

from failover_harness.secrets import AnyRef, EnvRef, FileRef, SecretRef, StringOrSecret, reject_literal_secret
from failover_harness.vocabulary import CredentialKind, Platform
from failover_harness.yamlfile import (
    LoadedFromFile,
    Problem,
    YamlDocument,
    format_loc,
    raise_all,
    read_yaml,
    validate_document,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_Item = TypeVar("_Item")
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)


class Tunnel(_Strict):
    neighbor: IPvAnyAddress  # Azure instance's BGP address, the on-prem router's neighbor
    local_address: IPvAnyAddress | None = None  # on-prem BGP address: Azure's peer
    azure_instance: int = Field(ge=0, le=1)
    connection: Name
    # The uplink (WAN/ISP) interface the tunnel leaves by: a link_down of it cuts the tunnel.
    underlay_interface: Name | None = None


class Device(_Strict):
    platform: Platform
    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9:.\[\]_-]+$")
    port: int = Field(default=22, ge=1, le=65535)
    username: str = Field(min_length=1)
    password: Annotated[SecretRef, BeforeValidator(reject_literal_secret)]
    known_hosts: str | None = None  # None: the user's ~/.ssh/known_hosts; never unchecked
    bgp_asn: int = Field(ge=1, le=4294967295)
    tunnels: dict[Name, Tunnel] = Field(min_length=1)


class AzurePolling(_Strict):
    interval_s: float = Field(default=1.0, gt=0, le=60)  # a sample about every interval
    request_timeout_s: float = Field(default=30.0, gt=0, le=600)
    # Overlapping long-running calls per operation; unset: as many as the request budget allows.
    max_in_flight: int | None = Field(default=None, ge=1, le=64)
    # Share of ARM's per-subscription request budget the poller may spend (the rest is left
    # to other automation on the subscription); see failover_harness/azure/budget.py.
    budget_share: float = Field(default=0.5, gt=0, le=1)


class Azure(_Strict):
    subscription_id: str = Field(pattern=r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
    resource_group: Name
    gateway: Name
    connections: list[Name] = Field(default_factory=list)
    credential: CredentialKind = "default"
    base_url: str | None = Field(default=None, pattern=r"^https://[^\s/]+(/\S*)?$")
    ca_bundle: str | None = None
    environment: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")],
                      StringOrSecret] = Field(default_factory=dict)
    polling: AzurePolling = Field(default_factory=AzurePolling)


class SshVantage(_Strict):
    """A vantage host reached over SSH (README "Remote vantage points"): the harness ships its
    probe worker there and needs python3 >= 3.10 and raw sockets (for icmp/tcp probes)."""

    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9:.\[\]_-]+$")
    port: int = Field(default=22, ge=1, le=65535)
    user: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    key_file: str | None = None  # the private key's path; None: ssh-agent / ~/.ssh defaults
    key: Annotated[SecretRef, BeforeValidator(reject_literal_secret)] | None = None  # its text
    known_hosts: str | None = None  # None: the user's ~/.ssh/known_hosts; never unchecked
    # How the worker gets raw sockets there: the login is root, `sudo -n`, or its python3
    # carries CAP_NET_RAW.
    privilege: Literal["root", "sudo", "cap_net_raw"] = "root"
    python: str = Field(default="python3", min_length=1, pattern=r"^[A-Za-z0-9_./+-]+$")


class VantagePoint(_Strict):
    netns: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    ssh: SshVantage | None = None  # probes run on that host (not with netns)
    sources: list[IPvAnyAddress] = Field(min_length=1)


class Target(_Strict):
    ip: IPvAnyAddress
    tcp_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=list)
    # UDP port of a reflector on the target (`failover-harness reflect`), for udp probes.
    reflector_port: int | None = Field(default=None, ge=1, le=65535)


class Prefixes(_Strict):
    onprem: list[IPvAnyNetwork] = Field(min_length=1)
    azure: list[IPvAnyNetwork] = Field(min_length=1)


@dataclass(frozen=True)
class TunnelRef:
    """A tunnel found by address: which device and interface carry it."""

    device: str
    interface: str
    tunnel: Tunnel


class Inventory(_Strict, LoadedFromFile):
    name: str | None = None
    devices: dict[Name, Device] = Field(min_length=1)
    azure: Azure
    vantage_points: dict[Name, VantagePoint] = Field(min_length=1)
    targets: dict[Name, Target] = Field(min_length=1)
    prefixes: Prefixes

    def tunnels(self) -> Iterator[TunnelRef]:
        for device_name, device in self.devices.items():
            for interface, tunnel in device.tunnels.items():
                yield TunnelRef(device_name, interface, tunnel)

    def tunnel_by_address(self, address: str | IPAddress) -> TunnelRef | None:
        """The tunnel whose BGP session has this address at either end."""
        ip = ipaddress.ip_address(str(address))
        for ref in self.tunnels():
            if ip in (ref.tunnel.neighbor, ref.tunnel.local_address):
                return ref
        return None

    def is_lab(self) -> bool:
        """A lab inventory talks to an ARM emulator on loopback; production never does."""
        url = self.azure.base_url or ""
        return url.startswith(("https://127.", "https://localhost", "https://[::1]"))

    def peer_addresses(self) -> list[str]:
        out: list[str] = []
        for ref in self.tunnels():
            out.append(str(ref.tunnel.neighbor))
            if ref.tunnel.local_address is not None:
                out.append(str(ref.tunnel.local_address))
        return out

    def secret_refs(self) -> Iterator[tuple[tuple[str | int, ...], AnyRef]]:
        """Every secret reference with its location in the file."""
        for name, device in self.devices.items():
            yield ("devices", name, "password"), device.password
        for vp_name, vp in self.vantage_points.items():
            if vp.ssh is not None and vp.ssh.key is not None:
                yield ("vantage_points", vp_name, "ssh", "key"), vp.ssh.key
        for key, value in self.azure.environment.items():
            if not isinstance(value, str):
                yield ("azure", "environment", key), value


def check_inventory(inv: Inventory) -> list[Problem]:
    """Cross-field checks the models cannot do alone (pure)."""
    problems: list[Problem] = []
    seen_addresses: dict[IPAddress, tuple[str | int, ...]] = {}
    connections = set(inv.azure.connections)
    for name, count in Counter(inv.azure.connections).items():
        if count > 1:
            problems.append(Problem(("azure", "connections"),
                                    f"connection '{name}' is listed {count} times"))
    for ref in inv.tunnels():
        base = ("devices", ref.device, "tunnels", ref.interface)
        t = ref.tunnel
        for key, address in (("neighbor", t.neighbor), ("local_address", t.local_address)):
            if address is None:
                continue
            if address in seen_addresses:
                problems.append(Problem((*base, key), f"address {address} is already used at "
                                        f"'{format_loc(seen_addresses[address])}'; each BGP "
                                        "address must name one tunnel"))
            else:
                seen_addresses[address] = (*base, key)
        if t.connection not in connections:
            listed = ", ".join(inv.azure.connections) or "none"
            problems.append(Problem((*base, "connection"),
                                    f"connection '{t.connection}' is not in azure.connections "
                                    f"(listed: {listed})"))
    for vp_name, vp in inv.vantage_points.items():
        if vp.ssh is not None and vp.netns is not None:
            problems.append(Problem(("vantage_points", vp_name, "netns"), "a vantage point "
                                    "runs its probes either over ssh or in a netns, not both"))
        if vp.ssh is not None and vp.ssh.key is not None and vp.ssh.key_file is not None:
            problems.append(Problem(("vantage_points", vp_name, "ssh", "key"),
                                    "give the key as key_file or as key, not both"))
        for dup in _duplicates(vp.sources):
            problems.append(Problem(("vantage_points", vp_name, "sources", vp.sources.index(dup)),
                                    f"source {dup} is listed twice"))
    for t_name, target in inv.targets.items():
        for port in _duplicates(target.tcp_ports):
            problems.append(Problem(("targets", t_name, "tcp_ports"),
                                    f"port {port} is listed twice"))
    for side in ("onprem", "azure"):
        nets: list[IPNetwork] = getattr(inv.prefixes, side)
        for net_dup in _duplicates(nets):
            problems.append(Problem(("prefixes", side), f"prefix {net_dup} is listed twice"))
    for i, net in enumerate(inv.prefixes.onprem):
        for other in inv.prefixes.azure:
            if net.version == other.version and net.overlaps(other):
                problems.append(Problem(("prefixes", "onprem", i),
                                        f"on-prem prefix {net} overlaps Azure prefix {other}"))
    return problems


def _duplicates(items: list[_Item]) -> list[_Item]:
    return [item for item, count in Counter(items).items() if count > 1]


def _absolute(path: str, base: Path) -> str:
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base / p))


# `inventory discover` marks what Azure cannot know with keys and values starting with this.
PLACEHOLDER = "FILL-ME"


def placeholders(data: object, loc: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], str]]:
    """(location, text) of every placeholder key or value in plain YAML data."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and key.startswith(PLACEHOLDER):
                found.append(((*loc, key), key))
            found += placeholders(value, (*loc, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += placeholders(value, (*loc, i))
    elif isinstance(data, str) and data.startswith(PLACEHOLDER):
        found.append((loc, data))
    return found


def inventory_from_document(doc: YamlDocument) -> Inventory:
    """Validate a parsed document: shape, then cross-field checks; all errors at once."""
    raise_all([doc.error(loc, f"placeholder left by `inventory discover`, replace it: {text}")
               for loc, text in placeholders(doc.data)])
    inv = validate_document(Inventory, doc)
    raise_all(doc.problems_error(check_inventory(inv)))
    base = Path(doc.path).resolve().parent
    # Relative paths are relative to the inventory file, not to wherever the user stands.
    for device in inv.devices.values():
        if device.known_hosts is not None:
            device.known_hosts = _absolute(device.known_hosts, base)
    for vp in inv.vantage_points.values():
        if vp.ssh is not None:
            for attr in ("known_hosts", "key_file"):
                value = getattr(vp.ssh, attr)
                if value is not None:
                    setattr(vp.ssh, attr, _absolute(value, base))
    if inv.azure.ca_bundle is not None:
        inv.azure.ca_bundle = _absolute(inv.azure.ca_bundle, base)
    for loc, ref in list(inv.secret_refs()):
        if isinstance(ref, FileRef) and not Path(ref.file).expanduser().is_absolute():
            fixed = FileRef(file=_absolute(ref.file, base))
            _replace_ref(inv, loc, fixed)
            ref = fixed
        ref.set_origin(doc.path, doc.line_of(loc), format_loc(loc))
    inv.loaded_from(doc)
    return inv


def _replace_ref(inv: Inventory, loc: tuple[str | int, ...], ref: FileRef) -> None:
    if loc[0] == "devices":
        inv.devices[str(loc[1])].password = ref
    elif loc[0] == "vantage_points":
        ssh = inv.vantage_points[str(loc[1])].ssh
        assert ssh is not None
        ssh.key = ref
    else:
        inv.azure.environment[str(loc[2])] = ref


def load_inventory(path: str | Path) -> Inventory:
    """Read, validate and cross-check an inventory file. Errors are InputErrors."""
    return inventory_from_document(read_yaml(path))


__all__ = [
    "PLACEHOLDER",
    "Azure",
    "AzurePolling",
    "CredentialKind",
    "Device",
    "EnvRef",
    "Inventory",
    "Platform",
    "Prefixes",
    "SshVantage",
    "Target",
    "Tunnel",
    "TunnelRef",
    "VantagePoint",
    "check_inventory",
    "inventory_from_document",
    "load_inventory",
    "placeholders",
]
