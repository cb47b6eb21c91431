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
    FlowSpec,
    FlowTarget,
    LossEnd,
    LossTracker,
    ProbeProcess,
    ProbeResult,
    build_flows,
)
from failover_harness.probes.netlab import VethLab, unique_prefix

pytestmark = pytest.mark.lab

TCP_PORT = 8443
REFLECTOR_PORT = 8620
T = 0.01


@pytest.fixture(scope="module")
def lab() -> Iterator[VethLab]:
    with VethLab(unique_prefix("fhP")) as veth_lab:
        veth_lab.start_tcp_sink(TCP_PORT)
        veth_lab.start_reflector(REFLECTOR_PORT)
        yield veth_lab


def far_flows(lab: VethLab, per_kind: int, interval_s: float = T) -> list[FlowSpec]:
    target = FlowTarget(name="far", ip=lab.far_ip, tcp_ports=[TCP_PORT],
                        reflector_port=REFLECTOR_PORT)
    return build_flows([target], lab.sources, per_kind, interval_s=interval_s,
                       kinds=("icmp", "tcp", "udp"))


def alive(pid: int) -> bool:
    """Running, not a zombie (PID 1 here reaps late)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_icmp_tcp_and_udp_probes_get_answers(lab: VethLab) -> None:
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
        # Sends sit on the flow's grid: origin + phase + k * interval, after their slot;
        # every kind sends on every slot (k = seq).
        phase = flows.index(flow) / len(flows) * flow.interval_s
        for r in mine:
            assert r.sent >= origin and r.lag_s >= 0
            k = (r.slot - origin - phase) / flow.interval_s
            assert k == pytest.approx(round(k), abs=1e-3)
            assert round(k) == r.seq
        # The reflector's count of this flow's probes it received: one per answered probe.
        if flow.kind == "udp":
            assert [r.peer_seq for r in answered] == list(range(len(answered))), flow.id


def drop_window(lab: VethLab, flows: list[FlowSpec], forward: bool
                ) -> tuple[tuple[float, float], tuple[float, float], dict[str, list[LossEnd]]]:
    got: list[ProbeResult] = []
    with ProbeProcess(flows, got.extend, netns=lab.near_ns) as probes:
        probes.start()
        time.sleep(0.7)
        on = lab.drop_probes_to_far() if forward else lab.drop_answers_from_far()
        try:
            time.sleep(0.6)
        finally:
            off = lab.stop_dropping()
        time.sleep(0.7)
        assert probes.stop() == 0
    tracker = LossTracker(flows)
    tracker.feed(sorted(got, key=lambda r: r.sent))
    tracker.finish()
    return on, off, tracker.episodes()


@pytest.mark.parametrize("forward", [True, False], ids=["forward-path", "return-path"])
def test_a_drop_window_is_one_loss_episode_per_flow(lab: VethLab, forward: bool) -> None:
    """Every kind probes every slot, so each flow's episode starts and ends within an
    interval of the drop rule (a TCP flow too: a lost SYN-ACK leaves no half-open state on
    the far end that would delay the next answer). UDP flows tell the direction."""
    flows = far_flows(lab, 4)
    (on_before, on_after), (off_before, off_after), episodes = drop_window(lab, flows, forward)
    tolerance = 2 * T
    for flow in flows:
        assert len(episodes[flow.id]) == 1, (flow.id, episodes[flow.id])
        (episode,) = episodes[flow.id]
        assert not episode.open
        # The rule took effect somewhere between the nft command's start and end.
        assert on_before - tolerance <= episode.start_t <= on_after + tolerance, flow.id
        assert off_before - tolerance <= episode.t <= off_after + tolerance, flow.id
        # The real drop window lies within the episode's bounds.
        max_duration = episode.max_duration_s
        assert max_duration is not None
        assert episode.min_duration_s - tolerance <= off_after - on_before, flow.id
        assert off_before - on_after <= max_duration + tolerance, flow.id
        assert episode.lost == pytest.approx(episode.duration_s / T, abs=1.01)
        assert episode.probes == episode.lost
        if flow.kind == "udp":  # every lost probe in the direction the rule dropped
            lost_there = (episode.forward_lost, episode.return_lost)
            assert lost_there == ((episode.probes, 0) if forward else (0, episode.probes))
        else:
            assert episode.forward_lost is None and episode.return_lost is None


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
