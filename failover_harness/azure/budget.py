"""The poller's share of ARM's request budget: token buckets on the poller's clock, corrected
by the `x-ms-ratelimit-remaining-subscription-*` headers ARM sends, so the poller slows down
before ARM answers 429, not after.

ARM's limits (Microsoft Learn, "Understand how Azure Resource Manager throttles requests",
azure-resource-manager/management/request-limits-and-throttling, section "Regional
throttling and token bucket algorithm", 2024): per subscription, per region, per security
principal and per operation type, reads have a bucket of 250 tokens refilled at 25 a second,
writes and deletes 200 refilled at 10 a second (free and trial subscriptions may get less).
A request costs one token of its type; GET/HEAD are reads, PUT/PATCH/POST writes, so the
POST actions behind getBgpPeerStatus and getLearnedRoutes are writes and the polls of their
long-running operations are reads. Each response carries what is left of its type's bucket
in `x-ms-ratelimit-remaining-subscription-reads` / `-writes`; an empty bucket answers 429
with Retry-After.

The poller owns only `share` of each bucket: it models its own bucket (share x size, refilled
at share x rate) and, when a header says the whole bucket holds less than the part that is
not ours, it waits as if it had spent the difference (other automation on the same
subscription drew on it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from failover_harness.events import BudgetFields

RequestKind = Literal["reads", "writes", "deletes"]
KINDS: tuple[RequestKind, ...] = ("reads", "writes", "deletes")

# Microsoft Learn, request-limits-and-throttling (see the module docstring).
ARM_READS_BUCKET, ARM_READS_REFILL_PER_S = 250, 25.0
ARM_WRITES_BUCKET, ARM_WRITES_REFILL_PER_S = 200, 10.0
ARM_DELETES_BUCKET, ARM_DELETES_REFILL_PER_S = 200, 10.0
HEADER_PREFIX = "x-ms-ratelimit-remaining-subscription-"


def request_kind(method: str) -> RequestKind:
    """ARM's operation type of an HTTP method: GET/HEAD/OPTIONS read, DELETE deletes, the rest write."""
    m = method.upper()
    if m in ("GET", "HEAD", "OPTIONS"):
        return "reads"
    return "deletes" if m == "DELETE" else "writes"


class BudgetSettings(BaseModel):
    """ARM's bucket sizes and refill rates (defaults: the documented ones) and our share."""

    model_config = ConfigDict(extra="forbid")

    share: float = Field(default=0.5, gt=0, le=1)  # of every bucket; the rest is left to others
    reads_bucket: int = Field(default=ARM_READS_BUCKET, ge=1)
    reads_refill_per_s: float = Field(default=ARM_READS_REFILL_PER_S, gt=0)
    writes_bucket: int = Field(default=ARM_WRITES_BUCKET, ge=1)
    writes_refill_per_s: float = Field(default=ARM_WRITES_REFILL_PER_S, gt=0)
    deletes_bucket: int = Field(default=ARM_DELETES_BUCKET, ge=1)
    deletes_refill_per_s: float = Field(default=ARM_DELETES_REFILL_PER_S, gt=0)

    def limits(self, kind: RequestKind) -> tuple[int, float]:
        if kind == "reads":
            return self.reads_bucket, self.reads_refill_per_s
        if kind == "writes":
            return self.writes_bucket, self.writes_refill_per_s
        return self.deletes_bucket, self.deletes_refill_per_s


class ShareBucket:
    """Our share of one ARM bucket. Not thread-safe: `RequestBudget` holds the lock."""

    def __init__(self, size: int, refill_per_s: float, share: float, now: float) -> None:
        self.capacity = size * share
        self.rate = refill_per_s * share
        self.reserve = size * (1.0 - share)  # the part of ARM's bucket we leave to others
        self.tokens = self.capacity
        self.updated = now

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait_s(self, now: float, n: float = 1.0) -> float:
        """Seconds until `n` tokens are ours (0: now)."""
        self.refill(now)
        missing = n - self.tokens
        # Below a microsecond's refill, float rounding could keep a caller waiting for ever.
        return 0.0 if missing <= 1e-6 * self.rate else missing / self.rate

    def take(self, now: float, n: float = 1.0) -> None:
        self.refill(now)
        self.tokens -= n

    def observe_remaining(self, now: float, remaining: float) -> None:
        """ARM's bucket holds `remaining`: we may spend only what exceeds the reserve."""
        self.refill(now)
        self.tokens = min(self.tokens, remaining - self.reserve)

    def observe_retry_after(self, now: float, retry_after_s: float) -> None:
        """A 429: nothing is ours until Retry-After has passed."""
        self.refill(now)
        self.tokens = min(self.tokens, 1.0 - retry_after_s * self.rate)


# What the poller spent: the azure / budget event's data (defined once, in the vocabulary).
BudgetStats = BudgetFields


class RequestBudget:
    """Thread-safe. `acquire(kind)` blocks until a token of that kind is ours and takes it;
    `observe(...)` reads a response's headers. `clock` and `sleep` are injectable."""

    def __init__(self, settings: BudgetSettings | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings or BudgetSettings()
        self.clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        now = clock()
        self.started = now
        self._buckets = {k: ShareBucket(*self.settings.limits(k), self.settings.share, now) for k in KINDS}
        self._requests = dict.fromkeys(KINDS, 0)
        self._lowest: dict[str, int] = {}
        self._waited_s = 0.0
        self._held_back = 0
        self._throttled = 0
        self._stopped = threading.Event()

    def wait_s(self, kind: RequestKind, n: float = 1.0) -> float:
        """Seconds until `n` tokens of `kind` are ours (0: now). Takes nothing."""
        with self._lock:
            return self._buckets[kind].wait_s(self.clock(), n)

    def available(self, kind: RequestKind) -> float:
        """Tokens of `kind` ours right now (what a burst may spend; negative: in debt)."""
        with self._lock:
            bucket = self._buckets[kind]
            bucket.refill(self.clock())
            return bucket.tokens

    def capacity(self, kind: RequestKind) -> float:
        return self._buckets[kind].capacity

    def rate(self, kind: RequestKind) -> float:
        """Our sustained requests a second of `kind`."""
        return self._buckets[kind].rate

    def try_take(self, kind: RequestKind) -> float:
        """Take a token if one is ours now (returns 0), else the seconds to wait (takes none)."""
        with self._lock:
            now = self.clock()
            bucket = self._buckets[kind]
            wait = bucket.wait_s(now)
            if wait <= 0:
                bucket.take(now)
                self._requests[kind] += 1
            return wait

    def acquire(self, kind: RequestKind, max_wait_s: float = 60.0) -> float:
        """Block until a token is ours, take it; returns the seconds waited. After
        `max_wait_s` (or `release_all()`) the request goes anyway: the server decides then."""
        waited = 0.0
        while True:
            wait = self.try_take(kind)
            if wait <= 0:
                break
            if waited >= max_wait_s or self._stopped.is_set():
                with self._lock:
                    self._buckets[kind].take(self.clock())
                    self._requests[kind] += 1
                break
            step = max(min(wait, max_wait_s - waited), 1e-3)
            self._sleep(step)
            waited += step
        if waited > 0:
            with self._lock:
                self._waited_s += waited
                self._held_back += 1
        return waited

    def release_all(self) -> None:
        """Stop holding requests back (shutdown)."""
        self._stopped.set()

    def observe(self, kind: RequestKind, status: int | None, headers: Mapping[str, str]) -> None:
        """A response: its remaining-budget header and, on 429, its Retry-After."""
        with self._lock:
            now = self.clock()
            for k in KINDS:
                value = headers.get(HEADER_PREFIX + k)
                if value is None:
                    continue
                try:
                    remaining = int(value)
                except ValueError:
                    continue
                self._buckets[k].observe_remaining(now, remaining)
                self._lowest[k] = min(self._lowest.get(k, remaining), remaining)
            if status == 429:
                self._throttled += 1
                retry = headers.get("Retry-After")
                try:
                    seconds = float(retry) if retry is not None else 1.0
                except ValueError:
                    seconds = 1.0
                self._buckets[kind].observe_retry_after(now, seconds)

    def stats(self) -> BudgetStats:
        with self._lock:
            elapsed = max(self.clock() - self.started, 1e-9)
            return BudgetStats(
                share=self.settings.share, requests=dict(self._requests),
                rate_per_s={k: round(v / elapsed, 3) for k, v in self._requests.items()},
                allowed_rate_per_s={k: round(b.rate, 3) for k, b in self._buckets.items()},
                waited_s=round(self._waited_s, 3), held_back=self._held_back,
                throttled=self._throttled, lowest_remaining=dict(self._lowest))
