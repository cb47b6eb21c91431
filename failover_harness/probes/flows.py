"""Probe flow specifications and the helper that spreads flows over ECMP paths."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FlowKind = Literal["icmp", "tcp"]

ICMP_TIMEOUT_S = 1.0
# A TCP attempt holds its flow until it is answered or times out, so the timeout is also the
# resolution of the end of a TCP loss episode: short, but far above any connect time (the
# kernel's first SYN retransmission comes after 1 s, so a longer wait mostly waits for it).
TCP_TIMEOUT_S = 0.5

# select() is used for sub-millisecond wake-ups (epoll only has millisecond timeouts),
# and select() cannot watch file descriptors above 1023.
MAX_TCP_FLOWS = 900


def _check_ipv4(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError as exc:
        raise ValueError(f"not an IPv4 address: {value!r}") from exc


class FlowSpec(BaseModel):
    """One probe flow: a constant 5-tuple probed on a fixed grid of slots `interval_s` apart.

    ICMP flows send on every slot; each probe is lost when `timeout_s` passes unanswered.

    TCP flows keep one source port (so ECMP keeps them on one path) and therefore hold at most
    one connection attempt at a time. For them `interval_s` is the finest spacing of attempts:
    an attempt is sent on a slot when the flow has none open; slots that come while one is
    open are skipped (no attempt, and no sequence number: seqs stay gap-free). An attempt is
    lost only when its own `timeout_s` expires unanswered (or the connect fails), never
    because the next slot came. So while the path works attempts follow each other every
    slot or two; while it is down they are about `timeout_s` apart, which bounds how exactly
    the end of a TCP loss episode is known. The loss detector gives each skipped slot the
    outcome of the attempt open during it. `timeout_s` defaults to ICMP_TIMEOUT_S or
    TCP_TIMEOUT_S by kind.
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
    timeout_s: float = Field(default=ICMP_TIMEOUT_S, gt=0.0, le=60.0)  # tcp: TCP_TIMEOUT_S

    @model_validator(mode="before")
    @classmethod
    def _default_timeout(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("timeout_s") is None:
            default = TCP_TIMEOUT_S if data.get("kind") == "tcp" else ICMP_TIMEOUT_S
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
        if self.kind == "tcp":
            if self.dport is None or self.sport is None:
                raise ValueError("a tcp flow needs 'dport' and a fixed 'sport'")
            if self.icmp_id is not None:
                raise ValueError("'icmp_id' is for icmp flows only")
        else:
            if self.icmp_id is None:
                raise ValueError("an icmp flow needs 'icmp_id'")
            if self.dport is not None or self.sport is not None:
                raise ValueError("'dport'/'sport' are for tcp flows only")
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
        seen_tcp: set[tuple[str | None, int]] = set()
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
                key = (flow.src, flow.sport)
                if key in seen_tcp:
                    raise ValueError(f"flow {flow.id!r}: source {flow.src}:{flow.sport} used twice")
                seen_tcp.add(key)
        if len(seen_tcp) > MAX_TCP_FLOWS:
            raise ValueError(f"at most {MAX_TCP_FLOWS} tcp flows per worker")
        return self


class FlowTarget(BaseModel):
    """A host to probe: its address and the TCP ports its TCP flows may use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    ip: str
    tcp_ports: list[int] = Field(default_factory=list)

    _ip = field_validator("ip")(_check_ipv4)


def build_flows(
    targets: Sequence[FlowTarget],
    sources: Sequence[str | None],
    flows_per_kind: int,
    *,
    kinds: Sequence[FlowKind] = ("icmp", "tcp"),
    interval_s: float = 0.01,
    timeout_s: float | None = None,
    tcp_timeout_s: float | None = None,
    sport_base: int = 40000,
    icmp_id_base: int | None = None,
) -> list[FlowSpec]:
    """`flows_per_kind` flows of each kind to each target, every one with its own 5-tuple.

    Linux hashes ICMP onto ECMP paths by addresses only, so ICMP flows rotate through
    `sources` (more ICMP flows than sources share paths); TCP flows rotate through the
    sources too and get their own source port each. Targets without TCP ports get no TCP flows.
    Flows time out after `timeout_s`, TCP flows after `tcp_timeout_s` if given; what is None
    takes FlowSpec's default for the kind.
    """
    if flows_per_kind < 1:
        raise ValueError("flows_per_kind must be at least 1")
    source_list: list[str | None] = list(sources) or [None]
    icmp_total = flows_per_kind * len(targets) if "icmp" in kinds else 0
    tcp_total = flows_per_kind * len(targets) if "tcp" in kinds else 0
    if icmp_id_base is None:
        # Other probe workers in the same namespace see our replies too: pick an id range
        # unlikely to collide with theirs.
        icmp_id_base = random.randrange(1, 65536 - icmp_total) if icmp_total < 65535 else 1
    if icmp_id_base + icmp_total > 65536:
        raise ValueError("icmp_id_base leaves no room for this many icmp flows")
    if sport_base + tcp_total > 65536:
        raise ValueError("sport_base leaves no room for this many tcp flows")
    icmp_timeout = ICMP_TIMEOUT_S if timeout_s is None else timeout_s
    tcp_timeout = tcp_timeout_s if tcp_timeout_s is not None else (
        TCP_TIMEOUT_S if timeout_s is None else timeout_s)
    flows: list[FlowSpec] = []
    icmp_n = tcp_n = 0
    for target in targets:
        for kind in kinds:
            if kind == "tcp" and not target.tcp_ports:
                continue
            for i in range(flows_per_kind):
                src = source_list[i % len(source_list)]
                if kind == "icmp":
                    flows.append(FlowSpec(
                        id=f"{target.name}-icmp-{i}", kind="icmp", src=src, dst=target.ip,
                        icmp_id=icmp_id_base + icmp_n, interval_s=interval_s,
                        timeout_s=icmp_timeout))
                    icmp_n += 1
                else:
                    flows.append(FlowSpec(
                        id=f"{target.name}-tcp-{i}", kind="tcp", src=src, dst=target.ip,
                        dport=target.tcp_ports[i % len(target.tcp_ports)],
                        sport=sport_base + tcp_n, interval_s=interval_s,
                        timeout_s=tcp_timeout))
                    tcp_n += 1
    return flows
