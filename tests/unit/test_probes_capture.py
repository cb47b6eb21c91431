"""Probes read back from pcap files written here (capture.py, the bench's independent view):
each kind's request matched with its answer as the answer identifies it, and loss episodes
by request times."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from failover_harness.errors import LabError
from failover_harness.probes.capture import longest_outage, probes_on_wire, wire_episodes
from failover_harness.probes.reflector import Sessions, reflect, sender_packet

T = 0.01
NEAR, FAR = "10.0.0.1", "10.0.0.2"


def ip(src: str, dst: str, proto: int, l4: bytes) -> bytes:
    return (bytes([0x45, 0]) + struct.pack("!H", 20 + len(l4)) + bytes(4) + bytes([64, proto])
            + bytes(2) + bytes(int(x) for x in src.split(".")) + bytes(int(x) for x in dst.split("."))
            + l4)


def ether(packet: bytes) -> bytes:
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + packet


def icmp(icmp_type: int, ident: int, seq: int) -> bytes:
    src, dst = (NEAR, FAR) if icmp_type == 8 else (FAR, NEAR)
    return ip(src, dst, 1, struct.pack("!BBHHH", icmp_type, 0, 0, ident, seq) + bytes(8))


def tcp(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int) -> bytes:
    return ip(src, dst, 6, struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags,
                                       1000, 0, 0))


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    return ip(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload)


def write_pcap(path: Path, packets: list[tuple[float, bytes]], nano: bool = True,
               linktype: int = 1) -> None:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)
    for stamp, data in packets:
        frame = ether(data) if linktype == 1 else data
        sec = int(stamp)
        sub = round((stamp - sec) * (1e9 if nano else 1e6))
        out += struct.pack("<IIII", sec, sub, len(frame), len(frame)) + frame
    path.write_bytes(out)


def run(pattern: str, request: object, answer: object, t0: float = 1000.0
        ) -> list[tuple[float, bytes]]:
    """'.' request and answer, 'x' request only; probe ids are the pattern's positions."""
    packets: list[tuple[float, bytes]] = []
    for k, mark in enumerate(pattern):
        packets.append((t0 + k * T, request(k)))  # type: ignore[operator]
        if mark == ".":
            packets.append((t0 + k * T + 0.0001, answer(k)))  # type: ignore[operator]
    return packets


@pytest.mark.parametrize("nano", [True, False])
def test_icmp_episode_by_request_times(tmp_path: Path, nano: bool) -> None:
    pcap = tmp_path / "c.pcap"
    write_pcap(pcap, run("....xxxxx......", lambda k: icmp(8, 7, k), lambda k: icmp(0, 7, k))
               + run("........", lambda k: icmp(8, 8, k), lambda k: icmp(0, 8, k)), nano=nano)
    flows = probes_on_wire(pcap)
    assert set(flows) == {("icmp", NEAR, 7), ("icmp", NEAR, 8)}
    assert flows[("icmp", NEAR, 7)][4].t == pytest.approx(1000.04, abs=2e-6)
    assert not flows[("icmp", NEAR, 7)][4].answered
    assert longest_outage(flows[("icmp", NEAR, 7)]) == pytest.approx(5 * T, abs=2e-6)
    assert longest_outage(flows[("icmp", NEAR, 8)]) is None


def test_tcp_syn_answered_by_syn_ack_or_rst_for_its_own_isn(tmp_path: Path) -> None:
    isn = [(0x9000_0000 + k * 65536) & 0xFFFFFFFF for k in range(12)]
    syn = lambda k: tcp(NEAR, FAR, 40001, 443, isn[k], 0, 0x02)  # noqa: E731
    syn_ack = lambda k: tcp(FAR, NEAR, 443, 40001, 5, isn[k] + 1, 0x12)  # noqa: E731
    rst_ack = lambda k: tcp(FAR, NEAR, 443, 40001, 0, isn[k] + 1, 0x14)  # noqa: E731
    wrong_ack = lambda k: tcp(FAR, NEAR, 443, 40001, 5, isn[k - 1] + 1, 0x10)  # noqa: E731
    packets = run("..xxx.......", syn, lambda k: syn_ack(k) if k % 2 else rst_ack(k))
    # Neither our own RST nor an ACK for an older probe answers a probe.
    packets += [(1000.025, tcp(NEAR, FAR, 40001, 443, isn[2] + 1, 0, 0x04)),
                (1000.035, wrong_ack(4))]
    pcap = tmp_path / "t.pcap"
    write_pcap(pcap, sorted(packets))
    flow = probes_on_wire(pcap)[("tcp", NEAR, 40001)]
    assert len(flow) == 12
    assert wire_episodes(flow) == [(pytest.approx(1000.02), pytest.approx(1000.05))]


def test_udp_test_packets_and_their_reflections(tmp_path: Path) -> None:
    sessions = Sessions()

    def reflected(k: int) -> bytes:
        answer = reflect(sender_packet(k, 1.7e9, 3), (NEAR, 40002), sessions, 1.7e9)
        assert answer is not None
        return udp(FAR, NEAR, 8620, 40002, answer)

    pcap = tmp_path / "u.pcap"
    write_pcap(pcap, run("...xx...x..", lambda k: udp(NEAR, FAR, 40002, 8620,
                                                      sender_packet(k, 1.7e9, 3)), reflected),
               linktype=101)
    flow = probes_on_wire(pcap)[("udp", NEAR, 40002)]
    assert [k for k, p in sorted(flow.items()) if not p.answered] == [3, 4, 8]
    assert longest_outage(flow) == pytest.approx(2 * T)


def test_an_episode_still_open_is_not_an_outage(tmp_path: Path) -> None:
    pcap = tmp_path / "c.pcap"
    write_pcap(pcap, run("..xxx", lambda k: icmp(8, 7, k), lambda k: icmp(0, 7, k)))
    assert longest_outage(probes_on_wire(pcap)[("icmp", NEAR, 7)]) is None


def test_not_a_pcap(tmp_path: Path) -> None:
    bad = tmp_path / "x.pcap"
    bad.write_bytes(b"hello, this is not a capture file")
    with pytest.raises(LabError, match="not a classic pcap"):
        probes_on_wire(bad)
