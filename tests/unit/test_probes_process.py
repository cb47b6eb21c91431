"""ProbeProcess with TCP flows on loopback (no root needed): start, stream, stop, errors."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from failover_harness.errors import InfrastructureError
from failover_harness.probes import FlowSpec, ProbeProcess, ProbeResult


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(512)
    server.settimeout(0.1)
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    done.set()
    thread.join(2)
    server.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_tcp_flows_on_loopback_stream_results_and_stop(listener: int) -> None:
    flows = [FlowSpec(id=f"t{i}", kind="tcp", src="127.0.0.1", dst="127.0.0.1",
                      dport=listener, sport=free_port(), interval_s=0.02) for i in range(2)]
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
        assert sum(r.rtt_s is not None for r in mine) >= 0.8 * len(mine)
        assert all(r.sent >= origin for r in mine)


def test_refused_connection_counts_as_answered() -> None:
    closed = free_port()
    flow = FlowSpec(id="refused", kind="tcp", dst="127.0.0.1", dport=closed, sport=free_port(),
                    interval_s=0.05)
    results: list[ProbeResult] = []
    with ProbeProcess([flow], results.extend, realtime=False) as probes:
        probes.start()
        time.sleep(0.3)
        probes.stop()
    assert results and all(r.rtt_s is not None for r in results)


def test_start_fails_clearly_for_a_source_that_is_not_local() -> None:
    flow = FlowSpec(id="far", kind="tcp", src="10.255.255.1", dst="127.0.0.1", dport=9,
                    sport=free_port())
    with ProbeProcess([flow], lambda _r: None, realtime=False) as probes:
        with pytest.raises(InfrastructureError, match="flow far: cannot use source 10.255.255.1"):
            probes.start()
        assert not probes.running


def test_callback_errors_are_kept_and_the_worker_still_drains(listener: int) -> None:
    flow = FlowSpec(id="t", kind="tcp", src="127.0.0.1", dst="127.0.0.1", dport=listener,
                    sport=free_port(), interval_s=0.02)

    def broken(_results: list[ProbeResult]) -> None:
        raise RuntimeError("consumer bug")

    with ProbeProcess([flow], broken, realtime=False) as probes:
        probes.start()
        time.sleep(0.2)
        assert probes.stop() == 0
    assert isinstance(probes.callback_error, RuntimeError)
    assert probes.results_received > 0
