"""Azure's side of what bounds convergence, read once before a fault (read-only): every
instance's learned routes with their AS paths (ECMP or primary/backup), the BGP peers'
states, and each connection's DPD timeout (`dpdTimeoutSeconds`, where the API exposes it).

`read_design` never raises for API faults: what could not be read is None and a note says
why. Azure VPN Gateway's BGP timers are fixed and not exposed (see prediction.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel, Field

from failover_harness.azure.client import AzureConnection
from failover_harness.azure.models import GatewayRoute
from failover_harness.azure.reader import GatewayConnection, GatewayReader, classify_error
from failover_harness.azure.settings import AzureSettings


class LearnedPath(BaseModel):
    instance: str
    prefix: str
    next_hop: str | None
    as_path_len: int
    origin: str | None = None


class AzureDesign(BaseModel):
    paths: list[LearnedPath] | None = None  # None: not read
    peer_states: dict[str, str | None] | None = None  # peer -> state (Connected on any instance wins)
    dpd_timeout_s: dict[str, float] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


def as_path_length(text: str | None) -> int:
    """'65010-65010-65010' (Azure's form), '65010 65010' or '' -> number of ASNs."""
    return len(re.findall(r"\d+", text or ""))


def learned_paths(routes: tuple[GatewayRoute, ...]) -> list[LearnedPath]:
    return [LearnedPath(instance=r.local_address or "unknown", prefix=r.network,
                        next_hop=r.next_hop or None, as_path_len=as_path_length(r.as_path),
                        origin=r.origin) for r in routes if r.network]


def dpd_of(body: Any) -> float | None:
    """A connection resource's dpdTimeoutSeconds (REST JSON or an SDK model)."""
    as_dict = getattr(body, "as_dict", None)
    data = as_dict() if callable(as_dict) else body
    if not isinstance(data, dict):
        return None
    value = (data.get("properties") or {}).get("dpdTimeoutSeconds", data.get("dpd_timeout_seconds"))
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def read_design(settings: AzureSettings, connection: GatewayConnection | None = None,
                now: Callable[[], float] = time.monotonic) -> AzureDesign:
    if connection is None:
        owned = AzureConnection(settings)
        try:
            return read_design(settings, owned, now)
        finally:
            owned.close()
    design = AzureDesign()
    timeout = settings.poll.call_timeout_s
    # The two long-running calls overlap: each takes seconds (minutes on a busy gateway).
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="azure-design") as pool:
        routes = pool.submit(lambda: GatewayReader(settings, connection, now).learned_routes(
            now() + timeout))
        peers = pool.submit(lambda: GatewayReader(settings, connection, now).bgp_peers(
            now() + timeout))
    try:
        design.paths = learned_paths(routes.result())
    except Exception as exc:  # noqa: BLE001 - a failed read is a note, never the end of a check
        design.notes.append(f"Azure learned routes not read: {classify_error(exc)[1]}")
    try:
        states: dict[str, str | None] = {}
        for peer in peers.result():
            if peer.neighbor and states.get(peer.neighbor) != "Connected":
                states[peer.neighbor] = peer.state
        design.peer_states = states
    except Exception as exc:  # noqa: BLE001
        design.notes.append(f"Azure BGP peer status not read: {classify_error(exc)[1]}")
    for name in settings.connections:
        try:
            body = connection.client.virtual_network_gateway_connections.get(
                settings.resource_group, name)
        except Exception as exc:  # noqa: BLE001
            design.notes.append(f"connection {name} not read: {classify_error(exc)[1]}")
            continue
        dpd = dpd_of(body)
        if dpd is not None:
            design.dpd_timeout_s[name] = dpd
    return design
