"""Runs the probe worker and turns its results into timeline events: flow_start, loss_start,
loss_end, flow_stats. Also answers the loss questions of checks and the guard."""

from __future__ import annotations

import os
import shlex
import sys
import threading
from collections.abc import Mapping, Sequence

from failover_harness.errors import InfrastructureError, SafetyGateError
from failover_harness.probes.episodes import FlowStats, LossEnd, LossStart, LossTracker
from failover_harness.probes.flows import FlowSpec
from failover_harness.probes.process import NETNS_EXEC, ProbeProcess
from failover_harness.probes.results import ProbeResult
from failover_harness.timeline import Timeline

# Probes without root (README "Probes without root"): the worker alone needs CAP_NET_RAW.
PROBE_PYTHON_ENV = "FAILOVER_HARNESS_PROBE_PYTHON"  # interpreter for the worker, e.g. a setcap'd copy
NETNS_EXEC_ENV = "FAILOVER_HARNESS_NETNS_EXEC"  # command that enters {netns} (default: ip netns exec)


def probe_launch(env: Mapping[str, str] = os.environ) -> tuple[str, tuple[str, ...]]:
    """(python for the worker, command prefix entering a vantage point's namespace)."""
    python = env.get(PROBE_PYTHON_ENV) or sys.executable
    netns_exec = tuple(shlex.split(env[NETNS_EXEC_ENV])) if env.get(NETNS_EXEC_ENV) else NETNS_EXEC
    return python, netns_exec


class FlowView:
    """What the orchestrator knows of one flow so far (times on the timeline clock)."""

    def __init__(self) -> None:
        self.first_sent: float | None = None
        self.judged_until: float | None = None  # send time of the newest judged probe
        self.last_lost: float | None = None
        self.episode_start: float | None = None
        self.sent = 0
        self.lost = 0


class ProbeMonitor:
    def __init__(self, flows: Sequence[FlowSpec], netns: str | None, timeline: Timeline) -> None:
        self.flows = list(flows)
        self.netns = netns
        self.timeline = timeline
        self._lock = threading.Lock()
        self._tracker = LossTracker(self.flows)
        self._views = {f.id: FlowView() for f in self.flows}
        python, netns_exec = probe_launch()
        self._process = ProbeProcess(self.flows, self._on_results, netns=netns, python=python,
                                     netns_exec=netns_exec)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def start(self) -> None:
        for flow in self.flows:
            self.timeline.emit("probe", "flow_start", f"flow:{flow.id}", probe=flow.kind,
                               src=flow.src, dst=flow.dst, dport=flow.dport, sport=flow.sport,
                               icmp_id=flow.icmp_id, interval_s=flow.interval_s,
                               timeout_s=flow.timeout_s, netns=self.netns)
        try:
            self._process.start()
        except InfrastructureError as exc:
            # Probes start before the gate: a worker that cannot probe (e.g. no CAP_NET_RAW)
            # stops the run like a failed gate, before any fault.
            raise SafetyGateError(str(exc)) from exc

    def stop(self) -> None:
        """Stop probing; the outstanding probes are judged and the open episodes closed."""
        if self._process.running:
            self._process.stop()
        self._process.__exit__(None, None, None)  # closes pipes and its stderr file
        with self._lock:
            self._emit(self._tracker.finish())

    def _on_results(self, results: list[ProbeResult]) -> None:
        with self._lock:
            clock = self.timeline.clock
            for r in results:
                view = self._views.get(r.flow_id)
                if view is None:
                    continue
                sent = clock.from_monotonic(r.sent)
                view.sent += 1
                if view.first_sent is None:
                    view.first_sent = sent
                if view.judged_until is None or sent > view.judged_until:
                    view.judged_until = sent
                if r.lost:
                    view.lost += 1
                    view.last_lost = max(sent, view.last_lost or sent)
            self._emit(self._tracker.feed(results))

    def _emit(self, events: list[LossStart | LossEnd | FlowStats]) -> None:
        clock = self.timeline.clock
        for e in events:
            subject = f"flow:{e.flow_id}"
            if isinstance(e, LossStart):
                t = clock.from_monotonic(e.t)
                self._views[e.flow_id].episode_start = t
                self.timeline.emit("probe", "loss_start", subject, t=t, seq=e.seq)
            elif isinstance(e, LossEnd):
                self._views[e.flow_id].episode_start = None
                # The bounds: the answered probes around the episode (+/- one interval).
                # UDP flows to a reflector split the episode's lost probes by direction.
                self.timeline.emit("probe", "loss_end", subject, t=clock.from_monotonic(e.t),
                                   seq=e.seq, lost=e.lost, open=e.open,
                                   start_t=clock.from_monotonic(e.start_t), probes=e.probes,
                                   min_duration_s=e.min_duration_s,
                                   max_duration_s=e.max_duration_s,
                                   forward_lost=e.forward_lost, return_lost=e.return_lost)
            else:
                self.timeline.emit("probe", "flow_stats", subject, t=clock.from_monotonic(e.t),
                                   sent=e.sent, received=e.received, lost=e.lost,
                                   rtt_ms_p50=e.rtt_ms_p50, rtt_ms_max=e.rtt_ms_max,
                                   period_s=e.period_s, fwd_delay_ms_p50=e.fwd_delay_ms_p50,
                                   ret_delay_ms_p50=e.ret_delay_ms_p50)

    # --- questions (thread-safe) ---

    def loss_free_for(self, seconds: float) -> bool:
        """Every flow has been judged for at least `seconds` and lost nothing in that time."""
        with self._lock:
            for view in self._views.values():
                if view.first_sent is None or view.judged_until is None:
                    return False
                if view.judged_until - view.first_sent < seconds:
                    return False
                if view.last_lost is not None and view.last_lost >= view.judged_until - seconds:
                    return False
                if view.episode_start is not None:
                    return False
            return True

    def all_flows_losing_for(self, seconds: float, now: float) -> bool:
        """Every flow is in a loss episode that began at least `seconds` ago (the guard)."""
        with self._lock:
            return bool(self._views) and all(
                v.episode_start is not None and now - v.episode_start >= seconds
                for v in self._views.values())

    def summary(self) -> dict[str, tuple[int, int, bool]]:
        """flow id -> (sent, lost, in an episode now), for the live view."""
        with self._lock:
            return {fid: (v.sent, v.lost, v.episode_start is not None)
                    for fid, v in self._views.items()}
