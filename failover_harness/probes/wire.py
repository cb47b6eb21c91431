"""What the per-kind probers (icmp_echo, tcp_syn, udp_stamp) share with the worker's loop:
the answer they hand back, the start error, checksum patching, source selection."""

from __future__ import annotations

import socket
import struct
import sys
from typing import NamedTuple

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux value; Python 3.11 lacks the name
TIMESPEC = struct.Struct("=qq")


class StartError(Exception):
    """The job cannot run here (permissions, addresses)."""


def raw_socket_error(kind: str) -> StartError:
    return StartError(
        f"{kind} probes need a raw socket and {sys.executable} has no CAP_NET_RAW: "
        "give the probe worker the capability (systemd AmbientCapabilities=CAP_NET_RAW, "
        "or `setcap cap_net_raw+ep` on a dedicated python copy named by "
        "FAILOVER_HARNESS_PROBE_PYTHON; README 'Probes without root'), or run as root")


class Answer(NamedTuple):
    """A probe's answer as a prober matched it. `rx_real`: the kernel's receive time
    (CLOCK_REALTIME) when it gave one. `peer_seq`, `fwd_s`, `ret_s`: from a reflector only."""

    flow_index: int
    seq: int
    rx_mono: float
    rx_real: float | None = None
    peer_seq: int | None = None
    fwd_s: float | None = None
    ret_s: float | None = None


def patched_checksum(base_checksum: int, *words: int) -> int:
    """RFC 1624 incremental update: 16-bit words that were 0 in the template are now `words`."""
    total = ~base_checksum & 0xFFFF
    for word in words:
        total += word
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pktinfo(src: str | None) -> list[tuple[int, int, bytes]]:
    """Ancillary data choosing the source address (the kernel still routes and checks it)."""
    if src is None:
        return []
    return [(socket.IPPROTO_IP, IP_PKTINFO,
             struct.pack("=I4s4s", 0, socket.inet_aton(src), bytes(4)))]


def kernel_time(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
            sec, nsec = TIMESPEC.unpack_from(value)
            return float(sec + nsec * 1e-9)
    return None


def enable_timestamps(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        pass  # no kernel timestamps: RTTs from the application clock


def route_source(dst: str) -> str:
    """The source address the kernel would pick towards `dst` (nothing is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((dst, 9))
        except OSError as exc:
            raise StartError(f"no route to {dst}: {exc.strerror}") from exc
        address: str = sock.getsockname()[0]
        return address
