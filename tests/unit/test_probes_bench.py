"""The bench's capture reading and its outage from capture, on pcap files written here."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from failover_harness.bench import capture_outage, read_icmp_echoes
from failover_harness.errors import LabError

T = 0.01


def frame(icmp_type: int, icmp_id: int, seq: int) -> bytes:
    ether = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
    ip = bytes([0x45, 0]) + struct.pack("!H", 28 + 8) + bytes(4) + bytes([64, 1]) + bytes(2) \
        + bytes([10, 0, 0, 1, 10, 0, 0, 2])
    icmp = struct.pack("!BBHHH", icmp_type, 0, 0, icmp_id, seq) + bytes(8)
    return ether + ip + icmp


def write_pcap(path: Path, packets: list[tuple[float, bytes]], nano: bool = True) -> None:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 262144, 1)
    for stamp, data in packets:
        sec = int(stamp)
        sub = round((stamp - sec) * (1e9 if nano else 1e6))
        out += struct.pack("<IIII", sec, sub, len(data), len(data)) + data
    path.write_bytes(out)


def echo_run(icmp_id: int, pattern: str, t0: float = 1000.0) -> list[tuple[float, bytes]]:
    """'.' request and reply, 'x' request only."""
    packets: list[tuple[float, bytes]] = []
    for seq, mark in enumerate(pattern):
        packets.append((t0 + seq * T, frame(8, icmp_id, seq)))
        if mark == ".":
            packets.append((t0 + seq * T + 0.0001, frame(0, icmp_id, seq)))
    return packets


@pytest.mark.parametrize("nano", [True, False])
def test_capture_gives_the_episode_by_request_times(tmp_path: Path, nano: bool) -> None:
    pcap = tmp_path / "c.pcap"
    write_pcap(pcap, echo_run(7, "....xxxxx......") + echo_run(8, "........"), nano=nano)
    echoes = read_icmp_echoes(pcap)
    assert set(echoes) == {7, 8}
    assert echoes[7][4] == (pytest.approx(1000.04, abs=2e-6), False)
    assert capture_outage(echoes[7]) == pytest.approx(5 * T, abs=2e-6)
    assert capture_outage(echoes[8]) is None


def test_capture_outage_takes_the_longest_episode() -> None:
    echoes = {seq: (1000.0 + seq * T, mark == ".") for seq, mark in enumerate("..x...xxx..")}
    assert capture_outage(echoes) == pytest.approx(3 * T)


def test_capture_episode_unfinished_is_not_an_outage() -> None:
    echoes = {seq: (1000.0 + seq * T, mark == ".") for seq, mark in enumerate("..xxx")}
    assert capture_outage(echoes) is None


def test_not_a_pcap(tmp_path: Path) -> None:
    bad = tmp_path / "x.pcap"
    bad.write_bytes(b"hello, this is not a capture file")
    with pytest.raises(LabError, match="not a classic pcap"):
        read_icmp_echoes(bad)
