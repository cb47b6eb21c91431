"""The game-day's probes as tcpdump saw them, read with scapy (none of the harness's code):
the independent source the game-day tests compare the reported outages and directions with.

A probe is keyed as its answer identifies it: ICMP (source, id) and sequence number; TCP
(source, port) and the SYN's sequence number (answered by a SYN-ACK or RST acknowledging it
plus one); UDP (source, port) and the STAMP sequence number (a reflected packet echoes it
at payload offset 24, and carries a non-zero receive timestamp at 16..24)."""

from __future__ import annotations

import signal
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.utils import rdpcap

TCP_PORT = 443
REFLECTOR_PORT = 8620
FILTER = f"icmp or tcp port {TCP_PORT} or udp port {REFLECTOR_PORT}"
FlowKey = tuple[str, str, int]  # (kind, on-prem address, icmp id or source port)


class Capture:
    """tcpdump in one of the lab's namespaces."""

    def __init__(self, netns: str, interface: str, path: Path, bpf: str = FILTER) -> None:
        self.path = path
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", netns, "tcpdump", "-i", interface, "-n", "-U", "-s", "128",
             "-B", "8192", "-w", str(path), bpf],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)

    def stop(self) -> list:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        return list(rdpcap(str(self.path)))


@dataclass
class Probe:
    t: float  # request's capture time
    answered: bool = False


@dataclass
class WireFlows:
    requests: dict[FlowKey, dict[int, Probe]] = field(default_factory=dict)

    def episodes(self, key: FlowKey, until: float) -> list[tuple[float, float]]:
        """Runs of unanswered requests sent before `until` (answers later than that may be
        cut off by the capture's stop): first unanswered request to the next answered one."""
        runs, start = [], None
        for probe in sorted(self.requests.get(key, {}).values(), key=lambda p: p.t):
            if probe.t > until:
                break
            if not probe.answered and start is None:
                start = probe.t
            elif probe.answered and start is not None:
                runs.append((start, probe.t))
                start = None
        return runs


def _stamp_payload(packet: object) -> bytes | None:
    payload = bytes(packet[UDP].payload)  # type: ignore[index]
    return payload if len(payload) >= 44 else None


def read_probes(packets: list) -> WireFlows:
    """Requests by flow and probe id, each marked answered when its answer is in `packets`."""
    flows = WireFlows()
    answers: list[tuple[FlowKey, int]] = []
    for p in packets:
        if IP not in p:
            continue
        src, dst, t = p[IP].src, p[IP].dst, float(p.time)
        if ICMP in p:
            if p[ICMP].type == 8:
                flows.requests.setdefault(("icmp", src, p[ICMP].id), {}).setdefault(
                    p[ICMP].seq, Probe(t))
            elif p[ICMP].type == 0:
                answers.append((("icmp", dst, p[ICMP].id), p[ICMP].seq))
        elif TCP in p:
            flags = int(p[TCP].flags)
            if p[TCP].dport == TCP_PORT and flags & 0x12 == 0x02:  # SYN without ACK
                flows.requests.setdefault(("tcp", src, p[TCP].sport), {}).setdefault(
                    p[TCP].seq, Probe(t))
            elif p[TCP].sport == TCP_PORT and flags & 0x10 and flags & 0x06:  # SYN-ACK, RST
                answers.append((("tcp", dst, p[TCP].dport), (p[TCP].ack - 1) & 0xFFFFFFFF))
        elif UDP in p and (payload := _stamp_payload(p)) is not None:
            if p[UDP].dport == REFLECTOR_PORT and payload[16:24] == bytes(8):
                seq = struct.unpack_from("!I", payload)[0]
                flows.requests.setdefault(("udp", src, p[UDP].sport), {}).setdefault(
                    seq, Probe(t))
            elif p[UDP].sport == REFLECTOR_PORT:
                answers.append((("udp", dst, p[UDP].dport), struct.unpack_from("!I", payload, 24)[0]))
    for key, probe_id in answers:
        probe = flows.requests.get(key, {}).get(probe_id)
        if probe is not None:
            probe.answered = True
    return flows


def reflected_seqs(vm_packets: list) -> dict[FlowKey, tuple[set[int], set[int]]]:
    """From a capture in the reflector's namespace: per UDP flow, the test packets that
    arrived there (sender seqs) and those answered from there."""
    seen: dict[FlowKey, tuple[set[int], set[int]]] = {}
    for p in vm_packets:
        if IP not in p or UDP not in p or (payload := _stamp_payload(p)) is None:
            continue
        if p[UDP].dport == REFLECTOR_PORT:
            seen.setdefault(("udp", p[IP].src, p[UDP].sport), (set(), set()))[0].add(
                struct.unpack_from("!I", payload)[0])
        elif p[UDP].sport == REFLECTOR_PORT:
            seen.setdefault(("udp", p[IP].dst, p[UDP].dport), (set(), set()))[1].add(
                struct.unpack_from("!I", payload, 24)[0])
    return seen


def flows_seen(packets: list) -> set[FlowKey]:
    """Flows in a capture, either way."""
    seen = set()
    for p in packets:
        if IP not in p:
            continue
        if ICMP in p:
            onprem = p[IP].src if p[ICMP].type == 8 else p[IP].dst
            seen.add(("icmp", onprem, p[ICMP].id))
        elif TCP in p:
            if p[TCP].dport == TCP_PORT:
                seen.add(("tcp", p[IP].src, p[TCP].sport))
            else:
                seen.add(("tcp", p[IP].dst, p[TCP].dport))
        elif UDP in p:
            if p[UDP].dport == REFLECTOR_PORT:
                seen.add(("udp", p[IP].src, p[UDP].sport))
            elif p[UDP].sport == REFLECTOR_PORT:
                seen.add(("udp", p[IP].dst, p[UDP].dport))
    return seen
