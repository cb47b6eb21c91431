"""Blast radius: a playbook whose method would, at some step, have every tunnel to the
gateway down at once cuts every path between its vantage point and its targets. That is
refused unless the playbook says `allow_total_outage: true`, which only a lab may accept
(like --unsafe-skip-gate: an inventory whose azure.base_url is on loopback)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from failover_harness.inventory import Inventory
from failover_harness.yamlfile import Problem

if TYPE_CHECKING:
    from failover_harness.playbook import AnyStep, Playbook

TunnelKey = tuple[str, str]  # (device, interface)


def _tunnel_keys(inv: Inventory, step: AnyStep) -> set[TunnelKey]:
    """The tunnels a fault or restore step acts on (empty: none, or unknown names)."""
    from failover_harness.playbook import (
        LinkDown,
        LinkUp,
        NoShutInterface,
        NoShutNeighbor,
        ResetAzureInstance,
        ResetConnection,
        ShutInterface,
        ShutNeighbor,
    )
    if isinstance(step, (LinkDown, LinkUp)):  # every tunnel that leaves by the uplink
        device = inv.devices.get(step.device)
        return {(step.device, name) for name, t in (device.tunnels.items() if device else [])
                if t.underlay_interface == step.interface}
    if isinstance(step, (ShutInterface, NoShutInterface)):
        device = inv.devices.get(step.device)
        return {(step.device, step.interface)} if device and step.interface in device.tunnels \
            else set()
    if isinstance(step, (ShutNeighbor, NoShutNeighbor)):
        ref = inv.tunnel_by_address(str(step.neighbor))
        return {(ref.device, ref.interface)} if ref else set()
    if isinstance(step, ResetAzureInstance):
        return {(r.device, r.interface) for r in inv.tunnels()
                if r.tunnel.azure_instance == step.instance}
    if isinstance(step, ResetConnection):
        return {(r.device, r.interface) for r in inv.tunnels()
                if r.tunnel.connection == step.connection}
    return set()


def total_outage_problems(pb: Playbook, inv: Inventory) -> list[Problem]:
    from failover_harness.playbook import (
        NoShutInterface,
        NoShutNeighbor,
        ResetAzureInstance,
        ResetConnection,
        WaitUntil,
        is_fault,
    )
    if pb.allow_total_outage:
        if inv.is_lab():
            return []
        return [Problem(("allow_total_outage",), "is accepted only against a lab (an "
                        "inventory whose azure.base_url is on loopback), like "
                        "--unsafe-skip-gate; against production no playbook may cut every "
                        "path")]
    every = {(r.device, r.interface) for r in inv.tunnels()}
    shut: set[TunnelKey] = set()
    reset: set[TunnelKey] = set()  # an Azure reset: back once all peers are up
    for i, step in enumerate(pb.method):
        if isinstance(step, (ResetAzureInstance, ResetConnection)):
            reset |= _tunnel_keys(inv, step)
        elif is_fault(step):
            shut |= _tunnel_keys(inv, step)
        elif isinstance(step, (NoShutInterface, NoShutNeighbor)):
            shut -= _tunnel_keys(inv, step)
        elif isinstance(step, WaitUntil) and step.condition == "all_peers_up":
            reset.clear()
        down = shut | reset
        if every and down >= every:
            names = ", ".join(f"{d} {t}" for d, t in sorted(every))
            return [Problem(("method", i), f"this step leaves no tunnel up: {names} are every "
                            f"path to the gateway {inv.azure.gateway}, so every flow from "
                            f"{pb.probes.from_} to {', '.join(pb.probes.to)} would be cut. "
                            "Keep one path up, or (lab only) set allow_total_outage: true")]
    return []
