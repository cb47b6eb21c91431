"""Probes as a packet capture saw them: the independent view the bench compares the engine
with. Reads classic pcap (micro or nanosecond; Ethernet, Linux cooked or raw IP) without
the engine's code: each request and whether its answer was on the wire too.

A probe is identified as its answer identifies it: ICMP by (id, sequence number), TCP by the
SYN's sequence number (the SYN-ACK or RST acknowledges it plus one), UDP by the STAMP
sequence number (the reflected packet echoes it at offset 24).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from failover_harness.errors import LabError

# (kind, prober's address, ICMP id or prober's port)
FlowKey = tuple[str, str, int]
LINK_OFFSET = {1: 14, 113: 16, 101: 0}  # Ethernet, Linux cooked (SLL), raw IP
TCP_SYN, TCP_RST, TCP_ACK = 0x02, 0x04, 0x10
STAMP_SIZE = 44


@dataclass
class WireProbe:
    t: float  # capture time of the request
    answered: bool = False


def read_pcap(path: Path) -> Iterator[tuple[float, bytes]]:
    """(capture time, IPv4 packet) for every IPv4 packet in the file."""
    data = path.read_bytes()
    if len(data) < 24:
        raise LabError(f"capture {path} is empty")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise LabError(f"capture {path} is not a classic pcap file")
    frac = 1e-9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e-6
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0xFFFF
    if linktype not in LINK_OFFSET:
        raise LabError(f"capture {path}: link type {linktype} is not read here")
    skip = LINK_OFFSET[linktype]
    record = struct.Struct(endian + "IIII")
    offset = 24
    while offset + 16 <= len(data):
        sec, sub, caplen, _wirelen = record.unpack_from(data, offset)
        frame = data[offset + 16: offset + 16 + caplen]
        offset += 16 + caplen
        if skip and frame[skip - 2:skip] != b"\x08\x00":
            continue  # not IPv4
        packet = frame[skip:]
        if len(packet) >= 20 and packet[0] >> 4 == 4:
            yield sec + sub * frac, packet


def _addr(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def probes_on_wire(path: Path) -> dict[FlowKey, dict[int, WireProbe]]:
    """Per flow, per probe id: the request's capture time and whether an answer was seen."""
    flows: dict[FlowKey, dict[int, WireProbe]] = {}
    answers: list[tuple[FlowKey, int]] = []
    for t, packet in read_pcap(path):
        ihl = (packet[0] & 0x0F) * 4
        proto, src, dst, l4 = packet[9], _addr(packet[12:16]), _addr(packet[16:20]), packet[ihl:]
        if proto == 1 and len(l4) >= 8:
            icmp_type, _code, _ck, ident, seq = struct.unpack_from("!BBHHH", l4)
            if icmp_type == 8:
                flows.setdefault(("icmp", src, ident), {}).setdefault(seq, WireProbe(t))
            elif icmp_type == 0:
                answers.append((("icmp", dst, ident), seq))
        elif proto == 6 and len(l4) >= 14:
            sport, dport, seq, ack = struct.unpack_from("!HHII", l4)
            flags = l4[13]
            if flags & (TCP_SYN | TCP_ACK) == TCP_SYN:
                flows.setdefault(("tcp", src, sport), {}).setdefault(seq, WireProbe(t))
            elif flags & TCP_ACK and flags & (TCP_SYN | TCP_RST):
                answers.append((("tcp", dst, dport), (ack - 1) & 0xFFFFFFFF))
        elif proto == 17 and len(l4) >= 8 + STAMP_SIZE:
            sport, dport = struct.unpack_from("!HH", l4)
            payload = l4[8:]
            reflected = struct.unpack_from("!I", payload, 24)[0]
            # A reflected packet's MBZ octets (38-39, 41-43) are zero; a test packet's
            # octets 16-43 are, too, so the reflected one is told apart by its receive
            # timestamp (16-23), which is never zero.
            if payload[16:24] == bytes(8):
                seq = struct.unpack_from("!I", payload)[0]
                flows.setdefault(("udp", src, sport), {}).setdefault(seq, WireProbe(t))
            else:
                answers.append((("udp", dst, dport), reflected))
    for key, probe_id in answers:
        probe = flows.get(key, {}).get(probe_id)
        if probe is not None:
            probe.answered = True
    return flows


def wire_episodes(probes: dict[int, WireProbe]) -> list[tuple[float, float]]:
    """Loss episodes as (start, end): from the request of the first unanswered probe to the
    request of the first answered one after it (metrics.md); one still open is left out."""
    episodes: list[tuple[float, float]] = []
    start: float | None = None
    for probe in sorted(probes.values(), key=lambda p: p.t):
        if not probe.answered and start is None:
            start = probe.t
        elif probe.answered and start is not None:
            episodes.append((start, probe.t))
            start = None
    return episodes


def longest_outage(probes: dict[int, WireProbe]) -> float | None:
    return max((end - start for start, end in wire_episodes(probes)), default=None)
