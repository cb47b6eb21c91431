"""What the lab's FRR routers say, through vtysh: BGP peers, routes, and the wait until the
lab carries traffic."""

from __future__ import annotations

import json
import time

from failover_harness.errors import LabError
from failover_harness.lab.host import as_host, run
from failover_harness.lab.state import LabState


def vtysh_argv(state: LabState, router: str, *args: str) -> list[str]:
    """vtysh on one lab router, as that router (see as_host)."""
    return as_host(router, ["vtysh", "--vty_socket", state.routers[router].frr_dir, *args])


def vtysh(state: LabState, router: str, command: str) -> str:
    return run(vtysh_argv(state, router, "-c", command)).stdout


def vtysh_json(state: LabState, router: str, command: str) -> dict[str, object]:
    out = vtysh(state, router, command)
    try:
        data = json.loads(out or "{}")
    except json.JSONDecodeError as exc:
        raise LabError(f"{router}: `{command}` gave no JSON: {out[:200]!r}") from exc
    if not isinstance(data, dict):
        raise LabError(f"{router}: `{command}` gave {type(data).__name__}, not an object")
    return data


def bgp_peers(state: LabState, router: str) -> dict[str, dict[str, object]]:
    """`show bgp summary json` peers of one router: address -> FRR's peer object."""
    summary = vtysh_json(state, router, "show bgp summary json")
    ipv4 = summary.get("ipv4Unicast", {})
    peers = ipv4.get("peers", {}) if isinstance(ipv4, dict) else {}
    return dict(peers)


def bgp_peer_states(state: LabState, router: str) -> dict[str, str]:
    return {addr: str(p.get("state")) for addr, p in bgp_peers(state, router).items()}


def _admin_shut(peer: dict[str, object]) -> bool:
    return peer.get("peerState") == "Admin" or "(Admin)" in str(peer.get("state", ""))


def _sessions_pending(state: LabState) -> dict[str, list[str]]:
    """Sessions not Established, or eBGP sessions (across a tunnel) with nothing received yet."""
    pending: dict[str, list[str]] = {}
    for name, router in state.routers.items():
        # A shut neighbor (an active-standby gateway's standby) is not waited for.
        waiting = [addr for addr, p in bgp_peers(state, name).items()
                   if not _admin_shut(p) and (
                       p.get("state") != "Established"
                       or (p.get("remoteAs") != router.asn and not p.get("pfxRcd")))]
        if waiting:
            pending[name] = waiting
    return pending


def wait_established(state: LabState, timeout: float) -> None:
    """Until every session is Established, tunnels carry routes both ways, and the VNet and
    the on-prem routers have their routes (so the lab is usable the moment `up` returns)."""
    deadline = time.monotonic() + timeout
    while True:
        pending = _sessions_pending(state) or _routes_pending(state)
        if not pending:
            return
        if time.monotonic() > deadline:
            detail = "; ".join(f"{r}: {', '.join(p)}" for r, p in pending.items())
            raise LabError(f"BGP sessions not Established after {timeout:.0f} s ({detail}); "
                           f"logs are in {state.run_dir}/frr/*/")
        time.sleep(0.1)


def vnet_next_hops(state: LabState, prefix: str = "192.168.10.0/24") -> list[str]:
    """The VNet's active next hops towards on-prem (two under ECMP)."""
    routes = vtysh_json(state, "vnet", f"show ip route {prefix} json").get(prefix, [])
    hops: list[str] = []
    for route in routes if isinstance(routes, list) else []:
        if route.get("selected"):
            hops += [h["ip"] for h in route.get("nexthops", []) if h.get("active") and "ip" in h]
    return sorted(hops)


def _routes_pending(state: LabState) -> dict[str, list[str]]:
    """Routes still missing once sessions are up: VNet ECMP (or one path in primary/backup)
    towards on-prem, and the VNet prefix on every on-prem router."""
    pending: dict[str, list[str]] = {}
    want = 1 if state.options.get("mode") in ("primary-backup", "active-standby") else 2
    if len(vnet_next_hops(state)) < want:
        pending["vnet"] = ["192.168.10.0/24"]
    for name, router in state.routers.items():
        if router.role == "onprem_edge" and \
                not vtysh_json(state, name, "show ip route 10.0.0.0/16 json"):
            pending[name] = ["10.0.0.0/16"]
    return pending
