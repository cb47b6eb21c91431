"""ARM throttling: token buckets (pure, on a fake clock) and what the SDK sees."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineResponse
from azure.mgmt.network import NetworkManagementClient

from failover_harness.lab.azure_emulator.settings import EmulatorSettings
from failover_harness.lab.azure_emulator.testing import FastARMPolling, network_client
from failover_harness.lab.azure_emulator.throttle import SubscriptionThrottle, operation_type
from tests.unit.azure_emulator_fixtures import (  # noqa: F401 - fixtures
    RES,
    Running,
    client,
    collect_garbage,
    emu,
    running,
    sdk_retry_leaks,
)

RG, GW = RES.resource_group, RES.gateway
SUB = RES.subscription_id


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_defaults_are_arms_documented_buckets() -> None:
    s = EmulatorSettings()
    assert (s.reads_bucket, s.reads_refill_per_s, s.writes_bucket, s.writes_refill_per_s) == (250, 25, 200, 10)
    assert [operation_type(m) for m in ("GET", "POST", "PUT", "PATCH", "DELETE")] == [
        "reads", "writes", "writes", "writes", "deletes"]


def test_bucket_empties_refills_and_says_when() -> None:
    clock = FakeClock()
    throttle = SubscriptionThrottle(clock=clock)
    s = EmulatorSettings(writes_bucket=3, writes_refill_per_s=0.5)
    got = [throttle.admit(s, SUB, "POST") for _ in range(4)]
    assert [d.allowed for d in got] == [True, True, True, False]
    assert [d.headers["x-ms-ratelimit-remaining-subscription-writes"] for d in got] == ["2", "1", "0", "0"]
    assert (got[3].retry_after_s, got[3].headers["Retry-After"]) == (2, "2")  # 1 token at 0.5/s
    assert throttle.admit(s, SUB, "GET").allowed, "reads have their own bucket"
    clock.now += 2.0
    assert throttle.admit(s, SUB, "POST").allowed
    assert not throttle.admit(s, SUB, "POST").allowed
    assert throttle.admit(s, "another-subscription", "POST").allowed, "buckets are per subscription"
    clock.now += 3600
    assert throttle.remaining(s, SUB)["writes"] == 3, "a bucket never holds more than its size"
    off = s.model_copy(update={"throttle": False})
    assert all(throttle.admit(off, SUB, "POST").allowed for _ in range(10))


def _remaining(response: PipelineResponse) -> dict[str, str]:  # type: ignore[type-arg]
    return {k.lower(): v for k, v in response.http_response.headers.items() if "ratelimit" in k.lower()}


def test_every_arm_response_carries_its_remaining_budget(emu: Running, client: NetworkManagementClient) -> None:
    emu.control.set(reads_refill_per_s=0.001, writes_refill_per_s=0.001)  # no refill within the test
    seen: list[dict[str, str]] = []
    client.virtual_network_gateways.get(RG, GW, raw_response_hook=lambda r: seen.append(_remaining(r)))
    assert seen == [{"x-ms-ratelimit-remaining-subscription-reads": "249"}]
    client.virtual_network_gateways.begin_get_bgp_peer_status(RG, GW, polling=FastARMPolling(),
                                                               raw_response_hook=lambda r: seen.append(_remaining(r)))
    assert seen[1] == {"x-ms-ratelimit-remaining-subscription-writes": "199"}, "a POST action is a write"
    state = emu.control.state()
    assert state.ratelimit_remaining == {"writes": 199, "reads": 249 - state.counters.get("poll", 0)}, "polls are reads"


@sdk_retry_leaks
def test_empty_write_bucket_answers_429_with_retry_after(collect_garbage: None, emu: Running) -> None:
    emu.control.set(writes_bucket=2, writes_refill_per_s=0.2)
    with network_client(emu.state, SUB, retry_total=0) as client:
        for _ in range(2):
            client.virtual_network_gateways.begin_get_learned_routes(RG, GW, polling=FastARMPolling()).result()
        with pytest.raises(HttpResponseError) as e:
            client.virtual_network_gateways.begin_get_learned_routes(RG, GW, polling=FastARMPolling())
        assert e.value.status_code == 429 and e.value.error is not None
        assert e.value.error.code == "SubscriptionRequestsThrottled"
        assert e.value.response is not None and e.value.response.headers["Retry-After"] == "5"
        assert e.value.response.headers["x-ms-ratelimit-remaining-subscription-writes"] == "0"
        assert client.virtual_network_gateways.get(RG, GW).name == GW, "reads still pass"
    assert emu.control.state().counters["throttled"] == 1
    assert emu.control.refill_ratelimit().ratelimit_remaining["writes"] == 2
