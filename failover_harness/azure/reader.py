"""One call of each polled operation against a NetworkManagementClient (or anything shaped
like one), stamped on the orchestrator's clock, with failures turned into gap reasons.

`read_once` is the one-shot read behind `check` (read-only steady-state report).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, Protocol

from azure.core.exceptions import (
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.polling.base_polling import BadResponse, BadStatus, OperationFailed
from pydantic import Field

from failover_harness.azure.client import AzureConnection
from failover_harness.azure.models import (
    OPERATIONS,
    AzureSnapshot,
    BgpPeer,
    ConnectionStatus,
    GatewayRoute,
    NullBodyError,
    Operation,
    parse_bgp_peers,
    parse_connection,
    parse_learned_routes,
)
from failover_harness.azure.permissions import action_for, missing_permission_hint
from failover_harness.azure.settings import AzureSettings
from failover_harness.azure.tracker import ChangeTracker, SampleResult
from failover_harness.errors import exception_chain

MAX_ERROR_CHARS = 300
# The SDK call behind each polled operation (its RBAC action is in permissions.ARM_CALLS).
OPERATION_CALLS: dict[Operation, tuple[str, str]] = {
    "bgp_peer_status": ("virtual_network_gateways", "begin_get_bgp_peer_status"),
    "learned_routes": ("virtual_network_gateways", "begin_get_learned_routes"),
    "connections": ("virtual_network_gateway_connections", "get"),
}
# ARM's AuthorizationFailed message names the action it refused.
_REFUSED_ACTION = re.compile(r"perform action '([^']+)'")


class CallTimeout(Exception):
    """A call did not finish within the per-call timeout."""


class PollingMethod(Protocol):
    def abandon(self) -> None: ...


class GatewayConnection(Protocol):
    """What the reader needs: a NetworkManagementClient-shaped `client`, fresh polling
    methods, and close(). `client.AzureConnection` is the real one; tests pass fakes."""

    client: Any

    def polling(self, first_delay_s: float | None = None) -> Any: ...

    def close(self) -> None: ...


def classify_error(exc: BaseException, action: str | None = None) -> tuple[str, str]:
    """(gap_reason, short error text) for a failed call. The text never holds headers or
    tokens: it is the exception type, the HTTP status and ARM's error code and message.
    A 403 names the RBAC action that is missing: the one ARM names, else `action` (the
    action the failed call needs)."""
    chain = list(exception_chain(exc))
    status = getattr(exc, "status_code", None)
    if status == 403:
        message = exc.error.message if isinstance(exc, HttpResponseError) and exc.error is not None else str(exc)
        named = _REFUSED_ACTION.search(message or "")
        code = exc.error.code if isinstance(exc, HttpResponseError) and exc.error is not None else None
        text = f"{type(exc).__name__} 403: {code or 'Forbidden'}: " + \
            missing_permission_hint(named.group(1) if named else action)
        return "forbidden", text[:MAX_ERROR_CHARS]
    if isinstance(exc, (CallTimeout, ServiceResponseTimeoutError)):
        reason = "timeout"
    elif isinstance(exc, ClientAuthenticationError) or status == 401:
        reason = "auth"
    elif status == 429:
        reason = "throttled"
    elif isinstance(status, int) and status >= 500:
        reason = "server_error"
    elif isinstance(exc, ResourceNotFoundError) or status == 404:
        reason = "not_found"
    elif any(isinstance(e, NullBodyError) for e in chain):
        reason = "null_body"
    elif any(isinstance(e, BadResponse) and _no_status(e) for e in chain):
        reason = "lro_no_status"
    elif any(isinstance(e, OperationFailed) for e in chain):
        reason = "lro_failed"
    elif any(isinstance(e, (BadStatus, BadResponse, DecodeError, ValueError)) for e in chain):
        reason = "bad_response"
    elif isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        reason = "connection"
    elif isinstance(exc, HttpResponseError):
        reason = "http_error"
    else:
        reason = "error"
    if isinstance(exc, HttpResponseError) and exc.error is not None and exc.error.code:
        detail = f"{exc.error.code}: {exc.error.message or ''}"
    else:
        detail = str(exc)
    text = f"{type(exc).__name__}" + (f" {status}" if status else "") + f": {detail}"
    return reason, re.sub(r"\s+", " ", text).strip()[:MAX_ERROR_CHARS]


def _no_status(exc: BadResponse) -> bool:
    """azure-core's words for an LRO status resource without a status (or without a body)."""
    text = str(exc)
    return "No status found" in text or "does not contain a body" in text


def retry_after_s(exc: BaseException) -> float | None:
    """The server's Retry-After (seconds) on a failed call, if it sent one."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001), ("Retry-After", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                continue
    return None


def _wait_lro(poller: Any, polling: Any, timeout: float) -> Any:
    poller.wait(timeout=max(timeout, 0.0))
    if not poller.done():
        if polling is not None and hasattr(polling, "abandon"):
            polling.abandon()
        raise CallTimeout(f"no answer within {timeout:.1f} s")
    return poller.result()


class GatewayReader:
    """Calls one operation at a time; `read` never raises, it returns a failed sample."""

    def __init__(self, settings: AzureSettings, connection: GatewayConnection,
                 now: Callable[[], float], track_polling: Callable[[Any], None] | None = None,
                 first_poll_s: Callable[[Operation], float | None] | None = None) -> None:
        self.settings = settings
        self.connection = connection
        self.now = now
        self._track_polling = track_polling
        self._first_poll_s = first_poll_s
        self._operation: Operation | None = None
        self.pending_at: float | None = None  # of the last LRO read (see SampleResult)

    def _polling(self) -> Any:
        first = self._first_poll_s(self._operation) if self._first_poll_s and self._operation else None
        polling = self.connection.polling(first) if first else self.connection.polling()
        if self._track_polling is not None:
            self._track_polling(polling)  # so that stop() can abandon it
        return polling

    def bgp_peers(self, deadline: float) -> tuple[BgpPeer, ...]:
        s, polling = self.settings, self._polling()
        poller = self.connection.client.virtual_network_gateways.begin_get_bgp_peer_status(
            s.resource_group, s.gateway, polling=polling)
        peers = parse_bgp_peers(_wait_lro(poller, polling, deadline - self.now()))
        self.pending_at = getattr(polling, "pending_at", None)
        return peers

    def learned_routes(self, deadline: float) -> tuple[GatewayRoute, ...]:
        s, polling = self.settings, self._polling()
        poller = self.connection.client.virtual_network_gateways.begin_get_learned_routes(
            s.resource_group, s.gateway, polling=polling)
        routes = parse_learned_routes(_wait_lro(poller, polling, deadline - self.now()))
        self.pending_at = getattr(polling, "pending_at", None)
        return routes

    def connections(self, deadline: float) -> tuple[ConnectionStatus, ...]:
        out = []
        for name in self.settings.connections:
            if self.now() > deadline:
                raise CallTimeout(f"connection reads took over {self.settings.poll.call_timeout_s:.1f} s")
            body = self.connection.client.virtual_network_gateway_connections.get(
                self.settings.resource_group, name)
            out.append(parse_connection(name, body))
        return tuple(out)

    def gateway_asn(self) -> int | None:
        gw = self.connection.client.virtual_network_gateways.get(self.settings.resource_group,
                                                                 self.settings.gateway)
        body = gw.as_dict() if hasattr(gw, "as_dict") else gw
        asn = ((body.get("properties") or {}).get("bgpSettings") or {}).get("asn")
        return int(asn) if asn is not None else None

    def read(self, operation: Operation, start: float, timeout: float | None = None) -> SampleResult:
        deadline = start + (timeout if timeout is not None else self.settings.poll.call_timeout_s)
        self._operation = operation
        self.pending_at = None
        try:
            if operation == "bgp_peer_status":
                peers = self.bgp_peers(deadline)
                return SampleResult(operation=operation, start=start, end=self.now(), ok=True, peers=peers,
                                    pending_at=self.pending_at)
            if operation == "learned_routes":
                routes = self.learned_routes(deadline)
                return SampleResult(operation=operation, start=start, end=self.now(), ok=True, routes=routes,
                                    pending_at=self.pending_at)
            conns = self.connections(deadline)
            return SampleResult(operation=operation, start=start, end=self.now(), ok=True, connections=conns)
        except Exception as exc:  # any failure is a gap, never the end of a run
            call = action_for(*OPERATION_CALLS[operation])
            reason, text = classify_error(exc, call.action if call else None)
            return SampleResult(operation=operation, start=start, end=self.now(), ok=False,
                                error=text, gap_reason=reason, retry_after=retry_after_s(exc))


def operations_for(settings: AzureSettings) -> tuple[Operation, ...]:
    return tuple(op for op in OPERATIONS if op != "connections" or settings.connections)


class OneShotRead(AzureSnapshot):
    """A `check` read: the snapshot plus each call's outcome (errors say what is missing)."""

    samples: list[SampleResult] = Field(default_factory=list)


def read_once(settings: AzureSettings, now: Callable[[], float] = time.monotonic,
              connection: GatewayConnection | None = None) -> OneShotRead:
    """Read every operation once, in turn (read-only; for `check`). Never raises for API
    faults: a failed call leaves its part empty and its sample says why. Without a
    connection one is built from the settings (and closed afterwards)."""
    if connection is None:
        owned = AzureConnection(settings)
        try:
            return read_once(settings, now, owned)
        finally:
            owned.close()
    reader = GatewayReader(settings, connection, now)
    tracker = ChangeTracker()
    try:
        tracker.gateway_asn = reader.gateway_asn()
    except Exception:
        tracker.gateway_asn = None
    samples = []
    for op in operations_for(settings):
        sample = reader.read(op, now())
        tracker.apply(sample)
        samples.append(sample)
    return OneShotRead(**tracker.snapshot().model_dump(), samples=samples)
