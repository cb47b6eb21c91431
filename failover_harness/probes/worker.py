"""The probe worker: `python -m failover_harness.probes.worker`, started by ProbeProcess.

Reads one JSON ProbeJob line on stdin, probes until SIGTERM, streams binary result records
(results.py) on stdout. It needs raw sockets (root or CAP_NET_RAW); the orchestrator doesn't.

- SIGTERM: stop sending, wait for the outstanding probes' answers or timeouts, report them,
  exit 0. A second SIGTERM exits at once.
- stdin closed (the parent died or gave up): exit at once.
- Errors at start (no permission, a source address that isn't local): message on stderr,
  exit status 2.
"""

from __future__ import annotations

import ctypes
import errno
import gc
import heapq
import math
import os
import select
import selectors
import signal
import socket
import struct
import sys
import time
from types import FrameType

from failover_harness.probes.flows import FlowSpec, ProbeJob
from failover_harness.probes.results import encode_hello, encode_result

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux value; Python 3.11 lacks the name
ICMP_FILTER = 1  # SOL_RAW option: bit mask of ICMP types the socket should not receive
SOL_RAW = 255
ICMP_ECHO_REPLY = 0
PR_SET_TIMERSLACK = 29
FLUSH_INTERVAL_S = 0.05  # results reach the orchestrator at most this late
FLUSH_BYTES = 32768
TIMESPEC = struct.Struct("=qq")
ICMP_HEAD = struct.Struct("!BBHHH")
EXIT_START_ERROR = 2
REALTIME_PRIORITY = 10


class StartError(Exception):
    """The job cannot run here (permissions, addresses)."""


def _icmp_template(flow: FlowSpec) -> tuple[bytearray, int]:
    """The flow's echo request built once by scapy (seq 0) and its checksum."""
    from scapy.layers.inet import ICMP  # imported here: scapy's import is slow

    payload = b"fh-probe" + struct.pack("!H", flow.icmp_id or 0) + bytes(22)
    raw = bytearray(bytes(ICMP(type=8, code=0, id=flow.icmp_id, seq=0) / payload))
    return raw, struct.unpack_from("!H", raw, 2)[0]


def _patched_checksum(base_checksum: int, seq: int) -> int:
    """RFC 1624 incremental update: the template had seq 0, now it has `seq`."""
    total = (~base_checksum & 0xFFFF) + seq
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pktinfo(src: str | None) -> list[tuple[int, int, bytes]]:
    """Ancillary data choosing the source address (the kernel still routes and checks it)."""
    if src is None:
        return []
    return [(socket.IPPROTO_IP, IP_PKTINFO,
             struct.pack("=I4s4s", 0, socket.inet_aton(src), bytes(4)))]


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


class _TcpAttempt:
    __slots__ = ("deadline", "lag", "sent", "seq", "sock")

    def __init__(self, sock: socket.socket, seq: int, sent: float, lag: float,
                 deadline: float) -> None:
        self.sock, self.seq, self.sent, self.lag = sock, seq, sent, lag
        self.deadline = deadline


class ProbeEngine:
    """Sends every flow on its own fixed grid, matches answers, expires the unanswered.

    Each probe really sent gets the flow's next seq. A TCP flow keeps one attempt open at a
    time: grid slots that come while it is open are skipped, so its seqs count attempts and
    its slot times (sent - lag) show which slots were skipped. An attempt is judged lost only
    by its own timeout or a failed connect.
    """

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
        self.icmp_sock: socket.socket | None = None
        self._icmp: dict[int, tuple[bytearray, int, list[tuple[int, int, bytes]]]] = {}
        self._icmp_pending: dict[tuple[int, int], tuple[int, int, float, float, float]] = {}
        self._tcp: dict[int, _TcpAttempt] = {}
        self._deadlines: list[tuple[float, int, int]] = []  # (deadline, flow index, seq)
        self._seq = [0] * len(self.flows)  # next seq: probes really sent
        self.skipped_slots = 0  # TCP slots that came while the flow's attempt was open
        self._open()

    def _open(self) -> None:
        icmp_flows = [i for i, f in enumerate(self.flows) if f.kind == "icmp"]
        if icmp_flows:
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            except PermissionError as exc:
                raise StartError(
                    f"ICMP probes need a raw socket and {sys.executable} has no CAP_NET_RAW: "
                    "give the probe worker the capability (systemd AmbientCapabilities=CAP_NET_RAW, "
                    "or `setcap cap_net_raw+ep` on a dedicated python copy named by "
                    "FAILOVER_HARNESS_PROBE_PYTHON; README 'Probes without root'), or run as root") from exc
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            except OSError:
                pass  # no kernel timestamps: RTTs from the application clock
            try:
                sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("=I", ~(1 << ICMP_ECHO_REPLY)
                                                                  & 0xFFFFFFFF))
            except OSError:
                pass  # we filter in Python then
            self.icmp_sock = sock
            self.selector.register(sock, selectors.EVENT_READ, "icmp")
            for i in icmp_flows:
                template, checksum = _icmp_template(self.flows[i])
                self._icmp[i] = (template, checksum, _pktinfo(self.flows[i].src))
        for flow in self.flows:
            self._check_source(flow)
        if self.stdin_fd is not None:
            self.selector.register(self.stdin_fd, selectors.EVENT_READ, "stdin")

    @staticmethod
    def _check_source(flow: FlowSpec) -> None:
        """Fail at start, not silently per probe, when a flow's source is not usable here."""
        if flow.kind == "icmp" and flow.src is None:
            return
        kind = socket.SOCK_STREAM if flow.kind == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(socket.AF_INET, kind)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((flow.src or "0.0.0.0", flow.sport or 0))
        except OSError as exc:
            where = f"{flow.src}:{flow.sport}" if flow.kind == "tcp" else f"{flow.src}"
            raise StartError(f"flow {flow.id}: cannot use source {where}: {exc.strerror}") from exc
        finally:
            sock.close()

    # -- output ---------------------------------------------------------------------------
    def _emit(self, record: bytes) -> None:
        self._out += record

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

    # -- sending --------------------------------------------------------------------------
    def _on_slot(self, index: int, slot: float) -> None:
        flow = self.flows[index]
        if flow.kind == "tcp" and not self._tcp_free(index):
            self.skipped_slots += 1
            return
        seq = self._seq[index]
        self._seq[index] = seq + 1
        if flow.kind == "icmp":
            self._send_icmp(index, flow, seq, slot)
        else:
            self._send_tcp(index, flow, seq, slot)

    def _tcp_free(self, index: int) -> bool:
        """No attempt of this flow is open any more (it may end right now unseen by the loop:
        answered, failed or timed out)."""
        attempt = self._tcp.get(index)
        if attempt is None:
            return True
        if select.select([], [attempt.sock], [], 0)[1]:
            self._tcp_done(index)  # answered or failed; we were not scheduled in time to see it
            return True
        if attempt.deadline <= time.monotonic():
            self._tcp_lost(index)
            return True
        return False  # one attempt at a time on one 5-tuple: this slot is skipped

    def _send_icmp(self, index: int, flow: FlowSpec, seq: int, slot: float) -> None:
        assert self.icmp_sock is not None and flow.icmp_id is not None
        template, base_checksum, ancillary = self._icmp[index]
        seq16 = seq & 0xFFFF
        struct.pack_into("!HHH", template, 2, _patched_checksum(base_checksum, seq16),
                         flow.icmp_id, seq16)
        sent = time.monotonic()
        sent_real = time.time()
        try:
            self.icmp_sock.sendmsg([template], ancillary, 0, (flow.dst, 0))
        except OSError:
            # No route, buffer full, ...: the probe is lost; it is judged like any other.
            pass
        self._icmp_pending[(flow.icmp_id, seq16)] = (index, seq, sent, sent_real, sent - slot)
        heapq.heappush(self._deadlines, (sent + flow.timeout_s, index, seq))

    def _send_tcp(self, index: int, flow: FlowSpec, seq: int, slot: float) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # RST on close: no TIME_WAIT, so the same source port is free for the next probe.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sent = time.monotonic()
        try:
            sock.bind((flow.src or "0.0.0.0", flow.sport or 0))
            rc = sock.connect_ex((flow.dst, flow.dport or 0))
        except OSError as exc:
            rc = exc.errno or errno.EIO
        lag = sent - slot
        if rc == errno.EINPROGRESS:
            deadline = sent + flow.timeout_s
            self._tcp[index] = _TcpAttempt(sock, seq, sent, lag, deadline)
            self.selector.register(sock, selectors.EVENT_WRITE, index)
            heapq.heappush(self._deadlines, (deadline, index, seq))
            return
        now = time.monotonic()
        sock.close()
        answered = rc in (0, errno.ECONNREFUSED)
        self._emit(encode_result(index, seq, sent, now - sent if answered else None, lag))

    def _close_tcp(self, attempt: _TcpAttempt) -> None:
        try:
            self.selector.unregister(attempt.sock)
        except (KeyError, ValueError):
            pass
        attempt.sock.close()

    # -- receiving ------------------------------------------------------------------------
    def _receive_icmp(self) -> None:
        assert self.icmp_sock is not None
        sock = self.icmp_sock
        pending = self._icmp_pending
        while True:
            try:
                data, ancillary, _flags, _addr = sock.recvmsg(512, 64)
            except BlockingIOError:
                return
            except InterruptedError:
                continue
            now = time.monotonic()
            if len(data) < 28:
                continue
            offset = (data[0] & 0x0F) * 4
            icmp_type, _code, _ck, icmp_id, seq16 = ICMP_HEAD.unpack_from(data, offset)
            if icmp_type != ICMP_ECHO_REPLY:
                continue
            entry = pending.pop((icmp_id, seq16), None)
            if entry is None:
                continue  # another worker's flow, or an answer after our timeout
            index, seq, sent, sent_real, lag = entry
            rtt = now - sent
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = TIMESPEC.unpack_from(value)
                    kernel_rtt = sec + nsec * 1e-9 - sent_real
                    if 0.0 <= kernel_rtt <= rtt:  # a wall-clock step would make it wrong
                        rtt = kernel_rtt
            self._emit(encode_result(index, seq, sent, rtt, lag))

    def _tcp_done(self, index: int) -> None:
        attempt = self._tcp.pop(index, None)
        if attempt is None:
            return
        now = time.monotonic()
        error = attempt.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self._close_tcp(attempt)
        # A refusal (RST) is an answer too: the path to the host works.
        answered = error in (0, errno.ECONNREFUSED)
        self._emit(encode_result(index, attempt.seq, attempt.sent,
                                 now - attempt.sent if answered else None, attempt.lag))

    def _tcp_lost(self, index: int) -> None:
        attempt = self._tcp.pop(index)
        self._close_tcp(attempt)
        self._emit(encode_result(index, attempt.seq, attempt.sent, None, attempt.lag))

    def _expire(self, now: float) -> None:
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _deadline, index, seq = heapq.heappop(deadlines)
            flow = self.flows[index]
            if flow.kind == "icmp":
                assert flow.icmp_id is not None
                key = (flow.icmp_id, seq & 0xFFFF)
                entry = self._icmp_pending.get(key)
                if entry is not None and entry[1] == seq:
                    del self._icmp_pending[key]
                    self._emit(encode_result(index, seq, entry[2], None, entry[4]))
            else:
                attempt = self._tcp.get(index)
                if attempt is not None and attempt.seq == seq:
                    self._tcp_lost(index)

    def _drop_answered_deadlines(self) -> None:
        """Answered probes leave their deadline in the heap; drop those at its head so we
        do not wake up for them."""
        deadlines = self._deadlines
        while deadlines:
            _deadline, index, seq = deadlines[0]
            flow = self.flows[index]
            if flow.kind == "icmp":
                entry = self._icmp_pending.get((flow.icmp_id or 0, seq & 0xFFFF))
                if entry is not None and entry[1] == seq:
                    return
            else:
                attempt = self._tcp.get(index)
                if attempt is not None and attempt.seq == seq:
                    return
            heapq.heappop(deadlines)

    # -- the loop -------------------------------------------------------------------------
    def _handle(self, ready: list[tuple[selectors.SelectorKey, int]]) -> None:
        for key, _events in ready:
            data = key.data
            if data == "icmp":
                self._receive_icmp()
            elif data == "stdin":
                if not os.read(self.stdin_fd or 0, 4096):
                    self.parent_gone = True
            else:
                self._tcp_done(data)

    def run(self) -> None:
        origin = time.monotonic() + self.job.start_delay_s
        count = len(self.flows)
        # Flows staggered over their interval, each on its own grid: slot k = origin +
        # phase + k * interval, computed from k (never from the last send) so nothing drifts.
        phases = [i / count * f.interval_s for i, f in enumerate(self.flows)]
        schedule = [(origin + phases[i], i) for i in range(count)]
        slot_numbers = [0] * count
        heapq.heapify(schedule)
        self._emit(encode_hello(origin))
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
            if self.stopping and not self._icmp_pending and not self._tcp:
                break
            self._drop_answered_deadlines()
            wake = self._deadlines[0][0] if self._deadlines else math.inf
            if not self.stopping:
                wake = min(wake, schedule[0][0])
            self._handle(wait_events(max(0.0, wake - time.monotonic())))
        if not self.parent_gone:
            self._flush(time.monotonic(), force=True)
        for attempt in list(self._tcp.values()):
            self._close_tcp(attempt)
        if self.icmp_sock is not None:
            self.icmp_sock.close()


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator decides when we stop
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
