"""ARM's subscription throttling as token buckets (reads and writes), with its headers.

Source: Microsoft Learn, "Understand how Azure Resource Manager throttles requests"
(azure-resource-manager/management/request-limits-and-throttling), section "Regional
throttling and token bucket algorithm": per subscription (and region, and principal) reads
have a bucket of 250 tokens refilled at 25/s, writes and deletes 200 at 10/s. A read returns
`x-ms-ratelimit-remaining-subscription-reads`, a write `...-writes`; an empty bucket answers
429 with Retry-After. The emulator keys buckets by subscription only (one lab principal).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .settings import EmulatorSettings

OperationType = Literal["reads", "writes", "deletes"]
HEADER = "x-ms-ratelimit-remaining-subscription-{}"


def operation_type(method: str) -> OperationType:
    """GET/HEAD read; DELETE deletes; PUT, PATCH and POST (actions included) write."""
    m = method.upper()
    if m in ("GET", "HEAD", "OPTIONS"):
        return "reads"
    return "deletes" if m == "DELETE" else "writes"


@dataclass
class TokenBucket:
    size: int
    refill_per_s: float
    tokens: float
    updated: float

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.size, self.tokens + (now - self.updated) * self.refill_per_s)
            self.updated = now

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def remaining(self, now: float) -> int:
        self._refill(now)
        return int(self.tokens)

    def seconds_until_token(self, now: float) -> int:
        """Whole seconds (ARM's Retry-After is an integer), at least 1."""
        self._refill(now)
        return max(1, math.ceil((1 - self.tokens) / self.refill_per_s))


@dataclass
class Decision:
    allowed: bool
    headers: dict[str, str]
    retry_after_s: int = 0


@dataclass
class SubscriptionThrottle:
    """Buckets per (subscription, operation type), sized from the current settings."""

    clock: Callable[[], float] = time.monotonic
    _buckets: dict[tuple[str, OperationType], TokenBucket] = field(default_factory=dict)
    _sized_for: tuple[int, float, int, float] | None = None

    def _bucket(self, settings: EmulatorSettings, subscription: str, kind: OperationType) -> TokenBucket:
        sizing = (settings.reads_bucket, settings.reads_refill_per_s,
                  settings.writes_bucket, settings.writes_refill_per_s)
        if sizing != self._sized_for:  # new limits from the control endpoint: start full
            self._buckets.clear()
            self._sized_for = sizing
        key = (subscription.lower(), kind)
        if key not in self._buckets:
            size, rate = ((settings.reads_bucket, settings.reads_refill_per_s) if kind == "reads"
                          else (settings.writes_bucket, settings.writes_refill_per_s))
            self._buckets[key] = TokenBucket(size, rate, float(size), self.clock())
        return self._buckets[key]

    def admit(self, settings: EmulatorSettings, subscription: str, method: str) -> Decision:
        kind = operation_type(method)
        bucket = self._bucket(settings, subscription, kind)
        now = self.clock()
        if not settings.throttle:
            return Decision(True, {HEADER.format(kind): str(bucket.remaining(now))})
        if bucket.take(now):
            return Decision(True, {HEADER.format(kind): str(bucket.remaining(now))})
        wait = bucket.seconds_until_token(now)
        return Decision(False, {HEADER.format(kind): "0", "Retry-After": str(wait)}, wait)

    def remaining(self, settings: EmulatorSettings, subscription: str) -> dict[str, int]:
        now = self.clock()
        return {k: self._bucket(settings, subscription, k).remaining(now) for k in ("reads", "writes")}

    def refill(self) -> None:
        self._buckets.clear()
