"""Read what Azure knows about a VPN gateway for `inventory discover`: the gateway (active-
active or not, each instance's BGP addresses and public IP), its connections and their local
network gateways (the on-prem side's BGP address and ASN). Pure parsing of ARM's REST JSON
(camelCase, under "properties") plus one function that makes the SDK calls; every call is
listed in permissions.ARM_CALLS (Reader role)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, Field

from failover_harness.azure.permissions import action_for
from failover_harness.azure.reader import classify_error
from failover_harness.errors import InfrastructureError


class GatewayInstance(BaseModel):
    index: int
    ip_configuration: str
    default_bgp_addresses: list[str] = Field(default_factory=list)
    custom_bgp_addresses: list[str] = Field(default_factory=list)  # APIPA 169.254.21.0-22.255
    public_ip: str | None = None


class LocalGateway(BaseModel):
    name: str
    gateway_ip: str | None = None  # the on-prem router's public IP (or None with an FQDN)
    fqdn: str | None = None
    bgp_address: str | None = None
    asn: int | None = None
    address_prefixes: list[str] = Field(default_factory=list)

    def bgp_candidates(self) -> list[str]:
        """The BGP peering address, then host routes of the address space: with BGP, the
        space holds the on-prem BGP addresses as /32s, one per tunnel when there are several."""
        hosts = [p.split("/")[0] for p in self.address_prefixes if p.endswith(("/32", "/128"))]
        return list(dict.fromkeys(([self.bgp_address] if self.bgp_address else []) + hosts))


class DiscoveredConnection(BaseModel):
    name: str
    local_gateway: LocalGateway
    enable_bgp: bool = False
    status: str | None = None
    custom_bgp: dict[str, str] = Field(default_factory=dict)  # ip configuration name -> Azure APIPA used
    tunnel_public_ips: list[str] = Field(default_factory=list)  # gateway end of each tunnel (tunnelConnectionStatus)


class DiscoveredGateway(BaseModel):
    subscription_id: str
    resource_group: str
    name: str
    active_active: bool
    asn: int | None
    instances: list[GatewayInstance]
    connections: list[DiscoveredConnection]

    def tunnels_of(self, conn: DiscoveredConnection,
                   taken: set[str]) -> list[tuple[GatewayInstance, str | None, str | None]]:
        """(instance, Azure's BGP address, on-prem BGP address) for each tunnel of `conn`.

        The instance: from the connection's custom APIPA addresses, else from the public IP
        in each tunnel's name (tunnelConnectionStatus), else the one whose address shares a
        /30 with a free on-prem address, else every served instance (instance 0 of an
        active-standby gateway). The address pair: an instance address and an on-prem
        one in the same /30 (APIPA point-to-point), on-prem addresses in `taken` (used by
        another connection) last; else the instance's default address and the local network
        gateway's peering address."""
        served = self.instances if self.active_active else self.instances[:1]
        chosen = [i for i in served if i.ip_configuration in conn.custom_bgp]
        if not chosen:
            chosen = [i for i in served if i.public_ip and i.public_ip in conn.tunnel_public_ips]
        if not chosen and conn.tunnel_public_ips and any(i.public_ip for i in served):
            return []  # the tunnels end on an instance this gateway does not serve
        onprem = conn.local_gateway.bgp_candidates()
        onprem = [a for a in onprem if a not in taken] + [a for a in onprem if a in taken]
        if not chosen:  # the instance whose address pairs with the first free on-prem address
            chosen = next(([i] for o in onprem for i in served
                           if any(_same_slash30(a, o) for a in i.custom_bgp_addresses + i.default_bgp_addresses)),
                          served)
        out: list[tuple[GatewayInstance, str | None, str | None]] = []
        for inst in chosen:
            azure = ([conn.custom_bgp[inst.ip_configuration]] if inst.ip_configuration in conn.custom_bgp
                     else inst.custom_bgp_addresses + inst.default_bgp_addresses)
            pair: tuple[str | None, str | None] | None = next(
                ((a, o) for o in onprem for a in azure if _same_slash30(a, o)), None)
            if pair is None:
                first = inst.default_bgp_addresses[0] if inst.default_bgp_addresses else None
                pair = (first, conn.local_gateway.bgp_address)
            out.append((inst, pair[0], pair[1]))
        return out


def _same_slash30(a: str, b: str) -> bool:
    try:
        net = ipaddress.ip_network(f"{a}/30", strict=False)
        return a != b and ipaddress.ip_address(b) in net
    except ValueError:
        return False


def _props(body: Any) -> dict[str, Any]:
    return dict(_rest(body).get("properties") or {})


def _rest(body: Any) -> dict[str, Any]:
    """REST JSON of an SDK result (models behave like dicts; older ones have as_dict)."""
    if isinstance(body, dict):
        return body
    as_dict = getattr(body, "as_dict", None)
    return dict(as_dict()) if callable(as_dict) else dict(body)


def resource_name(resource_id: str | None) -> str | None:
    return resource_id.rstrip("/").rsplit("/", 1)[-1] if resource_id else None


def parse_gateway_instances(gateway: Any, public_ips: dict[str, str | None]) -> list[GatewayInstance]:
    """One instance per ipConfiguration, in ARM's order (instance 0 first), with its BGP
    addresses from bgpSettings.bgpPeeringAddresses and its public IP (by resource name)."""
    props = _props(gateway)
    bgp = {resource_name(p.get("ipconfigurationId")): p
           for p in (props.get("bgpSettings") or {}).get("bgpPeeringAddresses") or []}
    out = []
    for index, cfg in enumerate(props.get("ipConfigurations") or []):
        name = cfg.get("name") or resource_name(cfg.get("id")) or f"ipconfig{index}"
        peering = bgp.get(name) or {}
        pip = resource_name(((cfg.get("properties") or {}).get("publicIPAddress") or {}).get("id"))
        out.append(GatewayInstance(
            index=index, ip_configuration=name,
            default_bgp_addresses=list(peering.get("defaultBgpIpAddresses") or []),
            custom_bgp_addresses=list(peering.get("customBgpIpAddresses") or []),
            public_ip=public_ips.get(pip) if pip else None))
    return out


def public_ip_names(gateway: Any) -> list[str]:
    names = [resource_name(((cfg.get("properties") or {}).get("publicIPAddress") or {}).get("id"))
             for cfg in _props(gateway).get("ipConfigurations") or []]
    return [n for n in names if n]


def parse_local_gateway(body: Any) -> LocalGateway:
    rest, props = _rest(body), _props(body)
    bgp = props.get("bgpSettings") or {}
    return LocalGateway(
        name=str(rest.get("name")), gateway_ip=props.get("gatewayIpAddress"), fqdn=props.get("fqdn"),
        bgp_address=bgp.get("bgpPeeringAddress"), asn=int(bgp["asn"]) if bgp.get("asn") is not None else None,
        address_prefixes=list((props.get("localNetworkAddressSpace") or {}).get("addressPrefixes") or []))


def parse_connection(body: Any, local_gateway: LocalGateway) -> DiscoveredConnection:
    rest, props = _rest(body), _props(body)
    custom = {}
    for entry in props.get("gatewayCustomBgpIpAddresses") or []:
        cfg, address = resource_name(entry.get("ipConfigurationId")), entry.get("customBgpIpAddress")
        if cfg and address:
            custom[cfg] = address
    tunnel_ips = [str(t.get("tunnel", "")).rsplit("_", 1)[-1] for t in props.get("tunnelConnectionStatus") or []
                  if "_" in str(t.get("tunnel", ""))]
    return DiscoveredConnection(name=str(rest.get("name")), local_gateway=local_gateway,
                                enable_bgp=bool(props.get("enableBgp")), status=props.get("connectionStatus"),
                                custom_bgp=custom, tunnel_public_ips=tunnel_ips)


@contextmanager
def _failing_call(group: str, method: str, what: str) -> Iterator[None]:
    """A failed SDK call as an InfrastructureError naming what was read and, on 403, the
    missing RBAC action."""
    try:
        yield
    except Exception as exc:
        call = action_for(group, method)
        _, text = classify_error(exc, call.action if call else None)
        raise InfrastructureError(f"reading {what} from Azure failed: {text}") from exc


def discover_gateway(client: Any, subscription_id: str, resource_group: str, gateway: str) -> DiscoveredGateway:
    """Read the gateway, its public IPs, its connections and their local network gateways
    (GETs only)."""
    with _failing_call("virtual_network_gateways", "get", f"gateway {gateway}"):
        gw = client.virtual_network_gateways.get(resource_group, gateway)
    public_ips: dict[str, str | None] = {}
    for name in public_ip_names(gw):
        with _failing_call("public_ip_addresses", "get", f"public IP {name}"):
            public_ips[name] = _props(client.public_ip_addresses.get(resource_group, name)).get("ipAddress")
    props = _props(gw)
    connections = []
    with _failing_call("virtual_network_gateways", "list_connections", f"the connections of {gateway}"):
        names = [str(_rest(item).get("name"))
                 for item in client.virtual_network_gateways.list_connections(resource_group, gateway)]
    for name in names:
        with _failing_call("virtual_network_gateway_connections", "get", f"connection {name}"):
            full = client.virtual_network_gateway_connections.get(resource_group, name)
        lng_id = (_props(full).get("localNetworkGateway2") or {}).get("id")
        lng_name = resource_name(lng_id)
        if lng_name is None:
            continue  # VNet-to-VNet or ExpressRoute: no on-prem router behind it
        with _failing_call("local_network_gateways", "get", f"local network gateway {lng_name}"):
            lng = parse_local_gateway(client.local_network_gateways.get(
                _resource_group_of(lng_id, resource_group), lng_name))
        connections.append(parse_connection(full, lng))
    asn = (props.get("bgpSettings") or {}).get("asn")
    return DiscoveredGateway(subscription_id=subscription_id, resource_group=resource_group, name=gateway,
                             active_active=bool(props.get("activeActive")),
                             asn=int(asn) if asn is not None else None,
                             instances=parse_gateway_instances(gw, public_ips),
                             connections=sorted(connections, key=lambda c: c.name))


def _resource_group_of(resource_id: str | None, default: str) -> str:
    parts = (resource_id or "").split("/")
    lowered = [p.lower() for p in parts]
    if "resourcegroups" in lowered:
        return parts[lowered.index("resourcegroups") + 1]
    return default
