"""The emulator's routes that are not Microsoft.Network: the managed identity endpoint
(App Service protocol 2019-08-01), ARM's metadata endpoints, the subscription and tenant
lists, and the lab's control endpoint (settings, faults, rate-limit refill)."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from aiohttp import web
from pydantic import ValidationError

from .identity import IDENTITY_CLIENT_ID, metadata_endpoints, subscription_resource, tenant_resource
from .lro import arm_error, arm_json
from .settings import Fault, SettingsPatch

if TYPE_CHECKING:
    from .server import Emulator

IDENTITY_PATH = "/msi/token"
CONTROL_PATH = "/_lab/control"
METADATA_PATH = "/metadata/endpoints"


class ServiceRoutes:
    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator

    def add_to(self, r: web.UrlDispatcher) -> None:
        r.add_get(IDENTITY_PATH, self.identity_token)
        r.add_get(METADATA_PATH, self.metadata)
        r.add_get("/" + METADATA_PATH, self.metadata)  # az CLI appends it to ".../" as given
        r.add_get(CONTROL_PATH, self.control_get)
        r.add_patch(CONTROL_PATH + "/settings", self.control_settings)
        r.add_post(CONTROL_PATH + "/faults", self.control_add_fault)
        r.add_delete(CONTROL_PATH + "/faults", self.control_clear_faults)
        r.add_post(CONTROL_PATH + "/ratelimit/refill", self.control_refill)
        r.add_get("/tenants", self.list_tenants)
        r.add_get("/subscriptions", self.list_subscriptions)
        r.add_get("/subscriptions/{sub}", self.get_subscription)

    # --- identity (App Service managed identity protocol, 2019-08-01) and metadata ------

    async def identity_token(self, request: web.Request) -> web.Response:
        self.emu.counters["token"] += 1
        if not secrets.compare_digest(request.headers.get("X-IDENTITY-HEADER", ""), self.emu.identity_secret):
            return web.json_response({"statusCode": 401, "message": "X-IDENTITY-HEADER is missing or wrong"},
                                     status=401)
        resource = request.query.get("resource")
        if request.query.get("api-version") != "2019-08-01" or not resource:
            return web.json_response({"statusCode": 400, "message": "api-version 2019-08-01 and resource required"},
                                     status=400)
        token, expires_on = self.emu.tokens.issue(resource, self.emu.settings.token_lifetime_s)
        return web.json_response({"access_token": token, "expires_on": str(expires_on), "resource": resource,
                                  "token_type": "Bearer", "client_id": IDENTITY_CLIENT_ID})

    async def metadata(self, request: web.Request) -> web.Response:
        base = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        return arm_json(metadata_endpoints(base, request.query.get("api-version", "")))

    async def list_tenants(self, request: web.Request) -> web.Response:
        return arm_json({"value": [tenant_resource(self.emu.tokens.tenant_id)]})

    async def list_subscriptions(self, request: web.Request) -> web.Response:
        subscription = subscription_resource(self.emu.resources.subscription_id, self.emu.tokens.tenant_id)
        return arm_json({"value": [subscription]})

    async def get_subscription(self, request: web.Request) -> web.Response:
        sub = request.match_info["sub"]
        if sub.lower() != self.emu.resources.subscription_id.lower():
            return arm_error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        return arm_json(subscription_resource(self.emu.resources.subscription_id, self.emu.tokens.tenant_id))

    # --- control ------------------------------------------------------------------------

    def _control_denied(self, request: web.Request) -> web.Response | None:
        if secrets.compare_digest(request.headers.get("X-IDENTITY-HEADER", ""), self.emu.identity_secret):
            return None
        return web.json_response({"error": "X-IDENTITY-HEADER required"}, status=401)

    def _state_response(self) -> web.Response:
        return web.json_response(text=self.emu.control_state().model_dump_json())

    async def control_get(self, request: web.Request) -> web.Response:
        return self._control_denied(request) or self._state_response()

    async def control_settings(self, request: web.Request) -> web.Response:
        if (denied := self._control_denied(request)) is not None:
            return denied
        try:
            self.emu.settings = SettingsPatch.model_validate_json(await request.read()).apply(self.emu.settings)
        except ValidationError as e:
            return web.json_response({"error": str(e)}, status=400)
        return self._state_response()

    async def control_add_fault(self, request: web.Request) -> web.Response:
        if (denied := self._control_denied(request)) is not None:
            return denied
        try:
            self.emu.faults.add(Fault.model_validate_json(await request.read()))
        except ValidationError as e:
            return web.json_response({"error": str(e)}, status=400)
        return self._state_response()

    async def control_clear_faults(self, request: web.Request) -> web.Response:
        if (denied := self._control_denied(request)) is not None:
            return denied
        self.emu.faults.clear()
        if request.query.get("counters") == "reset":
            self.emu.counters.clear()
        return self._state_response()

    async def control_refill(self, request: web.Request) -> web.Response:
        if (denied := self._control_denied(request)) is not None:
            return denied
        self.emu.throttle.refill()
        return self._state_response()
