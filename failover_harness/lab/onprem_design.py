"""On-prem designs layered on the base topology: a second ISP uplink per on-prem router
(`--isps 2`) and, with two routers (`--dual`), iBGP between them on the LAN.

Two ISPs: each router's tunnels towards instance 1 leave by a second uplink (`wan1`, its own
link into the underlay), so an ISP link down (`link_down` of `wan1`) cuts exactly those
tunnels; nothing tells BGP, the sessions end by their hold timers (or BFD).
Every on-prem router's default route is FRR's (static): a shut uplink takes the kernel's
route with it and only zebra puts its own back when the link returns. The kernel's first
one (for IKE while FRR starts) is dropped once zebra runs (network.py).
Dual: the hosts' gateway is edge1; when edge1 loses every tunnel (router down by its uplink),
it still forwards by the route it learns from edge2 over iBGP (next-hop-self), as a pair of
on-prem routers sharing a LAN does.
"""

from __future__ import annotations

import ipaddress

from failover_harness.lab.topology import (
    ONPREM_ASN,
    TIMER_PRESETS,
    BgpNeighbor,
    Interface,
    Link,
    LinkEnd,
    Route,
    Topology,
)

SECOND_ISP_NET = "100.66.{index}.0/30"  # per on-prem router: underlay .1, router .2
SECOND_UPLINK = "wan1"
FIRST_UPLINK = "wan0"


def apply_onprem_design(topo: Topology) -> None:
    for router in topo.routers:  # in FRR too, so it returns after a link_down/link_up
        if router.role == "onprem_edge":
            router.static_routes += [Route(prefix="0.0.0.0/0", via=r.via)
                                     for r in topo.node(router.name).routes
                                     if r.prefix == "default"]
    if topo.options.isps == 2:
        add_second_isp(topo)
    if topo.options.dual:
        add_edge_ibgp(topo)


def add_second_isp(topo: Topology) -> None:
    """Give every on-prem router a second uplink; its instance 1 tunnels use it."""
    edges = [r.name for r in topo.routers if r.role == "onprem_edge"]
    for index, edge in enumerate(edges):
        net = ipaddress.ip_network(SECOND_ISP_NET.format(index=index))
        isp_side, edge_side = (str(h) for h in net.hosts())
        topo.links.append(Link(
            name=f"{edge}-isp2", underlay=True,
            a=LinkEnd(node=edge, interface=Interface(
                name=SECOND_UPLINK, addresses=[f"{edge_side}/{net.prefixlen}"])),
            b=LinkEnd(node="inet", interface=Interface(
                name=f"{edge}-i2", addresses=[f"{isp_side}/{net.prefixlen}"]))))
        router = topo.router(edge)
        for tunnel in topo.tunnels:
            if tunnel.onprem_router != edge or tunnel.azure_instance != 1:
                continue
            tunnel.onprem_public_ip = edge_side
            tunnel.onprem_uplink = SECOND_UPLINK
            # In FRR (not the kernel) so it returns with the link; the floating blackhole
            # keeps the tunnel off ISP1 while ISP2 is down, as a real ISP1 would drop it.
            host = f"{tunnel.azure_public_ip}/32"
            router.static_routes += [Route(prefix=host, via=isp_side),
                                     Route(prefix=host, via="blackhole 250")]


def add_edge_ibgp(topo: Topology) -> None:
    """iBGP between the on-prem routers over the LAN (dual), next-hop-self."""
    lan = {link.a.node: link.a.interface.addresses[0].split("/")[0]
           for link in topo.links if link.name.endswith("-lan")}
    keepalive, hold = TIMER_PRESETS["fast"]
    edges = [r for r in topo.routers if r.role == "onprem_edge"]
    for router in edges:
        for other in edges:
            if other.name != router.name:
                router.neighbors.append(BgpNeighbor(
                    address=lan[other.name], remote_as=ONPREM_ASN, description=other.name,
                    keepalive=keepalive, hold=hold, next_hop_self=True))
