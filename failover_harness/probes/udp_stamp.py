"""UDP probes to a STAMP reflector (reflector.py): one unprivileged socket per flow, bound to
the flow's source port and connected to the reflector. Each test packet carries the probe's
sequence number, its send time and the flow's SSID; the reflected packet adds the
reflector's receive count for the session and its receive and send times.

One-way delays are differences of two hosts' CLOCK_REALTIME: forward = reflector receive -
our send, return = our receive - reflector send. Each includes the clocks' offset, so only
their changes within a run mean something unless both clocks are synchronized (NTP/PTP);
in the lab both sides share one kernel clock and the values are absolute.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from failover_harness.probes.reflector import (
    REFLECTED,
    TEST_PACKET_SIZE,
    from_ntp,
    sender_packet,
)
from failover_harness.probes.wire import Answer, StartError, enable_timestamps, kernel_time

if TYPE_CHECKING:  # the worker runs without pydantic on a remote vantage host
    from failover_harness.probes.flows import FlowSpec


class UdpStampProber:
    def __init__(self, flows: Sequence[tuple[int, FlowSpec]]) -> None:
        self._flows = dict(flows)
        self._socks: dict[int, socket.socket] = {}
        self._index_of: dict[int, int] = {}  # socket fd -> flow index
        try:
            for index, flow in flows:
                self._socks[index] = self._open(flow)
                self._index_of[self._socks[index].fileno()] = index
        except BaseException:
            self.close()
            raise
        self._waiting: set[tuple[int, int]] = set()

    @staticmethod
    def _open(flow: FlowSpec) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            enable_timestamps(sock)
            sock.bind((flow.src or "0.0.0.0", flow.sport or 0))
            sock.connect((flow.dst, flow.dport or 0))
        except OSError as exc:
            sock.close()
            raise StartError(f"flow {flow.id}: cannot use source {flow.src}:{flow.sport} "
                             f"towards {flow.dst}:{flow.dport}: {exc.strerror}") from exc
        return sock

    @property
    def sockets(self) -> list[socket.socket]:
        return list(self._socks.values())

    def send(self, index: int, seq: int) -> None:
        self._waiting.add((index, seq))
        try:
            self._socks[index].send(sender_packet(seq, time.time(), index))
        except OSError:
            pass  # no route, refused (ICMP unreachable), buffer full: judged as lost

    def forget(self, index: int, seq: int) -> None:
        self._waiting.discard((index, seq))

    def receive(self, sock: socket.socket) -> list[Answer]:
        index = self._index_of[sock.fileno()]
        answers: list[Answer] = []
        while True:
            try:
                data, ancillary, _flags, _addr = sock.recvmsg(TEST_PACKET_SIZE, 64)
            except BlockingIOError:
                return answers
            except InterruptedError:
                continue
            except OSError:
                continue  # ICMP error queued on the connected socket
            now = time.monotonic()
            received = kernel_time(ancillary)
            if len(data) < TEST_PACKET_SIZE:
                continue
            (peer_seq, peer_sent, _err, ssid, peer_received, seq, sent_stamp, _serr, _mbz,
             _ttl) = REFLECTED.unpack_from(data)
            if ssid != index & 0xFFFF or (index, seq) not in self._waiting:
                continue  # not this flow's, a duplicate, or after its timeout
            self._waiting.discard((index, seq))
            forward = from_ntp(peer_received) - from_ntp(sent_stamp)
            back = (received if received is not None else time.time()) - from_ntp(peer_sent)
            answers.append(Answer(index, seq, now, received, peer_seq, forward, back))

    def close(self) -> None:
        for sock in self._socks.values():
            sock.close()
