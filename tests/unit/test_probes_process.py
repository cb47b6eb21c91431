"""ProbeProcess with UDP flows to a reflector on loopback (no root needed): start, stream,
stop, errors."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest

from failover_harness.errors import InfrastructureError
from failover_harness.probes import FlowSpec, ProbeProcess, ProbeResult
from failover_harness.probes.process import process_cpu_seconds
from tests.unit.reflector_proc import running_reflector


@pytest.fixture
def reflector() -> Iterator[int]:
    with running_reflector() as (_proc, port):
        yield port


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_udp_flows_on_loopback_stream_results_and_stop(reflector: int) -> None:
    flows = [FlowSpec(id=f"u{i}", kind="udp", src="127.0.0.1", dst="127.0.0.1",
                      dport=reflector, sport=free_port(), interval_s=0.02) for i in range(2)]
    batches: list[list[ProbeResult]] = []
    with ProbeProcess(flows, batches.append, realtime=False) as probes:
        origin = probes.start()
        assert probes.running and probes.pid is not None
        time.sleep(0.5)
        assert probes.stop() == 0
        assert not probes.running
    results = [r for batch in batches for r in batch]
    assert probes.results_received == len(results)
    for flow in flows:
        mine = sorted((r for r in results if r.flow_id == flow.id), key=lambda r: r.seq)
        assert len(mine) >= 15
        assert [r.seq for r in mine] == list(range(len(mine)))
        answered = [r for r in mine if r.rtt_s is not None]
        assert len(answered) >= 0.8 * len(mine)
        assert all(r.sent >= origin for r in mine)
        # The reflector counts what it received of this flow (its own session), and both
        # one-way delays are on one clock here: positive and within the round trip.
        assert [r.peer_seq for r in answered] == sorted({r.peer_seq for r in answered})
        for r in answered:
            assert r.peer_seq is not None and r.peer_seq <= r.seq
            assert r.fwd_s is not None and r.ret_s is not None and r.rtt_s is not None
            assert -1e-4 < r.fwd_s < r.rtt_s + 1e-3 and -1e-4 < r.ret_s < r.rtt_s + 1e-3


def test_no_reflector_means_every_probe_is_lost() -> None:
    flow = FlowSpec(id="nobody-home", kind="udp", src="127.0.0.1", dst="127.0.0.1",
                    dport=free_port(), sport=free_port(), interval_s=0.05, timeout_s=0.2)
    results: list[ProbeResult] = []
    with ProbeProcess([flow], results.extend, realtime=False) as probes:
        probes.start()
        time.sleep(0.4)
        assert probes.stop() == 0
    assert len(results) >= 5 and all(r.lost for r in results)


def test_start_fails_clearly_for_a_source_that_is_not_local() -> None:
    flow = FlowSpec(id="far", kind="udp", src="10.255.255.1", dst="127.0.0.1", dport=9,
                    sport=free_port())
    with ProbeProcess([flow], lambda _r: None, realtime=False) as probes:
        with pytest.raises(InfrastructureError, match=r"flow far: cannot use source 10\.255\.255\.1"):
            probes.start()
        assert not probes.running


def test_callback_errors_are_kept_and_the_worker_still_drains(reflector: int) -> None:
    flow = FlowSpec(id="u", kind="udp", src="127.0.0.1", dst="127.0.0.1", dport=reflector,
                    sport=free_port(), interval_s=0.02)

    def broken(_results: list[ProbeResult]) -> None:
        raise RuntimeError("consumer bug")

    with ProbeProcess([flow], broken, realtime=False) as probes:
        probes.start()
        time.sleep(0.2)
        assert probes.stop() == 0
    assert isinstance(probes.callback_error, RuntimeError)
    assert probes.results_received > 0


def test_process_cpu_seconds_counts_this_process_and_is_zero_for_a_gone_one() -> None:
    before = process_cpu_seconds(os.getpid())
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    assert process_cpu_seconds(os.getpid()) > before
    assert process_cpu_seconds(2**22 + 1) == 0.0  # above pid_max's default: never a live pid
