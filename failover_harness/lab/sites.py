"""`lab up --sites N`: on-prem site hosts behind edge1 and the VM, as SSH vantage hosts.

Site i is a namespace `<prefix>-site<i>` on its own LAN 192.168.(20+i).0/24 behind edge1
(edge1 .1, the host .10-.13), announced by edge1 over BGP like the data centre's
192.168.10.0/24, so Azure reaches it over both tunnels. Each site host and the VM get a
management /30 from the root namespace and a key-only sshd (vantage_hosts.py): the harness
reaches them as it would reach real branch hosts and an Azure VM.
"""

from __future__ import annotations

import time

from failover_harness.errors import LabError
from failover_harness.lab.build_context import BuildContext
from failover_harness.lab.frr_queries import vtysh_argv, vtysh_json
from failover_harness.lab.host import ip, run
from failover_harness.lab.state import LabState, SshVantageState
from failover_harness.lab.vantage_hosts import attach_ssh_vantage

SITE_BASE = 20  # site i: 192.168.(SITE_BASE + i).0/24
SOURCES = 4  # addresses per site host (.10 ...), for flows on distinct ECMP hashes
ROUTE_TIMEOUT_S = 30.0


def site_prefix(index: int) -> str:
    return f"192.168.{SITE_BASE + index}.0/24"


def site_host_ips(index: int) -> list[str]:
    return [f"192.168.{SITE_BASE + index}.{10 + k}" for k in range(SOURCES)]


def add_sites(ctx: BuildContext) -> None:
    """The site hosts and the VM's SSH; once BGP is up (edge1 announces each site)."""
    state = ctx.state
    edge = state.routers["edge1"]
    for index in range(1, ctx.options.sites + 1):
        name = f"site{index}"
        ns = ctx.ns(name)
        ip(None, "netns", "add", ns)
        state.namespaces.append(ns)
        state.save()
        ip(ns, "link", "set", "lo", "up")
        ip(edge.netns, "link", "add", name, "type", "veth", "peer", "name", "lan", "netns", ns)
        gateway = f"192.168.{SITE_BASE + index}.1"
        ip(edge.netns, "addr", "add", f"{gateway}/24", "dev", name)
        ip(edge.netns, "link", "set", name, "up")
        for address in site_host_ips(index):
            ip(ns, "addr", "add", f"{address}/24", "dev", "lan")
        ip(ns, "link", "set", "lan", "up")
        ip(ns, "route", "add", "default", "via", gateway)
        run(vtysh_argv(state, "edge1", "-c", "configure terminal", "-c",
                       f"router bgp {edge.asn}", "-c", "address-family ipv4 unicast", "-c",
                       f"network {site_prefix(index)}"))
        login = attach_ssh_vantage(state, ns, name)
        state.sites.append(SshVantageState(
            name=name, netns=ns, host=login.host, user=login.user, key_file=str(login.key_file),
            known_hosts=str(login.known_hosts), sources=site_host_ips(index),
            prefix=site_prefix(index)))
        state.save()
    if ctx.options.sites and state.vm_netns is not None:
        login = attach_ssh_vantage(state, state.vm_netns, "vm")
        state.vm_ssh = SshVantageState(
            name="vm", netns=state.vm_netns, host=login.host, user=login.user,
            key_file=str(login.key_file), known_hosts=str(login.known_hosts),
            sources=[state.vm_ip])
        state.save()
    wait_site_routes(state, ROUTE_TIMEOUT_S)


def wait_site_routes(state: LabState, timeout_s: float) -> None:
    """Until the VNet reaches every site over both tunnels (ECMP), like 192.168.10.0/24."""
    want = 1 if state.options.get("mode") == "primary-backup" else 2
    deadline = time.monotonic() + timeout_s
    missing: list[str] = []
    while True:
        missing = []
        for site in state.sites:
            assert site.prefix is not None
            routes = vtysh_json(state, "vnet", f"show ip route {site.prefix} json").get(
                site.prefix, [])
            hops = [h for r in (routes if isinstance(routes, list) else []) if r.get("selected")
                    for h in r.get("nexthops", []) if h.get("active")]
            if len(hops) < want:
                missing.append(site.prefix)
        if not missing:
            return
        if time.monotonic() > deadline:
            raise LabError(f"the VNet has no route over both tunnels to {', '.join(missing)} "
                           f"after {timeout_s:g} s")
        time.sleep(0.2)
