"""Probe flow specifications and the helper that spreads flows over ECMP paths."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from failover_harness.vocabulary import ProbeKind

FlowKind = ProbeKind  # one set of kinds for playbooks, the worker and the timeline

ICMP_TIMEOUT_S = 1.0
# TCP probes are half-open SYNs (tcp_syn.py). A server whose SYN-ACK was lost resends it after
# its initial retransmission timeout, 1 s (RFC 6298): a TCP timeout below that never counts a
# retransmitted SYN-ACK as the answer to its probe, so every answer is the server's first.
TCP_TIMEOUT_S = 0.5
UDP_TIMEOUT_S = 1.0
DEFAULT_TIMEOUT_S: dict[FlowKind, float] = {"icmp": ICMP_TIMEOUT_S, "tcp": TCP_TIMEOUT_S,
                                       "udp": UDP_TIMEOUT_S}
# The reflector's default port (`failover-harness reflect`). STAMP's well-known port is 862,
# which only root may bind; this one needs no privilege.
REFLECTOR_PORT = 8620

# select() is used for sub-millisecond wake-ups (epoll only has millisecond timeouts),
# and select() cannot watch file descriptors above 1023: UDP flows hold one socket each.
MAX_UDP_FLOWS = 900


def _check_ipv4(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError as exc:
        raise ValueError(f"not an IPv4 address: {value!r}") from exc


class FlowSpec(BaseModel):
    """One probe flow: a constant 5-tuple probed on a fixed grid of slots `interval_s` apart.

    Every kind sends one probe on every slot; a probe is lost when `timeout_s` passes without
    its answer. The answer is matched to its probe, never to the flow: ICMP by id and
    sequence number; TCP (a half-open SYN, its initial sequence number new per probe) by the
    acknowledgement number of the SYN-ACK or RST; UDP (a STAMP test packet to a reflector,
    reflector.py) by the sequence number the reflector echoes. `timeout_s` defaults by kind
    (DEFAULT_TIMEOUT_S).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200)
    kind: FlowKind
    src: str | None = None  # source address; None lets the kernel choose
    dst: str
    dport: int | None = Field(default=None, ge=1, le=65535)
    sport: int | None = Field(default=None, ge=1, le=65535)
    icmp_id: int | None = Field(default=None, ge=0, le=65535)
    interval_s: float = Field(default=0.01, gt=0.0, le=60.0)
    timeout_s: float = Field(default=ICMP_TIMEOUT_S, gt=0.0, le=60.0)  # by kind, see above

    @model_validator(mode="before")
    @classmethod
    def _default_timeout(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("timeout_s") is None:
            default = DEFAULT_TIMEOUT_S.get(data.get("kind"), ICMP_TIMEOUT_S)  # type: ignore[arg-type]
            return {**data, "timeout_s": default}
        return data

    _src_ip = field_validator("src")(_check_ipv4)

    @field_validator("dst")
    @classmethod
    def _dst_ip(cls, value: str) -> str:
        checked = _check_ipv4(value)
        assert checked is not None
        return checked

    @model_validator(mode="after")
    def _kind_fields(self) -> FlowSpec:
        if self.kind in ("tcp", "udp"):
            if self.dport is None or self.sport is None:
                raise ValueError(f"a {self.kind} flow needs 'dport' and a fixed 'sport'")
            if self.icmp_id is not None:
                raise ValueError("'icmp_id' is for icmp flows only")
        else:
            if self.icmp_id is None:
                raise ValueError("an icmp flow needs 'icmp_id'")
            if self.dport is not None or self.sport is not None:
                raise ValueError("'dport'/'sport' are for tcp and udp flows only")
        return self


class ProbeJob(BaseModel):
    """What a probe worker runs: the flows, when to start, and optionally the CPU to pin to."""

    model_config = ConfigDict(extra="forbid")

    flows: list[FlowSpec] = Field(min_length=1, max_length=65535)
    start_delay_s: float = Field(default=0.05, ge=0.0, le=10.0)
    cpu: int | None = Field(default=None, ge=0)
    realtime: bool = True  # SCHED_FIFO where permitted: steadier send times under load

    @model_validator(mode="after")
    def _distinct(self) -> ProbeJob:
        seen_ids: set[str] = set()
        seen_icmp: set[int] = set()
        seen_ports: set[tuple[str, str | None, int]] = set()
        for flow in self.flows:
            if flow.id in seen_ids:
                raise ValueError(f"duplicate flow id {flow.id!r}")
            seen_ids.add(flow.id)
            if flow.kind == "icmp":
                assert flow.icmp_id is not None
                if flow.icmp_id in seen_icmp:
                    raise ValueError(f"flow {flow.id!r}: icmp_id {flow.icmp_id} used twice")
                seen_icmp.add(flow.icmp_id)
            else:
                assert flow.sport is not None
                key = (flow.kind, flow.src, flow.sport)
                if key in seen_ports:
                    raise ValueError(f"flow {flow.id!r}: {flow.kind} source "
                                     f"{flow.src}:{flow.sport} used twice")
                seen_ports.add(key)
        if sum(1 for f in self.flows if f.kind == "udp") > MAX_UDP_FLOWS:
            raise ValueError(f"at most {MAX_UDP_FLOWS} udp flows per worker")
        return self


class FlowTarget(BaseModel):
    """A host to probe: its address, the TCP ports its TCP flows may use, and the port of
    its reflector (`failover-harness reflect`), if it runs one, for UDP flows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    ip: str
    tcp_ports: list[int] = Field(default_factory=list)
    reflector_port: int | None = Field(default=None, ge=1, le=65535)

    _ip = field_validator("ip")(_check_ipv4)


def build_flows(
    targets: Sequence[FlowTarget],
    sources: Sequence[str | None],
    flows_per_kind: int,
    *,
    kinds: Sequence[FlowKind] = ("icmp", "tcp"),
    interval_s: float = 0.01,
    timeouts_s: Mapping[FlowKind, float] | None = None,
    sport_base: int = 40000,
    icmp_id_base: int | None = None,
) -> list[FlowSpec]:
    """`flows_per_kind` flows of each kind to each target, every one with its own 5-tuple.

    Linux hashes ICMP onto ECMP paths by addresses only, so ICMP flows rotate through
    `sources` (more ICMP flows than sources share paths); TCP and UDP flows rotate through the
    sources too and get their own source port each (TCP and UDP count from `sport_base`
    apart: different protocols). Targets without TCP ports get no TCP flows, targets without
    a reflector no UDP flows. A kind's timeout is `timeouts_s[kind]`, else DEFAULT_TIMEOUT_S.
    """
    if flows_per_kind < 1:
        raise ValueError("flows_per_kind must be at least 1")
    source_list: list[str | None] = list(sources) or [None]
    icmp_total = flows_per_kind * len(targets) if "icmp" in kinds else 0
    port_total = flows_per_kind * len(targets)
    if icmp_id_base is None:
        # Other probe workers in the same namespace see our replies too: pick an id range
        # unlikely to collide with theirs.
        icmp_id_base = random.randrange(1, 65536 - icmp_total) if icmp_total < 65535 else 1
    if icmp_id_base + icmp_total > 65536:
        raise ValueError("icmp_id_base leaves no room for this many icmp flows")
    if sport_base + port_total > 65536:
        raise ValueError("sport_base leaves no room for this many tcp or udp flows")
    timeout = {**DEFAULT_TIMEOUT_S, **(timeouts_s or {})}
    flows: list[FlowSpec] = []
    counts = {"icmp": 0, "tcp": 0, "udp": 0}
    for target in targets:
        for kind in kinds:
            if kind == "tcp" and not target.tcp_ports:
                continue
            if kind == "udp" and target.reflector_port is None:
                continue
            for i in range(flows_per_kind):
                src = source_list[i % len(source_list)]
                n = counts[kind]
                counts[kind] += 1
                common = {"id": f"{target.name}-{kind}-{i}", "kind": kind, "src": src,
                          "dst": target.ip, "interval_s": interval_s,
                          "timeout_s": timeout[kind]}
                if kind == "icmp":
                    flows.append(FlowSpec(**common, icmp_id=icmp_id_base + n))
                elif kind == "tcp":
                    flows.append(FlowSpec(**common, sport=sport_base + n,
                                          dport=target.tcp_ports[i % len(target.tcp_ports)]))
                else:
                    flows.append(FlowSpec(**common, sport=sport_base + n,
                                          dport=target.reflector_port))
    return flows
