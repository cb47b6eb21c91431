"""Benchmark (prints figures, asserts only that reads work): what one emulator snapshot costs
on the live lab, and an SDK LRO round trip with the emulator's latency set to 0."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import pytest

from failover_harness.lab.azure_emulator.control import EmulatorControl
from failover_harness.lab.azure_emulator.live_source import LiveLabSource
from failover_harness.lab.azure_emulator.testing import FastARMPolling, identity_environment, network_client
from failover_harness.lab.state import LabState

pytestmark = pytest.mark.lab
RUNS = 10


def test_snapshot_read_costs(lab: LabState) -> None:
    source = LiveLabSource(lab)

    async def measure(read: Callable[[], Awaitable[list[object]]]) -> tuple[float, int]:
        times, size = [], 0
        for _ in range(RUNS):
            start = time.perf_counter()
            size = len(await read())
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times), size

    reads: dict[str, Callable[[], Awaitable[list[object]]]] = {
        "peers(instance 0)": lambda: source.peers(0),  # type: ignore[dict-item]
        "learned_routes(instance 0)": lambda: source.learned_routes(0),  # type: ignore[dict-item]
        "tunnels()": source.tunnels,  # type: ignore[dict-item]
    }
    for name, read in reads.items():
        median_ms, size = asyncio.run(measure(read))
        print(f"\n{name}: median {median_ms:.0f} ms over {RUNS} reads ({size} items)")
        assert size > 0


def test_sdk_lro_round_trip(lab: LabState) -> None:
    assert lab.emulator is not None
    control = EmulatorControl.from_state(lab.emulator)
    before = control.state().settings
    control.set(lro_latency_s=0, lro_jitter_s=0, throttle=False)  # measure the round trip, not ARM limits
    az = lab.azure
    try:
        with identity_environment(lab.emulator), network_client(lab.emulator, az.subscription_id) as client:
            times = []
            for _ in range(RUNS):
                start = time.perf_counter()
                peers = client.virtual_network_gateways.begin_get_bgp_peer_status(
                    az.resource_group, az.gateway, polling=FastARMPolling(0.01)).result().value
                times.append((time.perf_counter() - start) * 1000)
                assert peers
        print(f"\ngetBgpPeerStatus through the SDK, LRO latency 0: median {statistics.median(times):.0f} ms")
    finally:
        control.set(**before.model_dump())
