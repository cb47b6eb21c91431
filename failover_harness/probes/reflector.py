"""A STAMP session-reflector (RFC 8762, unauthenticated, stateful) for UDP probe flows.

Runs anywhere with python3 alone (standard library only, no root), also as a copied file:
`python3 reflector.py [--port 8620] [--bind 0.0.0.0]`, or `failover-harness reflect`.

Each test packet (44 octets or more) is answered with a reflected packet of the same length
(never longer: no amplification) carrying the reflector's own sequence number, which in
stateful mode counts the packets this session (source address, source port, SSID of RFC
8972) delivered before this one. A gap in that count against the sender's sequence numbers
is loss on the forward path; a probe the reflector counted but the sender never got back
was lost on the return path. Timestamps are NTP format from CLOCK_REALTIME (Z bit 0); the
receive timestamp is the kernel's, where it gives one. Packets shorter than a test packet
are dropped unanswered; sessions are kept for the most recent `--max-sessions` senders.

Sender packet:    seq(4) timestamp(8) error estimate(2) SSID(2) MBZ(28)
Reflected packet: seq(4) timestamp(8) error estimate(2) SSID(2) receive timestamp(8)
                  sender seq(4) sender timestamp(8) sender error estimate(2) MBZ(2)
                  sender TTL(1) MBZ(3)
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import time
from collections import OrderedDict

DEFAULT_PORT = 8620  # STAMP's own port, 862, needs root to bind
TEST_PACKET_SIZE = 44
MAX_PACKET_SIZE = 65535
DEFAULT_MAX_SESSIONS = 10000
SENDER = struct.Struct("!IQHH")  # seq, timestamp, error estimate, SSID (then MBZ)
REFLECTED = struct.Struct("!IQHHQIQHHB3x")
assert REFLECTED.size == TEST_PACKET_SIZE
NTP_EPOCH_OFFSET = 2208988800  # 1900-01-01 to 1970-01-01
# Error estimate (RFC 4656 4.1.2): S=0 (not known to be synchronized), Z=0 (NTP format),
# scale 0, multiplier 1: the clock is not claimed to be any better than that.
ERROR_ESTIMATE = 0x0001
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
IP_TTL = getattr(socket, "IP_TTL", 2)
TIMESPEC = struct.Struct("=qq")


def to_ntp(t: float) -> int:
    """Unix seconds (float) as a 64-bit NTP timestamp."""
    seconds = int(t)
    fraction = int((t - seconds) * (1 << 32)) & 0xFFFFFFFF
    return ((seconds + NTP_EPOCH_OFFSET) & 0xFFFFFFFF) << 32 | fraction


def from_ntp(stamp: int) -> float:
    """A 64-bit NTP timestamp as Unix seconds, 1968 to 2104 (RFC 4330 3: seconds with the
    top bit clear are past the 2036 era rollover)."""
    seconds = stamp >> 32
    if seconds < 0x80000000:
        seconds += 1 << 32
    return seconds - NTP_EPOCH_OFFSET + (stamp & 0xFFFFFFFF) / (1 << 32)


def sender_packet(seq: int, sent_real: float, ssid: int) -> bytes:
    return SENDER.pack(seq & 0xFFFFFFFF, to_ntp(sent_real), ERROR_ESTIMATE,
                       ssid & 0xFFFF) + bytes(TEST_PACKET_SIZE - SENDER.size)


class Sessions:
    """Per session, how many test packets it delivered so far; least recent evicted first,
    so a flood of spoofed senders costs bounded memory."""

    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.max_sessions = max_sessions
        self._count: OrderedDict[tuple[str, int, int], int] = OrderedDict()

    def next_seq(self, key: tuple[str, int, int]) -> int:
        count = self._count.pop(key, 0)
        self._count[key] = (count + 1) & 0xFFFFFFFF
        if len(self._count) > self.max_sessions:
            self._count.popitem(last=False)
        return count

    def __len__(self) -> int:
        return len(self._count)


def reflect(data: bytes, source: tuple[str, int], sessions: Sessions, received_real: float,
            ttl: int = 255, now: float | None = None) -> bytes | None:
    """The answer to one datagram, or None when it is no test packet. Pure but for the
    session count, so it can be tested on any bytes."""
    if not TEST_PACKET_SIZE <= len(data) <= MAX_PACKET_SIZE:
        return None
    seq, stamp, error, ssid = SENDER.unpack_from(data)
    own_seq = sessions.next_seq((source[0], source[1], ssid))
    sent = time.time() if now is None else now
    head = REFLECTED.pack(own_seq, to_ntp(sent), ERROR_ESTIMATE, ssid, to_ntp(received_real),
                          seq, stamp, error, 0, ttl & 0xFF)
    return head + bytes(len(data) - TEST_PACKET_SIZE)  # same length as the test packet


def _ancillary(ancillary: list[tuple[int, int, bytes]]) -> tuple[float | None, int]:
    stamp, ttl = None, 255
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
            sec, nsec = TIMESPEC.unpack_from(value)
            stamp = sec + nsec * 1e-9
        elif level == socket.IPPROTO_IP and kind == IP_TTL and len(value) >= 1:
            ttl = value[0]
    return stamp, ttl


def open_socket(bind: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    for level, option in ((socket.SOL_SOCKET, SO_TIMESTAMPNS), (socket.IPPROTO_IP, IP_RECVTTL)):
        try:
            sock.setsockopt(level, option, 1)
        except OSError:
            pass  # without: application receive time, TTL 255
    sock.bind((bind, port))
    return sock


def serve(sock: socket.socket, sessions: Sessions) -> None:
    """Answer test packets until interrupted. Nothing a sender does ends the loop."""
    while True:
        try:
            data, ancillary, _flags, source = sock.recvmsg(MAX_PACKET_SIZE, 256)
        except InterruptedError:
            continue
        except OSError:
            continue  # e.g. a queued ICMP error for an earlier answer
        received = time.time()
        stamp, ttl = _ancillary(ancillary)
        answer = reflect(data, source, sessions, stamp if stamp is not None else received, ttl)
        if answer is None:
            continue
        try:
            sock.sendto(answer, source)
        except OSError:
            pass  # no route back, buffer full: that answer is lost, as on the wire


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="reflector.py", description="STAMP session-reflector for failover-harness UDP "
        "probes (RFC 8762, unauthenticated, stateful).")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"UDP port (default {DEFAULT_PORT}; 862 needs root; 0: any free)")
    parser.add_argument("--bind", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--max-sessions", type=int, default=DEFAULT_MAX_SESSIONS,
                        help="sessions kept (least recent dropped)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535 or args.max_sessions < 1:
        parser.error("--port must be 0..65535 and --max-sessions at least 1")
    try:
        sock = open_socket(args.bind, args.port)
    except OSError as exc:
        print(f"reflector: cannot listen on {args.bind}:{args.port}: {exc.strerror}",
              file=sys.stderr)
        return 2
    print(f"reflector listening on {args.bind}:{sock.getsockname()[1]}", flush=True)
    try:
        serve(sock, Sessions(args.max_sessions))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
