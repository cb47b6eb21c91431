"""Failover metrics computed from one playbook section of a timeline (no I/O).

Definitions follow the project's metrics notes (RFC 6412/6413, RFC 3357 loss periods). Every
metric is a `MetricValue`: a value with (lo, hi) bounds and a unit, or unavailable with the
reason why. `hi is None` with a value means "at least this much": the thing measured had not
ended when the observation did (an episode still open at run_end, a peer that never went down
before the restore); such a value is `censored`.

What the orchestrator writes and this module reads
---------------------------------------------------
t0 is the `t` of the fault action's `action_done`: the first `action` / `action_done` whose
`data.action` is a fault (`shut_interface`, `shut_neighbor`, or the bare `shut`). The restore
is the first `action_done` after it whose action is `no_shut_interface`, `no_shut_neighbor`
or `no_shut`. The fault's `action_start` (same subject, just before) bounds when the fault
could first act; if it is missing, t0 is used.

The fault action's `action_done` data names what was broken (`FaultTarget`)::

    {"action": "shut_interface",           # or shut_neighbor / shut
     "device": "edge1",                    # inventory device name
     "interface": "Tunnel1",               # shut_interface only
     "onprem_neighbor": "169.254.21.1",    # the device's BGP neighbor carried by that tunnel
                                           # (Azure instance's BGP address)
     "azure_peer": "169.254.21.2",         # the device's address as Azure sees its BGP peer;
                                           # also the next hop Azure learns on-prem routes via
     "azure_instance": "169.254.21.1",     # Azure instance local address of that tunnel
     "connection": "cn-edge1-t1"}          # Azure connection resource of that tunnel

Keys missing from `action_done` are taken from the matching `action_start`; a key still
missing makes only the metrics that need it unavailable, with a reason naming the key.
`device` and the target also come from the subject `device:<name>/<target>`.

Probe flows: `flow_start` data names the probe kind as `kind`, `probe` or `probe_kind`
(Timeline.emit takes `kind` as the event kind, so writers through emit use `probe`), and gives the probe interval T as `interval_s` or `interval`
(seconds) or `interval_ms`. Without T, durations have no uncertainty bounds and the
loss-derived outage is unavailable.

Loss episodes: `loss_end` with `open: true` (the prober finished during the episode) and a
`loss_start` without any `loss_end` both make an open episode: it ends at that event or at
run_end, really later, so its outage is censored (a lower bound). `flow_stats` events with
`period_s` are per-period counts and are summed; without it they are taken as totals.

Phases of a loss episode: `before_fault` (ended before the fault action started), `fault`
(overlaps the time from the fault action's start up to the restore action's start) and
`failback` (starts at or after the restore action's start).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from failover_harness.expectations import Expectation, MetricName
from failover_harness.timeline import Event

Unit = Literal["s", "probes", "flows"]
Phase = Literal["before_fault", "fault", "failback"]
VerdictStatus = Literal["passed", "failed", "no_data"]

FAULT_ACTIONS = frozenset({"shut_interface", "shut_neighbor", "shut"})
RESTORE_ACTIONS = frozenset({"no_shut_interface", "no_shut_neighbor", "no_shut"})
UP_ONPREM = "established"
UP_AZURE = "connected"

METRIC_UNITS: dict[str, Unit] = {
    "onprem_detection_s": "s", "azure_detection_s": "s", "routes_withdrawn_s": "s",
    "connection_detection_s": "s", "max_outage_s": "s", "min_outage_s": "s",
    "total_lost_probes": "probes", "flows_with_loss": "flows", "flows_without_loss": "flows",
    "failback_lost_probes": "probes", "failback_onprem_s": "s", "failback_azure_s": "s",
    "failback_routes_s": "s", "azure_data_gap_s": "s",
}


class MetricValue(BaseModel):
    """A measured value with bounds, or unavailable with a reason."""

    model_config = ConfigDict(extra="forbid")

    name: str
    unit: Unit
    available: bool
    value: float | None = None
    lo: float | None = None
    hi: float | None = Field(default=None, description="None with a value: no upper bound (censored)")
    censored: bool = False
    reason: str | None = Field(default=None, description="why unavailable, or a caveat")
    detail: str | None = Field(default=None, description="what the value was taken from")

    @classmethod
    def measured(cls, name: str, value: float, lo: float | None = None, hi: float | None = None,
                 *, censored: bool = False, detail: str | None = None,
                 reason: str | None = None) -> MetricValue:
        lo = value if lo is None else lo
        hi = None if censored else (value if hi is None else hi)
        return cls(name=name, unit=METRIC_UNITS.get(name, "s"), available=True,
                   value=_r(value), lo=_r(lo), hi=None if hi is None else _r(hi),
                   censored=censored, detail=detail, reason=reason)

    @classmethod
    def unavailable(cls, name: str, reason: str) -> MetricValue:
        return cls(name=name, unit=METRIC_UNITS.get(name, "s"), available=False, reason=reason)

    def text(self) -> str:
        """Human form: '2.61 s (2.60..2.62)', '>= 12.0 s', 'n/a (reason)'."""
        if not self.available or self.value is None:
            return f"n/a ({self.reason})"
        unit = f" {self.unit}"
        if self.censored:
            return f">= {_fmt(self.value)}{unit}"
        if self.lo == self.hi == self.value:
            return f"{_fmt(self.value)}{unit}"
        hi = "inf" if self.hi is None else _fmt(self.hi)
        return f"{_fmt(self.value)}{unit} ({_fmt(self.lo)}..{hi})"


class FaultTarget(BaseModel):
    """What the fault action broke; see the module docstring."""

    model_config = ConfigDict(extra="ignore")

    action: str
    device: str | None = None
    interface: str | None = None
    onprem_neighbor: str | None = None
    azure_peer: str | None = None
    azure_instance: str | None = None
    connection: str | None = None


class LossEpisode(BaseModel):
    flow: str
    start: float
    end: float
    duration_s: float
    lost: int | None
    open: bool = Field(description="still open at run_end: ends at run_end, really later")
    phase: Phase
    min_duration_s: float | None = Field(
        default=None, description="the outage lasted at least this long (first to last lost "
        "probe); None: duration - interval")
    max_duration_s: float | None = Field(
        default=None, description="and at most this long (answered probe before to answered "
        "probe after); None: duration + interval")


class FlowMetrics(BaseModel):
    flow: str
    kind: str | None = None
    src: str | None = None
    dst: str | None = None
    dport: int | None = None
    sport: int | None = None
    interval_s: float | None = None
    sent: int | None = None
    received: int | None = None
    lost: int = 0
    episodes: list[LossEpisode] = Field(default_factory=list)
    outage_s: MetricValue
    loss_outage_s: MetricValue
    failback_lost: int = 0


class AzureGap(BaseModel):
    start: float
    end: float
    duration_s: float
    reasons: list[str] = Field(default_factory=list)


class RunMetrics(BaseModel):
    t_start: float
    t_end: float
    t0: float | None
    fault_start: float | None
    restore_t: float | None
    restore_start: float | None
    fault: FaultTarget | None
    flows: list[FlowMetrics]
    metrics: dict[str, MetricValue]
    azure_gaps: list[AzureGap]
    notes: list[str] = Field(default_factory=list)


class Verdict(BaseModel):
    metric: str
    description: str | None = None
    max: float | None = None
    min: float | None = None
    status: VerdictStatus
    measured: MetricValue
    miss_by: float | None = Field(default=None, description="how far beyond the bound (>0)")
    marginal: bool = Field(default=False, description="the uncertainty window straddles a bound")
    message: str


# --------------------------------------------------------------------------- helpers


def _r(x: float) -> float:
    return round(x, 6)


def _fmt(x: float | None) -> str:
    if x is None:
        return "?"
    if float(x).is_integer() and abs(x) >= 1:
        return str(int(x))
    return f"{x:.3f}".rstrip("0").rstrip(".") if abs(x) < 100 else f"{x:.1f}"


def _window(event: Event) -> tuple[float, float]:
    return event.window if event.window is not None else (event.t, event.t)


def _split_subject(subject: str, prefix: str, sep: str) -> tuple[str, str] | None:
    """'azure:instance:A/peer:B' with prefix 'azure:instance:' and sep '/peer:' -> (A, B)."""
    if not subject.startswith(prefix) or sep not in subject:
        return None
    left, right = subject[len(prefix):].split(sep, 1)
    return left, right


def _interval(data: dict[str, object]) -> float | None:
    for key, scale in (("interval_s", 1.0), ("interval", 1.0), ("interval_ms", 0.001)):
        value = data.get(key)
        if isinstance(value, int | float) and value > 0:
            return float(value) * scale
    return None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


# --------------------------------------------------------------------------- fault and restore


def _find_fault(events: Sequence[Event]) -> tuple[Event | None, Event | None, FaultTarget | None]:
    """(action_start, action_done, target) of the first fault action."""
    starts: dict[str, Event] = {}
    for event in events:
        if event.source != "action":
            continue
        if event.kind == "action_start":
            starts[event.subject] = event
        elif event.kind == "action_done" and str(event.data.get("action")) in FAULT_ACTIONS:
            start = starts.get(event.subject)
            merged: dict[str, object] = dict(start.data) if start else {}
            merged.update({k: v for k, v in event.data.items() if v is not None})
            device, _, target = event.subject.removeprefix("device:").partition("/")
            merged.setdefault("device", device or None)
            if merged.get("action") == "shut_interface":
                merged.setdefault("interface", target or None)
            elif merged.get("action") == "shut_neighbor":
                merged.setdefault("onprem_neighbor", merged.get("neighbor") or target or None)
            return start, event, FaultTarget.model_validate(merged)
    return None, None, None


def _find_restore(events: Sequence[Event], t0: float) -> tuple[Event | None, Event | None]:
    starts: dict[str, Event] = {}
    for event in events:
        if event.source != "action":
            continue
        if event.kind == "action_start":
            starts[event.subject] = event
        elif (event.kind == "action_done" and event.t >= t0
              and str(event.data.get("action")) in RESTORE_ACTIONS):
            start = starts.get(event.subject)
            return (start if start is not None and start.t >= t0 else None), event
    return None, None


# --------------------------------------------------------------------------- probe flows


def _flows(events: Sequence[Event], t_end: float, fault_start: float | None,
           t0: float | None, restore_start: float | None) -> list[FlowMetrics]:
    info: dict[str, dict[str, object]] = {}
    stats: dict[str, dict[str, object]] = {}
    open_start: dict[str, Event] = {}
    episodes: dict[str, list[LossEpisode]] = {}

    def phase(start: float, end: float) -> Phase:
        if restore_start is not None and start >= restore_start:
            return "failback"
        if fault_start is None or end <= fault_start:
            return "before_fault"
        return "fault"

    def close(flow: str, start: Event, end_t: float, lost: int | None, is_open: bool,
              bounds: dict[str, object] | None = None) -> None:
        lo, hi = ((_float(bounds.get("min_duration_s")), _float(bounds.get("max_duration_s")))
                  if bounds else (None, None))
        episodes.setdefault(flow, []).append(LossEpisode(
            flow=flow, start=start.t, end=end_t, duration_s=_r(end_t - start.t), lost=lost,
            open=is_open, phase=phase(start.t, end_t), min_duration_s=lo, max_duration_s=hi))

    for event in events:
        if event.source != "probe" or not event.subject.startswith("flow:"):
            continue
        flow = event.subject.removeprefix("flow:")
        info.setdefault(flow, {})
        if event.kind == "flow_start":
            info[flow] = dict(event.data)
        elif event.kind == "flow_stats":
            # Per-period stats (period_s given) add up; a stats event without one is a total.
            seen = stats.setdefault(flow, {})
            for key in ("sent", "received"):
                value = _int(event.data.get(key))
                if value is not None:
                    periodic = "period_s" in event.data
                    seen[key] = (_int(seen.get(key)) or 0) + value if periodic else value
        elif event.kind == "loss_start":
            open_start.setdefault(flow, event)
        elif event.kind == "loss_end" and flow in open_start:
            start = open_start.pop(flow)
            lost = _int(event.data.get("lost"))
            if lost is None:
                s0, s1 = _int(start.data.get("seq")), _int(event.data.get("seq"))
                lost = s1 - s0 if s0 is not None and s1 is not None else None
            close(flow, start, event.t, lost, bool(event.data.get("open")), event.data)
    for flow, start in open_start.items():
        close(flow, start, max(t_end, start.t), None, True)

    result: list[FlowMetrics] = []
    for flow in sorted(info, key=_natural):
        data = info[flow]
        interval = _interval(data)
        flow_episodes = episodes.get(flow, [])
        for index, ep in enumerate(flow_episodes):
            if ep.lost is None and interval:  # open episode: at least this many lost
                flow_episodes[index] = ep.model_copy(update={"lost": int(ep.duration_s / interval)})
        fault_eps = [e for e in flow_episodes if e.phase == "fault"]
        stat = stats.get(flow, {})
        result.append(FlowMetrics(
            flow=flow, kind=_str(data.get("kind") or data.get("probe") or data.get("probe_kind")), src=_str(data.get("src")),
            dst=_str(data.get("dst")), dport=_int(data.get("dport")),
            sport=_int(data.get("sport")), interval_s=interval,
            sent=_int(stat.get("sent")), received=_int(stat.get("received")),
            lost=sum(e.lost or 0 for e in flow_episodes),
            episodes=flow_episodes,
            outage_s=_flow_outage(fault_eps, interval, t0),
            loss_outage_s=_loss_outage(fault_eps, interval, t0),
            failback_lost=sum(e.lost or 0 for e in flow_episodes if e.phase == "failback"),
        ))
    return result


def _natural(text: str) -> list[tuple[int, str]]:
    """Sort key: 'icmp-2' before 'icmp-10'."""
    return [(int(p), "") if p.isdigit() else (0, p) for p in re.split(r"(\d+)", text)]


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _flow_outage(eps: list[LossEpisode], interval: float | None, t0: float | None) -> MetricValue:
    name = "outage_s"
    if t0 is None:
        return MetricValue.unavailable(name, "no fault action_done in the timeline (no t0)")
    if not eps:
        return MetricValue.measured(name, 0.0, 0.0, interval or 0.0, detail="no loss after t0")
    total = sum(e.duration_s for e in eps)
    t = interval or 0.0  # without bounds from the prober, each episode is exact to +/- T
    lo = sum(e.min_duration_s if e.min_duration_s is not None else e.duration_s - t for e in eps)
    hi = sum(e.max_duration_s if e.max_duration_s is not None else e.duration_s + t for e in eps)
    censored = any(e.open for e in eps)
    return MetricValue.measured(name, total, max(min(lo, total), 0.0), max(hi, total),
                                censored=censored, detail=f"{len(eps)} loss episode(s) after t0",
                                reason="an episode was still open at run_end" if censored else None)


def _loss_outage(eps: list[LossEpisode], interval: float | None, t0: float | None) -> MetricValue:
    name = "loss_outage_s"
    if t0 is None:
        return MetricValue.unavailable(name, "no fault action_done in the timeline (no t0)")
    if interval is None:
        return MetricValue.unavailable(name, "flow_start has no probe interval")
    lost = sum(e.lost or 0 for e in eps)
    censored = any(e.open for e in eps)
    return MetricValue.measured(name, lost * interval, censored=censored,
                                detail=f"{lost} lost x {_fmt(interval)} s")


def _convergence(flows: list[FlowMetrics], t0: float | None) -> dict[str, MetricValue]:
    out: dict[str, MetricValue] = {}
    if t0 is None:
        reason = "no fault action_done in the timeline (no t0)"
        for name in ("max_outage_s", "min_outage_s", "flows_with_loss"):
            out[name] = MetricValue.unavailable(name, reason)
    elif not flows:
        for name in ("max_outage_s", "min_outage_s", "flows_with_loss"):
            out[name] = MetricValue.unavailable(name, "no probe flows in the timeline")
    else:
        with_loss = [f for f in flows if any(e.phase == "fault" for e in f.episodes)]
        out["flows_with_loss"] = MetricValue.measured("flows_with_loss", len(with_loss))
        worst = max(flows, key=lambda f: f.outage_s.value or 0.0)
        out["max_outage_s"] = _copy_as("max_outage_s", worst.outage_s, f"flow {worst.flow}")
        if with_loss:
            best = min(with_loss, key=lambda f: f.outage_s.value or 0.0)
            out["min_outage_s"] = _copy_as("min_outage_s", best.outage_s, f"flow {best.flow}")
        else:
            out["min_outage_s"] = MetricValue.unavailable("min_outage_s", "no flow lost a probe after t0")
    if flows:
        out["flows_without_loss"] = MetricValue.measured(
            "flows_without_loss", sum(1 for f in flows if not f.episodes))
        censored = any(e.open for f in flows for e in f.episodes)
        out["total_lost_probes"] = MetricValue.measured(
            "total_lost_probes", sum(f.lost for f in flows), censored=censored)
    else:
        for name in ("flows_without_loss", "total_lost_probes"):
            out[name] = MetricValue.unavailable(name, "no probe flows in the timeline")
    return out


def _copy_as(name: str, value: MetricValue, detail: str) -> MetricValue:
    return value.model_copy(update={"name": name, "detail": f"{detail}: {value.detail}"})


# --------------------------------------------------------------------------- control planes


def _transition(match: Iterable[Event], *, after: float,
                ref: float, lower: float, name: str, up_state: str, want_up: bool,
                what: str, until: float | None, t_end: float) -> MetricValue:
    """First event in `match` at/after `after` whose state is (not) `up_state`, relative to `ref`.

    The value is the upper edge of the event's window (the response that showed the change);
    lo is its lower edge, not earlier than `lower`. If no such event comes before `until`
    (or the end), the value is censored at that time.
    """
    candidates = list(match)
    before = [e for e in candidates if e.t < after]
    if not want_up and before and _state(before[-1]).lower() != up_state:
        return MetricValue.unavailable(
            name, f"{what} was already {_state(before[-1]) or 'unknown'} before the fault")
    for event in candidates:
        if event.t < after or (until is not None and event.t > until):
            continue
        is_up = _state(event).lower() == up_state
        if is_up == want_up:
            lo_edge, hi_edge = _window(event)
            return MetricValue.measured(
                name, hi_edge - ref, max(lo_edge, lower) - ref, hi_edge - ref,
                detail=f"{what}: {_state(event) or '?'} at t={_fmt(event.t)}")
    if not candidates:
        return MetricValue.unavailable(name, f"no events for {what} in the timeline")
    end = until if until is not None else t_end
    state = "came back" if want_up else "left the up state"
    return MetricValue.measured(name, end - ref, censored=True,
                                reason=f"{what} never {state} before t={_fmt(end)}")


def _state(event: Event) -> str:
    return str(event.data.get("state") or event.data.get("status") or "")


def _bgp_onprem(events: Sequence[Event], fault: FaultTarget | None) -> list[Event]:
    out = []
    for event in events:
        if event.source != "device" or event.kind != "bgp_state":
            continue
        parsed = _split_subject(event.subject, "device:", "/neighbor:")
        if parsed is None or fault is None:
            continue
        device, neighbor = parsed
        if neighbor == fault.onprem_neighbor and (fault.device is None or device == fault.device):
            out.append(event)
    return out


def _azure_peer_events(events: Sequence[Event], peer: str, instance: str | None) -> list[Event]:
    out = []
    for event in events:
        if event.source == "azure" and event.kind == "bgp_peer":
            parsed = _split_subject(event.subject, "azure:instance:", "/peer:")
            if parsed and parsed[1] == peer and (instance is None or parsed[0] == instance):
                out.append(event)
    return out


def _connection_events(events: Sequence[Event], name: str) -> list[Event]:
    return [e for e in events if e.source == "azure" and e.kind == "connection"
            and e.subject == f"azure:connection:{name}"]


RouteKey = tuple[str, str]  # (instance, prefix)


def _route_events(events: Sequence[Event]) -> list[tuple[Event, RouteKey, frozenset[str]]]:
    out = []
    for event in events:
        if event.source == "azure" and event.kind == "route_next_hops":
            parsed = _split_subject(event.subject, "azure:instance:", "/prefix:")
            hops = event.data.get("next_hops") or []
            if parsed and isinstance(hops, list):
                out.append((event, parsed, frozenset(str(h) for h in hops)))
    return out


def _routes_withdrawn(events: Sequence[Event], fault: FaultTarget, fault_start: float,
                      t0: float, until: float | None, t_end: float) -> MetricValue:
    name = "routes_withdrawn_s"
    hop = fault.azure_peer
    if hop is None:
        return MetricValue.unavailable(name, "fault action data has no 'azure_peer' (the failed next hop)")
    routes = _route_events(events)
    if not routes:
        return MetricValue.unavailable(name, "no Azure route_next_hops events in the timeline")
    state: dict[RouteKey, frozenset[str]] = {}
    index = 0
    while index < len(routes) and routes[index][0].t < fault_start:
        state[routes[index][1]] = routes[index][2]
        index += 1
    prefixes = {key[1] for key, hops in state.items() if hop in hops}
    if not prefixes:
        return MetricValue.unavailable(name, f"no learned route via {hop} before the fault")
    for event, key, hops in routes[index:]:
        if until is not None and event.t > until:
            break
        state[key] = hops
        if not any(hop in h for (_, prefix), h in state.items() if prefix in prefixes):
            lo_edge, hi_edge = _window(event)
            return MetricValue.measured(name, hi_edge - t0, max(lo_edge, fault_start) - t0,
                                        hi_edge - t0,
                                        detail=f"{hop} gone for {', '.join(sorted(prefixes))}")
    end = until if until is not None else t_end
    return MetricValue.measured(name, end - t0, censored=True,
                                reason=f"next hop {hop} still learned at t={_fmt(end)}")


def _failback_routes(events: Sequence[Event], fault_start: float, restore_start: float,
                     restore_t: float) -> MetricValue:
    name = "failback_routes_s"
    routes = _route_events(events)
    baseline: dict[RouteKey, frozenset[str]] = {}
    state: dict[RouteKey, frozenset[str]] = {}
    for event, key, hops in routes:
        if event.t < fault_start:
            baseline[key] = hops
        if event.t < restore_start:
            state[key] = hops
    if not baseline:
        return MetricValue.unavailable(name, "no Azure route_next_hops events before the fault")

    def complete() -> bool:
        return all(hops <= state.get(key, frozenset()) for key, hops in baseline.items())

    if complete():
        return MetricValue.measured(name, 0.0, detail="routes never lost a path")
    for event, key, hops in routes:
        if event.t < restore_start:
            continue
        state[key] = hops
        if complete():
            lo_edge, hi_edge = _window(event)
            return MetricValue.measured(name, hi_edge - restore_t,
                                        max(lo_edge, restore_start) - restore_t,
                                        hi_edge - restore_t, detail="all pre-fault next hops back")
    end = max([e.t for e, _, _ in routes] + [restore_t])
    return MetricValue.measured(name, end - restore_t, censored=True,
                                reason="pre-fault next hops not all back by the last sample")


def _failback_azure(events: Sequence[Event], restore_start: float, restore_t: float) -> MetricValue:
    name = "failback_azure_s"
    peers: dict[str, str] = {}
    changes = [e for e in events if e.source == "azure" and e.kind == "bgp_peer"]
    if not changes:
        return MetricValue.unavailable(name, "no Azure bgp_peer events in the timeline")
    for event in changes:
        if event.t < restore_start:
            peers[event.subject] = _state(event).lower()
    if peers and all(s == UP_AZURE for s in peers.values()):
        return MetricValue.measured(name, 0.0, detail="every Azure peer stayed Connected")
    for event in changes:
        if event.t < restore_start:
            continue
        peers[event.subject] = _state(event).lower()
        if all(s == UP_AZURE for s in peers.values()):
            lo_edge, hi_edge = _window(event)
            return MetricValue.measured(name, hi_edge - restore_t,
                                        max(lo_edge, restore_start) - restore_t,
                                        hi_edge - restore_t,
                                        detail=f"{len(peers)} Azure peers Connected")
    end = max(e.t for e in changes)
    return MetricValue.measured(name, max(end, restore_t) - restore_t, censored=True,
                                reason="not every Azure peer Connected again by the last sample")


def _azure_gaps(events: Sequence[Event], t_end: float) -> tuple[MetricValue, list[AzureGap]]:
    name = "azure_data_gap_s"
    samples = [e for e in events if e.source == "azure" and e.kind == "sample"]
    ok = [e for e in samples if e.data.get("ok", True)]
    if not ok:
        reason = ("no successful Azure sample in the timeline" if samples
                  else "no Azure samples in the timeline")
        return MetricValue.unavailable(name, reason), []
    gaps: list[AzureGap] = []
    edges = [e.t for e in ok] + [t_end]
    for a, b in zip(edges, edges[1:], strict=False):
        if b <= a:
            continue
        reasons = sorted({str(e.data.get("gap_reason") or e.data.get("error"))
                          for e in samples if a < e.t <= b and not e.data.get("ok", True)})
        gaps.append(AzureGap(start=a, end=b, duration_s=_r(b - a), reasons=reasons))
    worst = max(gaps, key=lambda g: g.duration_s, default=None)
    if worst is None:
        return MetricValue.measured(name, 0.0), []
    detail = f"t={_fmt(worst.start)}..{_fmt(worst.end)}"
    if worst.reasons:
        detail += f" ({'; '.join(worst.reasons)})"
    # Only the gaps worth reading: longer than twice the median sample spacing.
    spacing = sorted(g.duration_s for g in gaps)[len(gaps) // 2]
    notable = [g for g in gaps if g.duration_s > 2 * spacing or g.reasons]
    return MetricValue.measured(name, worst.duration_s, detail=detail), notable


# --------------------------------------------------------------------------- entry points


def compute_metrics(events: Sequence[Event]) -> RunMetrics:
    """Metrics of one playbook section (run_start .. run_end); see the module docstring."""
    events = sorted(events, key=lambda e: (e.t, e.seq))
    t_start = next((e.t for e in events if e.kind == "run_start"), events[0].t if events else 0.0)
    t_end = next((e.t for e in reversed(events) if e.kind == "run_end"),
                 events[-1].t if events else 0.0)
    notes: list[str] = []
    start_ev, done_ev, fault = _find_fault(events)
    t0 = done_ev.t if done_ev else None
    fault_start = start_ev.t if start_ev else t0
    restore_start_ev, restore_ev = _find_restore(events, t0) if t0 is not None else (None, None)
    restore_t = restore_ev.t if restore_ev else None
    restore_start = restore_start_ev.t if restore_start_ev else restore_t
    if t0 is None:
        notes.append("no fault action (shut_interface/shut_neighbor) completed: no t0")
    elif restore_t is None:
        notes.append("no restore action (no_shut_*) after the fault")

    flows = _flows(events, t_end, fault_start, t0, restore_start)
    metrics: dict[str, MetricValue] = _convergence(flows, t0)
    metrics.update(_detections(events, fault, t0, fault_start, restore_start, t_end))
    metrics.update(_failbacks(events, fault, flows, fault_start, restore_start, restore_t))
    gap, gaps = _azure_gaps(events, t_end)
    metrics["azure_data_gap_s"] = gap
    for g in gaps:
        if t0 is not None and g.reasons and g.end >= t0:
            # What data is missing, and whether the result still holds: the Azure metrics
            # measured across the gap carry it in their bounds, and a verdict is only
            # marginal when those bounds straddle its limit.
            notes.append(f"Azure data missing for {g.duration_s:.1f} s ({', '.join(g.reasons)}) "
                         f"from t0{g.start - t0:+.1f} s: Azure metrics measured across it are "
                         "bounded by the samples around it")
    ordered = {name: metrics[name] for name in METRIC_UNITS if name in metrics}
    return RunMetrics(t_start=t_start, t_end=t_end, t0=t0, fault_start=fault_start,
                      restore_t=restore_t, restore_start=restore_start, fault=fault,
                      flows=flows, metrics=ordered, azure_gaps=gaps, notes=notes)


def _detections(events: Sequence[Event], fault: FaultTarget | None, t0: float | None,
                fault_start: float | None, restore_start: float | None,
                t_end: float) -> dict[str, MetricValue]:
    names = ("onprem_detection_s", "azure_detection_s", "routes_withdrawn_s",
             "connection_detection_s")
    if t0 is None or fault is None or fault_start is None:
        return {n: MetricValue.unavailable(n, "no fault action_done in the timeline (no t0)")
                for n in names}
    out: dict[str, MetricValue] = {}

    def went_down(match: list[Event], name: str, up_state: str, what: str) -> MetricValue:
        assert t0 is not None and fault_start is not None
        return _transition(match, after=fault_start, ref=t0, lower=fault_start, name=name,
                           up_state=up_state, want_up=False, what=what, until=restore_start,
                           t_end=t_end)

    if fault.onprem_neighbor is None:
        out["onprem_detection_s"] = MetricValue.unavailable(
            "onprem_detection_s", "fault action data has no 'onprem_neighbor'")
    else:
        out["onprem_detection_s"] = went_down(
            _bgp_onprem(events, fault), "onprem_detection_s", UP_ONPREM,
            f"on-prem session to {fault.onprem_neighbor}")
    if fault.azure_peer is None:
        out["azure_detection_s"] = MetricValue.unavailable(
            "azure_detection_s", "fault action data has no 'azure_peer'")
    else:
        where = f" on instance {fault.azure_instance}" if fault.azure_instance else ""
        out["azure_detection_s"] = went_down(
            _azure_peer_events(events, fault.azure_peer, fault.azure_instance),
            "azure_detection_s", UP_AZURE, f"Azure peer {fault.azure_peer}{where}")
    out["routes_withdrawn_s"] = _routes_withdrawn(events, fault, fault_start, t0,
                                                  restore_start, t_end)
    if fault.connection is None:
        out["connection_detection_s"] = MetricValue.unavailable(
            "connection_detection_s", "fault action data has no 'connection'")
    else:
        out["connection_detection_s"] = went_down(
            _connection_events(events, fault.connection), "connection_detection_s", UP_AZURE,
            f"connection {fault.connection}")
    return out


def _failbacks(events: Sequence[Event], fault: FaultTarget | None, flows: list[FlowMetrics],
               fault_start: float | None, restore_start: float | None,
               restore_t: float | None) -> dict[str, MetricValue]:
    names = ("failback_lost_probes", "failback_onprem_s", "failback_azure_s", "failback_routes_s")
    if restore_t is None or restore_start is None or fault_start is None:
        return {n: MetricValue.unavailable(n, "no restore action (no_shut_*) after the fault")
                for n in names}
    out: dict[str, MetricValue] = {}
    if flows:
        censored = any(e.open for f in flows for e in f.episodes if e.phase == "failback")
        out["failback_lost_probes"] = MetricValue.measured(
            "failback_lost_probes", sum(f.failback_lost for f in flows), censored=censored)
    else:
        out["failback_lost_probes"] = MetricValue.unavailable(
            "failback_lost_probes", "no probe flows in the timeline")
    if fault is None or fault.onprem_neighbor is None:
        out["failback_onprem_s"] = MetricValue.unavailable(
            "failback_onprem_s", "fault action data has no 'onprem_neighbor'")
    else:
        out["failback_onprem_s"] = _transition(
            _bgp_onprem(events, fault), after=restore_start, ref=restore_t,
            lower=restore_start, name="failback_onprem_s", up_state=UP_ONPREM, want_up=True,
            what=f"on-prem session to {fault.onprem_neighbor}", until=None,
            t_end=max(e.t for e in events))
    out["failback_azure_s"] = _failback_azure(events, restore_start, restore_t)
    out["failback_routes_s"] = _failback_routes(events, fault_start, restore_start, restore_t)
    return out


def evaluate(metrics: RunMetrics, expectations: Iterable[Expectation]) -> list[Verdict]:
    """One verdict per expectation: passed, failed (with how far), or no_data."""
    return [_verdict(metrics.metrics.get(exp.metric), exp) for exp in expectations]


def _verdict(value: MetricValue | None, exp: Expectation) -> Verdict:
    bound = " and ".join(p for p in (
        f">= {_fmt(exp.min)}" if exp.min is not None else "",
        f"<= {_fmt(exp.max)}" if exp.max is not None else "") if p)
    metric: MetricName = exp.metric
    measured = value or MetricValue.unavailable(metric, "metric not computed")

    def verdict(status: VerdictStatus, message: str, miss_by: float | None = None,
                marginal: bool = False) -> Verdict:
        return Verdict(metric=metric, description=exp.description, max=exp.max, min=exp.min,
                       status=status, measured=measured, miss_by=miss_by, marginal=marginal,
                       message=message)

    if not measured.available or measured.value is None:
        return verdict("no_data", f"{metric}: no data ({measured.reason}); expected {bound}")
    v = measured.value
    lo = measured.lo if measured.lo is not None else v
    hi = measured.hi
    over = v - exp.max if exp.max is not None and v > exp.max else None
    under = exp.min - v if exp.min is not None and v < exp.min else None
    if measured.censored and over is None and exp.max is not None:
        # At least v, within the max: the real value may still exceed it.
        return verdict("no_data", f"{metric} = {measured.text()}: not known whether "
                       f"<= {_fmt(exp.max)}")
    if measured.censored and under is not None:
        return verdict("no_data", f"{metric} = {measured.text()}: not known whether "
                       f">= {_fmt(exp.min)}")
    marginal = ((exp.max is not None and lo <= exp.max and (hi is None or hi > exp.max))
                or (exp.min is not None and lo < exp.min <= (v if hi is None else hi)))
    unit = f" {measured.unit}"
    if over is not None:
        return verdict("failed", f"{metric} = {measured.text()} > max {_fmt(exp.max)}{unit}: "
                       f"missed by {_fmt(over)}{unit}", _r(over), marginal)
    if under is not None:
        return verdict("failed", f"{metric} = {measured.text()} < min {_fmt(exp.min)}{unit}: "
                       f"missed by {_fmt(under)}{unit}", _r(under), marginal)
    return verdict("passed", f"{metric} = {measured.text()}, expected {bound}", None, marginal)
