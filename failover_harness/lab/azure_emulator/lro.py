"""ARM long-running operations: 202 + Location (or Azure-AsyncOperation) until the work is
done, then the result; plus the null-body quirks of real Azure, on demand.

Quirks (faults the control endpoint adds, see settings.FaultKind):
- `null_body` at "start": the first POST answers 200 with a JSON `null` body at once;
  at "result": the operation runs, then its Location answers 200 `null`.
- `no_status`: the operation offers Azure-AsyncOperation, and that status resource answers
  the result body (or `{}` while running) without a "status" field (azure-rest-api-specs
  #34019: getLearnedRoutes' async operation "returns the learned routes but ... doesn't
  return ProvisioningState or Status").
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from failover_harness.lab.state import AzureResources

from . import arm
from .settings import EmulatorSettings, Fault, FaultBook

log = logging.getLogger(__name__)
OPERATION_TTL_S = 600.0


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
    null_result: bool = False
    no_status: bool = False
    result: asyncio.Task[object] | None = None  # the JSON body (None = empty 200)

    def done(self, now: float) -> bool:
        return now >= self.ready_at and self.result is not None and self.result.done()


class Operations:
    def __init__(self, resources: AzureResources, settings: Callable[[], EmulatorSettings], faults: FaultBook,
                 counters: Counter[str], rng: random.Random) -> None:
        self.resources, self._settings, self.faults, self.counters, self._rng = (
            resources, settings, faults, counters, rng)
        self.operations: dict[str, Operation] = {}

    def start(self, request: web.Request, kind: str, work: Callable[[], Awaitable[object]],
              act_at_start: bool = False) -> web.Response:
        """Answer the first POST. `act_at_start`: the work starts now (an action such as a
        reset), else it is a read taken `snapshot_at` within the operation's latency."""
        self._expire()
        s = self._settings()
        quirk = None if act_at_start else self.faults.take(request.path, {"null_body", "no_status"})
        if quirk is not None:
            self.counters[quirk.kind] += 1
            if quirk.kind == "null_body" and quirk.at == "start":
                return arm_json(None)
        failure = self.faults.take(request.path, {"fail_lro"})
        if failure is not None:
            self.counters["fail_lro"] += 1
        now = time.monotonic()
        latency = s.lro_latency(self._rng)
        op = Operation(id=str(uuid.uuid4()), kind=kind, started=now, ready_at=now + latency,
                       api_version=request.query["api-version"], failure=failure,
                       null_result=quirk is not None and quirk.kind == "null_body",
                       no_status=quirk is not None and quirk.kind == "no_status")
        delay = 0.0 if act_at_start else {"start": 0.0, "end": latency,
                                           "random": self._rng.uniform(0, latency)}[s.snapshot_at]

        async def run() -> object:
            await asyncio.sleep(delay)
            self.counters["snapshot"] += 1
            return await work()

        op.result = asyncio.get_running_loop().create_task(run())
        self.operations[op.id] = op
        self.counters["lro"] += 1
        return web.Response(status=202, headers=self._headers(request, op))

    def _headers(self, request: web.Request, op: Operation) -> dict[str, str]:
        base = (f"{request.url.scheme}://{request.url.host}:{request.url.port}"
                f"/subscriptions/{self.resources.subscription_id}/providers/Microsoft.Network"
                f"/locations/{self.resources.location}")
        headers = {"Location": f"{base}/operationResults/{op.id}?api-version={op.api_version}",
                   "Retry-After": str(self._settings().lro_retry_after_s),
                   "x-ms-request-id": op.id}
        if self._settings().lro_style == "async_operation" or op.no_status:
            headers["Azure-AsyncOperation"] = f"{base}/operations/{op.id}?api-version={op.api_version}"
        return headers

    def _expire(self) -> None:
        now = time.monotonic()
        for op_id in [k for k, o in self.operations.items() if now - o.started > OPERATION_TTL_S]:
            self.operations.pop(op_id)

    async def status(self, request: web.Request) -> web.Response:
        """Azure-AsyncOperation URL: {"status": InProgress|Succeeded|Failed}."""
        self.counters["poll"] += 1
        op = self.operations.get(request.match_info["op"])
        if op is None:
            return arm_error(404, "OperationNotFound", "The operation was not found.")
        retry = {"Retry-After": str(self._settings().lro_retry_after_s)}
        done = op.done(time.monotonic())
        if op.no_status:
            body = op.result.result() if done and op.result is not None and self._error(op) is None else {}
            return arm_json(body, 200, {} if done else retry)
        if not done:
            return arm_json({"status": "InProgress"}, 200, retry)
        if op.failure is not None or self._error(op) is not None:
            return arm_json({"status": "Failed", "error": arm.error_body(
                "InternalServerError", self._failure_message(op))["error"]})
        return arm_json({"status": "Succeeded"})

    async def result(self, request: web.Request) -> web.Response:
        """Location URL: 202 while running, then 200 with the result (or the error)."""
        self.counters["poll"] += 1
        op = self.operations.get(request.match_info["op"])
        if op is None:
            return arm_error(404, "OperationNotFound", "The operation was not found.")
        if not op.done(time.monotonic()):
            return web.Response(status=202, headers=self._headers(request, op))
        if op.failure is not None or self._error(op) is not None:
            status = op.failure.status if op.failure is not None else 500
            return arm_error(status, "InternalServerError", self._failure_message(op))
        if op.null_result:
            return arm_json(None)
        assert op.result is not None
        body = op.result.result()
        if body is None:
            return web.Response(status=200)
        return arm_json(body)

    async def cancel_all(self) -> None:
        """Stop every running operation and wait: an action (reset) restores in its finally."""
        tasks = [o.result for o in self.operations.values() if o.result is not None and not o.result.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def _error(op: Operation) -> BaseException | None:
        if op.result is None or op.result.cancelled():
            return None
        err = op.result.exception()
        if err is not None:
            log.warning("operation %s (%s) failed reading the lab: %s", op.id, op.kind, err)
        return err

    def _failure_message(self, op: Operation) -> str:
        if op.failure is not None:
            return "An error occurred while processing the request (injected)."
        return f"An error occurred while processing the request: {self._error(op)}"
