"""Probe results and their compact wire format between the worker and the orchestrator.

The worker writes fixed-size little-endian records to stdout, many per write:
  kind (u8) | flow index (u16) | seq (u32) | sent (f64, CLOCK_MONOTONIC s) |
  rtt (f64 s, NaN = lost) | lag (f32 s, how late the send was against its grid slot) |
  peer seq (u32, 0xFFFFFFFF = none) | forward, return one-way delay (f32 s, NaN = none)
kind HELLO is written once, when the sockets are open: `sent` is the grid origin.

Each flow's seqs are gap-free and count the probes really sent, one per grid slot. The
last three fields come from a reflector (UDP flows): its count of this flow's probes it
received before this one, and the one-way delays on the two hosts' clocks (udp_stamp.py).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

RECORD = struct.Struct("<BHIddfIff")
NO_PEER_SEQ = 0xFFFFFFFF
RECORD_SIZE = RECORD.size
KIND_RESULT = 0
KIND_HELLO = 1


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe's outcome. `sent` is CLOCK_MONOTONIC seconds (system-wide on Linux)."""

    flow_id: str
    seq: int
    sent: float
    rtt_s: float | None  # None: no answer within the flow's timeout
    lag_s: float = 0.0  # send time minus its grid slot
    peer_seq: int | None = None  # the reflector's receive count (UDP)
    fwd_s: float | None = None  # one-way delays on two clocks (UDP; see udp_stamp.py)
    ret_s: float | None = None

    @property
    def slot(self) -> float:
        """The grid slot the probe was sent on."""
        return self.sent - self.lag_s

    @property
    def lost(self) -> bool:
        return self.rtt_s is None


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _none(value: float) -> float | None:
    return None if value != value else value  # NaN != NaN


def encode_result(flow_index: int, seq: int, sent: float, rtt_s: float | None,
                  lag_s: float, peer_seq: int | None = None, fwd_s: float | None = None,
                  ret_s: float | None = None) -> bytes:
    return RECORD.pack(KIND_RESULT, flow_index, seq, sent, _nan(rtt_s), lag_s,
                       NO_PEER_SEQ if peer_seq is None else peer_seq & 0xFFFFFFFF,
                       _nan(fwd_s), _nan(ret_s))


def encode_hello(grid_origin: float) -> bytes:
    return RECORD.pack(KIND_HELLO, 0, 0, grid_origin, math.nan, 0.0, NO_PEER_SEQ, math.nan,
                       math.nan)


class ResultDecoder:
    """Turns the worker's byte stream (split anywhere) back into results."""

    def __init__(self, flow_ids: Sequence[str]) -> None:
        self._flow_ids = list(flow_ids)
        self._buffer = b""
        self.grid_origin: float | None = None

    def feed(self, data: bytes) -> list[ProbeResult]:
        buffer = self._buffer + data
        whole = len(buffer) - len(buffer) % RECORD_SIZE
        results: list[ProbeResult] = []
        flow_ids = self._flow_ids
        for kind, index, seq, sent, rtt, lag, peer, fwd, ret in RECORD.iter_unpack(
                buffer[:whole]):
            if kind == KIND_HELLO:
                self.grid_origin = sent
                continue
            if kind != KIND_RESULT or index >= len(flow_ids):
                raise ValueError(f"corrupt probe record: kind {kind}, flow index {index}")
            results.append(ProbeResult(flow_ids[index], seq, sent, _none(rtt), lag,
                                       None if peer == NO_PEER_SEQ else peer, _none(fwd),
                                       _none(ret)))
        self._buffer = buffer[whole:]
        return results

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)
