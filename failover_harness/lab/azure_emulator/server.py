"""The aiohttp application: ARM routes for one gateway, LROs, bearer auth, the managed
identity endpoint and the control endpoint.

Request path for an ARM call: `_arm_middleware` (auth, api-version, injected faults) ->
handler -> `snapshot` functions that read the `GatewaySource` and map with `arm`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
import secrets
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import ValidationError

from failover_harness.lab.state import AzureInstanceState, AzureResources, TunnelState

from . import arm, rbac
from .observations import GatewaySource, TunnelObservation
from .settings import ControlState, EmulatorSettings, Fault, FaultBook, SettingsPatch

log = logging.getLogger(__name__)

ARM_AUDIENCES = {"https://management.azure.com", "https://management.azure.com/",
                 "https://management.core.windows.net", "https://management.core.windows.net/"}
IDENTITY_PATH = "/msi/token"
CONTROL_PATH = "/_lab/control"
OPERATION_TTL_S = 600.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def arm_json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers={"x-ms-request-id": str(uuid.uuid4()), **(headers or {})})


def arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return arm_json(arm.error_body(code, message), status, headers)


@dataclass
class Operation:
    """One long-running operation: answered 202 until `ready_at` and its result is in."""

    id: str
    kind: str
    started: float
    ready_at: float
    api_version: str
    failure: Fault | None
    result: asyncio.Task[object] | None = None  # the JSON body (None = empty 200)

    def done(self, now: float) -> bool:
        return now >= self.ready_at and self.result is not None and self.result.done()


@dataclass
class Tokens:
    issued: dict[str, tuple[float, str]] = field(default_factory=dict)  # token -> (expires_on, resource)

    def issue(self, resource: str, lifetime_s: int) -> tuple[str, int]:
        token = secrets.token_urlsafe(32)
        expires_on = int(time.time() + lifetime_s)  # whole seconds, as the protocol sends them
        self.issued[token] = (expires_on, resource)
        return token, expires_on


class Emulator:
    def __init__(self, resources: AzureResources, tunnels: list[TunnelState], source: GatewaySource,
                 identity_secret: str, settings: EmulatorSettings | None = None,
                 rng: random.Random | None = None) -> None:
        self.resources = resources
        self.tunnels = tunnels
        self.source = source
        self.identity_secret = identity_secret
        self.settings = settings or EmulatorSettings()
        self.faults = FaultBook(rng)
        self.counters: Counter[str] = Counter()
        self.tokens = Tokens()
        self.operations: dict[str, Operation] = {}
        self._rng = rng or random.Random()
        self.transports: weakref.WeakSet[asyncio.Transport] = weakref.WeakSet()

    def close_connections(self) -> None:
        """Close connections clients left open (the SDK leaves some after errors), so that a
        stopped emulator leaves no socket behind."""
        for transport in list(self.transports):
            transport.abort()

    # --- the app ------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._arm_middleware])
        p = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network"
        app.router.add_get(IDENTITY_PATH, self.identity_token)
        app.router.add_get(CONTROL_PATH, self.control_get)
        app.router.add_patch(CONTROL_PATH + "/settings", self.control_settings)
        app.router.add_post(CONTROL_PATH + "/faults", self.control_add_fault)
        app.router.add_delete(CONTROL_PATH + "/faults", self.control_clear_faults)
        app.router.add_get(p + "/virtualNetworkGateways/{gw}", self.get_gateway)
        app.router.add_get(p + "/virtualNetworkGateways/{gw}/connections", self.list_connections)
        app.router.add_post(p + "/virtualNetworkGateways/{gw}/{action}", self.gateway_action)
        app.router.add_get(p + "/connections/{cn}", self.get_connection)
        app.router.add_post(p + "/connections/{cn}/{action}", self.connection_action)
        loc = "/subscriptions/{sub}/providers/Microsoft.Network/locations/{loc}"
        app.router.add_get(loc + "/operationResults/{op}", self.operation_result)
        app.router.add_get(loc + "/operations/{op}", self.operation_status)
        app.router.add_route("*", "/{tail:.*}", self.not_found)
        return app

    # --- middleware: what ARM checks before any handler runs ----------------------------

    @web.middleware
    async def _arm_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.transport is not None:
            self.transports.add(request.transport)
        if not request.path.startswith("/subscriptions/"):
            return await handler(request)
        self.counters["arm"] += 1
        denied = self._check_bearer(request)
        if denied is not None:
            self.counters["unauthorized"] += 1
            return denied
        if not request.query.get("api-version"):
            return arm_error(400, "MissingApiVersionParameter",
                             "The api-version query parameter (?api-version=) is required for all requests.")
        fault = self.faults.take(request.path, {"throttle", "error", "stall", "not_found", "forbidden"})
        if fault is not None:
            self.counters[fault.kind] += 1
            if fault.kind == "throttle":
                return arm_error(429, "TooManyRequests",
                                 "The request is being throttled as the limit has been reached for operation type.",
                                 {"Retry-After": str(fault.retry_after_s)})
            if fault.kind == "error":
                return arm_error(fault.status, "InternalServerError" if fault.status == 500 else "ServerError",
                                 "An error occurred.")
            if fault.kind == "forbidden":  # the identity lacks the RBAC action of this request
                return arm_error(403, "AuthorizationFailed", rbac.authorization_failed_message(request.method, request.path))
            if fault.kind == "not_found":
                return arm_error(404, "ResourceNotFound", f"The Resource '{request.path}' was not found.")
            await asyncio.sleep(fault.stall_s)  # stall, then answer normally
        return await handler(request)

    def _check_bearer(self, request: web.Request) -> web.Response | None:
        challenge = {"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common", '
                                         'error="invalid_token", error_description="The access token is invalid."'}
        header = request.headers.get("Authorization", "")
        if not header:
            return arm_error(401, "AuthenticationFailed",
                             "Authentication failed. The 'Authorization' header is missing.", challenge)
        scheme, _, token = header.partition(" ")
        issued = self.tokens.issued.get(token) if scheme.lower() == "bearer" else None
        if issued is None:
            return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.", challenge)
        expires_on, resource = issued
        now = time.time()
        if now >= expires_on:
            return arm_error(401, "ExpiredAuthenticationToken",
                             f"The access token expiry UTC time '{dt.datetime.fromtimestamp(expires_on, dt.UTC)}' "
                             f"is earlier than current UTC time '{dt.datetime.fromtimestamp(now, dt.UTC)}'.",
                             challenge)
        if resource not in ARM_AUDIENCES:
            return arm_error(401, "InvalidAuthenticationTokenAudience",
                             "The access token has been obtained for wrong audience or resource "
                             f"'{resource}'.", challenge)
        return None

    # --- identity (App Service managed identity protocol, 2019-08-01) -------------------

    async def identity_token(self, request: web.Request) -> web.Response:
        self.counters["token"] += 1
        if not secrets.compare_digest(request.headers.get("X-IDENTITY-HEADER", ""), self.identity_secret):
            return web.json_response({"statusCode": 401, "message": "X-IDENTITY-HEADER is missing or wrong"},
                                     status=401)
        resource = request.query.get("resource")
        if request.query.get("api-version") != "2019-08-01" or not resource:
            return web.json_response({"statusCode": 400, "message": "api-version 2019-08-01 and resource required"},
                                     status=400)
        token, expires_on = self.tokens.issue(resource, self.settings.token_lifetime_s)
        return web.json_response({"access_token": token, "expires_on": str(expires_on), "resource": resource,
                                  "token_type": "Bearer", "client_id": "00000000-0000-0000-0000-0000000c11e7"})

    # --- control ------------------------------------------------------------------------

    def _control_denied(self, request: web.Request) -> web.Response | None:
        if secrets.compare_digest(request.headers.get("X-IDENTITY-HEADER", ""), self.identity_secret):
            return None
        return web.json_response({"error": "X-IDENTITY-HEADER required"}, status=401)

    def control_state(self) -> ControlState:
        return ControlState(settings=self.settings, faults=self.faults.active(), counters=dict(self.counters))

    async def control_get(self, request: web.Request) -> web.Response:
        return self._control_denied(request) or web.json_response(text=self.control_state().model_dump_json())

    async def control_settings(self, request: web.Request) -> web.Response:
        if (denied := self._control_denied(request)) is not None:
            return denied
        try:
            self.settings = SettingsPatch.model_validate_json(await request.read()).apply(self.settings)
        except ValidationError as e:
            return web.json_response({"error": str(e)}, status=400)
        return web.json_response(text=self.control_state().model_dump_json())

    async def control_add_fault(self, request: web.Request) -> web.Response:
        if (denied := self._control_denied(request)) is not None:
            return denied
        try:
            self.faults.add(Fault.model_validate_json(await request.read()))
        except ValidationError as e:
            return web.json_response({"error": str(e)}, status=400)
        return web.json_response(text=self.control_state().model_dump_json())

    async def control_clear_faults(self, request: web.Request) -> web.Response:
        if (denied := self._control_denied(request)) is not None:
            return denied
        self.faults.clear()
        if request.query.get("counters") == "reset":
            self.counters.clear()
        return web.json_response(text=self.control_state().model_dump_json())

    # --- resource lookup ----------------------------------------------------------------

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

    # --- snapshots: read the source, map to ARM JSON ------------------------------------

    async def snapshot_peers(self, peer: str | None) -> dict[str, object]:
        insts = self.resources.instances
        peers = await asyncio.gather(*(self.source.peers(i.index) for i in insts))
        return arm.bgp_peer_status_list(list(zip(insts, peers, strict=True)), peer)

    async def snapshot_learned(self) -> dict[str, object]:
        insts = self.resources.instances
        routes = await asyncio.gather(*(self.source.learned_routes(i.index) for i in insts))
        return arm.route_list([arm.learned_route(i, r) for i, rs in zip(insts, routes, strict=True) for r in rs])

    def _local_address_towards(self, inst: AzureInstanceState, peer: str) -> str:
        for t in self.tunnels:
            if t.azure_instance == inst.index and t.onprem_bgp_ip == peer:
                return t.azure_bgp_ip
        return inst.private_ip

    async def snapshot_advertised(self, peer: str) -> dict[str, object]:
        rows: list[arm.GatewayRoute] = []
        for inst in self.resources.instances:
            if not any(p.neighbor == peer for p in await self.source.peers(inst.index)):
                continue
            local = self._local_address_towards(inst, peer)
            for r in await self.source.advertised_routes(inst.index, peer):
                rows.append(arm.advertised_route(inst, self.resources.asn, local, r))
        return arm.route_list(rows)

    async def _observed_tunnels(self) -> dict[str, TunnelObservation]:
        return {o.tunnel: o for o in await self.source.tunnels()}

    async def snapshot_connection(self, name: str) -> dict[str, object]:
        observed = await self._observed_tunnels()
        return arm.connection_resource(self.resources, name, self.connection_tunnels(name), observed,
                                       dt.datetime.now(dt.UTC))

    async def snapshot_ike_sas(self, name: str) -> str:
        sas = []
        for t in self.connection_tunnels(name):
            sas.extend(await self.source.ike_sas(t.name))
        return arm.ike_sas_text(sas)

    # --- ARM handlers -------------------------------------------------------------------

    async def get_gateway(self, request: web.Request) -> web.Response:
        return self._gateway_error(request) or arm_json(arm.gateway_resource(self.resources))

    async def list_connections(self, request: web.Request) -> web.Response:
        if (err := self._gateway_error(request)) is not None:
            return err
        names = self.connection_names()
        skip = int(request.query.get("$skipToken", "0") or 0)
        size = self.settings.page_size
        observed = await self._observed_tunnels()
        now = dt.datetime.now(dt.UTC)
        page = [arm.connection_resource(self.resources, n, self.connection_tunnels(n), observed, now)
                for n in names[skip:skip + size]]
        body: dict[str, object] = {"value": page}
        if skip + size < len(names):
            body["nextLink"] = str(request.url.update_query({"$skipToken": str(skip + size)}))
        return arm_json(body)

    async def get_connection(self, request: web.Request) -> web.Response:
        if (err := self._scope_error(request)) is not None:
            return err
        name = request.match_info["cn"]
        if not self.connection_tunnels(name):
            return self._resource_not_found("connections", name)
        return arm_json(await self.snapshot_connection(self.connection_tunnels(name)[0].connection))

    async def gateway_action(self, request: web.Request) -> web.Response:
        if (err := self._gateway_error(request)) is not None:
            return err
        action = request.match_info["action"].lower()
        if action == "getbgppeerstatus":
            peer = request.query.get("peer")
            return self._start_lro(request, "getBgpPeerStatus", lambda: self.snapshot_peers(peer))
        if action == "getlearnedroutes":
            return self._start_lro(request, "getLearnedRoutes", self.snapshot_learned)
        if action == "getadvertisedroutes":
            adv_peer = request.query.get("peer")
            if not adv_peer:
                return arm_error(400, "MissingRequiredParameter", "The 'peer' parameter is required.")
            return self._start_lro(request, "getAdvertisedRoutes", lambda: self.snapshot_advertised(adv_peer))
        if action == "reset":
            vip = request.query.get("gatewayVip")
            insts = [i for i in self.resources.instances if vip is None and i.index == 0 or i.public_ip == vip]
            if not insts:
                return arm_error(400, "InvalidGatewayVip", f"Gateway VIP '{vip}' does not belong to the gateway.")

            async def reset() -> object:
                await self.source.reset_instance(insts[0].index)
                return arm.gateway_resource(self.resources)
            return self._start_lro(request, "reset", reset, act_at_start=True)
        return arm_error(404, "NotFound", f"Unknown action '{request.match_info['action']}'.")

    async def connection_action(self, request: web.Request) -> web.Response:
        if (err := self._scope_error(request)) is not None:
            return err
        name, action = request.match_info["cn"], request.match_info["action"].lower()
        tunnels = self.connection_tunnels(name)
        if not tunnels:
            return self._resource_not_found("connections", name)
        if action == "getikesas":
            return self._start_lro(request, "getikesas", lambda: self.snapshot_ike_sas(name))
        if action == "resetconnection":
            async def reset() -> object:
                for t in tunnels:
                    await self.source.reset_connection(t.name)
                return None
            return self._start_lro(request, "resetconnection", reset, act_at_start=True)
        return arm_error(404, "NotFound", f"Unknown action '{request.match_info['action']}'.")

    # --- long-running operations --------------------------------------------------------

    def _start_lro(self, request: web.Request, kind: str, work: Callable[[], Awaitable[object]],
                   act_at_start: bool = False) -> web.Response:
        self._expire_operations()
        s = self.settings
        now = time.monotonic()
        failure = self.faults.take(request.path, {"fail_lro"})
        if failure is not None:
            self.counters["fail_lro"] += 1
        op = Operation(id=str(uuid.uuid4()), kind=kind, started=now, ready_at=now + s.lro_latency_s,
                       api_version=request.query["api-version"], failure=failure)
        delay = {"start": 0.0, "end": s.lro_latency_s,
                 "random": self._rng.uniform(0, s.lro_latency_s)}[s.snapshot_at]
        if act_at_start:
            delay = 0.0

        async def run() -> object:
            await asyncio.sleep(delay)
            self.counters["snapshot"] += 1
            return await work()

        op.result = asyncio.get_running_loop().create_task(run())
        self.operations[op.id] = op
        self.counters["lro"] += 1
        return web.Response(status=202, headers=self._lro_headers(request, op))

    def _lro_headers(self, request: web.Request, op: Operation) -> dict[str, str]:
        base = (f"{request.url.scheme}://{request.url.host}:{request.url.port}"
                f"/subscriptions/{self.resources.subscription_id}/providers/Microsoft.Network"
                f"/locations/{self.resources.location}")
        headers = {"Location": f"{base}/operationResults/{op.id}?api-version={op.api_version}",
                   "Retry-After": str(self.settings.lro_retry_after_s),
                   "x-ms-request-id": op.id}
        if self.settings.lro_style == "async_operation":
            headers["Azure-AsyncOperation"] = f"{base}/operations/{op.id}?api-version={op.api_version}"
        return headers

    def _expire_operations(self) -> None:
        now = time.monotonic()
        for op_id in [k for k, o in self.operations.items() if now - o.started > OPERATION_TTL_S]:
            self.operations.pop(op_id)

    def _operation(self, request: web.Request) -> Operation | None:
        return self.operations.get(request.match_info["op"])

    async def operation_status(self, request: web.Request) -> web.Response:
        """Azure-AsyncOperation URL: {"status": InProgress|Succeeded|Failed}."""
        self.counters["poll"] += 1
        op = self._operation(request)
        if op is None:
            return arm_error(404, "OperationNotFound", "The operation was not found.")
        retry = {"Retry-After": str(self.settings.lro_retry_after_s)}
        if not op.done(time.monotonic()):
            return arm_json({"status": "InProgress"}, 200, retry)
        if op.failure is not None or self._task_error(op) is not None:
            return arm_json({"status": "Failed", "error": arm.error_body(
                "InternalServerError", self._failure_message(op))["error"]})
        return arm_json({"status": "Succeeded"})

    async def operation_result(self, request: web.Request) -> web.Response:
        """Location URL: 202 while running, then 200 with the result (or the error)."""
        self.counters["poll"] += 1
        op = self._operation(request)
        if op is None:
            return arm_error(404, "OperationNotFound", "The operation was not found.")
        if not op.done(time.monotonic()):
            return web.Response(status=202, headers=self._lro_headers(request, op))
        if op.failure is not None or self._task_error(op) is not None:
            status = op.failure.status if op.failure is not None else 500
            return arm_error(status, "InternalServerError", self._failure_message(op))
        assert op.result is not None
        body = op.result.result()
        if body is None:
            return web.Response(status=200)
        return arm_json(body)

    @staticmethod
    def _task_error(op: Operation) -> BaseException | None:
        if op.result is None or op.result.cancelled():
            return None
        err = op.result.exception()
        if err is not None:
            log.warning("operation %s (%s) failed reading the lab: %s", op.id, op.kind, err)
        return err

    def _failure_message(self, op: Operation) -> str:
        if op.failure is not None:
            return "An error occurred while processing the request (injected)."
        return f"An error occurred while processing the request: {self._task_error(op)}"
