"""Read-only snapshots for tests: one read of the Azure gateway, one of a device's BGP
neighbors."""

from __future__ import annotations

from pydantic import BaseModel

from failover_harness.azure.models import AzureSnapshot, BgpPeer, ConnectionStatus, GatewayRoute
from failover_harness.devices import BgpNeighbor
from failover_harness.inventory import Inventory


class AzureGatewaySnapshot(BaseModel):
    """One read of the gateway: BGP peers, learned routes, connections (raw rows), the
    keyed state the harness's checks use, and the error of every call that failed."""

    peers: list[BgpPeer]
    learned_routes: list[GatewayRoute]
    connections: list[ConnectionStatus]
    state: AzureSnapshot
    errors: list[str]

    def peer_state(self, peer_ip: str) -> str | None:
        return self.state.peer_state(peer_ip)

    def next_hops(self, prefix: str) -> dict[str, tuple[str, ...]]:
        return self.state.next_hops_for(prefix)


class DeviceSnapshot(BaseModel):
    device: str
    neighbors: list[BgpNeighbor]

    def neighbor(self, address: str) -> BgpNeighbor:
        for n in self.neighbors:
            if n.address == address:
                return n
        raise KeyError(f"{self.device} has no BGP neighbor {address} "
                       f"(has {', '.join(n.address for n in self.neighbors)})")

    def established(self, address: str) -> bool:
        return self.neighbor(address).established


def read_azure_gateway(inventory: Inventory) -> AzureGatewaySnapshot:
    from failover_harness.azure.reader import read_once
    from failover_harness.orchestrator.components import azure_settings

    read = read_once(azure_settings(inventory))  # builds and closes its own connection
    peers = [p for s in read.samples if s.peers for p in s.peers]
    routes = [r for s in read.samples if s.routes for r in s.routes]
    conns = [c for s in read.samples if s.connections for c in s.connections]
    errors = [f"{s.operation}: {s.error}" for s in read.samples if not s.ok]
    return AzureGatewaySnapshot(peers=peers, learned_routes=routes, connections=conns,
                                state=AzureSnapshot.model_validate(
                                    read.model_dump(exclude={"samples"})), errors=errors)


def read_device(inventory: Inventory, name: str | None) -> DeviceSnapshot:
    from failover_harness.devices import open_device
    from failover_harness.orchestrator.components import device_connection

    if name is None:
        name = next(iter(inventory.devices))
    if name not in inventory.devices:
        raise KeyError(f"no device {name!r} in the inventory (has {', '.join(inventory.devices)})")
    with open_device(device_connection(inventory, name)) as dev:
        return DeviceSnapshot(device=name, neighbors=dev.bgp_neighbors())
