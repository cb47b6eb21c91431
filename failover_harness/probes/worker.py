"""The probe worker: `python -m failover_harness.probes.worker`, started by ProbeProcess.

Reads one JSON ProbeJob line on stdin, probes until SIGTERM, streams binary result records
(results.py) on stdout. ICMP and TCP probes need raw sockets (root or CAP_NET_RAW), UDP
probes do not; the orchestrator never does. Each kind's prober is a module of its own
(icmp_echo, tcp_syn, udp_stamp).

- SIGTERM: stop sending, wait for the outstanding probes' answers or timeouts, report them,
  exit 0. A second SIGTERM exits at once.
- stdin closed (the parent died or gave up): exit at once.
- Errors at start (no permission, a source address that isn't local): message on stderr,
  exit status 2.
"""

from __future__ import annotations

import ctypes
import gc
import heapq
import math
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Protocol

from failover_harness.probes.icmp_echo import IcmpProber
from failover_harness.probes.results import encode_hello, encode_result
from failover_harness.probes.tcp_syn import TcpSynProber
from failover_harness.probes.udp_stamp import UdpStampProber
from failover_harness.probes.wire import Answer, StartError

if TYPE_CHECKING:  # pydantic is not imported: remote_worker.py runs this without it
    from failover_harness.probes.flows import FlowSpec, ProbeJob

PR_SET_TIMERSLACK = 29
FLUSH_INTERVAL_S = 0.05  # results reach the orchestrator at most this late
FLUSH_BYTES = 32768
EXIT_START_ERROR = 2
REALTIME_PRIORITY = 10
PROBERS: dict[str, Callable[[list[tuple[int, FlowSpec]]], Prober]] = {
    "icmp": IcmpProber, "tcp": TcpSynProber, "udp": UdpStampProber}


class Prober(Protocol):
    """One probe kind (icmp_echo, tcp_syn, udp_stamp): sends, matches answers to probes."""

    @property
    def sockets(self) -> list[socket.socket]: ...

    def send(self, index: int, seq: int) -> None: ...

    def forget(self, index: int, seq: int) -> None: ...  # judged lost: stop waiting

    def receive(self, sock: socket.socket) -> list[Answer]: ...

    def close(self) -> None: ...


def _set_timer_slack() -> None:
    """Wake-ups as precise as the kernel can (default slack is 50 us)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _set_realtime() -> None:
    """SCHED_FIFO: sends are not delayed behind ordinary processes. The worker sleeps most of
    the time, and the kernel caps real-time tasks (sched_rt_runtime_us) anyway."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    except (OSError, AttributeError):
        pass  # not permitted here: ordinary scheduling


class ProbeEngine:
    """Sends every flow on its own fixed grid, one probe per slot, hands answers to the
    results, expires the unanswered at their flow's timeout."""

    def __init__(self, job: ProbeJob, out_fd: int, stdin_fd: int | None) -> None:
        self.job = job
        self.flows = job.flows
        self.out_fd = out_fd
        self.stdin_fd = stdin_fd
        self.stopping = False
        self.parent_gone = False
        self._out = bytearray()
        self._last_flush = time.monotonic()
        # SelectSelector: select() sleeps with microsecond precision, epoll only with ms.
        self.selector = selectors.SelectSelector()
        self._pending: dict[tuple[int, int], tuple[float, float, float]] = {}
        self._deadlines: list[tuple[float, int, int]] = []  # (deadline, flow index, seq)
        self._seq = [0] * len(self.flows)  # next seq: probes really sent
        self._probers: list[Prober] = []
        self._prober_of: list[Prober] = []
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        for flow in self.flows:
            if flow.kind == "icmp" and flow.src is not None:
                self._check_source(flow)
        by_kind: dict[str, Prober] = {}
        for kind, make in PROBERS.items():
            mine = [(i, f) for i, f in enumerate(self.flows) if f.kind == kind]
            if mine:
                prober = by_kind[kind] = make(mine)
                self._probers.append(prober)
                for sock in prober.sockets:
                    self.selector.register(sock, selectors.EVENT_READ, prober)
        self._prober_of = [by_kind[f.kind] for f in self.flows]
        if self.stdin_fd is not None:
            self.selector.register(self.stdin_fd, selectors.EVENT_READ, None)

    @staticmethod
    def _check_source(flow: FlowSpec) -> None:
        """Fail at start, not silently per probe, when a flow's source is not local here."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((flow.src or "0.0.0.0", 0))
            except OSError as exc:
                raise StartError(f"flow {flow.id}: cannot use source {flow.src}: "
                                 f"{exc.strerror}") from exc

    # -- output ---------------------------------------------------------------------------
    def _flush(self, now: float, force: bool = False) -> None:
        if not self._out:
            self._last_flush = now
            return
        if not force and len(self._out) < FLUSH_BYTES and now - self._last_flush < FLUSH_INTERVAL_S:
            return
        view = memoryview(self._out)
        try:
            while view:
                written = os.write(self.out_fd, view)
                view = view[written:]
        except BrokenPipeError:
            self.parent_gone = True
        finally:
            view.release()
        self._out.clear()
        self._last_flush = now

    # -- probes ---------------------------------------------------------------------------
    def _on_slot(self, index: int, slot: float) -> None:
        seq = self._seq[index]
        self._seq[index] = seq + 1
        sent = time.monotonic()
        sent_real = time.time()
        self._prober_of[index].send(index, seq)
        self._pending[(index, seq)] = (sent, sent_real, sent - slot)
        heapq.heappush(self._deadlines, (sent + self.flows[index].timeout_s, index, seq))

    def _answered(self, answers: list[Answer]) -> None:
        for answer in answers:
            entry = self._pending.pop((answer.flow_index, answer.seq), None)
            if entry is None:
                continue  # judged lost already
            sent, sent_real, lag = entry
            rtt = answer.rx_mono - sent
            if answer.rx_real is not None:
                kernel_rtt = answer.rx_real - sent_real
                if 0.0 <= kernel_rtt <= rtt:  # a wall-clock step would make it wrong
                    rtt = kernel_rtt
            self._out += self.encode_result(answer.flow_index, answer.seq, sent, rtt, lag,
                                            answer.peer_seq, answer.fwd_s, answer.ret_s)

    def _expire(self, now: float) -> None:
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _deadline, index, seq = heapq.heappop(deadlines)
            entry = self._pending.pop((index, seq), None)
            if entry is not None:
                self._prober_of[index].forget(index, seq)
                self._out += self.encode_result(index, seq, entry[0], None, entry[2])

    def _drop_answered_deadlines(self) -> None:
        """Answered probes leave their deadline in the heap; drop those at its head so we
        do not wake up for them."""
        deadlines = self._deadlines
        while deadlines and (deadlines[0][1], deadlines[0][2]) not in self._pending:
            heapq.heappop(deadlines)

    # -- the loop -------------------------------------------------------------------------
    def _handle(self, ready: list[tuple[selectors.SelectorKey, int]]) -> None:
        for key, _events in ready:
            prober = key.data
            if prober is None:
                data = os.read(self.stdin_fd or 0, 4096)
                if not data:
                    self.parent_gone = True
                else:
                    self.on_input(data)
            else:
                self._answered(prober.receive(key.fileobj))

    def run(self) -> None:
        origin = time.monotonic() + self.job.start_delay_s
        count = len(self.flows)
        # Flows staggered over their interval, each on its own grid: slot k = origin +
        # phase + k * interval, computed from k (never from the last send) so nothing drifts.
        phases = [i / count * f.interval_s for i, f in enumerate(self.flows)]
        schedule = [(origin + phases[i], i) for i in range(count)]
        slot_numbers = [0] * count
        heapq.heapify(schedule)
        self._out += self.encode_hello(origin)
        self._flush(time.monotonic(), force=True)
        wait_events = self.selector.select
        flows = self.flows
        while not self.parent_gone:
            now = time.monotonic()
            if not self.stopping:
                while schedule[0][0] <= now:
                    slot, index = schedule[0]
                    self._on_slot(index, slot)
                    k = slot_numbers[index] = slot_numbers[index] + 1
                    heapq.heapreplace(schedule, (origin + phases[index] + k * flows[index].interval_s,
                                                 index))
                now = time.monotonic()
            # Answers that came while we waited for the CPU are not losses: take them in
            # before judging timeouts (on a loaded machine a select result can be a second old).
            self._handle(wait_events(0))
            self._expire(time.monotonic())
            self._flush(now)
            if self.stopping and not self._pending:
                break
            self._drop_answered_deadlines()
            wake = self._deadlines[0][0] if self._deadlines else math.inf
            if not self.stopping:
                wake = min(wake, schedule[0][0])
            self._handle(wait_events(max(0.0, wake - time.monotonic())))
        if not self.parent_gone:
            self._flush(time.monotonic(), force=True)
        self.close()

    # -- what a subclass may change (remote_worker.py summarises and answers clock pings) -----
    def encode_result(self, index: int, seq: int, sent: float, rtt: float | None, lag: float,
                      peer_seq: int | None = None, fwd_s: float | None = None,
                      ret_s: float | None = None) -> bytes:
        return encode_result(index, seq, sent, rtt, lag, peer_seq, fwd_s, ret_s)

    def encode_hello(self, origin: float) -> bytes:
        return encode_hello(origin)

    def on_input(self, data: bytes) -> None:
        """Bytes the orchestrator wrote on stdin after the job (the local worker needs none)."""

    def write_now(self, data: bytes) -> None:
        """Append and flush at once (answers whose delay matters)."""
        self._out += data
        self._flush(time.monotonic(), force=True)

    def close(self) -> None:
        for prober in self._probers:
            prober.close()
        self._probers.clear()


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator decides when we stop
    from failover_harness.probes.flows import ProbeJob

    line = sys.stdin.buffer.readline()
    try:
        job = ProbeJob.model_validate_json(line)
    except ValueError as exc:
        print(f"probe worker: bad job: {exc}", file=sys.stderr)
        return EXIT_START_ERROR
    if job.cpu is not None:
        os.sched_setaffinity(0, {job.cpu})
    _set_timer_slack()
    if job.realtime:
        _set_realtime()
    try:
        engine = ProbeEngine(job, out_fd=sys.stdout.fileno(), stdin_fd=sys.stdin.fileno())
    except StartError as exc:
        print(f"probe worker: {exc}", file=sys.stderr)
        return EXIT_START_ERROR

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        if engine.stopping:
            raise SystemExit(0)
        engine.stopping = True

    signal.signal(signal.SIGTERM, on_term)
    # scapy leaves ~10^5 long-lived objects; a full collection over them stalls sends by ms.
    gc.collect()
    gc.freeze()
    engine.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
