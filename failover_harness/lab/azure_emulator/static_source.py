"""A `GatewaySource` that answers from fixed observations: unit tests, demos, no root."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from .observations import IkeSaObservation, PeerObservation, RouteObservation, TunnelObservation


class StaticGateway(BaseModel):
    peers: dict[int, list[PeerObservation]] = Field(default_factory=dict)
    learned: dict[int, list[RouteObservation]] = Field(default_factory=dict)
    advertised: dict[int, list[RouteObservation]] = Field(default_factory=dict)
    tunnels: list[TunnelObservation] = Field(default_factory=list)


class StaticGatewaySource:
    """Answers from `gateway`, which tests may replace or mutate at any time; records resets."""

    def __init__(self, gateway: StaticGateway) -> None:
        self.gateway = gateway
        self.resets: list[tuple[str, int | str]] = []
        self.reads = 0

    async def peers(self, instance: int) -> list[PeerObservation]:
        self.reads += 1
        return list(self.gateway.peers.get(instance, []))

    async def learned_routes(self, instance: int) -> list[RouteObservation]:
        self.reads += 1
        return list(self.gateway.learned.get(instance, []))

    async def advertised_routes(self, instance: int, peer: str) -> list[RouteObservation]:
        self.reads += 1
        return list(self.gateway.advertised.get(instance, []))

    async def tunnels(self) -> list[TunnelObservation]:
        self.reads += 1
        return list(self.gateway.tunnels)

    async def ike_sas(self, tunnel: str) -> list[IkeSaObservation]:
        return [t.ike_sa for t in self.gateway.tunnels if t.tunnel == tunnel and t.ike_sa is not None]

    async def reset_instance(self, instance: int, outage_s: float, takeover_s: float = 0.0) -> None:
        self.resets.append(("instance", instance))
        await asyncio.sleep(outage_s)

    async def reset_connection(self, tunnel: str, outage_s: float) -> None:
        self.resets.append(("connection", tunnel))
        await asyncio.sleep(outage_s)
