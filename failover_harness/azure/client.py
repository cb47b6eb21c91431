"""Thin I/O layer: credential, NetworkManagementClient and the LRO polling method.

Production code paths only: a lab differs by `base_url`, `ca_bundle` and `environment`
(the App Service managed-identity variables), never by code.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import requests
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
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
    """ARMPolling whose wait between status polls never exceeds `max_delay`, and which
    stops polling once abandoned.

    The SDK waits Retry-After when the server sends one (it beats polling_interval) and
    otherwise polling_interval (default 30 s); either would leave seconds between samples.
    An LROPoller has no cancel: without `abandon()` a stalled operation's thread would poll
    for ever after the poller gave up on it."""

    def __init__(self, timeout: float, max_delay: float, **kwargs: Any) -> None:
        super().__init__(timeout, **kwargs)
        self.max_delay = max_delay
        self._abandoned = threading.Event()

    def abandon(self) -> None:
        self._abandoned.set()

    def _extract_delay(self) -> float:
        return min(LROBasePolling._extract_delay(self), self.max_delay)

    def _sleep(self, delay: float) -> None:
        if self._abandoned.wait(delay):
            raise PollingAbandoned("LRO abandoned by the poller")

    def update_status(self) -> None:
        if self._abandoned.is_set():
            raise PollingAbandoned("LRO abandoned by the poller")
        super().update_status()


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

    def __init__(self, settings: AzureSettings, credential: TokenCredential | None = None) -> None:
        self.settings = settings
        self.credential = credential or build_credential(settings)
        poll = settings.poll
        transport = RequestsTransport(
            session=build_session(poll.max_in_flight * len(OPERATIONS) * 2), session_owner=True,
            connection_verify=settings.ca_bundle or True,
            connection_timeout=poll.connection_timeout_s, read_timeout=poll.call_timeout_s)
        extra: dict[str, Any] = {"base_url": settings.base_url} if settings.base_url else {}
        self.client = NetworkManagementClient(
            self.credential, settings.subscription_id, transport=transport,
            retry_total=poll.sdk_retry_total, polling_interval=poll.lro_poll_interval_s, **extra)

    def polling(self) -> CappedARMPolling:
        """A fresh polling method for one LRO (it keeps per-operation state)."""
        poll = self.settings.poll
        return CappedARMPolling(poll.lro_poll_interval_s, poll.lro_max_delay_s)

    def close(self) -> None:
        self.client.close()
        close = getattr(self.credential, "close", None)
        if callable(close):
            close()
