"""The lab's network: namespaces, the management links, veth links and bridges, tunnels,
loss impairments, and the VNet's ECMP hash seed."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from failover_harness.errors import LabError
from failover_harness.lab import render
from failover_harness.lab.build_context import BuildContext
from failover_harness.lab.frr_queries import vnet_next_hops
from failover_harness.lab.host import ip, nsexec, run, wait_for
from failover_harness.lab.mgmt_subnet import allocation_lock, choose_subnets, host_routes, overlaps_any
from failover_harness.lab.state import AzureInstanceState, RouterState, TunnelState
from failover_harness.lab.topology import (
    TUNNEL_MTU,
    VM_REFLECTOR_PORT,
    VM_TCP_PORTS,
    build_topology,
    mgmt_pair,
    onprem_edges,
)


# -- namespaces, management link, addresses
def namespaces_and_mgmt(ctx: BuildContext) -> None:
    edges = onprem_edges(ctx.options)
    with allocation_lock(ctx.root):
        taken = host_routes()
        subnets: dict[str, str] = {}
        if ctx.options.mgmt_subnet:
            wanted = ipaddress.ip_network(ctx.options.mgmt_subnet)
            clash = overlaps_any(wanted, taken)  # type: ignore[arg-type]
            if clash is not None:
                raise LabError(f"management subnet {wanted} overlaps the host route {clash}: "
                               "pick another /30 (or leave it out to get a free one)")
            subnets[edges[0]] = str(wanted)
            taken.append(wanted)  # type: ignore[arg-type]
        rest = [e for e in edges if e not in subnets]
        try:
            for edge, net in zip(rest, choose_subnets(ctx.prefix, len(rest), taken), strict=True):
                subnets[edge] = str(net)
        except LookupError as exc:
            raise LabError(f"{exc}: bring other labs down first") from exc
        ctx.topology = build_topology(ctx.options, subnets)
        record_topology(ctx)
        for node in ctx.topo.nodes:
            ip(None, "netns", "add", ctx.ns(node.name))
            ip(ctx.ns(node.name), "link", "set", "lo", "up")
        for index, edge in enumerate(edges, start=1):
            root_if = f"{ctx.prefix}-mg{index}"
            root_addr, router_addr = mgmt_pair(subnets[edge])
            ip(None, "link", "add", root_if, "type", "veth", "peer", "name", "mgmt0",
               "netns", ctx.ns(edge))
            ip(None, "addr", "add", root_addr, "dev", root_if)
            ip(None, "link", "set", root_if, "up")
            ip(ctx.ns(edge), "addr", "add", router_addr, "dev", "mgmt0")
            ip(ctx.ns(edge), "link", "set", "mgmt0", "up")


def record_topology(ctx: BuildContext) -> None:
    s, topo = ctx.state, ctx.topo
    s.namespaces = [ctx.ns(n.name) for n in topo.nodes]
    s.root_links = [f"{ctx.prefix}-mg{i}" for i, _ in enumerate(onprem_edges(ctx.options), 1)]
    s.host_netns, s.vm_netns = ctx.ns("host"), ctx.ns("vm")
    s.host_ips, s.vm_ip = list(topo.host_ips), topo.vm_ip
    s.vm_tcp_ports = list(VM_TCP_PORTS)
    s.vm_reflector_port = VM_REFLECTOR_PORT
    s.mgmt = {r.name: r.mgmt_ip for r in topo.routers if r.mgmt_ip}
    for r in topo.routers:
        s.routers[r.name] = RouterState(
            name=r.name, netns=ctx.ns(r.name), role=r.role, asn=r.asn,
            frr_dir=str(ctx.run_dir / "frr" / r.name), router_id=r.router_id,
            vici_socket=(str(ctx.run_dir / "ipsec" / r.name / "charon.vici")
                         if ctx.options.ipsec and r.role != "vnet" else None))
    s.tunnels = [TunnelState(
        name=t.name, onprem_router=t.onprem_router, onprem_interface=t.onprem_interface,
        onprem_uplink=t.onprem_uplink, onprem_bgp_ip=t.onprem_bgp_ip, onprem_public_ip=t.onprem_public_ip,
        azure_instance=t.azure_instance, azure_interface=t.azure_interface,
        azure_bgp_ip=t.azure_bgp_ip, azure_public_ip=t.azure_public_ip, ipsec=t.ipsec,
        ike_name=t.ike_name if t.ipsec else None, connection=t.connection,
        local_network_gateway=t.local_network_gateway) for t in topo.tunnels]
    s.azure.instances = [AzureInstanceState(**i.model_dump()) for i in topo.instances]
    s.save()


def links(ctx: BuildContext) -> None:
    topo = ctx.topo
    for node in topo.nodes:
        ns = ctx.ns(node.name)
        for br in node.bridges:
            ip(ns, "link", "add", br.name, "type", "bridge")
            for addr in br.addresses:
                ip(ns, "addr", "add", addr, "dev", br.name)
            ip(ns, "link", "set", br.name, "up")
        for addr in node.loopback:
            ip(ns, "addr", "add", f"{addr}/32", "dev", "lo")
        sysctls = ["net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"]
        if node.forwarding:
            sysctls.append("net.ipv4.ip_forward=1")
        if node.l4_multipath_hash:
            # Hash ECMP on the 5-tuple, as Azure's SDN and real routers do. Policy 1 would
            # reuse the sender socket's random hash (carried across veth), so every new TCP
            # connection, even on the same 5-tuple, would take a random path. Policy 3 with
            # fields src|dst|proto|sport|dport computes the hash from the headers.
            if Path("/proc/sys/net/ipv4/fib_multipath_hash_fields").exists():
                sysctls += ["net.ipv4.fib_multipath_hash_policy=3",
                            "net.ipv4.fib_multipath_hash_fields=0x0037"]
            else:  # kernels before 5.12
                sysctls.append("net.ipv4.fib_multipath_hash_policy=1")
        nsexec(ns, ["sysctl", "-q", "-w", *sysctls])
    for link in topo.links:
        a_ns, b_ns = ctx.ns(link.a.node), ctx.ns(link.b.node)
        ip(a_ns, "link", "add", link.a.interface.name, "type", "veth", "peer", "name",
           link.b.interface.name, "netns", b_ns)
        for ns, end in ((a_ns, link.a), (b_ns, link.b)):
            for addr in end.interface.addresses:
                ip(ns, "addr", "add", addr, "dev", end.interface.name)
            if end.interface.bridge:
                ip(ns, "link", "set", end.interface.name, "master", end.interface.bridge)
            ip(ns, "link", "set", end.interface.name, "up")
    for node in topo.nodes:
        for route in node.routes:
            ip(ctx.ns(node.name), "route", "add", route.prefix, "via", route.via)


def hand_default_routes_to_zebra(ctx: BuildContext) -> None:
    """On-prem routers: drop the kernel's default route once FRR runs, so zebra installs its
    static one. Zebra keeps a route the kernel had at its start as best (distance 0) and is
    not told when a link going down flushes it, so it would never put its own back."""
    for router in ctx.topo.routers:
        if router.role != "onprem_edge":
            continue
        ns = ctx.ns(router.name)
        for route in ctx.topo.node(router.name).routes:
            if route.prefix == "default":
                ip(ns, "route", "del", "default", "via", route.via)
                wait_for(lambda ns=ns: "proto static" in ip(ns, "route", "show", "default").stdout, 10,
                         f"zebra did not install the default route of {router.name}")


def tunnels(ctx: BuildContext) -> None:
    for t in ctx.topo.tunnels:
        # An active-standby gateway's standby carries the tunnel too, for its takeover.
        ends = [("onprem", t.onprem_router, t.onprem_interface)] + \
            [("azure", r, t.azure_interface) for r in t.azure_routers]
        for side, router, ifname in ends:
            local, remote = t.endpoints(side)  # type: ignore[arg-type]
            ns = ctx.ns(router)
            if ctx.tunnel_kind == "gre":
                ip(ns, "link", "add", ifname, "type", "gre", "local", local, "remote",
                   remote, "ttl", "64", "key", str(t.vni))
            else:
                ip(ns, "link", "add", ifname, "type", "vxlan", "id", str(t.vni), "local",
                   local, "remote", remote, "dstport", "4789", "nolearning")
            ip(ns, "link", "set", ifname, "mtu", str(TUNNEL_MTU))
            bgp_ip = t.onprem_bgp_ip if side == "onprem" else t.azure_bgp_ip
            ip(ns, "addr", "add", f"{bgp_ip}/{t.prefixlen}", "dev", ifname)
            ip(ns, "link", "set", ifname, "up")


def loss(ctx: BuildContext) -> None:
    for loss in ctx.options.loss:
        link = next(lk for lk in ctx.topo.links if lk.name == loss.link)
        rules = render.loss_ruleset("fhloss", link.a.interface.name, loss.percent)
        run(["ip", "netns", "exec", ctx.ns(link.a.node), "nft", "-f", "-"], input=rules)


def spread_ecmp(ctx: BuildContext) -> None:
    """Fix the VNet's ECMP hash seed to one under which the host's probe flows use both
    gateway instances. The kernel's default seed is random per boot, and with a handful
    of sources every ICMP flow may hash onto one instance: then no flow (or every flow)
    survives a fault, on one machine and not on the next. The seed is recorded in the
    state; probe 5-tuples are those the harness builds by default (sources in turn, TCP
    source ports from 40000 to port 443,
    UDP source ports from 40000 to the reflector)."""
    if not Path("/proc/sys/net/ipv4/fib_multipath_hash_seed").exists():
        return  # kernels before 6.11: the boot's random seed it is
    if len(vnet_next_hops(ctx.state)) < 2 or not ctx.state.host_ips:
        return  # primary/backup: one path by design
    vnet = ctx.ns("vnet")
    vm_side = next(end.interface.name for link in ctx.topo.links
                   for end, other in ((link.a, link.b), (link.b, link.a))
                   if end.node == "vnet" and other.node == "vm")
    sources = ctx.state.host_ips

    def via(dst: str, *l4: str) -> str:
        out = ip(vnet, "route", "get", dst, "from", ctx.state.vm_ip, "iif", vm_side,
                 *l4).stdout.split()
        return out[out.index("via") + 1]

    for seed in range(1, 256):
        nsexec(vnet, ["sysctl", "-q", "-w", f"net.ipv4.fib_multipath_hash_seed={seed}"])
        icmp = [via(src, "ipproto", "icmp") for src in sources]
        tcp = [via(sources[i % len(sources)], "ipproto", "tcp", "sport", "443", "dport",
                   str(40000 + i)) for i in range(8)]
        udp = [via(sources[i % len(sources)], "ipproto", "udp", "sport",
                   str(VM_REFLECTOR_PORT), "dport", str(40000 + i)) for i in range(8)]
        if all(min(paths.count(h) for h in set(paths)) >= len(paths) // 2 - 1
               and len(set(paths)) == 2 for paths in (icmp, tcp, udp)):
            ctx.state.options["ecmp_hash_seed"] = seed
            ctx.state.save()
            return
