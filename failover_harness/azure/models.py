"""What the poller reads from ARM, parsed from REST JSON, and the snapshot built from it.

Parsing takes the camelCase REST shape (`model.as_dict()` of an SDK result, or plain JSON),
so the same code reads real SDK models, fakes and recorded bodies.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Operation = Literal["bgp_peer_status", "learned_routes", "connections"]
OPERATIONS: tuple[Operation, ...] = ("bgp_peer_status", "learned_routes", "connections")

CONNECTED = "Connected"


class _Rest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class BgpPeer(_Rest):
    """One row of getBgpPeerStatus: a BGP neighbor of one gateway instance."""

    local_address: str | None = Field(default=None, alias="localAddress")
    neighbor: str | None = None
    asn: int | None = None
    state: str | None = None
    connected_duration: str | None = Field(default=None, alias="connectedDuration")
    routes_received: int | None = Field(default=None, alias="routesReceived")


class GatewayRoute(_Rest):
    """One row of getLearnedRoutes: a path of one prefix on one gateway instance."""

    local_address: str | None = Field(default=None, alias="localAddress")
    network: str | None = None
    next_hop: str | None = Field(default=None, alias="nextHop")
    source_peer: str | None = Field(default=None, alias="sourcePeer")
    origin: str | None = None
    as_path: str | None = Field(default=None, alias="asPath")
    weight: int | None = None


class TunnelStatus(_Rest):
    tunnel: str | None = None
    connection_status: str | None = Field(default=None, alias="connectionStatus")


class ConnectionStatus(BaseModel):
    """A connection resource's status (virtualNetworkGatewayConnections GET)."""

    model_config = ConfigDict(frozen=True)

    name: str
    status: str | None
    tunnels: tuple[TunnelStatus, ...] = ()


def _rest(obj: Any) -> Any:
    """REST JSON of an SDK model (or pass plain JSON through)."""
    as_dict = getattr(obj, "as_dict", None)
    return as_dict() if callable(as_dict) else obj


class NullBodyError(Exception):
    """A list operation answered without a list: a 200 with a null body, or a body without
    `value` (azure-rest-api-specs #34019). Never "no rows": for learned routes that would
    read as a withdrawal of every route."""


def _rows(result: Any, operation: str) -> list[Any]:
    body = _rest(result)
    if not isinstance(body, dict):
        raise NullBodyError(f"{operation} answered {'a null body' if body is None else type(body).__name__}")
    rows = body.get("value")
    if not isinstance(rows, list):
        raise NullBodyError(f"{operation} answered a body without a 'value' list")
    return rows


def parse_bgp_peers(result: Any) -> tuple[BgpPeer, ...]:
    return tuple(BgpPeer.model_validate(row) for row in _rows(result, "getBgpPeerStatus"))


def parse_learned_routes(result: Any) -> tuple[GatewayRoute, ...]:
    return tuple(GatewayRoute.model_validate(row) for row in _rows(result, "getLearnedRoutes"))


def parse_connection(name: str, result: Any) -> ConnectionStatus:
    body = _rest(result) or {}
    props = body.get("properties") or {}
    tunnels = tuple(TunnelStatus.model_validate(t) for t in props.get("tunnelConnectionStatus") or [])
    return ConnectionStatus(name=body.get("name") or name, status=props.get("connectionStatus"),
                            tunnels=tunnels)


# Keyed views: what change detection compares between samples.

def peer_states(peers: tuple[BgpPeer, ...]) -> dict[tuple[str, str], str | None]:
    """(instance local address, neighbor) -> state."""
    return {(p.local_address or "unknown", p.neighbor or "unknown"): p.state for p in peers}


def next_hop_sets(routes: tuple[GatewayRoute, ...]) -> dict[tuple[str, str], tuple[str, ...]]:
    """(instance local address, prefix) -> sorted next hops; own (Network) rows have none."""
    hops: dict[tuple[str, str], set[str]] = {}
    for r in routes:
        if r.network is None or not r.next_hop:
            continue
        hops.setdefault((r.local_address or "unknown", r.network), set()).add(r.next_hop)
    return {k: tuple(sorted(v)) for k, v in hops.items()}


def connection_states(conns: tuple[ConnectionStatus, ...]) -> dict[str, str | None]:
    return {c.name: c.status for c in conns}


class AzureSnapshot(BaseModel):
    """The newest state the poller (or a one-shot read) knows, with predicates for checks.

    Times are seconds on the orchestrator's clock (`Clock.now()`); None means never.
    """

    model_config = ConfigDict(frozen=True)

    peers: dict[str, dict[str, str | None]] = Field(default_factory=dict)  # instance -> neighbor -> state
    peer_asns: dict[str, int | None] = Field(default_factory=dict)  # neighbor -> asn
    next_hops: dict[str, dict[str, tuple[str, ...]]] = Field(default_factory=dict)  # instance -> prefix -> hops
    connections: dict[str, str | None] = Field(default_factory=dict)  # name -> connectionStatus
    gateway_asn: int | None = None  # the gateway's own ASN when known (tells iBGP peers apart)
    last_good_sample: float | None = None  # response end of the newest good sample, any call
    last_good: dict[str, float] = Field(default_factory=dict)  # operation -> response end
    last_error: dict[str, str] = Field(default_factory=dict)  # operation -> why its newest call failed

    def why_missing(self, operation: Operation) -> str:
        """' (error text)' when the newest call of `operation` failed, else ''."""
        error = self.last_error.get(operation)
        return f" ({error})" if error else ""

    # --- predicates (pure; the poller's methods delegate here) ---

    def has_data(self, operation: Operation) -> bool:
        return operation in self.last_good

    def peer_state(self, peer_ip: str) -> str | None:
        """The peer's state; Connected if any instance shows it Connected; None if unseen."""
        states = [by_neighbor[peer_ip] for by_neighbor in self.peers.values() if peer_ip in by_neighbor]
        if not states:
            return None
        return CONNECTED if CONNECTED in states else states[0]

    def peer_connected(self, peer_ip: str) -> bool:
        return self.peer_state(peer_ip) == CONNECTED

    def peer_down(self, peer_ip: str) -> bool:
        """Known and not Connected on any instance (unknown is not down: no data proves nothing)."""
        state = self.peer_state(peer_ip)
        return state is not None and state != CONNECTED

    def all_peers_connected(self) -> bool:
        states = [s for by_neighbor in self.peers.values() for s in by_neighbor.values()]
        return bool(states) and all(s == CONNECTED for s in states)

    def external_peers(self) -> list[tuple[str, str]]:
        """(instance, neighbor) of peers outside the gateway (not the other instance)."""
        instances = set(self.peers) | set(self.next_hops)
        out = []
        for instance, by_neighbor in self.peers.items():
            for neighbor in by_neighbor:
                asn = self.peer_asns.get(neighbor)
                if neighbor in instances:
                    continue
                if self.gateway_asn is not None and asn == self.gateway_asn:
                    continue
                out.append((instance, neighbor))
        return sorted(out)

    def routes_on_all_paths(self, prefix: str) -> bool:
        """Every external BGP peer is a next hop for `prefix` on its own instance."""
        peers = self.external_peers()
        return bool(peers) and all(
            neighbor in self.next_hops.get(instance, {}).get(prefix, ()) for instance, neighbor in peers)

    def next_hops_for(self, prefix: str) -> dict[str, tuple[str, ...]]:
        """instance -> next hops of `prefix` (instances without it are left out)."""
        return {inst: by_prefix[prefix] for inst, by_prefix in sorted(self.next_hops.items())
                if by_prefix.get(prefix)}

    def connection_connected(self, name: str) -> bool:
        return self.connections.get(name) == CONNECTED
