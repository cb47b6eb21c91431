"""Steady-state checks, wait_until conditions and the guard, evaluated against what the
watchers, the Azure poller and the probe monitor know right now. No I/O: each function
reads a `RunView` and answers (ok, why)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from failover_harness.azure.models import AzureSnapshot
from failover_harness.inventory import Inventory, TunnelRef
from failover_harness.playbook import (
    AzurePeersConnected,
    NoLoss,
    OnpremBgpEstablished,
    RoutesOnAllPaths,
    SteadyStateCheck,
    WaitUntil,
)


class RunView(Protocol):
    inventory: Inventory

    def onprem_established(self, device: str, neighbor: str) -> bool | None: ...

    def azure(self) -> AzureSnapshot | None: ...

    def loss_free_for(self, seconds: float) -> bool: ...


@dataclass(frozen=True)
class Answer:
    ok: bool
    why: str

    def __bool__(self) -> bool:
        return self.ok


def azure_peer_of(ref: TunnelRef) -> str:
    """The address Azure lists as this tunnel's BGP peer (the on-prem router's own)."""
    return str(ref.tunnel.local_address or ref.tunnel.neighbor)


def _tunnel(view: RunView, address: object) -> TunnelRef:
    ref = view.inventory.tunnel_by_address(str(address))
    if ref is None:  # the playbook was checked against the inventory; this is a bug
        raise ValueError(f"no tunnel with address {address}")
    return ref


def onprem_up(view: RunView, device: str, neighbors: list[str] | None = None) -> Answer:
    if neighbors is None:
        neighbors = [str(t.neighbor) for t in view.inventory.devices[device].tunnels.values()]
    down = []
    for n in neighbors:
        state = view.onprem_established(device, n)
        if state is None:
            return Answer(False, f"{device}: no BGP state read yet")
        if not state:
            down.append(n)
    if down:
        return Answer(False, f"{device}: BGP to {', '.join(down)} not Established")
    return Answer(True, f"{device}: BGP to {', '.join(neighbors)} Established")


def azure_up(view: RunView, peers: list[str] | None = None) -> Answer:
    snap = view.azure()
    if snap is None or not snap.peers:
        return Answer(False, "Azure: no BGP peer status yet" + (snap.why_missing("bgp_peer_status") if snap else ""))
    if peers is None:
        peers = [azure_peer_of(ref) for ref in view.inventory.tunnels()]
    down = [p for p in peers if not snap.peer_connected(p)]
    if down:
        states = ", ".join(f"{p} {snap.peer_state(p) or 'not listed'}" for p in down)
        return Answer(False, f"Azure: peer {states}")
    return Answer(True, f"Azure: peers {', '.join(peers)} Connected")


def routes_on_all_paths(view: RunView, prefix: str) -> Answer:
    snap = view.azure()
    if snap is None or not snap.next_hops:
        return Answer(False, "Azure: no learned routes yet" + (snap.why_missing("learned_routes") if snap else ""))
    if snap.routes_on_all_paths(prefix):
        return Answer(True, f"Azure: {prefix} on all paths")
    hops = snap.next_hops_for(prefix)
    return Answer(False, f"Azure: {prefix} next hops {hops or 'none'}")


def routes_without(view: RunView, peer: str, prefix: str) -> Answer:
    snap = view.azure()
    if snap is None or not snap.next_hops:
        return Answer(False, "Azure: no learned routes yet")
    hops = snap.next_hops_for(prefix)
    holders = [inst for inst, h in hops.items() if peer in h]
    if holders:
        return Answer(False, f"Azure: {prefix} still via {peer} on {', '.join(holders)}")
    return Answer(True, f"Azure: {prefix} no longer via {peer}")


def check(view: RunView, c: SteadyStateCheck) -> Answer:
    if isinstance(c, OnpremBgpEstablished):
        return onprem_up(view, c.device, [str(n) for n in c.neighbors] if c.neighbors else None)
    if isinstance(c, AzurePeersConnected):
        return azure_up(view, [str(p) for p in c.peers] if c.peers else None)
    if isinstance(c, RoutesOnAllPaths):
        return routes_on_all_paths(view, str(c.prefix))
    if isinstance(c, NoLoss):
        ok = view.loss_free_for(c.seconds)
        return Answer(ok, f"probes: {'no' if ok else 'some'} loss in the last {c.seconds:g} s")
    raise TypeError(type(c).__name__)


def _onprem_prefixes(view: RunView, prefix: object | None) -> list[str]:
    return [str(prefix)] if prefix is not None else [str(p) for p in view.inventory.prefixes.onprem]


def condition(view: RunView, w: WaitUntil) -> Answer:
    c = w.condition
    if c in ("azure_peer_down", "azure_peer_up", "onprem_peer_down", "onprem_peer_up",
             "routes_withdrawn"):
        ref = _tunnel(view, w.peer)
        if c == "routes_withdrawn":
            answers = [routes_without(view, azure_peer_of(ref), p)
                       for p in _onprem_prefixes(view, w.prefix)]
            return all_of(answers)
        if c.startswith("azure"):
            up = azure_up(view, [azure_peer_of(ref)])
            if c == "azure_peer_up":
                return up
            snap = view.azure()
            down = snap is not None and snap.peer_down(azure_peer_of(ref))
            return Answer(down, up.why)
        up = onprem_up(view, ref.device, [str(ref.tunnel.neighbor)])
        if c == "onprem_peer_up":
            return up
        state = view.onprem_established(ref.device, str(ref.tunnel.neighbor))
        return Answer(state is False, up.why)
    if c == "all_peers_up":
        answers = [onprem_up(view, d) for d in view.inventory.devices]
        answers.append(azure_up(view))
        return all_of(answers)
    if c == "routes_restored":
        return all_of([routes_on_all_paths(view, p) for p in _onprem_prefixes(view, w.prefix)])
    if c == "no_loss":
        seconds = w.seconds if w.seconds is not None else 5.0
        ok = view.loss_free_for(seconds)
        return Answer(ok, f"probes: {'no' if ok else 'some'} loss in the last {seconds:g} s")
    raise ValueError(c)


def steady_state(view: RunView) -> list[Answer]:
    """What must hold before any fault, whatever the playbook says: every tunnel's BGP up on
    both sides and the on-prem prefixes on all of Azure's paths."""
    answers = [onprem_up(view, d) for d in view.inventory.devices]
    answers.append(azure_up(view))
    answers.extend(routes_on_all_paths(view, str(p)) for p in view.inventory.prefixes.onprem)
    return answers


def all_of(answers: list[Answer]) -> Answer:
    bad = [a.why for a in answers if not a.ok]
    if bad:
        return Answer(False, "; ".join(bad))
    return Answer(True, "; ".join(a.why for a in answers))


def surviving_paths(view: RunView, broken: list[TunnelRef]) -> Answer:
    """The guard's control-plane half: every tunnel that was not broken on purpose is up on
    both sides (as far as anyone has seen; unknown counts as up)."""
    broken_keys = {(r.device, r.interface) for r in broken}
    bad = []
    snap = view.azure()
    for ref in view.inventory.tunnels():
        if (ref.device, ref.interface) in broken_keys:
            continue
        if view.onprem_established(ref.device, str(ref.tunnel.neighbor)) is False:
            bad.append(f"{ref.device} {ref.interface}: on-prem BGP down")
        if snap is not None and snap.peer_down(azure_peer_of(ref)):
            bad.append(f"{ref.device} {ref.interface}: Azure peer {azure_peer_of(ref)} "
                       f"{snap.peer_state(azure_peer_of(ref))}")
    if bad:
        return Answer(False, "surviving path down: " + "; ".join(bad))
    return Answer(True, "surviving paths up")

