"""`failover-harness bench --azure`: the Azure poller, built as production builds it (real SDK,
managed-identity credential, request budget), against the ARM emulator on loopback with a
static gateway source (no lab, no root), at LRO latencies 2, 10 and 20 s with +/- 20 % jitter
and the emulator's default ARM token buckets.

Per latency it prints, for peer status and learned routes, the achieved sample interval
(median spacing of answers, longest gap) and why it fell short; the requests a second it
spent against the budget's allowance and the 429s the emulator sent; and the width of the
azure_detection_s interval, calibrated and not, for a peer-down change whose true time the
bench knows (it flips the source itself; the flip back is the failback the calibration
learns from), with whether the truth is inside. Prints figures; asserts nothing.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel, SecretStr
from rich.console import Console
from rich.table import Table

from failover_harness.azure.poller import AzurePoller
from failover_harness.azure.settings import AzureSettings, PollSettings
from failover_harness.events import AzurePeer
from failover_harness.lab.azure_emulator.runner import EmulatorThread, write_secret
from failover_harness.lab.azure_emulator.server import Emulator
from failover_harness.lab.azure_emulator.settings import EmulatorSettings
from failover_harness.lab.azure_emulator.static_source import StaticGatewaySource
from failover_harness.lab.azure_emulator.testing import sample_gateway, sample_topology
from failover_harness.lab.azure_emulator.tls import make_lab_tls
from failover_harness.metrics import compute_metrics
from failover_harness.orchestrator.azure_focus import focus_window
from failover_harness.timeline import Timeline

LATENCIES_S = (2.0, 10.0, 20.0)
JITTER_SHARE = 0.2
PEER, NEIGHBOR, DEVICE = "169.254.21.2", "169.254.21.1", "edge1"
HOLD_S = 15.0  # peer down this long before it comes back


class LatencyResult(BaseModel):
    latency_s: float
    jitter_s: float
    cadence: dict[str, tuple[float | None, float | None, str]]  # operation -> (median, max gap, why short)
    in_flight_max: int
    writes_per_s: float
    reads_per_s: float
    allowed: str
    throttled_429: int
    calibrated_width_s: float | None
    uncalibrated_width_s: float | None
    truth_inside: bool | None
    calibration: str


def _set_peer(source: StaticGatewaySource, state: str) -> None:
    peers = source.gateway.peers[0]
    source.gateway.peers[0] = [p.model_copy(update={"bgp_state": state}) if p.neighbor == PEER else p
                               for p in peers]


def _mark(timeline: Timeline, kind: str, action: str, t: float) -> None:
    timeline.emit("action", kind, f"device:{DEVICE}/Tunnel1", t=t, action=action, commands=[], device=DEVICE,
                  interface="Tunnel1", onprem_neighbor=NEIGHBOR, azure_peer=PEER, azure_instance="10.0.255.4",
                  connection="cn-edge1-t1")


def run_latency(latency_s: float, workdir: Path, console: Console) -> LatencyResult:
    jitter = round(latency_s * JITTER_SHARE, 2)
    resources, tunnels = sample_topology()
    source = StaticGatewaySource(sample_gateway())
    secret = secrets.token_urlsafe(24)
    header = workdir / "identity-header"
    write_secret(header, secret)
    emulator = Emulator(resources, tunnels, source, secret,
                        EmulatorSettings(lro_latency_s=latency_s, lro_jitter_s=jitter))
    with EmulatorThread(emulator, make_lab_tls(workdir / "tls"), header) as running:
        em = running.state
        settings = AzureSettings(
            subscription_id=resources.subscription_id, resource_group=resources.resource_group,
            gateway=resources.gateway, connections=sorted({t.connection for t in tunnels}),
            base_url=em.base_url, ca_bundle=em.ca_bundle,
            environment={"IDENTITY_ENDPOINT": SecretStr(em.identity_endpoint), "IDENTITY_HEADER": SecretStr(secret)},
            poll=PollSettings(call_timeout_s=max(30.0, 3 * latency_s)))
        timeline = Timeline(workdir / "timeline.jsonl")
        clock = timeline.clock
        timeline.emit("run", "run_start", "bench", t=clock.now(), versions={}, expectations=[])
        timeline.emit("device", "bgp_state", f"device:{DEVICE}/neighbor:{NEIGHBOR}", t=clock.now(),
                      window=(clock.now(), clock.now()), state="Established", admin_down=False)
        poller = AzurePoller(settings, timeline).start()
        try:
            console.print(f"  LRO latency {latency_s:g} +/- {jitter:g} s: warming up")
            time.sleep(latency_s * 1.2 + 8)
            # The fault: the source's peer leaves Established at a known instant (both ends),
            # with the poller focused on it as a game-day focuses it (azure_focus.py).
            poller.focus(*focus_window(None, None))
            _mark(timeline, "action_start", "shut_interface", clock.now())
            _set_peer(source, "Active")
            _mark(timeline, "action_done", "shut_interface", clock.now())
            time.sleep(HOLD_S)
            poller.focus(*focus_window(None, None))
            _mark(timeline, "action_start", "no_shut_interface", clock.now())
            up_lo = clock.now()
            _set_peer(source, "Established")
            up_hi = clock.now()
            _mark(timeline, "action_done", "no_shut_interface", up_hi)
            timeline.emit("device", "bgp_state", f"device:{DEVICE}/neighbor:{NEIGHBOR}", t=up_hi,
                          window=(up_lo, up_hi), state="Established", previous="Active", admin_down=False)
            time.sleep(latency_s * 1.2 + 8)
        finally:
            poller.stop()
        timeline.emit("run", "run_end", "bench", t=clock.now(), status="completed")
        timeline.close()
        events = list(timeline.events)
    metrics = compute_metrics(events)
    value = metrics.metrics["azure_detection_s"]
    down = next((e for e in events if isinstance(e, AzurePeer) and e.data.state != "Connected"
                 and metrics.fault_start is not None and e.t > metrics.fault_start), None)
    uncal = None
    if down is not None and metrics.fault_start is not None:
        uncal = down.window[1] - max(down.window[0], metrics.fault_start)
    truth = 0.0  # the flip happened between action_start and action_done (t0): at most 0 after t0
    inside = None if value.lo is None or value.hi is None else \
        value.lo <= truth + 1e-6 and (metrics.fault_start or 0.0) - (metrics.t0 or 0.0) <= value.hi
    cadence = {c.operation: (c.achieved_interval_s, c.max_gap_s, ", ".join(c.reasons) or "-")
               for c in poller.cadence() if c.operation != "connections"}
    spent = poller.budget.stats()
    detail = value.detail or ""
    return LatencyResult(
        latency_s=latency_s, jitter_s=jitter, cadence=cadence,
        in_flight_max=max(c.in_flight_max for c in poller.cadence()),
        writes_per_s=spent.rate_per_s["writes"], reads_per_s=spent.rate_per_s["reads"],
        allowed=f"{spent.allowed_rate_per_s['writes']:g} w/s, {spent.allowed_rate_per_s['reads']:g} r/s",
        throttled_429=emulator.counters.get("throttled", 0),
        calibrated_width_s=None if value.lo is None or value.hi is None else round(value.hi - value.lo, 3),
        uncalibrated_width_s=None if uncal is None else round(uncal, 3), truth_inside=inside,
        calibration=detail.split("; ", 1)[1] if "; " in detail else detail)


def bench_azure_main(latencies: tuple[float, ...] = LATENCIES_S) -> int:
    console = Console(width=max(Console().width, 200))  # a log file gets the whole table
    results = []
    with tempfile.TemporaryDirectory(prefix="fh-bench-azure-") as tmp:
        for latency in latencies:
            workdir = Path(tmp) / f"lro{latency:g}"
            workdir.mkdir()
            results.append(run_latency(latency, workdir, console))
    table = Table(title="Azure poller against the emulator (target: median <= 1.2 s, max gap <= 2.5 s, "
                        "no 429, calibrated azure_detection_s <= 2.5 s wide at 10 s)")
    for col in ("LRO latency", "peer status interval (median / max gap, short because)",
                "learned routes interval", "in flight max", "spent w/s, r/s (allowed)", "429s",
                "azure_detection_s width calibrated / uncalibrated", "truth inside"):
        table.add_column(col)

    def cell(c: tuple[float | None, float | None, str] | None) -> str:
        if c is None:
            return "n/a"
        return f"{c[0]} / {c[1]} s ({c[2]})"

    for r in results:
        table.add_row(f"{r.latency_s:g} +/- {r.jitter_s:g} s", cell(r.cadence.get("bgp_peer_status")),
                      cell(r.cadence.get("learned_routes")), str(r.in_flight_max),
                      f"{r.writes_per_s:.2f}, {r.reads_per_s:.2f} ({r.allowed})", str(r.throttled_429),
                      f"{r.calibrated_width_s} / {r.uncalibrated_width_s} s", str(r.truth_inside))
    console.print(table)
    for r in results:
        console.print(f"LRO {r.latency_s:g} s: {r.calibration}")
    return 0
