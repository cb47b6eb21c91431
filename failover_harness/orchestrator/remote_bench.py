"""`failover-harness bench --remote`: what remote vantage points cost the orchestrator.

For 1, 2, 4 and 8 vantage points, each a network namespace of its own with a real sshd on a
management veth (lab/vantage_hosts-style /30s from 198.18.0.0/15), every vantage point runs
16 ICMP flows x 100 probes/s against its own loopback through the shipped worker, which
summarises on its side. Measured on the orchestrator side, over the steady part of each run:
- CPU of this process (reader threads, clock pings, event mapping, timeline writes) and of
  its `ssh` clients, each as a share of one core;
- events and bytes per second that reached the orchestrator (they grow with events, the
  probes/s only show in the remote workers' own CPU);
- ingest latency: from the remote worker writing an event (its clock) to this process
  reading it (ours), through the clock estimate; p50 / p99 / max, +/- the clock uncertainty.
The vantage hosts share this machine's cores with the orchestrator: at 8 vantage points
their workers alone ask for about 12,800 probes/s.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from failover_harness.errors import EXIT_OK, LabError
from failover_harness.inventory import SshVantage, VantagePoint
from failover_harness.lab.host_sshd import HostSshd
from failover_harness.lab.mgmt_subnet import allocation_lock, choose_subnets, host_routes
from failover_harness.lab.topology import mgmt_pair
from failover_harness.orchestrator.remote_monitor import RemoteProbeMonitor
from failover_harness.probes.flows import FlowTarget, build_flows
from failover_harness.probes.netlab import unique_prefix
from failover_harness.timeline import Timeline

COUNTS = (1, 2, 4, 8)
WARMUP_S = 2.0  # clock burst, first stats period


class RemoteBenchRow(BaseModel):
    vantage_points: int
    flows: int
    probes_per_s: float  # asked of all workers together
    seconds: float
    orchestrator_cpu_percent: float  # this process, of one core
    ssh_cpu_percent: float  # its ssh clients together, of one core
    events_per_s: float
    kbytes_per_s: float
    ingest_ms_p50: float | None
    ingest_ms_p99: float | None
    ingest_ms_max: float | None
    clock_uncertainty_ms_max: float | None
    probes_judged_per_s: float  # by the workers' 1 s stats over the measured seconds


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {done.stderr.strip()}")


class BenchHosts:
    """`count` namespaces, each with a veth to the root namespace and an sshd."""

    def __init__(self, count: int, work: Path) -> None:
        self.prefix = unique_prefix("fhR")
        self.count = count
        self.work = work
        self.sshds: list[HostSshd] = []
        self.namespaces: list[str] = []

    def up(self) -> list[VantagePoint]:
        with allocation_lock(self.work):
            subnets = choose_subnets(self.prefix, self.count, host_routes())
            vantage = []
            for i, net in enumerate(subnets):
                ns = f"{self.prefix}-{i}"
                _ip("netns", "add", ns)
                self.namespaces.append(ns)
                _ip("-n", ns, "link", "set", "lo", "up")
                root_addr, host_addr = mgmt_pair(str(net))
                _ip("link", "add", f"{self.prefix}r{i}", "type", "veth", "peer", "name",
                    "eth0", "netns", ns)
                _ip("addr", "add", root_addr, "dev", f"{self.prefix}r{i}")
                _ip("link", "set", f"{self.prefix}r{i}", "up")
                _ip("-n", ns, "addr", "add", host_addr, "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                sshd = HostSshd(self.work / ns, host_addr.split("/")[0], netns=ns)
                self.sshds.append(sshd)
                login = sshd.start()
                vantage.append(VantagePoint(ssh=SshVantage(
                    host=login.host, user=login.user, key_file=str(login.key_file),
                    known_hosts=str(login.known_hosts)), sources=["127.0.0.1"]))
        return vantage

    def down(self) -> None:
        for sshd in self.sshds:
            sshd.stop()
        for ns in self.namespaces:  # its end of the veth goes with it
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _judged(monitors: Sequence[RemoteProbeMonitor]) -> int:
    """Probe slots the workers' stats periods have counted so far (lags by one period)."""
    return sum(m.summary_sent() for m in monitors)


def _ssh_cpu(monitors: Sequence[RemoteProbeMonitor]) -> float:
    return sum(m.process.cpu_seconds() for m in monitors)


def measure(vantage: Sequence[VantagePoint], flows_per_vp: int, rate_hz: int, seconds: float,
            timeline_path: Path) -> RemoteBenchRow:
    timeline = Timeline(timeline_path)
    monitors = []
    for i, vp in enumerate(vantage):
        flows = build_flows([FlowTarget(name=f"lo{i}", ip="127.0.0.1")], ["127.0.0.1"],
                            flows_per_vp, kinds=["icmp"], interval_s=1.0 / rate_hz)
        monitors.append(RemoteProbeMonitor(flows, f"vp{i}", vp, timeline))
    try:
        for m in monitors:
            m.start()
        time.sleep(WARMUP_S)
        bytes0 = sum(m.process.bytes_received for m in monitors)
        events0 = sum(m.process.events_received for m in monitors)
        marks = [len(m.process.ingest) for m in monitors]
        judged0 = _judged(monitors)
        cpu0, ssh0, t0 = time.process_time(), _ssh_cpu(monitors), time.monotonic()
        time.sleep(seconds)
        cpu1, ssh1, t1 = time.process_time(), _ssh_cpu(monitors), time.monotonic()
        judged = _judged(monitors) - judged0
        events = sum(m.process.events_received for m in monitors) - events0
        data = sum(m.process.bytes_received for m in monitors) - bytes0
        latencies: list[float] = []
        uncertainties: list[float] = []
        for m, mark in zip(monitors, marks, strict=True):
            est = m.process.clock()
            if est is None:
                continue
            uncertainties.append(est.uncertainty_s)
            latencies += [max(0.0, received - est.to_local(at))
                          for received, at in m.process.ingest[mark:]]
    finally:
        for m in monitors:
            m.stop()
        timeline.close()
    elapsed = t1 - t0
    return RemoteBenchRow(
        vantage_points=len(vantage), flows=flows_per_vp * len(vantage),
        probes_per_s=flows_per_vp * len(vantage) * rate_hz, seconds=round(elapsed, 2),
        orchestrator_cpu_percent=round(100 * (cpu1 - cpu0) / elapsed, 1),
        ssh_cpu_percent=round(100 * (ssh1 - ssh0) / elapsed, 1),
        events_per_s=round(events / elapsed, 1), kbytes_per_s=round(data / elapsed / 1024, 2),
        ingest_ms_p50=_ms(statistics.median(latencies) if latencies else None),
        ingest_ms_p99=_ms(_percentile(latencies, 0.99)),
        ingest_ms_max=_ms(max(latencies) if latencies else None),
        clock_uncertainty_ms_max=_ms(max(uncertainties) if uncertainties else None),
        probes_judged_per_s=round(judged / elapsed, 1))


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


def bench_remote(counts: Sequence[int] = COUNTS, flows_per_vp: int = 16, rate_hz: int = 100,
                 seconds: float = 10.0) -> list[RemoteBenchRow]:
    work = Path(tempfile.mkdtemp(prefix="failover-bench-remote-"))
    hosts = BenchHosts(max(counts), work)
    try:
        vantage = hosts.up()
        return [measure(vantage[:n], flows_per_vp, rate_hz, seconds, work / f"vp{n}.jsonl")
                for n in counts]
    finally:
        hosts.down()
        shutil.rmtree(work, ignore_errors=True)


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def bench_remote_main(seconds: float = 10.0) -> int:
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)  # a file or a pipe: the whole table, not 80 columns
    console.print(f"remote vantage points: 16 ICMP flows x 100 probes/s each, {seconds:g} s "
                  f"per row, on {os.cpu_count()} cores shared with the vantage hosts")
    rows = bench_remote(seconds=seconds)
    table = Table("VPs", "probes/s asked", "judged/s", "orch. CPU", "ssh CPU", "events/s",
                  "KiB/s", "ingest ms p50/p99/max", "clock +/- ms")
    for r in rows:
        table.add_row(str(r.vantage_points), f"{r.probes_per_s:,.0f}",
                      f"{r.probes_judged_per_s:,.0f}", f"{r.orchestrator_cpu_percent:.1f} %",
                      f"{r.ssh_cpu_percent:.1f} %", f"{r.events_per_s:.0f}",
                      f"{r.kbytes_per_s:.1f}",
                      f"{_num(r.ingest_ms_p50)}/{_num(r.ingest_ms_p99)}/{_num(r.ingest_ms_max)}",
                      _num(r.clock_uncertainty_ms_max, 2))
    console.print(table)
    console.print("CPU: share of one core over the measured seconds (orch.: this process; "
                  "ssh: its clients). judged/s: probes the workers' 1 s stats counted. Ingest: "
                  "remote write -> local read, through the clock estimate (+/- its "
                  "uncertainty, the largest of the row's vantage points).")
    return EXIT_OK
