"""The probe worker on a remote vantage host: python3's standard library only.

The harness ships it over SSH in a zipapp (zipapp.py) and runs it through BOOTSTRAP. It probes
like the local worker (worker.ProbeEngine) but summarises on its side: the orchestrator gets
loss episodes and per-period statistics, not every probe, so its cost grows with events.

Protocol, one JSON object per line each way (times are this host's CLOCK_MONOTONIC s):
- in: the job (first line), then `c <n>` (clock ping: answered at once with this host's
  time) and `stop` (finish like SIGTERM: judge the outstanding probes, report, exit 0).
- out: {"k": "hello", "origin", "python"}, {"k": "clock", "n", "t"}, {"k": "loss_start" |
  "loss_end" | "flow_stats", "at": written, ...the episodes.py fields}, {"k": "done", "sent"}.
- stdin closed (the orchestrator died, or its SSH connection did): exit at once.
Start errors (no raw-socket permission, a source that is not local): stderr, exit 2.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import time
from typing import Any

from failover_harness.probes.episodes import EpisodeEvent, FlowStats, LossEnd, LossStart, LossTracker
from failover_harness.probes.results import ProbeResult
from failover_harness.probes.wire import StartError
from failover_harness.probes.worker import EXIT_START_ERROR, ProbeEngine

EVENT_KINDS: dict[type, str] = {LossStart: "loss_start", LossEnd: "loss_end",
                                FlowStats: "flow_stats"}


@dataclasses.dataclass(frozen=True)
class WireFlow:
    """FlowSpec's fields, read without pydantic (the harness validated them)."""

    id: str
    kind: str
    dst: str
    src: str | None = None
    dport: int | None = None
    sport: int | None = None
    icmp_id: int | None = None
    interval_s: float = 0.01
    timeout_s: float = 1.0


@dataclasses.dataclass(frozen=True)
class WireJob:
    flows: list[WireFlow]
    start_delay_s: float = 0.05
    cpu: int | None = None
    realtime: bool = True
    stats_period_s: float = 1.0


def job_from_json(line: bytes) -> WireJob:
    raw = json.loads(line)
    flows = [WireFlow(**f) for f in raw.pop("flows")]
    return WireJob(flows=flows, **raw)


def line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


class SummarisingEngine(ProbeEngine):
    """ProbeEngine whose output is loss episodes and period stats, plus clock answers."""

    def __init__(self, job: WireJob, out_fd: int, stdin_fd: int) -> None:
        super().__init__(job, out_fd, stdin_fd)  # type: ignore[arg-type]
        self._ids = [f.id for f in job.flows]
        self.tracker = LossTracker(job.flows,  # type: ignore[arg-type]
                                   stats_period_s=job.stats_period_s)
        self._input = b""
        self.probes = 0

    def encode_hello(self, origin: float) -> bytes:
        return line({"k": "hello", "origin": origin, "python": sys.version.split()[0]})

    def encode_result(self, index: int, seq: int, sent: float, rtt: float | None, lag: float,
                      peer_seq: int | None = None, fwd_s: float | None = None,
                      ret_s: float | None = None) -> bytes:
        self.probes += 1
        result = ProbeResult(self._ids[index], seq, sent, rtt, lag, peer_seq, fwd_s, ret_s)
        return self.encode_events(self.tracker.feed([result]))

    @staticmethod
    def encode_events(events: list[EpisodeEvent]) -> bytes:
        if not events:
            return b""
        at = time.monotonic()  # when written: the orchestrator's ingest latency starts here
        return b"".join(line({"k": EVENT_KINDS[type(e)], "at": at, **dataclasses.asdict(e)})
                        for e in events)

    def on_input(self, data: bytes) -> None:
        self._input += data
        *lines, self._input = self._input.split(b"\n")
        for text in lines:
            if text.startswith(b"c "):
                self.write_now(line({"k": "clock", "n": int(text[2:]), "t": time.monotonic()}))
            elif text == b"stop":
                self.stopping = True

    def finish(self) -> bytes:
        return self.encode_events(self.tracker.finish()) + line({"k": "done",
                                                                 "sent": self.probes})


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        job = job_from_json(sys.stdin.buffer.readline())
    except (ValueError, TypeError, KeyError) as exc:
        print(f"probe worker: bad job: {exc}", file=sys.stderr)
        return EXIT_START_ERROR
    if job.realtime:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        except (OSError, AttributeError):
            pass
    try:
        engine = SummarisingEngine(job, out_fd=sys.stdout.fileno(), stdin_fd=sys.stdin.fileno())
    except StartError as exc:
        print(f"probe worker: {exc}", file=sys.stderr)
        return EXIT_START_ERROR

    def on_term(_signum: int, _frame: object) -> None:
        engine.stopping = True

    signal.signal(signal.SIGTERM, on_term)
    engine.run()
    if not engine.parent_gone:
        tail = engine.finish()
        try:
            os.write(sys.stdout.fileno(), tail)
        except BrokenPipeError:
            pass
    return 0
