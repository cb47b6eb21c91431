"""Probe packets built with the standard library alone, for a worker on a remote vantage
host where scapy is not installed (remote_worker.py). Byte for byte what scapy builds for
the same fields (tests/unit/test_probes_packets.py checks)."""

from __future__ import annotations

import socket
import struct

ICMP_ECHO_REQUEST = 8
TCP_OPTION_MSS = 2


def internet_checksum(data: bytes) -> int:
    """RFC 1071 one's-complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_echo(ident: int, seq: int, payload: bytes) -> bytes:
    head = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, seq)
    checksum = internet_checksum(head + payload)
    return struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, checksum, ident, seq) + payload


TCP_FLAGS = {"S": 0x02, "R": 0x04, "A": 0x10}


def tcp_header(src: str, dst: str, sport: int, dport: int, seq: int, flags: str,
               window: int, mss: int | None) -> bytes:
    """A TCP header (no payload) with its checksum over the IPv4 pseudo-header."""
    options = struct.pack("!BBH", TCP_OPTION_MSS, 4, mss) if mss is not None else b""
    offset = (20 + len(options)) // 4
    bits = 0
    for letter in flags:
        bits |= TCP_FLAGS[letter]
    head = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, offset << 4, bits, window, 0, 0)
    segment = head + options
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(
        "!BBH", 0, socket.IPPROTO_TCP, len(segment))
    checksum = internet_checksum(pseudo + segment)
    return segment[:16] + struct.pack("!H", checksum) + segment[18:]
