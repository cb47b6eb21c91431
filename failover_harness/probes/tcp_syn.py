"""TCP probes as half-open SYNs: every slot one SYN on the flow's fixed 5-tuple (so ECMP keeps
its path), answered by the target's SYN-ACK (port open) or RST (closed): either proves the
path both ways. Several probes of a flow may be out at once, so a verdict comes every
interval, also while the path is down.

- Each probe carries its own initial sequence number; the answer acknowledges it plus one,
  which matches the answer to its probe, never to a neighbour.
- The flow's source port is held by a bound, unlistened socket: no local program gets it,
  and the kernel (which has no connection there) answers the SYN-ACK with a RST, which
  clears the half-open connection on the target at once.
- A probe still unanswered when the flow's next one goes out is reset by us first (RST,
  sequence number its ISN + 1): a half-open connection left on the target by a lost SYN-ACK
  would otherwise make the target answer the next SYN with a rate-limited ACK for the old
  one (RFC 5961), and the end of an outage would show late. An answer sent before the RST
  arrives still counts.
- Reordering on the path can still bring a SYN to the target while the half-open
  connection of an earlier probe is there; the target then answers with a bare ACK for the
  earlier one (rate-limited, RFC 5961), which our kernel resets. That ACK proves the path
  both ways too: it answers the flow's newest waiting probe.
- One 5-tuple holds one connection attempt in a stateful firewall: with one on the path,
  keep the interval above the round-trip time (a newer SYN replaces an older one's state).
- SYN and RST are built once per flow by scapy and patched per probe (RFC 1624 checksum).
"""

from __future__ import annotations

import random
import socket
import struct
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from failover_harness.probes import packets
from failover_harness.probes.wire import (
    Answer,
    StartError,
    enable_timestamps,
    kernel_time,
    patched_checksum,
    pktinfo,
    raw_socket_error,
    route_source,
)

if TYPE_CHECKING:  # the worker runs without pydantic on a remote vantage host
    from failover_harness.probes.flows import FlowSpec

ISN_STRIDE = 1 << 16  # probes of a flow have ISNs this far apart: distinct for 65536 probes
TCP_ACK, TCP_RST, TCP_SYN = 0x10, 0x04, 0x02
ANSWER_HEAD = struct.Struct("!HHII")  # sport, dport, seq, ack
SYN_WINDOW = 64240
SYN_MSS = 1460


def tcp_template(src: str, dst: str, sport: int, dport: int, flags: str) -> tuple[bytearray, int]:
    """A TCP header with sequence number 0 and its checksum (pseudo-header included);
    without scapy (a remote vantage host) built by packets.py."""
    try:
        from scapy.layers.inet import IP, TCP  # imported here: scapy's import is slow
    except ImportError:
        raw = bytearray(packets.tcp_header(src, dst, sport, dport, 0, flags,
                                           SYN_WINDOW if flags == "S" else 0,
                                           SYN_MSS if flags == "S" else None))
        return raw, struct.unpack_from("!H", raw, 16)[0]
    options = [("MSS", SYN_MSS)] if flags == "S" else []
    window = SYN_WINDOW if flags == "S" else 0
    packet = IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, seq=0, flags=flags,
                                        window=window, options=options)
    raw = bytearray(bytes(packet)[20:])
    return raw, struct.unpack_from("!H", raw, 16)[0]


def _patch_seq(template: bytearray, base_checksum: int, seq: int) -> None:
    struct.pack_into("!I", template, 4, seq)
    struct.pack_into("!H", template, 16,
                     patched_checksum(base_checksum, seq >> 16, seq & 0xFFFF))


class TcpSynProber:
    def __init__(self, flows: Sequence[tuple[int, FlowSpec]]) -> None:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        except PermissionError as exc:
            raise raw_socket_error("TCP") from exc
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        enable_timestamps(sock)
        self.sock = sock
        self._flows = dict(flows)
        self._holders: list[socket.socket] = []
        self._packets: dict[int, tuple[bytearray, int, bytearray, int,
                                       list[tuple[int, int, bytes]]]] = {}
        self._isn_base: dict[int, int] = {}
        # (target address, target port, our port, ISN) -> (flow index, seq)
        self._waiting: dict[tuple[bytes, int, int, int], tuple[int, int]] = {}
        self._isn_of: dict[tuple[int, int], int] = {}  # (index, seq) -> ISN, while waiting
        self._flow_of = {(socket.inet_aton(f.dst), f.dport, f.sport): i for i, f in flows}
        for index, flow in flows:
            assert flow.sport is not None and flow.dport is not None
            src = flow.src or route_source(flow.dst)
            syn, syn_ck = tcp_template(src, flow.dst, flow.sport, flow.dport, "S")
            rst, rst_ck = tcp_template(src, flow.dst, flow.sport, flow.dport, "R")
            self._packets[index] = (syn, syn_ck, rst, rst_ck, pktinfo(src))
            self._isn_base[index] = random.getrandbits(32)
            self._holders.append(self._hold_port(flow, src))

    @staticmethod
    def _hold_port(flow: FlowSpec, src: str) -> socket.socket:
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            holder.bind((src, flow.sport or 0))
        except OSError as exc:
            holder.close()
            raise StartError(f"flow {flow.id}: cannot use source {src}:{flow.sport}: "
                             f"{exc.strerror}") from exc
        return holder

    @property
    def sockets(self) -> list[socket.socket]:
        return [self.sock]

    def send(self, index: int, seq: int) -> None:
        flow = self._flows[index]
        syn, syn_ck, rst, rst_ck, ancillary = self._packets[index]
        previous = self._isn_of.get((index, seq - 1))
        if previous is not None:  # unanswered so far: clear its half-open state first
            _patch_seq(rst, rst_ck, (previous + 1) & 0xFFFFFFFF)
            self._sendmsg(rst, ancillary, flow.dst)
        isn = (self._isn_base[index] + seq * ISN_STRIDE) & 0xFFFFFFFF
        _patch_seq(syn, syn_ck, isn)
        self._isn_of[(index, seq)] = isn
        self._waiting[(socket.inet_aton(flow.dst), flow.dport or 0, flow.sport or 0, isn)] = (
            index, seq)
        self._sendmsg(syn, ancillary, flow.dst)

    def _sendmsg(self, packet: bytearray, ancillary: list[tuple[int, int, bytes]],
                 dst: str) -> None:
        try:
            self.sock.sendmsg([packet], ancillary, 0, (dst, 0))
        except OSError:
            pass  # no route, buffer full, ...: the probe is lost; judged like any other

    def forget(self, index: int, seq: int) -> None:
        isn = self._isn_of.pop((index, seq), None)
        if isn is None:
            return
        flow = self._flows[index]
        self._waiting.pop((socket.inet_aton(flow.dst), flow.dport or 0, flow.sport or 0, isn),
                          None)

    def receive(self, _sock: socket.socket) -> list[Answer]:
        answers: list[Answer] = []
        while True:
            try:
                data, ancillary, _flags, _addr = self.sock.recvmsg(128, 64)
            except BlockingIOError:
                return answers
            except InterruptedError:
                continue
            now = time.monotonic()
            offset = (data[0] & 0x0F) * 4 if data else 0
            if len(data) < offset + 14:
                continue
            flags = data[offset + 13]
            if not flags & TCP_ACK:
                continue
            sport, dport, _seq, ack = ANSWER_HEAD.unpack_from(data, offset)
            key = (data[12:16], sport, dport, (ack - 1) & 0xFFFFFFFF)
            found = self._waiting.pop(key, None)
            if found is not None and not flags & (TCP_SYN | TCP_RST):
                # A bare ACK for a probe that is still waiting: its SYN-ACK is on the way.
                self._waiting[key] = found
                found = None
            elif found is None and not flags & (TCP_SYN | TCP_RST):
                found = self._newest_waiting(key)
            if found is None:
                continue  # not ours, or after its timeout
            self.forget(*found)
            answers.append(Answer(found[0], found[1], now, kernel_time(ancillary)))

    def _newest_waiting(self, key: tuple[bytes, int, int, int]) -> tuple[int, int] | None:
        """The flow's newest waiting probe, when `key` (a bare ACK's) acknowledges one of
        the flow's probes (its ISN is on the flow's grid of ISNs)."""
        index = self._flow_of.get(key[:3])
        if index is None or (key[3] - self._isn_base[index]) % ISN_STRIDE:
            return None
        waiting = [seq for (i, seq) in self._isn_of if i == index]
        return (index, max(waiting)) if waiting else None

    def close(self) -> None:
        self.sock.close()
        for holder in self._holders:
            holder.close()
