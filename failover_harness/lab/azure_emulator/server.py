"""The aiohttp application: ARM routes for one gateway and its resources, LROs, bearer auth,
ARM throttling, the managed identity endpoint, ARM metadata and the control endpoint.

Request path for an ARM call: `_arm_middleware` (auth, api-version, throttling, injected
faults) -> handler -> `snapshot` functions that read the `GatewaySource` and map with `arm`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

from failover_harness.lab.state import AzureInstanceState, AzureResources, TunnelState

from . import arm, arm_resources, rbac
from .identity import TokenError, Tokens
from .lro import Operations, arm_error, arm_json
from .observations import GatewaySource, TunnelObservation
from .service_routes import CONTROL_PATH, IDENTITY_PATH, ServiceRoutes
from .settings import ControlState, EmulatorSettings, FaultBook, ResetRecord
from .throttle import SubscriptionThrottle

__all__ = ["CONTROL_PATH", "IDENTITY_PATH", "Emulator"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Emulator:
    def __init__(self, resources: AzureResources, tunnels: list[TunnelState], source: GatewaySource,
                 identity_secret: str, settings: EmulatorSettings | None = None,
                 rng: random.Random | None = None, onprem_asns: dict[str, int] | None = None) -> None:
        self.resources = resources
        self.tunnels = tunnels
        self.source = source
        self.identity_secret = identity_secret
        self.settings = settings or EmulatorSettings()
        self.sites = arm_resources.local_sites(tunnels, onprem_asns or {})
        self._rng = rng or random.Random()
        self.faults = FaultBook(self._rng)
        self.counters: Counter[str] = Counter()
        self.tokens = Tokens()
        self.throttle = SubscriptionThrottle()
        self.lros = Operations(resources, lambda: self.settings, self.faults, self.counters, self._rng)
        self.resets: list[ResetRecord] = []
        self._resetting: set[int] = set()
        self.transports: weakref.WeakSet[asyncio.Transport] = weakref.WeakSet()

    def close_connections(self) -> None:
        """Close connections clients left open (the SDK leaves some after errors), so that a
        stopped emulator leaves no socket behind."""
        for transport in list(self.transports):
            transport.abort()

    def control_state(self) -> ControlState:
        return ControlState(settings=self.settings, faults=self.faults.active(), counters=dict(self.counters),
                            ratelimit_remaining=self.throttle.remaining(self.settings, self.resources.subscription_id),
                            resets=list(self.resets))

    async def shutdown(self) -> None:
        """End running operations; a reset under way brings its instance back first."""
        await self.lros.cancel_all()

    # --- the app ------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._arm_middleware])
        r = app.router
        ServiceRoutes(self).add_to(r)
        p = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network"
        r.add_get(p + "/virtualNetworkGateways", self.list_gateways)
        r.add_get(p + "/virtualNetworkGateways/{gw}", self.get_gateway)
        r.add_get(p + "/virtualNetworkGateways/{gw}/connections", self.list_gateway_connections)
        r.add_post(p + "/virtualNetworkGateways/{gw}/{action}", self.gateway_action)
        r.add_get(p + "/connections", self.list_connections)
        r.add_get(p + "/connections/{cn}", self.get_connection)
        r.add_post(p + "/connections/{cn}/{action}", self.connection_action)
        r.add_get(p + "/publicIPAddresses", self.list_public_ips)
        r.add_get(p + "/publicIPAddresses/{name}", self.get_public_ip)
        r.add_get(p + "/localNetworkGateways", self.list_local_gateways)
        r.add_get(p + "/localNetworkGateways/{name}", self.get_local_gateway)
        loc = "/subscriptions/{sub}/providers/Microsoft.Network/locations/{loc}"
        r.add_get(loc + "/operationResults/{op}", self.lros.result)
        r.add_get(loc + "/operations/{op}", self.lros.status)
        r.add_route("*", "/{tail:.*}", self.not_found)
        return app

    # --- middleware: what ARM checks before any handler runs ----------------------------

    @web.middleware
    async def _arm_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.transport is not None:
            self.transports.add(request.transport)
        path = request.path
        if not (path.startswith("/subscriptions") or path.startswith("/tenants")):
            return await handler(request)
        self.counters["arm"] += 1
        denied = self._check_bearer(request)
        if denied is not None:
            self.counters["unauthorized"] += 1
            return denied
        # Any api-version is served: the SDK sends 2026-03-01; az CLI 2.91 sends 2022-01-01
        # (getLearnedRoutes, reset), 2023-09-01 (getBgpPeerStatus), 2025-01-01 (gateway GET).
        if not request.query.get("api-version"):
            return arm_error(400, "MissingApiVersionParameter",
                             "The api-version query parameter (?api-version=) is required for all requests.")
        quota: dict[str, str] = {}
        parts = path.split("/")
        if len(parts) > 2 and parts[1] == "subscriptions" and parts[2]:
            decision = self.throttle.admit(self.settings, parts[2], request.method)
            quota = decision.headers
            if not decision.allowed:
                self.counters["throttled"] += 1
                kind = next(iter(quota)).rsplit("-", 1)[-1]
                return arm_error(429, "SubscriptionRequestsThrottled",
                                 f"Number of '{kind[:-1]}' requests for subscription '{parts[2]}' exceeded. "
                                 f"Please try again after '{decision.retry_after_s}' seconds after additional "
                                 "tokens are available.", quota)
        fault = self.faults.take(path, {"throttle", "error", "stall", "not_found", "forbidden"})
        if fault is not None:
            self.counters[fault.kind] += 1
            if fault.kind == "throttle":
                return arm_error(429, "TooManyRequests",
                                 "The request is being throttled as the limit has been reached for operation type.",
                                 {"Retry-After": str(fault.retry_after_s), **quota})
            if fault.kind == "error":
                return arm_error(fault.status, "InternalServerError" if fault.status == 500 else "ServerError",
                                 "An error occurred.", quota)
            if fault.kind == "forbidden":  # the identity lacks the RBAC action of this request
                return arm_error(403, "AuthorizationFailed", rbac.authorization_failed_message(request.method, path),
                                 quota)
            if fault.kind == "not_found":
                return arm_error(404, "ResourceNotFound", f"The Resource '{path}' was not found.", quota)
            await asyncio.sleep(fault.stall_s)  # stall, then answer normally
        response = await handler(request)
        response.headers.update(quota)
        return response

    def _check_bearer(self, request: web.Request) -> web.Response | None:
        challenge = {"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common", '
                                         'error="invalid_token", error_description="The access token is invalid."'}
        header = request.headers.get("Authorization", "")
        if not header:
            return arm_error(401, "AuthenticationFailed",
                             "Authentication failed. The 'Authorization' header is missing.", challenge)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.", challenge)
        try:
            self.tokens.check(token)
        except TokenError as e:
            return arm_error(401, e.code, str(e), challenge)
        return None

    # --- resource lookup ----------------------------------------------------------------

    def served_instances(self) -> list[AzureInstanceState]:
        """Both instances of an active-active gateway; instance 0 only for active-standby."""
        insts = self.resources.instances
        return list(insts) if self.settings.active_active else [i for i in insts if i.index == 0][:1]

    def _scope_error(self, request: web.Request) -> web.Response | None:
        sub, rg = request.match_info["sub"], request.match_info["rg"]
        if sub.lower() != self.resources.subscription_id.lower():
            return arm_error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        if rg.lower() != self.resources.resource_group.lower():
            return arm_error(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        return None

    def _resource_not_found(self, kind: str, name: str) -> web.Response:
        return arm_error(404, "ResourceNotFound",
                         f"The Resource 'Microsoft.Network/{kind}/{name}' under resource group "
                         f"'{self.resources.resource_group}' was not found. For more details please go to "
                         "https://aka.ms/ARMResourceNotFoundFix")

    def _gateway_error(self, request: web.Request) -> web.Response | None:
        if (err := self._scope_error(request)) is not None:
            return err
        gw = request.match_info["gw"]
        if gw.lower() != self.resources.gateway.lower():
            return self._resource_not_found("virtualNetworkGateways", gw)
        return None

    def connection_tunnels(self, name: str) -> list[TunnelState]:
        return [t for t in self.tunnels if t.connection.lower() == name.lower()]

    def connection_names(self) -> list[str]:
        return list(dict.fromkeys(t.connection for t in self.tunnels))

    async def not_found(self, request: web.Request) -> web.Response:
        if request.path.startswith("/subscriptions/"):
            return arm_error(404, "NotFound", f"No HTTP resource was found that matches the request URI "
                                              f"'{request.url}'.")
        return web.json_response({"error": "not found"}, status=404)

    def _page(self, request: web.Request, items: list[dict[str, object]]) -> web.Response:
        skip = int(request.query.get("$skipToken", "0") or 0)
        size = self.settings.page_size
        body: dict[str, object] = {"value": items[skip:skip + size]}
        if skip + size < len(items):
            body["nextLink"] = str(request.url.update_query({"$skipToken": str(skip + size)}))
        return arm_json(body)

    # --- snapshots: read the source, map to ARM JSON ------------------------------------

    async def snapshot_peers(self, peer: str | None) -> dict[str, object]:
        insts = self.served_instances()
        peers = await asyncio.gather(*(self.source.peers(i.index) for i in insts))
        return arm.bgp_peer_status_list(list(zip(insts, peers, strict=True)), peer)

    async def snapshot_learned(self) -> dict[str, object]:
        insts = self.served_instances()
        routes = await asyncio.gather(*(self.source.learned_routes(i.index) for i in insts))
        return arm.route_list([arm.learned_route(i, r) for i, rs in zip(insts, routes, strict=True) for r in rs])

    def _local_address_towards(self, inst: AzureInstanceState, peer: str) -> str:
        for t in self.tunnels:
            if t.azure_instance == inst.index and t.onprem_bgp_ip == peer:
                return t.azure_bgp_ip
        return inst.private_ip

    async def snapshot_advertised(self, peer: str) -> dict[str, object]:
        rows: list[arm.GatewayRoute] = []
        for inst in self.served_instances():
            if not any(p.neighbor == peer for p in await self.source.peers(inst.index)):
                continue
            local = self._local_address_towards(inst, peer)
            for r in await self.source.advertised_routes(inst.index, peer):
                rows.append(arm.advertised_route(inst, self.resources.asn, local, r))
        return arm.route_list(rows)

    async def _observed_tunnels(self) -> dict[str, TunnelObservation]:
        return {o.tunnel: o for o in await self.source.tunnels()}

    async def snapshot_connections(self, names: list[str]) -> list[dict[str, object]]:
        observed = await self._observed_tunnels()
        now = dt.datetime.now(dt.UTC)
        return [arm.connection_resource(self.resources, n, self.connection_tunnels(n), observed, now) for n in names]

    async def snapshot_ike_sas(self, name: str) -> str:
        sas = []
        for t in self.connection_tunnels(name):
            sas.extend(await self.source.ike_sas(t.name))
        return arm.ike_sas_text(sas)

    def gateway_json(self) -> dict[str, object]:
        return arm_resources.gateway_resource(self.resources, self.served_instances(), updating=bool(self._resetting))

    # --- ARM handlers: reads ------------------------------------------------------------

    async def get_gateway(self, request: web.Request) -> web.Response:
        return self._gateway_error(request) or arm_json(self.gateway_json())

    async def list_gateways(self, request: web.Request) -> web.Response:
        return self._scope_error(request) or self._page(request, [self.gateway_json()])

    async def list_gateway_connections(self, request: web.Request) -> web.Response:
        if (err := self._gateway_error(request)) is not None:
            return err
        return self._page(request, await self.snapshot_connections(self.connection_names()))

    async def list_connections(self, request: web.Request) -> web.Response:
        if (err := self._scope_error(request)) is not None:
            return err
        return self._page(request, await self.snapshot_connections(self.connection_names()))

    async def get_connection(self, request: web.Request) -> web.Response:
        if (err := self._scope_error(request)) is not None:
            return err
        name = request.match_info["cn"]
        if not self.connection_tunnels(name):
            return self._resource_not_found("connections", name)
        [body] = await self.snapshot_connections([self.connection_tunnels(name)[0].connection])
        return arm_json(body)

    def _public_ips(self) -> dict[str, dict[str, object]]:
        return {arm_resources.public_ip_name(self.resources, i).lower(): arm_resources.public_ip_resource(
            self.resources, i) for i in self.served_instances()}

    async def list_public_ips(self, request: web.Request) -> web.Response:
        return self._scope_error(request) or self._page(request, list(self._public_ips().values()))

    async def get_public_ip(self, request: web.Request) -> web.Response:
        if (err := self._scope_error(request)) is not None:
            return err
        name = request.match_info["name"]
        body = self._public_ips().get(name.lower())
        return arm_json(body) if body is not None else self._resource_not_found("publicIPAddresses", name)

    def _local_gateways(self) -> dict[str, dict[str, object]]:
        return {s.name.lower(): arm_resources.local_network_gateway_resource(self.resources, s) for s in self.sites}

    async def list_local_gateways(self, request: web.Request) -> web.Response:
        return self._scope_error(request) or self._page(request, list(self._local_gateways().values()))

    async def get_local_gateway(self, request: web.Request) -> web.Response:
        if (err := self._scope_error(request)) is not None:
            return err
        name = request.match_info["name"]
        body = self._local_gateways().get(name.lower())
        return arm_json(body) if body is not None else self._resource_not_found("localNetworkGateways", name)

    # --- ARM handlers: actions (LROs) ---------------------------------------------------

    async def gateway_action(self, request: web.Request) -> web.Response:
        if (err := self._gateway_error(request)) is not None:
            return err
        action = request.match_info["action"].lower()
        if action == "getbgppeerstatus":
            peer = request.query.get("peer")
            return self.lros.start(request, "getBgpPeerStatus", lambda: self.snapshot_peers(peer))
        if action == "getlearnedroutes":
            return self.lros.start(request, "getLearnedRoutes", self.snapshot_learned)
        if action == "getadvertisedroutes":
            adv_peer = request.query.get("peer")
            if not adv_peer:
                return arm_error(400, "MissingRequiredParameter", "The 'peer' parameter is required.")
            return self.lros.start(request, "getAdvertisedRoutes", lambda: self.snapshot_advertised(adv_peer))
        if action == "reset":
            vip = request.query.get("gatewayVip")
            served = self.served_instances()
            insts = [i for i in served if i.public_ip == vip] if vip else served[:1]
            if not insts:
                return arm_error(400, "InvalidGatewayVip", f"Gateway VIP '{vip}' does not belong to the gateway.")
            return self.lros.start(request, "reset", lambda: self._reset_instance(insts[0]), act_at_start=True)
        return arm_error(404, "NotFound", f"Unknown action '{request.match_info['action']}'.")

    async def _reset_instance(self, inst: AzureInstanceState) -> object:
        """The instance's BGP and IKE go away for the configured time, then come back; the
        operation completes once it is back (as a reboot's LRO does)."""
        outage = self.settings.reset_outage(self._rng)
        takeover = None if self.settings.active_active else self.settings.standby_takeover(self._rng)
        record = ResetRecord(target=f"instance {inst.index}", started_unix=time.time(), outage_s=outage,
                             takeover_s=takeover)
        self.resets.append(record)
        self._resetting.add(inst.index)
        try:
            await self.source.reset_instance(inst.index, outage, takeover or 0.0)
        finally:
            self._resetting.discard(inst.index)
            record.restored_unix = time.time()
        return self.gateway_json()

    async def connection_action(self, request: web.Request) -> web.Response:
        if (err := self._scope_error(request)) is not None:
            return err
        name, action = request.match_info["cn"], request.match_info["action"].lower()
        tunnels = self.connection_tunnels(name)
        if not tunnels:
            return self._resource_not_found("connections", name)
        if action == "getikesas":
            return self.lros.start(request, "getikesas", lambda: self.snapshot_ike_sas(name))
        if action == "resetconnection":
            async def reset() -> object:
                outage = self.settings.reset_connection_outage_s
                record = ResetRecord(target=f"connection {tunnels[0].connection}", started_unix=time.time(),
                                     outage_s=outage)
                self.resets.append(record)
                try:
                    await asyncio.gather(*(self.source.reset_connection(t.name, outage) for t in tunnels))
                finally:
                    record.restored_unix = time.time()
                return None
            return self.lros.start(request, "resetconnection", reset, act_at_start=True)
        return arm_error(404, "NotFound", f"Unknown action '{request.match_info['action']}'.")
