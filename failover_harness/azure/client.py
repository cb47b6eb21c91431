"""Thin I/O layer: credential, NetworkManagementClient and the LRO polling method.

Production code paths only: a lab differs by `base_url`, `ca_bundle` and `environment`
(the App Service managed-identity variables), never by code.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import requests
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.core.polling.base_polling import LROBasePolling
from azure.identity import (
    AzureCliCredential,
    DefaultAzureCredential,
    EnvironmentCredential,
    ManagedIdentityCredential,
)
from azure.mgmt.core.polling.arm_polling import ARMPolling
from azure.mgmt.network import NetworkManagementClient
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from failover_harness.azure.budget import RequestBudget, request_kind
from failover_harness.azure.models import OPERATIONS
from failover_harness.azure.settings import AzureSettings

# Loggers that log request headers (bearer token) or token responses at DEBUG/INFO.
_SDK_LOGGERS = ("azure", "azure.core.pipeline.policies.http_logging_policy", "azure.identity", "msal")


def quiet_sdk_logging() -> None:
    """Keep SDK loggers at WARNING: below that they log headers and token exchanges."""
    for name in _SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class PollingAbandoned(AzureError):
    """The caller gave up on this LRO (timeout or shutdown); its polling thread ends."""


class CappedARMPolling(ARMPolling):
    """ARMPolling whose wait between status polls never exceeds `max_delay` (a number, or a
    callable asked before every wait: the poller widens it when its read budget is short),
    and which stops polling once abandoned.

    The SDK waits Retry-After when the server sends one (it beats polling_interval) and
    otherwise polling_interval (default 30 s); either would leave seconds between samples.
    An LROPoller has no cancel: without `abandon()` a stalled operation's thread would poll
    for ever after the poller gave up on it."""

    def __init__(self, timeout: float, max_delay: float | Callable[[], float],
                 first_delay_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(timeout, **kwargs)
        self.max_delay = max_delay
        # The first wait, when the caller knows the operation takes at least that long.
        self.first_delay_s = first_delay_s
        self._abandoned = threading.Event()
        # Set by the continuous poller: waits for the poll gate's turn instead of sleeping.
        self.wait_turn: Callable[[float, threading.Event], None] | None = None
        # With a clock: when the last status poll that answered "still running" was sent.
        self.clock: Callable[[], float] | None = None
        self.pending_at: float | None = None
        self._gated_once = False

    def abandon(self) -> None:
        self._abandoned.set()

    def _extract_delay(self) -> float:
        if self.first_delay_s is not None:
            first, self.first_delay_s = self.first_delay_s, None
            return first
        cap = self.max_delay() if callable(self.max_delay) else self.max_delay
        return min(LROBasePolling._extract_delay(self), cap)

    def _sleep(self, delay: float) -> None:
        if self.wait_turn is not None:
            self.wait_turn(delay, self._abandoned)
            if self._abandoned.is_set():
                raise PollingAbandoned("LRO abandoned by the poller")
            return
        if self._abandoned.wait(delay):
            raise PollingAbandoned("LRO abandoned by the poller")

    def update_status(self) -> None:
        if self._abandoned.is_set():
            raise PollingAbandoned("LRO abandoned by the poller")
        if self.wait_turn is not None and not self._gated_once:
            # The SDK polls once at once, without a delay: an LRO of seconds is never done
            # then, so that read waits for the gate too.
            self._gated_once = True
            self._sleep(0.0)
        sent = self.clock() if self.clock is not None else None
        super().update_status()
        if sent is not None and not self.finished():
            self.pending_at = sent


class BudgetPolicy(SansIOHTTPPolicy[Any, Any]):
    """Holds every request (each retry too) until the budget has a token of its kind, and
    feeds ARM's remaining-budget headers and 429s back into it."""

    def __init__(self, budget: RequestBudget) -> None:
        self.budget = budget

    def on_request(self, request: PipelineRequest[Any]) -> None:
        self.budget.acquire(request_kind(request.http_request.method))

    def on_response(self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]) -> None:
        http = response.http_response
        self.budget.observe(request_kind(request.http_request.method), http.status_code, http.headers)


def apply_environment(values: dict[str, str]) -> None:
    """Set variables the credential reads. They stay set for the process: MSAL's managed
    identity client looks at IDENTITY_ENDPOINT/IDENTITY_HEADER again at every token request
    (with them gone it falls back to the IMDS address 169.254.169.254)."""
    os.environ.update(values)


def build_credential(settings: AzureSettings) -> TokenCredential:
    quiet_sdk_logging()
    env = {k: v.get_secret_value() for k, v in settings.environment.items()}
    # The identity endpoint of a lab is served by the same HTTPS server as ARM, under its CA.
    tls: dict[str, Any] = {"connection_verify": settings.ca_bundle} if settings.ca_bundle else {}
    apply_environment(env)
    if settings.credential == "managed_identity":
        return ManagedIdentityCredential(**tls)
    if settings.credential == "cli":
        return AzureCliCredential()
    if settings.credential == "environment":
        return EnvironmentCredential(**tls)
    return DefaultAzureCredential(**tls)


def build_session(pool_size: int) -> requests.Session:
    """A requests session whose pool holds every overlapping call (default pool is 10)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size,
                          max_retries=Retry(total=False, redirect=False, raise_on_status=False))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class AzureConnection:
    """A credential and a NetworkManagementClient built from settings; close() both."""

    def __init__(self, settings: AzureSettings, credential: TokenCredential | None = None, *,
                 budget: RequestBudget | None = None,
                 poll_delay: Callable[[], float] | None = None) -> None:
        self.settings = settings
        self.credential = credential or build_credential(settings)
        self.budget = budget
        self._poll_delay = poll_delay
        poll = settings.poll
        budgeted: dict[str, Any] = {"per_retry_policies": [BudgetPolicy(budget)]} if budget else {}
        transport = RequestsTransport(
            session=build_session(poll.in_flight_cap() * len(OPERATIONS) * 2), session_owner=True,
            connection_verify=settings.ca_bundle or True,
            connection_timeout=poll.connection_timeout_s, read_timeout=poll.call_timeout_s)
        extra: dict[str, Any] = {"base_url": settings.base_url} if settings.base_url else {}
        self.client = NetworkManagementClient(
            self.credential, settings.subscription_id, transport=transport,
            retry_total=poll.sdk_retry_total, polling_interval=poll.lro_poll_interval_s,
            **budgeted, **extra)

    def polling(self, first_delay_s: float | None = None) -> CappedARMPolling:
        """A fresh polling method for one LRO (it keeps per-operation state)."""
        poll = self.settings.poll
        return CappedARMPolling(poll.lro_poll_interval_s, self._poll_delay or poll.lro_max_delay_s,
                                first_delay_s)

    def close(self) -> None:
        self.client.close()
        close = getattr(self.credential, "close", None)
        if callable(close):
            close()
