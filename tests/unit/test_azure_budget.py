"""The request budget on a fake clock: our share of ARM's token buckets, ARM's
remaining-budget headers lowering it before a 429, Retry-After after one, and the
azure-core pipeline policy that applies it to every request."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.pipeline import Pipeline
from azure.core.pipeline.transport import HttpRequest, HttpTransport
from hypothesis import given, settings
from hypothesis import strategies as st

from failover_harness.azure.budget import BudgetSettings, RequestBudget, request_kind
from failover_harness.azure.client import BudgetPolicy


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def budget(clock: FakeClock, **settings: Any) -> RequestBudget:
    return RequestBudget(BudgetSettings(**settings), clock=clock.now, sleep=clock.sleep)


def test_methods_map_to_arm_operation_types() -> None:
    assert [request_kind(m) for m in ("GET", "head", "POST", "PUT", "PATCH", "DELETE")] == \
        ["reads", "reads", "writes", "writes", "writes", "deletes"]


def test_defaults_are_half_of_arms_documented_buckets() -> None:
    b = budget(FakeClock())
    assert b.rate("writes") == pytest.approx(5.0)  # 10/s refill (writes) x 0.5
    assert b.rate("reads") == pytest.approx(12.5)  # 25/s refill (reads) x 0.5


def test_burst_then_refill_at_our_share_of_the_rate() -> None:
    clock = FakeClock()
    b = budget(clock, share=0.5, writes_bucket=200, writes_refill_per_s=10)
    for _ in range(100):  # our half of the 200-token bucket
        assert b.try_take("writes") == 0
    wait = b.try_take("writes")
    assert wait == pytest.approx(0.2)  # one token at 5/s
    clock.t += wait
    assert b.try_take("writes") == 0


def test_acquire_blocks_until_a_token_is_ours() -> None:
    clock = FakeClock()
    b = budget(clock, share=0.5, writes_bucket=2, writes_refill_per_s=2)
    assert b.acquire("writes") == 0
    waited = b.acquire("writes")  # bucket share 1 token, refill 1/s
    assert waited == pytest.approx(1.0)
    assert b.stats().held_back == 1 and b.stats().waited_s == pytest.approx(1.0)


def test_header_showing_others_spending_slows_us_before_a_429() -> None:
    clock = FakeClock()
    b = budget(clock, share=0.5, writes_bucket=200, writes_refill_per_s=10)
    assert b.wait_s("writes") == 0  # our model: 100 tokens
    # Other automation on the subscription drained ARM's bucket to 110: only 10 above the
    # 100 we leave to others are ours.
    b.observe("writes", 200, {"x-ms-ratelimit-remaining-subscription-writes": "110"})
    for _ in range(10):
        assert b.try_take("writes") == 0
    assert b.try_take("writes") > 0
    # Down to 90 (below the others' reserve): wait (10 + 1) tokens at 5/s before the next one.
    b.observe("writes", 200, {"x-ms-ratelimit-remaining-subscription-writes": "90"})
    assert b.wait_s("writes") == pytest.approx(11 / 5.0)
    assert b.stats().lowest_remaining == {"writes": 90}
    assert b.stats().throttled == 0


def test_a_429_holds_that_kind_for_retry_after() -> None:
    clock = FakeClock()
    b = budget(clock)
    b.observe("reads", 429, {"Retry-After": "3"})
    assert b.wait_s("reads") == pytest.approx(3.0)
    assert b.wait_s("writes") == 0  # the other kind is not held
    assert b.stats().throttled == 1


def test_garbage_headers_are_ignored() -> None:
    clock = FakeClock()
    b = budget(clock)
    b.observe("reads", 200, {"x-ms-ratelimit-remaining-subscription-reads": "lots"})
    b.observe("reads", 429, {"Retry-After": "soon"})  # unreadable: one second
    assert b.wait_s("reads") == pytest.approx(1.0)


def test_release_all_lets_waiting_requests_go() -> None:
    clock = FakeClock()
    b = budget(clock, share=0.5, writes_bucket=2, writes_refill_per_s=0.001)
    b.acquire("writes")
    b.release_all()
    assert b.acquire("writes") == 0  # not held for the 2000 s a token would take


@settings(max_examples=60, deadline=None)
@given(share=st.floats(0.1, 1.0), gaps=st.lists(st.floats(0.0, 0.5), min_size=50, max_size=400),
       others=st.lists(st.integers(0, 200), max_size=5))
def test_never_more_than_our_share_in_any_window(share: float, gaps: list[float], others: list[int]) -> None:
    """Whatever the demand, the requests sent in any window [a, b] stay within our share of
    ARM's bucket plus its refill over the window (share x (size + rate x (b - a)))."""
    clock = FakeClock()
    b = budget(clock, share=share, writes_bucket=200, writes_refill_per_s=10)
    sent: list[float] = []
    for i, gap in enumerate(gaps):
        clock.t += gap
        if others and i % 40 == 0:
            b.observe("writes", 200, {"x-ms-ratelimit-remaining-subscription-writes": str(others[i % len(others)])})
        b.acquire("writes")
        sent.append(clock.t)
    for i, start in enumerate(sent):
        for j in range(i, len(sent)):
            count = j - i + 1
            assert count <= share * (200 + 10 * (sent[j] - start)) + 1e-6


class _Response:
    def __init__(self, request: HttpRequest, status: int, headers: dict[str, str]) -> None:
        self.request, self.status_code, self.headers = request, status, headers
        self.reason, self.content_type = "x", "application/json"

    def body(self) -> bytes:
        return b"{}"

    def text(self, encoding: str | None = None) -> str:
        return "{}"


class FakeTransport(HttpTransport):  # type: ignore[type-arg]
    """Answers with ARM's remaining-budget header counting down from `remaining`."""

    def __init__(self, clock: FakeClock, remaining: int) -> None:
        self.clock, self.remaining, self.sent_at = clock, remaining, []  # type: list[float]

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.sent_at.append(self.clock.now())
        self.remaining -= 1
        kind = request_kind(request.method)
        return _Response(request, 200, {f"x-ms-ratelimit-remaining-subscription-{kind}": str(self.remaining)})

    def open(self) -> None: ...

    def close(self) -> None: ...

    def __exit__(self, *args: Any) -> None: ...


def test_pipeline_policy_spaces_requests_by_the_budget_and_reads_the_headers() -> None:
    clock = FakeClock()
    b = budget(clock, share=0.5, writes_bucket=20, writes_refill_per_s=2)
    transport = FakeTransport(clock, remaining=20)
    pipeline = Pipeline(transport=transport, policies=[BudgetPolicy(b)])  # type: ignore[list-item]
    for _ in range(15):
        pipeline.run(HttpRequest("POST", "https://arm.invalid/x/getBgpPeerStatus"))
    # ARM's bucket of 20 counts down; we stop 10 above zero (the half we leave to others)
    # and then go at our share of the refill (1/s): never a 429.
    assert transport.remaining >= 5
    assert b.stats().requests["writes"] == 15 and b.stats().lowest_remaining["writes"] == transport.remaining
    spacing = [y - x for x, y in zip(transport.sent_at, transport.sent_at[1:], strict=False)]
    assert spacing[:9] == [0.0] * 9 and all(s > 0 for s in spacing[9:])
