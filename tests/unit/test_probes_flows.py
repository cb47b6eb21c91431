"""Flow specs, the flow builder, the result stream and the ICMP and TCP checksum patches."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from failover_harness.probes import FlowSpec, FlowTarget, ProbeJob, ResultDecoder, build_flows
from failover_harness.probes.flows import ICMP_TIMEOUT_S, TCP_TIMEOUT_S, UDP_TIMEOUT_S
from failover_harness.probes.icmp_echo import icmp_template as _icmp_template
from failover_harness.probes.results import (
    RECORD_SIZE,
    encode_hello,
    encode_result,
)
from failover_harness.probes.tcp_syn import _patch_seq, tcp_template
from failover_harness.probes.wire import patched_checksum as _patched_checksum

TARGET = FlowTarget(name="vm1", ip="10.0.1.4", tcp_ports=[443, 8443])
REFLECTING = FlowTarget(name="vm2", ip="10.0.1.5", reflector_port=8620)
SOURCES = ["192.168.10.10", "192.168.10.11", "192.168.10.12"]


def five_tuple(flow: FlowSpec) -> tuple[object, ...]:
    return (flow.kind, flow.src, flow.dst, flow.sport or flow.icmp_id, flow.dport)


def test_build_flows_distinct_five_tuples_and_sources_rotate() -> None:
    flows = build_flows([TARGET], SOURCES, 6, icmp_id_base=100, sport_base=41000)
    icmp = [f for f in flows if f.kind == "icmp"]
    tcp = [f for f in flows if f.kind == "tcp"]
    assert len(icmp) == len(tcp) == 6
    assert len({five_tuple(f) for f in flows}) == 12
    assert len({f.id for f in flows}) == 12
    assert [f.src for f in icmp] == SOURCES * 2
    assert [f.icmp_id for f in icmp] == list(range(100, 106))
    assert [f.sport for f in tcp] == list(range(41000, 41006))
    assert [f.dport for f in tcp] == [443, 8443] * 3
    assert all(f.interval_s == 0.01 for f in flows)
    assert [f.timeout_s for f in icmp] == [ICMP_TIMEOUT_S] * 6
    assert [f.timeout_s for f in tcp] == [TCP_TIMEOUT_S] * 6
    ProbeJob(flows=flows)  # accepted as a job


def test_build_flows_several_targets_never_reuse_ids_or_ports() -> None:
    other = FlowTarget(name="vm2", ip="10.0.1.5", tcp_ports=[22])
    flows = build_flows([TARGET, other], SOURCES, 4, icmp_id_base=1)
    job = ProbeJob(flows=flows)
    assert len(job.flows) == 16
    assert len({f.icmp_id for f in flows if f.kind == "icmp"}) == 8
    assert len({f.sport for f in flows if f.kind == "tcp"}) == 8


def test_build_flows_without_sources_or_tcp_ports() -> None:
    flows = build_flows([FlowTarget(name="t", ip="10.0.0.9")], [], 3, icmp_id_base=5)
    assert [f.kind for f in flows] == ["icmp"] * 3
    assert {f.src for f in flows} == {None}


def test_build_flows_rejects_bad_counts() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        build_flows([TARGET], SOURCES, 0)
    with pytest.raises(ValueError, match="icmp_id_base"):
        build_flows([TARGET], SOURCES, 10, icmp_id_base=65530)


@pytest.mark.parametrize("fields, message", [
    ({"kind": "tcp", "dst": "10.0.0.1", "dport": 443}, "fixed 'sport'"),
    ({"kind": "icmp", "dst": "10.0.0.1"}, "needs 'icmp_id'"),
    ({"kind": "icmp", "dst": "10.0.0.1", "icmp_id": 1, "dport": 80}, "tcp and udp flows only"),
    ({"kind": "icmp", "dst": "not-an-ip", "icmp_id": 1}, "not an IPv4 address"),
    ({"kind": "icmp", "dst": "10.0.0.1", "src": "bogus", "icmp_id": 1}, "not an IPv4 address"),
    ({"kind": "icmp", "dst": "10.0.0.1", "icmp_id": 1, "interval_s": 0}, "greater than 0"),
    ({"kind": "udp", "dst": "10.0.0.1", "sport": 4000}, "a udp flow needs 'dport'"),
    ({"kind": "sctp", "dst": "10.0.0.1"}, "kind"),
])
def test_flow_spec_rejects(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FlowSpec(id="f", **fields)  # type: ignore[arg-type]


def test_job_rejects_shared_identifiers() -> None:
    a = FlowSpec(id="a", kind="icmp", dst="10.0.0.1", icmp_id=7)
    with pytest.raises(ValidationError, match="duplicate flow id"):
        ProbeJob(flows=[a, a])
    with pytest.raises(ValidationError, match="icmp_id 7 used twice"):
        ProbeJob(flows=[a, a.model_copy(update={"id": "b"})])
    t = FlowSpec(id="t", kind="tcp", dst="10.0.0.1", dport=80, sport=5000, src="10.0.0.2")
    with pytest.raises(ValidationError, match="used twice"):
        ProbeJob(flows=[t, t.model_copy(update={"id": "u", "dport": 81})])


def test_timeouts_default_by_kind_and_explicit_ones_win() -> None:
    tcp = FlowSpec(id="t", kind="tcp", dst="10.0.0.1", dport=80, sport=5000, interval_s=0.01)
    icmp = FlowSpec(id="i", kind="icmp", dst="10.0.0.1", icmp_id=1)
    assert (tcp.timeout_s, icmp.timeout_s) == (TCP_TIMEOUT_S, ICMP_TIMEOUT_S)
    assert TCP_TIMEOUT_S != ICMP_TIMEOUT_S  # else this test shows nothing
    # The timeout is not tied to the interval any more: an attempt may outlast many slots.
    assert FlowSpec.model_validate_json(tcp.model_dump_json()).timeout_s == TCP_TIMEOUT_S
    assert FlowSpec(id="t", kind="tcp", dst="10.0.0.1", dport=80, sport=5000,
                    timeout_s=2.0).timeout_s == 2.0
    every = build_flows([TARGET, REFLECTING], SOURCES, 1, kinds=("icmp", "tcp", "udp"))
    assert {(f.kind, f.timeout_s) for f in every} == {
        ("icmp", ICMP_TIMEOUT_S), ("tcp", TCP_TIMEOUT_S), ("udp", UDP_TIMEOUT_S)}
    split = build_flows([TARGET], SOURCES, 1, timeouts_s={"icmp": 0.3, "tcp": 0.7})
    assert [(f.kind, f.timeout_s) for f in split] == [("icmp", 0.3), ("tcp", 0.7)]


def test_udp_flows_go_to_targets_with_a_reflector_each_with_its_own_port() -> None:
    flows = build_flows([TARGET, REFLECTING], SOURCES, 4, kinds=("tcp", "udp"),
                        sport_base=41000)
    udp = [f for f in flows if f.kind == "udp"]
    tcp = [f for f in flows if f.kind == "tcp"]
    assert [f.dst for f in udp] == ["10.0.1.5"] * 4 and {f.dport for f in udp} == {8620}
    assert [f.dst for f in tcp] == ["10.0.1.4"] * 4
    assert [f.sport for f in udp] == list(range(41000, 41004))  # TCP counts apart
    assert [f.src for f in udp] == [*SOURCES, SOURCES[0]]
    ProbeJob(flows=flows)
    with pytest.raises(ValidationError, match=r"udp source 10\.0\.0\.2:5000 used twice"):
        u = FlowSpec(id="u", kind="udp", dst="10.0.0.1", dport=8620, sport=5000, src="10.0.0.2")
        ProbeJob(flows=[u, u.model_copy(update={"id": "v"})])


def test_result_stream_round_trip_split_anywhere() -> None:
    stream = encode_hello(12.5) + b"".join(
        encode_result(i % 3, i, 100.0 + i, None if i % 4 == 0 else i * 1e-4, i * 1e-6)
        for i in range(40))
    decoder = ResultDecoder(["a", "b", "c"])
    got = []
    for start in range(0, len(stream), 7):  # chunks that cut records anywhere
        got.extend(decoder.feed(stream[start:start + 7]))
    assert decoder.grid_origin == 12.5
    assert decoder.pending_bytes == 0
    assert len(got) == 40
    assert [r.flow_id for r in got[:4]] == ["a", "b", "c", "a"]
    assert got[4].rtt_s is None and got[4].lost
    assert got[5].rtt_s == pytest.approx(5e-4)
    assert got[5].sent == 105.0 and got[5].seq == 5
    assert got[5].lag_s == pytest.approx(5e-6, rel=1e-5)  # stored as float32


def test_result_stream_rejects_unknown_flow_index() -> None:
    decoder = ResultDecoder(["a"])
    with pytest.raises(ValueError, match="flow index 3"):
        decoder.feed(encode_result(3, 0, 1.0, None, 0.0))


def test_result_stream_carries_the_reflector_fields() -> None:
    decoder = ResultDecoder(["u"])
    got = decoder.feed(encode_result(0, 7, 1.0, 0.002, 0.0, 41, 0.0011, 0.0009)
                       + encode_result(0, 8, 1.01, None, 0.0))
    assert (got[0].peer_seq, got[0].fwd_s, got[0].ret_s) == (
        41, pytest.approx(0.0011), pytest.approx(0.0009))
    assert (got[1].peer_seq, got[1].fwd_s, got[1].ret_s) == (None, None, None)


def test_record_is_compact() -> None:
    assert RECORD_SIZE <= 40


@pytest.mark.parametrize("seq", [0, 1, 255, 256, 4660, 65534, 65535])
def test_patched_checksum_equals_scapy_checksum(seq: int) -> None:
    from scapy.layers.inet import ICMP

    flow = FlowSpec(id="f", kind="icmp", dst="10.0.0.1", icmp_id=0xBEEF)
    template, base = _icmp_template(flow)
    payload = bytes(template[8:])
    expected = ICMP(bytes(ICMP(type=8, id=0xBEEF, seq=seq) / payload)).chksum
    assert _patched_checksum(base, seq) == expected


def test_patched_checksum_for_every_sequence_number() -> None:
    """Exhaustive: includes the sums where +0/-0 of ones' complement differ."""
    import struct

    from scapy.utils import checksum

    flow = FlowSpec(id="f", kind="icmp", dst="10.0.0.1", icmp_id=0x1234)
    template, base = _icmp_template(flow)
    packet = bytearray(template)
    for seq in range(65536):
        struct.pack_into("!HHH", packet, 2, _patched_checksum(base, seq), 0x1234, seq)
        assert checksum(bytes(packet)) == 0, seq


@pytest.mark.parametrize("seq", [0, 1, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF])
@pytest.mark.parametrize("flags", ["S", "R"])
def test_tcp_sequence_patch_equals_scapy_checksum(seq: int, flags: str) -> None:
    from scapy.layers.inet import IP, TCP, in4_chksum

    template, base = tcp_template("192.168.10.10", "10.0.1.4", 40001, 443, flags)
    _patch_seq(template, base, seq)
    parsed = TCP(bytes(template))
    assert (parsed.seq, parsed.flags, parsed.sport, parsed.dport) == (seq, flags, 40001, 443)
    # A valid checksum makes the one's complement sum over pseudo-header + segment zero.
    assert in4_chksum(6, IP(src="192.168.10.10", dst="10.0.1.4"), bytes(template)) == 0
