"""`failover-harness bench`: how fast and how exact each probe engine (ICMP echo, TCP SYN,
UDP to a reflector) is, measured in two namespaces of its own (prefix fhB + suffix) joined by
a veth, one engine after the other.

- Sustained rate: flows x rate probes from one single-threaded worker (so at most one
  core); probes/s achieved and the share of one core it used.
- Send jitter: how late each send was against its grid slot (p50 / p99).
- Outage accuracy: nftables drops the far end's input for a known period; the loss episode
  each flow reports is compared with the same episode seen by tcpdump in the far namespace
  (requests whose answer was not on the wire, on the capture's own timestamps; capture.py).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from failover_harness.errors import EXIT_BAD_INPUT, EXIT_OK, HarnessError, LabError
from failover_harness.probes import (
    FlowKind,
    FlowTarget,
    LossTracker,
    ProbeProcess,
    ProbeResult,
    build_flows,
)
from failover_harness.probes.capture import longest_outage, probes_on_wire
from failover_harness.probes.netlab import VethLab, unique_prefix

TARGET_PPS = 2000.0
TARGET_JITTER_P99_S = 0.001
WARMUP_S = 0.5
# Requests and answers only: the far end's answers to our RSTs are not probes.
CAPTURE_FILTER = {"icmp": "icmp", "tcp": f"tcp port {8443}", "udp": f"udp port {8620}"}


KINDS: tuple[FlowKind, ...] = ("icmp", "tcp", "udp")
TCP_PORT = 8443
REFLECTOR_PORT = 8620


class FlowOutage(BaseModel):
    flow_id: str
    engine_s: float | None  # the probe engine's loss episode (None: it saw none)
    capture_s: float | None  # the same episode on the far side's capture
    error_s: float | None


class TargetCheck(BaseModel):
    name: str
    value: str
    target: str
    met: bool


class BenchResult(BaseModel):
    """One engine's figures."""

    kind: FlowKind
    flows: int
    rate_hz: int
    seconds: float
    interval_s: float
    requested_pps: float
    achieved_pps: float
    cpu_percent: float  # of one core (the worker has one thread)
    probes_sent: int
    probes_lost: int
    jitter_p50_ms: float
    jitter_p99_ms: float
    jitter_max_ms: float
    drop_window_s: float  # how long the nftables rule was in, as the bench timed it
    capture_timestamps: str  # tcpdump -j type
    outages: list[FlowOutage]
    max_outage_error_s: float | None
    targets: list[TargetCheck]

    @property
    def all_met(self) -> bool:
        return all(t.met for t in self.targets)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _capture_timestamp_type(netns: str, link: str) -> str:
    """adapter_unsynced when the device offers it (NIC clock), else host (kernel)."""
    listed = subprocess.run(["ip", "netns", "exec", netns, "tcpdump", "-J", "-i", link],
                            capture_output=True, text=True, check=False)
    return "adapter_unsynced" if "adapter_unsynced" in listed.stdout else "host"


def run_benches(kinds: Sequence[FlowKind] = KINDS, flows: int = 20, rate_hz: int = 100,
                seconds: float = 5.0, *, drop_s: float | None = None) -> list[BenchResult]:
    return [run_bench(flows, rate_hz, seconds, kind=kind, drop_s=drop_s) for kind in kinds]


def run_bench(flows: int = 20, rate_hz: int = 100, seconds: float = 5.0, *,
              kind: FlowKind = "icmp", drop_s: float | None = None,
              cpu: int | None = None) -> BenchResult:
    """One engine. `cpu` pins the worker; unpinned it still uses at most one core (one
    thread), and the scheduler can move it away from a core busy with interrupts."""
    if os.geteuid() != 0:
        raise LabError("bench needs root (network namespaces, raw sockets, tcpdump)")
    for tool in ("ip", "nft", "tcpdump"):
        if shutil.which(tool) is None:
            raise LabError(f"bench needs {tool}: run scripts/install.sh")
    if flows < 1 or rate_hz < 1 or seconds < 2.0:
        raise ValueError("bench needs flows >= 1, rate_hz >= 1 and seconds >= 2")
    if rate_hz * seconds >= 65536:
        raise ValueError("rate_hz x seconds must stay below 65536 (ICMP sequence numbers)")
    if kind not in KINDS:
        raise ValueError(f"unknown probe kind {kind!r} (has {', '.join(KINDS)})")
    interval = 1.0 / rate_hz
    if drop_s is None:
        drop_s = max(10 * interval, min(1.0, seconds * 0.2))
    lab = VethLab(unique_prefix("fhB"), subnet="10.78.0.0/24", sources=min(flows, 8))
    workdir = Path(tempfile.mkdtemp(prefix="fh-bench-"))
    pcap = workdir / "far.pcap"
    results: list[ProbeResult] = []
    lock = threading.Lock()

    def collect(batch: list[ProbeResult]) -> None:
        with lock:
            results.extend(batch)

    capture: subprocess.Popen[bytes] | None = None
    try:
        lab.up()
        if kind == "tcp":
            lab.start_tcp_sink(TCP_PORT)
        elif kind == "udp":
            lab.start_reflector(REFLECTOR_PORT)
        stamp_type = _capture_timestamp_type(lab.far_ns, lab.far_link)
        capture = subprocess.Popen(
            ["ip", "netns", "exec", lab.far_ns, "tcpdump", "-i", lab.far_link, "-n", "-p",
             "-U", "-Z", "root", "-B", "16384", "-s", "128", "-j", stamp_type,
             "--time-stamp-precision=nano", "-w", str(pcap), CAPTURE_FILTER[kind]],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert capture.stderr is not None
        line = capture.stderr.readline().decode(errors="replace")
        if "listening" not in line:
            raise LabError(f"tcpdump did not start: {line.strip()}")
        target = FlowTarget(name="far", ip=lab.far_ip, tcp_ports=[TCP_PORT],
                            reflector_port=REFLECTOR_PORT)
        timeout = max(0.2, 5 * interval)
        specs = build_flows([target], lab.sources, flows, kinds=(kind,), interval_s=interval,
                            timeouts_s={kind: timeout})
        with ProbeProcess(specs, collect, netns=lab.near_ns, cpu=cpu) as probes:
            origin = probes.start()
            time.sleep(max(0.0, origin - time.monotonic()) + WARMUP_S)
            cpu_a, wall_a = probes.cpu_seconds(), time.monotonic()
            time.sleep(max(0.0, seconds * 0.4 - WARMUP_S))
            drop_on, _ = lab.drop_probes_to_far()
            try:
                time.sleep(drop_s)
            finally:
                drop_off, _ = lab.stop_dropping()
            time.sleep(max(0.0, origin + seconds - time.monotonic()))
            cpu_b, wall_b = probes.cpu_seconds(), time.monotonic()
            if probes.stop() != 0:
                raise LabError(f"probe worker failed: {probes.stderr_text()}")
        time.sleep(0.1)  # the last replies reach the capture
        capture.terminate()
        capture.wait(10)
        on_wire = probes_on_wire(pcap)
    finally:
        if capture is not None:
            if capture.poll() is None:
                capture.kill()
                capture.wait()
            if capture.stderr is not None:
                capture.stderr.close()
        lab.down()
        shutil.rmtree(workdir, ignore_errors=True)

    steady = [r for r in results if wall_a <= r.sent < wall_b]
    achieved = len(steady) / (wall_b - wall_a)
    cpu_percent = 100.0 * (cpu_b - cpu_a) / (wall_b - wall_a)
    lags = [r.lag_s for r in results]
    tracker = LossTracker(specs)
    tracker.feed(sorted(results, key=lambda r: (r.flow_id, r.seq)))
    tracker.finish()
    outages: list[FlowOutage] = []
    for spec in specs:
        episodes = tracker.detectors[spec.id].episodes
        engine = max((e.duration_s for e in episodes), default=None)
        ident = spec.icmp_id if kind == "icmp" else spec.sport
        captured = longest_outage(on_wire.get((kind, spec.src or "", ident or 0), {}))
        error = engine - captured if engine is not None and captured is not None else None
        outages.append(FlowOutage(flow_id=spec.id, engine_s=engine, capture_s=captured,
                                  error_s=error))
    errors = [abs(o.error_s) for o in outages if o.error_s is not None]
    max_error = max(errors) if len(errors) == len(outages) else None
    jitter_p99 = _percentile(lags, 0.99)
    requested = flows * rate_hz
    targets = [
        TargetCheck(name="sustained rate on one core",
                    value=f"{achieved:,.0f} probes/s at {cpu_percent:.0f}% CPU",
                    target=f">= {TARGET_PPS:,.0f} probes/s",
                    # +-1 probe per flow at the edges of the counting window
                    met=achieved >= TARGET_PPS - flows / (wall_b - wall_a)
                    and cpu_percent < 100.0),
        TargetCheck(name="send jitter p99", value=f"{jitter_p99 * 1000:.3f} ms",
                    target=f"< {TARGET_JITTER_P99_S * 1000:.0f} ms",
                    met=jitter_p99 < TARGET_JITTER_P99_S),
        TargetCheck(name="outage error vs capture",
                    value="missing episodes" if max_error is None
                    else f"{max_error * 1000:.2f} ms",
                    target=f"<= one interval ({interval * 1000:.1f} ms)",
                    met=max_error is not None and max_error <= interval),
    ]
    return BenchResult(
        kind=kind, flows=flows, rate_hz=rate_hz, seconds=seconds, interval_s=interval,
        requested_pps=float(requested), achieved_pps=achieved, cpu_percent=cpu_percent,
        probes_sent=len(results), probes_lost=sum(1 for r in results if r.rtt_s is None),
        jitter_p50_ms=_percentile(lags, 0.5) * 1000, jitter_p99_ms=jitter_p99 * 1000,
        jitter_max_ms=max(lags, default=float("nan")) * 1000,
        drop_window_s=drop_off - drop_on, capture_timestamps=stamp_type, outages=outages,
        max_outage_error_s=max_error, targets=targets)


ENGINE = {"icmp": "ICMP echo", "tcp": "TCP SYN", "udp": "UDP reflector"}


def _figures(result: BenchResult) -> dict[str, str]:
    engine = [o.engine_s for o in result.outages if o.engine_s is not None]
    wire = [o.capture_s for o in result.outages if o.capture_s is not None]
    rows = {
        "probes/s achieved (steady)": f"{result.achieved_pps:,.0f}",
        "CPU of one core": f"{result.cpu_percent:.1f} %",
        "probes/s one core could carry (linear estimate)":
            f"{result.achieved_pps * 100.0 / result.cpu_percent:,.0f}"
            if result.cpu_percent > 0 else "-",
        "probes sent / lost": f"{result.probes_sent:,} / {result.probes_lost:,}",
        "send jitter p50 / p99 / max": f"{result.jitter_p50_ms:.3f} / "
            f"{result.jitter_p99_ms:.3f} / {result.jitter_max_ms:.3f} ms",
        "drop window (nftables, as timed)": f"{result.drop_window_s * 1000:.1f} ms",
        "outage engine / capture (median)":
            f"{statistics.median(engine) * 1000:.1f} / {statistics.median(wire) * 1000:.1f} ms"
            if engine and wire else "-",
        "max |outage error| vs capture": "missing episodes" if result.max_outage_error_s is None
            else f"{result.max_outage_error_s * 1000:.2f} ms",
        "capture timestamps": f"tcpdump -j {result.capture_timestamps}",
    }
    return rows


def print_bench(results: Sequence[BenchResult], console: Console | None = None) -> None:
    """The engines side by side, then each one's targets."""
    console = console or Console()
    first = results[0]
    console.print(
        f"[bold]Probe engine bench[/]: per engine {first.flows} flows x {first.rate_hz} Hz "
        f"= {first.requested_pps:,.0f} probes/s requested, {first.seconds:g} s, "
        f"one single-threaded worker (at most one core), engines one after the other")
    figures = Table(title="Figures", show_header=True)
    figures.add_column("measure")
    for result in results:
        figures.add_column(ENGINE[result.kind], justify="right")
    columns = [_figures(r) for r in results]
    for name in columns[0]:
        figures.add_row(name, *(c[name] for c in columns))
    console.print(figures)
    checks = Table(title="Targets", show_header=True)
    checks.add_column("engine")
    checks.add_column("target")
    checks.add_column("measured", justify="right")
    checks.add_column("bound")
    checks.add_column("", justify="center")
    for result in results:
        for check in result.targets:
            checks.add_row(ENGINE[result.kind], check.name, check.value, check.target,
                           "[green]met[/]" if check.met else "[red]missed[/]")
    console.print(checks)


def bench_main(flows: int, rate_hz: int, seconds: float,
               kinds: Sequence[str] = KINDS) -> int:
    """CLI entry: run, print, exit 0 when every target is met, 1 when one is missed."""
    console = Console()
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        console.print(f"[red]bench:[/] unknown probe kind {', '.join(unknown) or '(none)'} "
                      f"(has {', '.join(KINDS)})")
        return EXIT_BAD_INPUT
    try:
        results = run_benches([k for k in KINDS if k in kinds], flows, rate_hz, seconds)
    except HarnessError as exc:
        console.print(f"[red]bench failed:[/] {exc}")
        return exc.exit_code
    except ValueError as exc:
        console.print(f"[red]bench:[/] {exc}")
        return EXIT_BAD_INPUT
    print_bench(results, console)
    return EXIT_OK if all(r.all_met for r in results) else 1
