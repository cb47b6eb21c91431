"""Shared fixtures: one emulator (static gateway, real HTTPS, no root) per test module, reset
to known settings for every test; import the fixtures into a test module to use them."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.mgmt.network import NetworkManagementClient

from failover_harness.lab.azure_emulator.control import EmulatorControl
from failover_harness.lab.azure_emulator.runner import EmulatorThread, write_secret
from failover_harness.lab.azure_emulator.server import Emulator
from failover_harness.lab.azure_emulator.settings import EmulatorSettings
from failover_harness.lab.azure_emulator.static_source import StaticGatewaySource
from failover_harness.lab.azure_emulator.testing import (
    identity_environment,
    network_client,
    sample_gateway,
    sample_topology,
)
from failover_harness.lab.azure_emulator.tls import make_lab_tls
from failover_harness.lab.state import EmulatorState

# Test settings: fast, deterministic LROs and resets; ARM's real throttling numbers.
TEST_SETTINGS = EmulatorSettings(lro_latency_s=0.2, lro_jitter_s=0, reset_outage_s=(0.1, 0.1))
ONPREM_ASNS = {"edge1": 65010}

RES, TUNNELS = sample_topology()
RG, GW = RES.resource_group, RES.gateway


class Running:
    def __init__(self, state: EmulatorState, source: StaticGatewaySource, control: EmulatorControl) -> None:
        self.state, self.source, self.control = state, source, control


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    d: Path = tmp_path_factory.mktemp("azure")
    tls = make_lab_tls(d)
    write_secret(d / "identity-header", "s3cret-header")
    source = StaticGatewaySource(sample_gateway())
    emulator = Emulator(RES, TUNNELS, source, "s3cret-header", TEST_SETTINGS, onprem_asns=ONPREM_ASNS)
    with EmulatorThread(emulator, tls, d / "identity-header") as thread:
        yield Running(thread.state, source, EmulatorControl.from_state(thread.state))


@pytest.fixture
def emu(running: Running) -> Iterator[Running]:
    running.source.gateway = sample_gateway()
    running.source.resets.clear()
    running.control.clear_faults(reset_counters=True)
    running.control.set(**TEST_SETTINGS.model_dump())
    running.control.refill_ratelimit()
    with identity_environment(running.state):
        yield running


@pytest.fixture
def client(emu: Running) -> Iterator[NetworkManagementClient]:
    with network_client(emu.state, RES.subscription_id, retry_backoff_factor=0.01) as c:
        yield c


# azure-core's RetryPolicy drops a streamed response (LRO first POSTs are streamed) without
# closing it when it retries, so its socket is closed only by the garbage collector. Tests
# that make the SDK retry collect here, where the resulting ResourceWarning is expected.
sdk_retry_leaks = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture
def collect_garbage() -> Iterator[None]:
    yield
    gc.collect()


