"""The lab's topology as data: nodes, links, tunnels, addresses and BGP sessions.

`build_topology(options)` is pure: every variant (timers, BFD, ECMP, primary/backup or an
active-standby gateway, one or two on-prem routers, IPsec or plain tunnels, loss on an underlay
link) is a value here, and render.py turns it into FRR/strongSwan/sshd configs. Namespace names
are PREFIX-<node>.

Active-standby: one VIP and BGP address, held by the active instance (a /32 on its loopback,
routed there by the underlay); both instance routers carry the tunnel, IPsec and BGP config,
the standby's sessions to on-prem shut. A reset moves it all (azure_emulator/takeover.py).
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from failover_harness.errors import InputError

TimerPreset = Literal["fast", "tuned", "azure-default"]
# ecmp: active-active, both tunnels used; primary-backup: active-active, AS-path prepend and a
# lower local preference on the instance 1 tunnels; active-standby: one VIP, one tunnel per
# on-prem router, held by the active instance.
LabMode = Literal["ecmp", "primary-backup", "active-standby"]
LAB_MODES: tuple[str, ...] = ("ecmp", "primary-backup", "active-standby")
TIMER_PRESETS: dict[str, tuple[int, int]] = {  # keepalive, hold (seconds)
    "azure-default": (60, 180),
    "tuned": (5, 15),
    "fast": (1, 3),
}
# Azure's default dpdTimeoutSeconds: the emulator reports it, strongSwan's retries match it (render.py)
DPD_TIMEOUT_S = 45
ONPREM_ASN = 65010
AZURE_ASN = 65515
ONPREM_LAN = "192.168.10.0/24"
VNET_PREFIX = "10.0.0.0/16"
HOST_IPS = ["192.168.10.10", "192.168.10.11", "192.168.10.12", "192.168.10.13"]
VM_IP = "10.0.1.4"
VM_TCP_PORTS = [443]
VM_UDP_PORTS = [7]
# The VM's STAMP reflector for UDP probes (failover_harness/probes/reflector.py, its default).
VM_REFLECTOR_PORT = 8620
TUNNEL_MTU = 1400
BFD_INTERVAL_MS = 100
BFD_MULTIPLIER = 3
# The active-standby gateway's one public IP (TEST-NET-2, like the instances' link addresses).
ACTIVE_STANDBY_VIP = "198.51.100.100"


class LossImpairment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    link: str  # an underlay link name: edge1-inet, edge2-inet, gw0-inet, gw1-inet
    percent: int = Field(ge=0, le=100)

    @classmethod
    def parse(cls, text: str) -> LossImpairment:
        """`LINK:PERCENT` as given on the command line, e.g. `gw0-inet:5`."""
        link, sep, percent = text.rpartition(":")
        if not sep or not link or not percent.isdigit() or not 0 <= int(percent) <= 100:
            raise InputError(f"expected LINK:PERCENT (e.g. gw0-inet:5), got {text!r}",
                             field="loss")
        return cls(link=link, percent=int(percent))


class LabOptions(BaseModel):
    """What varies between lab designs (the seed's variants); stored in LabState.options."""

    model_config = ConfigDict(extra="forbid")
    timers: TimerPreset = "fast"
    bfd: bool = False
    mode: LabMode = "ecmp"
    dual: bool = False
    isps: int = Field(1, ge=1, le=2)  # 2: a second ISP uplink per on-prem router
    ipsec: bool = True
    loss: list[LossImpairment] = Field(default_factory=list)
    emulator: bool = True  # start the Azure emulator when its module is installed
    # The emulator's LRO latency (mean, +/- uniform jitter); None = the emulator's default.
    azure_lro_latency_s: float | None = Field(None, ge=0, le=120)
    azure_lro_jitter_s: float | None = Field(None, ge=0, le=60)
    mgmt_subnet: str | None = None  # a /30 for root<->router management; allocated if None
    # On-prem site hosts behind edge1 (192.168.21.0/24, ...), each and the VM reached over
    # SSH on a management address (lab/sites.py).
    sites: int = Field(default=0, ge=0, le=8)

    @field_validator("mgmt_subnet")
    @classmethod
    def _is_network(cls, value: str | None) -> str | None:
        if value is not None:
            net = ipaddress.ip_network(value, strict=True)
            if net.prefixlen != 30 or net.version != 4:
                raise ValueError("mgmt_subnet must be an IPv4 /30")
        return value

    @property
    def keepalive_hold(self) -> tuple[int, int]:
        return TIMER_PRESETS[self.timers]

    @property
    def active_standby(self) -> bool:
        return self.mode == "active-standby"


class Route(BaseModel):
    prefix: str  # "default" or CIDR
    via: str


class Interface(BaseModel):
    name: str
    addresses: list[str] = Field(default_factory=list)  # CIDR
    bridge: str | None = None  # enslave into this bridge of the same node
    mtu: int | None = None


class Node(BaseModel):
    name: str  # host, edge1, inet, gw0, gw1, vnet, vm
    kind: Literal["host", "router", "underlay", "vm"]
    bridges: list[Interface] = Field(default_factory=list)
    loopback: list[str] = Field(default_factory=list)  # /32s on lo (IPsec inner endpoints)
    routes: list[Route] = Field(default_factory=list)
    forwarding: bool = False
    l4_multipath_hash: bool = False


class LinkEnd(BaseModel):
    node: str
    interface: Interface


class Link(BaseModel):
    """A veth pair; loss impairment applies on end `a`'s interface (both directions)."""

    name: str
    a: LinkEnd
    b: LinkEnd
    underlay: bool = False  # an "internet" link that loss may be put on


class Tunnel(BaseModel):
    name: str  # Tunnel1..Tunnel4, the on-prem router's interface name
    index: int  # 1..4
    vni: int  # VXLAN id (or GRE key)
    onprem_router: str
    azure_router: str  # the instance router that holds it at start
    standby_router: str | None = None  # active-standby: the router that takes it over
    azure_instance: int
    onprem_interface: str
    onprem_uplink: str = "wan0"  # the on-prem router's underlay interface it leaves by
    azure_interface: str
    onprem_bgp_ip: str
    azure_bgp_ip: str
    prefixlen: int = 30
    onprem_public_ip: str
    azure_public_ip: str
    # With IPsec the tunnel's outer endpoints are inner /32s routed through the SAs.
    onprem_inner_ip: str
    azure_inner_ip: str
    ipsec: bool
    ike_name: str  # swanctl connection name on both ends
    connection: str  # Azure connection resource name
    local_network_gateway: str

    def endpoints(self, side: Literal["onprem", "azure"]) -> tuple[str, str]:
        """(local, remote) outer addresses of the tunnel device on that side."""
        if self.ipsec:
            pair = (self.onprem_inner_ip, self.azure_inner_ip)
        else:
            pair = (self.onprem_public_ip, self.azure_public_ip)
        return pair if side == "onprem" else (pair[1], pair[0])

    @property
    def azure_routers(self) -> list[str]:
        """Every instance router that carries this tunnel's config (the standby's too)."""
        return [self.azure_router] + ([self.standby_router] if self.standby_router else [])


class BgpNeighbor(BaseModel):
    address: str
    remote_as: int
    description: str
    keepalive: int
    hold: int
    bfd: bool = False
    shutdown: bool = False  # configured but administratively down (a standby's on-prem peers)
    next_hop_self: bool = False
    route_map_in: str | None = None
    route_map_out: str | None = None


class RouteMap(BaseModel):
    """A route-map with one clause; `deny_prefix` makes it deny that prefix (le 32), permit rest."""

    name: str
    prepend: list[int] = Field(default_factory=list)
    local_preference: int | None = None
    deny_prefix: str | None = None


class Router(BaseModel):
    name: str
    role: Literal["onprem_edge", "azure_instance", "vnet"]
    asn: int
    router_id: str
    networks: list[str] = Field(default_factory=list)
    static_routes: list[Route] = Field(default_factory=list)
    neighbors: list[BgpNeighbor] = Field(default_factory=list)
    maximum_paths: int = 1
    maximum_paths_ibgp: int = 1
    route_maps: list[RouteMap] = Field(default_factory=list)
    bfd: bool = False
    mgmt_ip: str | None = None  # SSH management address (on-prem edges)


class AzureInstance(BaseModel):
    index: int
    router: str
    public_ip: str  # the address it serves tunnels on (active-standby: the shared VIP)
    wan_ip: str  # its own address on its underlay link
    bgp_ip: str
    private_ip: str
    ip_configuration: str


class Topology(BaseModel):
    options: LabOptions
    nodes: list[Node]
    links: list[Link]
    tunnels: list[Tunnel]
    routers: list[Router]
    instances: list[AzureInstance]
    mgmt_subnets: dict[str, str]  # router -> /30 management subnet
    host_ips: list[str] = Field(default_factory=lambda: list(HOST_IPS))
    vm_ip: str = VM_IP

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def router(self, name: str) -> Router:
        return next(r for r in self.routers if r.name == name)

    def underlay_links(self) -> list[str]:
        return [link.name for link in self.links if link.underlay]


def onprem_edges(options: LabOptions) -> list[str]:
    return ["edge1", "edge2"] if options.dual else ["edge1"]


def mgmt_pair(subnet: str) -> tuple[str, str]:
    """(root side, router side) addresses with prefix length of a management /30."""
    net = ipaddress.ip_network(subnet)
    hosts = list(net.hosts())
    return f"{hosts[0]}/{net.prefixlen}", f"{hosts[1]}/{net.prefixlen}"


def _veth(name: str, a_node: str, a_if: Interface, b_node: str, b_if: Interface,
          underlay: bool = False) -> Link:
    return Link(name=name, a=LinkEnd(node=a_node, interface=a_if),
                b=LinkEnd(node=b_node, interface=b_if), underlay=underlay)


def build_topology(options: LabOptions, mgmt_subnets: dict[str, str]) -> Topology:
    """The whole lab for these options. `mgmt_subnets` maps each on-prem edge to its /30."""
    edges = onprem_edges(options)
    missing = [e for e in edges if e not in mgmt_subnets]
    if missing:
        raise ValueError(f"no management subnet for {missing}")
    keepalive, hold = options.keepalive_hold
    standby = options.active_standby
    wan = ["198.51.100.10", "198.51.100.14"]
    # Active-standby: both instances serve the one VIP and BGP address (whichever is active).
    instances = [
        AzureInstance(index=0, router="gw0", public_ip=ACTIVE_STANDBY_VIP if standby else wan[0],
                      wan_ip=wan[0], bgp_ip="169.254.21.1", private_ip="10.0.255.4",
                      ip_configuration="vnetGatewayConfig0"),
        AzureInstance(index=1, router="gw1", public_ip=ACTIVE_STANDBY_VIP if standby else wan[1],
                      wan_ip=wan[1], bgp_ip="169.254.21.1" if standby else "169.254.21.5",
                      private_ip="10.0.255.5", ip_configuration="vnetGatewayConfig1"),
    ]
    # The instances that terminate tunnels at start (the standby only takes them over).
    serving = instances[:1] if standby else instances
    edge_wan = {"edge1": "203.0.113.10", "edge2": "203.0.113.20"}
    edge_lan = {"edge1": "192.168.10.1", "edge2": "192.168.10.2"}

    tunnels: list[Tunnel] = []
    for edge_index, edge in enumerate(edges):
        for inst in serving:
            index = edge_index * 2 + inst.index + 1
            base = ipaddress.ip_address("169.254.21.0") + 4 * (index - 1)
            connection = f"cn-{edge}-t{index}"
            tunnels.append(Tunnel(
                name=f"Tunnel{index}", index=index, vni=1000 + index,
                onprem_router=edge, azure_router=inst.router, azure_instance=inst.index,
                onprem_interface=f"Tunnel{index}", azure_interface=f"Tunnel{index}",
                onprem_bgp_ip=str(base + 2), azure_bgp_ip=str(base + 1),
                onprem_public_ip=edge_wan[edge], azure_public_ip=inst.public_ip,
                onprem_inner_ip=f"100.64.{index}.2", azure_inner_ip=f"100.64.{index}.1",
                ipsec=options.ipsec, ike_name=connection, connection=connection,
                local_network_gateway=f"lng-{edge}",
                standby_router=instances[1].router if standby else None,
            ))

    nodes: list[Node] = [
        Node(name="host", kind="host",
             bridges=[Interface(name="lan", addresses=[f"{ip}/24" for ip in HOST_IPS])],
             routes=[Route(prefix="default", via=edge_lan["edge1"])]),
        Node(name="inet", kind="underlay", forwarding=True,
             bridges=[Interface(name="wan", addresses=["203.0.113.1/24"])]),
        Node(name="vnet", kind="router", forwarding=True, l4_multipath_hash=True,
             bridges=[Interface(name="gwsubnet", addresses=["10.0.255.1/27"])]),
        Node(name="vm", kind="vm", routes=[Route(prefix="default", via="10.0.1.1")]),
    ]
    links: list[Link] = []
    for edge in edges:
        nodes.append(Node(
            name=edge, kind="router", forwarding=True, l4_multipath_hash=True,
            loopback=[t.onprem_inner_ip for t in tunnels if t.onprem_router == edge and t.ipsec],
            routes=[Route(prefix="default", via="203.0.113.1")]))
        links.append(_veth(f"{edge}-lan", edge, Interface(name="lan0",
                                                          addresses=[f"{edge_lan[edge]}/24"]),
                           "host", Interface(name=edge, bridge="lan")))
        links.append(_veth(f"{edge}-inet", edge, Interface(name="wan0",
                                                           addresses=[f"{edge_wan[edge]}/24"]),
                           "inet", Interface(name=edge, bridge="wan"), underlay=True))
    for inst in instances:
        pip = ipaddress.ip_address(inst.wan_ip)
        vip = [ACTIVE_STANDBY_VIP] if standby and inst in serving else []
        nodes.append(Node(
            name=inst.router, kind="router", forwarding=True,
            loopback=vip + [t.azure_inner_ip for t in tunnels
                            if inst.router in t.azure_routers and t.ipsec],
            routes=[Route(prefix="default", via=str(pip - 1))]))
        links.append(_veth(f"{inst.router}-inet", inst.router,
                           Interface(name="wan0", addresses=[f"{pip}/30"]),
                           "inet", Interface(name=inst.router, addresses=[f"{pip - 1}/30"]),
                           underlay=True))
        links.append(_veth(f"{inst.router}-vnet", inst.router,
                           Interface(name="gws0", addresses=[f"{inst.private_ip}/27"]),
                           "vnet", Interface(name=inst.router, bridge="gwsubnet")))
    if standby:  # the underlay reaches the VIP through the active instance
        next(n for n in nodes if n.name == "inet").routes.append(Route(prefix=f"{ACTIVE_STANDBY_VIP}/32", via=wan[0]))
    links.append(_veth("vm-vnet", "vm", Interface(name="eth0", addresses=[f"{VM_IP}/24"]),
                       "vnet", Interface(name="vm", addresses=["10.0.1.1/24"])))

    bfd = options.bfd
    primary_backup = options.mode == "primary-backup"
    routers: list[Router] = []
    for edge in edges:
        neighbors = []
        for t in (t for t in tunnels if t.onprem_router == edge):
            backup = primary_backup and t.azure_instance == 1
            neighbors.append(BgpNeighbor(
                address=t.azure_bgp_ip, remote_as=AZURE_ASN, description=t.name,
                keepalive=keepalive, hold=hold, bfd=bfd,
                route_map_in="BACKUP-IN" if backup else None,
                route_map_out="BACKUP-OUT" if backup else None))
        route_maps = [RouteMap(name="BACKUP-OUT", prepend=[ONPREM_ASN, ONPREM_ASN]),
                      RouteMap(name="BACKUP-IN", local_preference=50)] if primary_backup else []
        routers.append(Router(
            name=edge, role="onprem_edge", asn=ONPREM_ASN, router_id=edge_wan[edge],
            networks=[ONPREM_LAN], neighbors=neighbors, maximum_paths=2,
            route_maps=route_maps, bfd=bfd,
            mgmt_ip=mgmt_pair(mgmt_subnets[edge])[1].split("/")[0]))
    ibgp_keepalive, ibgp_hold = TIMER_PRESETS["fast"]  # the SDN's own sessions stay fast
    for inst in instances:
        neighbors = [BgpNeighbor(address=t.onprem_bgp_ip, remote_as=ONPREM_ASN,
                                 description=t.name, keepalive=keepalive, hold=hold, bfd=bfd,
                                 shutdown=t.azure_router != inst.router)
                     for t in tunnels if inst.router in t.azure_routers]
        peers = [(i.private_ip, i.router) for i in instances if i.router != inst.router]
        peers.append(("10.0.255.1", "vnet"))
        neighbors += [BgpNeighbor(address=ip, remote_as=AZURE_ASN, description=name,
                                  keepalive=ibgp_keepalive, hold=ibgp_hold, next_hop_self=True)
                      for ip, name in peers]
        routers.append(Router(
            name=inst.router, role="azure_instance", asn=AZURE_ASN, router_id=inst.private_ip,
            networks=[VNET_PREFIX], static_routes=[Route(prefix=VNET_PREFIX, via="10.0.255.1")],
            neighbors=neighbors, maximum_paths=2, bfd=bfd))
    routers.append(Router(
        name="vnet", role="vnet", asn=AZURE_ASN, router_id="10.0.255.1",
        neighbors=[BgpNeighbor(address=i.private_ip, remote_as=AZURE_ASN, description=i.router,
                               keepalive=ibgp_keepalive, hold=ibgp_hold,
                               route_map_in="FROM-GATEWAY")
                   for i in instances],
        maximum_paths_ibgp=2,
        route_maps=[RouteMap(name="FROM-GATEWAY", deny_prefix=VNET_PREFIX)]))

    topology = Topology(options=options, nodes=nodes, links=links, tunnels=tunnels,
                        routers=routers, instances=instances,
                        mgmt_subnets={e: mgmt_subnets[e] for e in edges})
    from failover_harness.lab.onprem_design import apply_onprem_design  # uses these models
    apply_onprem_design(topology)  # --isps 2, --dual's iBGP
    known = topology.underlay_links()
    for loss in options.loss:
        if loss.link not in known:
            raise InputError(f"unknown underlay link {loss.link!r}; one of {', '.join(known)}",
                             field="loss")
    return topology
