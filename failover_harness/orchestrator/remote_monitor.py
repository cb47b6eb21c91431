"""Probes from a remote vantage host over SSH, on the run's one clock.

The remote worker (probes/remote_worker.py) summarises on its side; this monitor maps its
events' times from the host's monotonic clock onto the run's (clocksync.py, estimated from
clock pings on the same channel), writes them with `window` = t +/- the clock uncertainty,
and writes the clock estimate (`vantage_clock`) every few seconds and at the end. It answers
the same loss questions as ProbeMonitor (the gate's and the guard's), from those events.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from failover_harness.clocksync import ClockEstimate
from failover_harness.errors import InfrastructureError, SafetyGateError
from failover_harness.inventory import SshVantage, VantagePoint
from failover_harness.orchestrator.probe_monitor import FlowView, ProbeMonitor
from failover_harness.probes.flows import FlowSpec
from failover_harness.probes.ssh_worker import RemoteProbeProcess, SshTarget
from failover_harness.secrets import resolve
from failover_harness.timeline import Timeline

CLOCK_EVENT_INTERVAL_S = 5.0


def ssh_target(ssh: SshVantage, key_dir: Path | None = None) -> SshTarget:
    """The client's view of an inventory ssh vantage; a key given as a secret reference is
    written to a 0600 file in `key_dir` (the caller removes it)."""
    key_file = Path(ssh.key_file) if ssh.key_file else None
    if ssh.key is not None:
        if key_dir is None:
            raise ValueError("a key given as a secret needs a directory to hold it")
        key_file = key_dir / "id"
        key_file.touch(mode=0o600)
        text = resolve(ssh.key).get_secret_value()
        key_file.write_text(text if text.endswith("\n") else text + "\n")
    return SshTarget(host=ssh.host, user=ssh.user, port=ssh.port, key_file=key_file,
                     known_hosts=Path(ssh.known_hosts) if ssh.known_hosts else None,
                     sudo=ssh.privilege == "sudo", python=ssh.python)


class RemoteProbeMonitor(ProbeMonitor):
    """ProbeMonitor's questions over a RemoteProbeProcess's summarised events."""

    def __init__(self, flows: Sequence[FlowSpec], name: str, vantage: VantagePoint,
                 timeline: Timeline) -> None:
        # ProbeMonitor.__init__ starts a local worker: set up what its questions use instead.
        assert vantage.ssh is not None
        self.flows = list(flows)
        self.netns = None
        self.name = name
        self.ssh = vantage.ssh
        self.timeline = timeline
        self._lock = threading.Lock()
        self._views = {f.id: FlowView() for f in self.flows}
        self._key_dir = tempfile.TemporaryDirectory(prefix="failover-ssh-key-")
        self._remote = RemoteProbeProcess(self.flows, self._on_event,
                                          ssh_target(vantage.ssh, Path(self._key_dir.name)))
        self._last_clock_event = 0.0
        self.clock_estimate: ClockEstimate | None = None

    @property
    def pid(self) -> int | None:
        return self._remote.pid  # the local ssh client

    @property
    def process(self) -> RemoteProbeProcess:
        return self._remote

    def start(self) -> None:
        for flow in self.flows:
            self.timeline.emit("probe", "flow_start", f"flow:{flow.id}", probe=flow.kind,
                               src=flow.src, dst=flow.dst, dport=flow.dport, sport=flow.sport,
                               icmp_id=flow.icmp_id, interval_s=flow.interval_s,
                               timeout_s=flow.timeout_s, vantage=self.name, host=self.ssh.host)
        try:
            self._remote.start()
        except InfrastructureError as exc:
            # Before the gate, like a local worker without CAP_NET_RAW: nothing is touched.
            self._key_dir.cleanup()
            raise SafetyGateError(f"vantage point {self.name}: {exc}") from exc

    def stop(self) -> None:
        try:
            self._remote.stop()
        finally:
            self._remote.close()
            self._key_dir.cleanup()
        self._emit_clock(force=True)

    def loss_free_for(self, seconds: float) -> bool:
        """As ProbeMonitor's; a vantage point whose SSH session ended says nothing more, so
        it is never loss-free (the gate waits, then refuses)."""
        return self._remote.running and super().loss_free_for(seconds)

    def summary_sent(self) -> int:
        """Probe slots counted by the worker's stats periods so far (every flow)."""
        with self._lock:
            return sum(v.sent for v in self._views.values())

    # --- the remote events onto the run's clock ---

    def _estimate(self) -> ClockEstimate | None:
        estimate = self._remote.clock()
        if estimate is not None:
            self.clock_estimate = estimate
        return self.clock_estimate

    def _emit_clock(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_clock_event < CLOCK_EVENT_INTERVAL_S:
            return
        est = self._estimate()
        if est is None:
            return
        self._last_clock_event = now
        self.timeline.emit("probe", "vantage_clock", f"vantage:{self.name}",
                           t=self.timeline.clock.from_monotonic(now), host=self.ssh.host,
                           offset_s=est.offset_at(now), drift_ppm=est.drift_ppm,
                           uncertainty_s=est.uncertainty_s, rtt_min_s=est.rtt_min_s,
                           samples=est.samples, used=est.used)

    def _on_event(self, msg: dict[str, Any]) -> None:
        kind = msg["k"]
        if kind not in ("loss_start", "loss_end", "flow_stats"):
            return
        est = self._estimate()
        if est is None:
            raise InfrastructureError(f"vantage point {self.name}: events before any clock "
                                      "exchange")
        clock = self.timeline.clock

        def local(remote_t: float) -> float:
            return clock.from_monotonic(est.to_local(remote_t))

        t = local(msg["t"])
        window = (t - est.uncertainty_s, t + est.uncertainty_s)
        flow = msg["flow_id"]
        subject = f"flow:{flow}"
        with self._lock:
            view = self._views.get(flow)
            if view is None:
                return
            if kind == "loss_start":
                view.episode_start = t
                self.timeline.emit("probe", "loss_start", subject, t=t, window=window,
                                   seq=msg["seq"])
            elif kind == "loss_end":
                view.episode_start = None
                if msg.get("last_lost_t") is not None:
                    view.last_lost = local(msg["last_lost_t"])
                self.timeline.emit(
                    "probe", "loss_end", subject, t=t, window=window, seq=msg["seq"],
                    lost=msg["lost"], open=msg["open"], start_t=local(msg["start_t"]),
                    probes=msg["probes"], min_duration_s=_min_duration(msg),
                    max_duration_s=_max_duration(msg), forward_lost=msg["forward_lost"],
                    return_lost=msg["return_lost"])
            else:
                end = t + msg["period_s"]
                view.first_sent = t if view.first_sent is None else min(view.first_sent, t)
                view.judged_until = end if view.judged_until is None else max(
                    view.judged_until, end)
                view.sent += msg["sent"]
                view.lost += msg["lost"]
                if msg["lost"]:
                    view.last_lost = max(end, view.last_lost or end)
                self.timeline.emit(
                    "probe", "flow_stats", subject, t=t, window=window, sent=msg["sent"],
                    received=msg["received"], lost=msg["lost"], rtt_ms_p50=msg["rtt_ms_p50"],
                    rtt_ms_max=msg["rtt_ms_max"], period_s=msg["period_s"],
                    fwd_delay_ms_p50=msg["fwd_delay_ms_p50"],
                    ret_delay_ms_p50=msg["ret_delay_ms_p50"])
        self._emit_clock()


def _min_duration(msg: dict[str, Any]) -> float:
    last = msg["last_lost_t"] if msg["last_lost_t"] is not None else msg["start_t"]
    return float(last - msg["start_t"])


def _max_duration(msg: dict[str, Any]) -> float | None:
    if msg["prev_t"] is None or msg["open"]:
        return None
    return float(msg["t"] - msg["prev_t"])
