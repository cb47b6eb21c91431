"""The probe worker against a real far end in its own namespaces (prefix fhP + suffix)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from failover_harness.errors import InfrastructureError
from failover_harness.probes import (
    FlowSpec, FlowTarget, LossTracker, ProbeProcess, ProbeResult, build_flows,
)
from failover_harness.probes.netlab import VethLab, unique_prefix

pytestmark = pytest.mark.lab

TCP_PORT = 8443
T = 0.01


@pytest.fixture(scope="module")
def lab() -> Iterator[VethLab]:
    with VethLab(unique_prefix("fhP")) as veth_lab:
        veth_lab.start_tcp_sink(TCP_PORT)
        yield veth_lab


def far_flows(lab: VethLab, per_kind: int, interval_s: float = T) -> list[FlowSpec]:
    target = FlowTarget(name="far", ip=lab.far_ip, tcp_ports=[TCP_PORT])
    return build_flows([target], lab.sources, per_kind, interval_s=interval_s)


def alive(pid: int) -> bool:
    """Running, not a zombie (PID 1 here reaps late)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_icmp_and_tcp_probes_get_answers(lab: VethLab) -> None:
    flows = far_flows(lab, 3, interval_s=0.02)
    got: list[ProbeResult] = []
    with ProbeProcess(flows, got.extend, netns=lab.near_ns) as probes:
        origin = probes.start()
        time.sleep(1.0)
        assert probes.stop() == 0
    assert probes.callback_error is None
    for flow in flows:
        mine = sorted((r for r in got if r.flow_id == flow.id), key=lambda r: r.seq)
        assert len(mine) >= 40, flow.id
        assert [r.seq for r in mine] == list(range(len(mine))), flow.id  # none missing
        answered = [r for r in mine if r.rtt_s is not None]
        assert len(answered) >= 0.9 * len(mine), flow.id
        assert all(0 < r.rtt_s < flow.timeout_s for r in answered if r.rtt_s is not None)
        # Sends sit on the flow's grid: origin + phase + k * interval, after their slot; ICMP
        # sends on every slot (k = seq), TCP skips slots while its attempt is open (k >= seq).
        phase = flows.index(flow) / len(flows) * flow.interval_s
        for r in mine:
            assert r.sent >= origin and r.lag_s >= 0
            k = (r.slot - origin - phase) / flow.interval_s
            assert k == pytest.approx(round(k), abs=1e-3)
            assert round(k) == r.seq if flow.kind == "icmp" else round(k) >= r.seq


def test_a_drop_window_is_one_loss_episode_per_flow(lab: VethLab) -> None:
    flows = far_flows(lab, 4)
    got: list[ProbeResult] = []
    with ProbeProcess(flows, got.extend, netns=lab.near_ns) as probes:
        probes.start()
        time.sleep(0.7)
        on_before, on_after = lab.drop_icmp_and_tcp_to_far()
        try:
            time.sleep(0.6)
        finally:
            off_before, off_after = lab.stop_dropping()
        time.sleep(0.7)
        assert probes.stop() == 0
    tracker = LossTracker(flows)
    tracker.feed(sorted(got, key=lambda r: r.sent))
    tracker.finish()
    tolerance = 2 * T
    timeouts = {f.id: f.timeout_s for f in flows}
    for flow_id, episodes in tracker.episodes().items():
        assert len(episodes) == 1, (flow_id, episodes)
        (episode,) = episodes
        assert not episode.open
        # The rule took effect somewhere between the nft command's start and end.
        assert on_before - tolerance <= episode.start_t <= on_after + tolerance, flow_id
        # An ICMP flow probes every slot; a TCP flow's lost attempt holds the flow until its
        # timeout, so the first answered attempt comes up to a timeout after the drop ended.
        late = tolerance + (timeouts[flow_id] if "-tcp-" in flow_id else 0.0)
        assert off_before - tolerance <= episode.t <= off_after + late, flow_id
        # The real drop window lies within the episode's bounds.
        max_duration = episode.max_duration_s
        assert max_duration is not None
        assert episode.min_duration_s - tolerance <= off_after - on_before, flow_id
        assert off_before - on_after <= max_duration + tolerance, flow_id
        assert episode.lost == pytest.approx(episode.duration_s / T, abs=1.01)
        assert episode.probes is not None and 1 <= episode.probes <= episode.lost


def test_tcp_connects_slower_than_the_interval_are_not_lost(lab: VethLab) -> None:
    # The far end drops the first SYN of every connection (a SYN retransmission has the same
    # sequence number): each connect then takes the kernel's 1 s SYN retransmission time.
    lab.nft("add table inet fhsyn\n"
            "add set inet fhsyn seen { typeof tcp sequence; flags dynamic,timeout; "
            "timeout 30s; size 65535; }\n"
            "add chain inet fhsyn input { type filter hook input priority -10; }\n"
            "add rule inet fhsyn input tcp flags & (syn | ack) == syn tcp sequence @seen "
            "accept\n"
            "add rule inet fhsyn input tcp flags & (syn | ack) == syn add @seen "
            "{ tcp sequence } drop\n")
    try:
        target = FlowTarget(name="far", ip=lab.far_ip, tcp_ports=[TCP_PORT])
        flows = build_flows([target], lab.sources, 4, kinds=("tcp",), interval_s=T,
                            tcp_timeout_s=2.0)
        got: list[ProbeResult] = []
        with ProbeProcess(flows, got.extend, netns=lab.near_ns) as probes:
            probes.start()
            time.sleep(3.5)
            assert probes.stop() == 0
    finally:
        lab.nft("delete table inet fhsyn\n")
    tracker = LossTracker(flows)
    tracker.feed(sorted(got, key=lambda r: r.sent))
    tracker.finish()
    for flow in flows:
        mine = sorted((r for r in got if r.flow_id == flow.id), key=lambda r: r.seq)
        assert [r.seq for r in mine] == list(range(len(mine))), flow.id
        assert len(mine) >= 2, flow.id
        # Every connect waited for the retransmission, a hundred intervals, and none is lost.
        assert all(r.rtt_s is not None and r.rtt_s > 50 * T for r in mine), flow.id
        assert tracker.episodes()[flow.id] == [], flow.id


def test_worker_refuses_a_source_that_is_not_local(lab: VethLab) -> None:
    bad = FlowSpec(id="bad", kind="tcp", src="10.99.99.99", dst=lab.far_ip, dport=TCP_PORT,
                   sport=45000)
    with ProbeProcess([bad], lambda _r: None, netns=lab.near_ns) as probes:
        with pytest.raises(InfrastructureError, match="cannot use source 10.99.99.99"):
            probes.start()
        assert not probes.running


def test_worker_ends_when_stopped(lab: VethLab) -> None:
    with ProbeProcess(far_flows(lab, 1), lambda _r: None, netns=lab.near_ns) as probes:
        probes.start()
        pid = probes.pid
        assert pid is not None and alive(pid)
        assert probes.stop() == 0
        assert not alive(pid)


PARENT = """
import sys, time
from failover_harness.probes import FlowSpec, ProbeProcess
flow = FlowSpec(id="f", kind="icmp", dst=sys.argv[2], icmp_id=4242)
probes = ProbeProcess([flow], lambda r: None, netns=sys.argv[1])
probes.start()
print(probes.pid, flush=True)
time.sleep(600)
"""


def test_worker_ends_when_its_parent_dies(lab: VethLab) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, lab.near_ns, lab.far_ip],
                              stdout=subprocess.PIPE, text=True)
    worker_pid = 0
    try:
        assert parent.stdout is not None
        worker_pid = int(parent.stdout.readline())
        assert alive(worker_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(worker_pid)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
        if worker_pid and alive(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)
