"""Not tests: a fake of the parts of NetworkManagementClient the Azure poller uses, with scripted
latency and faults. Its LRO pollers behave like azure-core's LROPoller (wait/done/result)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
from azure.core.polling.base_polling import BadResponse, OperationFailed
from azure.mgmt.network import models as m

from failover_harness.azure.budget import RequestBudget
from failover_harness.azure.settings import AzureSettings

GW0, GW1 = "10.0.255.4", "10.0.255.5"
ONPREM = "192.168.10.0/24"


class FakeHttpResponse:
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.reason = code
        self.headers = headers or {}
        self.content_type = "application/json"
        self._body = '{"error":{"code":"%s","message":"%s"}}' % (code, message)

    def text(self, encoding: str | None = None) -> str:
        return self._body

    def body(self) -> bytes:
        return self._body.encode()


def fake_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Any:
    """Typed as Any: HttpResponseError only reads status, reason, headers and the body."""
    return FakeHttpResponse(status, code, message, headers)


class FakePolling:
    def __init__(self) -> None:
        self.abandoned = False

    def abandon(self) -> None:
        self.abandoned = True


class FakeLROPoller:
    """Done `latency` seconds after creation; its snapshot was taken when the call began.
    Like the SDK's, it ends early (with an error) once its polling method is abandoned."""

    def __init__(self, body: Any, latency: float, error: BaseException | None, polling: Any) -> None:
        self._ready_at = time.monotonic() + latency
        self._body = body
        self._error = error
        self._polling = polling

    def _abandoned(self) -> bool:
        return bool(getattr(self._polling, "abandoned", False))

    def wait(self, timeout: float | None = None) -> None:
        until = time.monotonic() + (timeout if timeout is not None else 3600.0)
        while not self.done() and time.monotonic() < until:
            time.sleep(min(0.01, max(until - time.monotonic(), 0.0)))

    def done(self) -> bool:
        return time.monotonic() >= self._ready_at or self._abandoned()

    def result(self, timeout: float | None = None) -> Any:
        self.wait(timeout)
        if self._abandoned():
            raise AzureError("LRO abandoned by the poller")
        if self._error is not None:
            raise self._error
        return self._body


class FakeWorld:
    """The gateway's state (mutable by tests) and the fault the API shows right now."""

    def __init__(self, latency: float = 0.2) -> None:
        self.lock = threading.Lock()
        self.peers: dict[tuple[str, str], str] = {
            (GW0, "169.254.21.2"): "Connected", (GW0, GW1): "Connected",
            (GW1, "169.254.21.6"): "Connected", (GW1, GW0): "Connected"}
        self.routes: dict[str, list[tuple[str, str]]] = {  # instance -> [(prefix, next hop)]
            GW0: [(ONPREM, "169.254.21.2"), (ONPREM, GW1)], GW1: [(ONPREM, "169.254.21.6"), (ONPREM, GW0)]}
        self.connections: dict[str, str] = {"cn-t1": "Connected", "cn-t2": "Connected"}
        self.latency: Callable[[int], float] = lambda n: latency  # n: call number
        # throttled, server_error, stall, lro_failed, auth, null_body (a 200 with a null body),
        # no_status (an LRO status resource without a status)
        self.fault: str | None = None
        self.budget: RequestBudget | None = None  # when set, every request spends from it
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.connects = 0
        self.closed = 0
        self.pollings: list[FakePolling] = []

    def shut_tunnel1(self) -> None:
        with self.lock:
            self.peers[(GW0, "169.254.21.2")] = "Connecting"
            self.routes[GW0] = [(ONPREM, GW1)]
            self.routes[GW1] = [(ONPREM, "169.254.21.6")]
            self.connections["cn-t1"] = "NotConnected"

    def _begin(self) -> tuple[int, str | None]:
        with self.lock:
            self.calls += 1
            return self.calls, self.fault

    def _error_for(self, fault: str | None) -> BaseException | None:
        if fault == "throttled":
            return HttpResponseError(response=fake_response(429, "TooManyRequests", "throttled",
                                                               {"Retry-After": "1"}))
        if fault == "server_error":
            return HttpResponseError(response=fake_response(500, "InternalServerError", "boom"))
        if fault == "auth":
            return ClientAuthenticationError(message="token expired")
        return None

    def spend(self, kind: str) -> None:
        if self.budget is not None:
            self.budget.acquire("writes" if kind == "writes" else "reads")

    def lro(self, body_fn: Callable[[], Any], polling: Any) -> FakeLROPoller:
        self.spend("writes")
        n, fault = self._begin()
        error = self._error_for(fault)
        if error is not None:
            raise error  # the initial POST fails
        with self.lock:
            body = None if fault == "null_body" else body_fn()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        latency = float("inf") if fault == "stall" else self.latency(n)
        lro_error: BaseException | None = None
        if fault == "lro_failed":
            try:
                raise OperationFailed("Operation failed or canceled")
            except OperationFailed as cause:
                lro_error = HttpResponseError(response=fake_response(200, "Failed", "failed"), error=cause)
                lro_error.__cause__ = cause
        if fault == "no_status":  # what azure-core raises for {"id": ..} without "status"
            try:
                raise BadResponse("No status found in body")
            except BadResponse as cause:
                lro_error = HttpResponseError(response=fake_response(200, "x", "x"), message=str(cause), error=cause)
                lro_error.__cause__ = cause
        if latency != float("inf"):
            done = threading.Timer(latency, self._done)
            done.daemon = True
            done.start()
        return FakeLROPoller(body, min(latency, 3600.0), lro_error, polling)

    def _done(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def peers_body(self) -> m.BgpPeerStatusListResult:
        return m.BgpPeerStatusListResult({"value": [
            {"localAddress": la, "neighbor": nb, "asn": 65515 if nb in (GW0, GW1) else 65010, "state": st}
            for (la, nb), st in self.peers.items()]})

    def routes_body(self) -> m.GatewayRouteListResult:
        rows: list[dict[str, Any]] = []
        for la, entries in self.routes.items():
            rows.append({"localAddress": la, "network": "10.0.0.0/16", "nextHop": None, "origin": "Network",
                         "asPath": "", "weight": 32768})
            for prefix, hop in entries:
                ibgp = hop in (GW0, GW1)
                rows.append({"localAddress": la, "network": prefix, "nextHop": hop, "sourcePeer": hop,
                             "origin": "IBgp" if ibgp else "EBgp", "asPath": "65010", "weight": 32769})
        return m.GatewayRouteListResult({"value": rows})


class _Gateways:
    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    def begin_get_bgp_peer_status(self, rg: str, gw: str, peer: str | None = None, **kw: Any) -> FakeLROPoller:
        return self.world.lro(self.world.peers_body, kw.get("polling"))

    def begin_get_learned_routes(self, rg: str, gw: str, **kw: Any) -> FakeLROPoller:
        return self.world.lro(self.world.routes_body, kw.get("polling"))

    def get(self, rg: str, gw: str, **kw: Any) -> m.VirtualNetworkGateway:
        return m.VirtualNetworkGateway({"name": gw, "properties": {"bgpSettings": {"asn": 65515}}})


class _Connections:
    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    def get(self, rg: str, name: str, **kw: Any) -> m.VirtualNetworkGatewayConnection:
        self.world.spend("reads")
        _, fault = self.world._begin()
        error = self.world._error_for(fault)
        if error is not None:
            raise error
        with self.world.lock:
            status = self.world.connections[name]
        return m.VirtualNetworkGatewayConnection({"name": name, "properties": {"connectionStatus": status}})


class FakeClient:
    def __init__(self, world: FakeWorld) -> None:
        self.virtual_network_gateways = _Gateways(world)
        self.virtual_network_gateway_connections = _Connections(world)


class FakeConnection:
    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.client = FakeClient(world)

    def polling(self, first_delay_s: float | None = None) -> FakePolling:
        p = FakePolling()
        with self.world.lock:
            self.world.pollings.append(p)
        return p

    def close(self) -> None:
        with self.world.lock:
            self.world.closed += 1


def connector(world: FakeWorld) -> Callable[[AzureSettings], FakeConnection]:
    def connect(settings: AzureSettings) -> FakeConnection:
        with world.lock:
            world.connects += 1
        return FakeConnection(world)
    return connect
