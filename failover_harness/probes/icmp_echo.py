"""ICMP echo probes: one raw socket for every ICMP flow, requests built once by scapy and
patched per probe, replies matched by (ICMP id, sequence number)."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from failover_harness.probes import packets
from failover_harness.probes.wire import (
    Answer,
    enable_timestamps,
    kernel_time,
    patched_checksum,
    pktinfo,
    raw_socket_error,
)

if TYPE_CHECKING:  # the worker runs without pydantic on a remote vantage host
    from failover_harness.probes.flows import FlowSpec

ICMP_FILTER = 1  # SOL_RAW option: bit mask of ICMP types the socket should not receive
SOL_RAW = 255
ICMP_ECHO_REPLY = 0
ICMP_HEAD = struct.Struct("!BBHHH")


def icmp_template(flow: FlowSpec) -> tuple[bytearray, int]:
    """The flow's echo request built once by scapy (seq 0) and its checksum; without scapy
    (a remote vantage host) by packets.py."""
    payload = b"fh-probe" + struct.pack("!H", flow.icmp_id or 0) + bytes(22)
    try:
        from scapy.layers.inet import ICMP  # imported here: scapy's import is slow
    except ImportError:
        raw = bytearray(packets.icmp_echo(flow.icmp_id or 0, 0, payload))
    else:
        raw = bytearray(bytes(ICMP(type=8, code=0, id=flow.icmp_id, seq=0) / payload))
    return raw, struct.unpack_from("!H", raw, 2)[0]


class IcmpProber:
    def __init__(self, flows: Sequence[tuple[int, FlowSpec]]) -> None:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        except PermissionError as exc:
            raise raw_socket_error("ICMP") from exc
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        enable_timestamps(sock)
        try:
            sock.setsockopt(SOL_RAW, ICMP_FILTER,
                            struct.pack("=I", ~(1 << ICMP_ECHO_REPLY) & 0xFFFFFFFF))
        except OSError:
            pass  # we filter in Python then
        self.sock = sock
        self._flows = dict(flows)
        self._packets = {i: (*icmp_template(f), pktinfo(f.src)) for i, f in flows}
        self._by_id = {f.icmp_id: i for i, f in flows}
        self._waiting: dict[tuple[int, int], int] = {}  # (icmp id, seq16) -> seq

    @property
    def sockets(self) -> list[socket.socket]:
        return [self.sock]

    def send(self, index: int, seq: int) -> None:
        flow = self._flows[index]
        assert flow.icmp_id is not None
        template, base_checksum, ancillary = self._packets[index]
        seq16 = seq & 0xFFFF
        struct.pack_into("!HHH", template, 2, patched_checksum(base_checksum, seq16),
                         flow.icmp_id, seq16)
        self._waiting[(flow.icmp_id, seq16)] = seq
        try:
            self.sock.sendmsg([template], ancillary, 0, (flow.dst, 0))
        except OSError:
            pass  # no route, buffer full, ...: the probe is lost; judged like any other

    def forget(self, index: int, seq: int) -> None:
        icmp_id = self._flows[index].icmp_id or 0
        key = (icmp_id, seq & 0xFFFF)
        if self._waiting.get(key) == seq:
            del self._waiting[key]

    def receive(self, _sock: socket.socket) -> list[Answer]:
        answers: list[Answer] = []
        while True:
            try:
                data, ancillary, _flags, _addr = self.sock.recvmsg(512, 64)
            except BlockingIOError:
                return answers
            except InterruptedError:
                continue
            now = time.monotonic()
            if len(data) < 28:
                continue
            offset = (data[0] & 0x0F) * 4
            if len(data) < offset + ICMP_HEAD.size:
                continue
            icmp_type, _code, _ck, icmp_id, seq16 = ICMP_HEAD.unpack_from(data, offset)
            if icmp_type != ICMP_ECHO_REPLY:
                continue
            seq = self._waiting.pop((icmp_id, seq16), None)
            if seq is None:
                continue  # another worker's flow, or an answer after our timeout
            answers.append(Answer(self._by_id[icmp_id], seq, now, kernel_time(ancillary)))

    def close(self) -> None:
        self.sock.close()
