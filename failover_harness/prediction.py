"""What bounds convergence in this design, and the windows it predicts for a tunnel failure.

Pure: facts in (read before the fault by thin readers: orchestrator/design_read.py), a
`Prediction` out. No I/O. The model, for a tunnel that dies silently (its interface shut
on-prem, or its path cut):

- On-prem: the interface going down takes a directly connected eBGP session with it at once
  (fast external fallover, on by default in FRR and IOS): detection within ONPREM_LINK_S.
- Azure: it hears nothing more and waits for its BGP hold timer. BGP uses the smaller of the
  two sides' hold times (RFC 4271 4.2), so the negotiated hold the router shows is Azure's
  too. The last keepalive Azure got left the router at most one keepalive interval before
  the fault, so the timer fires within [hold - keepalive, hold] after it. Without a reading,
  Azure VPN Gateway's fixed timers apply: keepalive 60 s, hold 180 s (Microsoft Learn,
  "About BGP and VPN Gateway", learn.microsoft.com/azure/vpn-gateway/vpn-gateway-bgp-overview,
  as cited in Microsoft Tech Community "Azure VPN Gateway BGP Timer Mismatches"). BFD, where
  both ends run it (the lab can; Azure VPN Gateway does not offer it, ExpressRoute does),
  fires within [detect - interval, detect]. DPD (the connection's dpdTimeoutSeconds) ends the
  tunnel only when the fault also stops IKE, which a tunnel-interface shut need not do (the
  lab's does not): it is reported beside the window, not folded into it.
- Flows Azure sends over the dead path blackhole until Azure notices, plus the time its SDN
  takes to move them (ROUTE_MOVE_S). Which flows: ECMP (equal AS-path length on every path,
  as Azure's learned routes show) spreads them, so about one in n; with primary/backup (a
  longer, prepended path) every flow rides the primary and none the backup.
A measured value agrees with a window when its own interval overlaps it (both carry
uncertainty: the measurement its sampling, the prediction where in the keepalive cycle the
fault lands).
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AZURE_KEEPALIVE_S = 60.0  # Azure VPN Gateway's fixed BGP keepalive (see the module docstring)
AZURE_HOLD_S = 180.0  # ... and hold time
ONPREM_LINK_S = 1.0  # interface down -> session down on the router, command handling included
REACTION_S = 0.3  # a router's own work after its timer fires (lab: BFD 100 ms x 3 -> 0.31-0.33 s)
ROUTE_MOVE_S = 0.5  # Azure's SDN moving traffic off a dead instance (lab: about 0.12 s)

BfdStatus = Literal["up", "down", "off"]
Role = Literal["ecmp", "primary", "backup", "no_path", "unknown"]
# link: the tunnel's interface shut; neighbor: its BGP neighbor shut; underlay: the path
# under it cut (an uplink down), which neither end's BGP is told of.
FaultKind = Literal["link", "neighbor", "underlay"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SessionFacts(_Model):
    """One tunnel's BGP session as the on-prem router shows it before the fault."""

    device: str
    interface: str
    neighbor: str  # Azure's BGP address (the router's neighbor)
    azure_peer: str  # the router's own BGP address (Azure's peer, the next hop Azure learns)
    azure_instance: int | None = None
    connection: str | None = None
    established: bool | None = None  # None: not read
    hold_s: float | None = None  # negotiated
    keepalive_s: float | None = None  # the router's own interval
    bfd: BfdStatus | None = None  # None: not read
    bfd_detect_s: float | None = None  # how long the far end waits without BFD packets
    bfd_interval_s: float | None = None  # how often the router sends them
    source: str = ""  # what it was read from, e.g. "frr: show bgp neighbors json"


class AzurePath(_Model):
    """One row of the gateway's learned routes (getLearnedRoutes)."""

    instance: str  # the instance's own BGP address
    prefix: str
    next_hop: str | None
    as_path_len: int
    origin: str | None = None  # EBgp, IBgp, Network


class DesignFacts(_Model):
    sessions: list[SessionFacts]
    onprem_prefixes: list[str]
    azure_prefixes: list[str]
    azure_peer_states: dict[str, str | None] | None = None  # peer -> Connected|...; None: not read
    azure_paths: list[AzurePath] | None = None  # None: not read
    dpd_timeout_s: dict[str, float] = Field(default_factory=dict)  # connection -> seconds
    # device -> Azure route prefix -> neighbors it is learned from (valid paths); None: not read
    onprem_paths: dict[str, dict[str, list[str]]] | None = None
    notes: list[str] = Field(default_factory=list)  # what could not be read, and why


class Window(_Model):
    """A predicted interval in seconds from the fault, and what bounds it."""

    lo: float
    hi: float
    bound_by: str  # "BGP hold timer", "BFD", "interface down", "not on this path"
    timer_s: float | None = None  # the timer that bounds it, when one does
    why: str

    def text(self) -> str:
        return f"{_num(self.lo)}..{_num(self.hi)} s ({self.why})"

    def agrees(self, lo: float | None, hi: float | None) -> bool:
        """Does a measured interval [lo, hi] (hi None: open above) overlap this window?"""
        if lo is None:
            return False
        return lo <= self.hi and (hi is None or hi >= self.lo)


class TunnelPrediction(_Model):
    device: str
    interface: str
    neighbor: str
    azure_peer: str
    azure_instance: int | None = None
    fault: FaultKind = "link"
    role: Role
    role_why: str
    onprem_detection: Window
    azure_detection: Window
    blackhole: Window  # outage of the flows Azure sends over this path
    affected: str  # which flows should lose, in words
    unaffected: str  # which should not
    dpd_s: float | None = None  # the connection's DPD timeout: ends it sooner if IKE stops too

    @property
    def name(self) -> str:
        return f"{self.device} {self.interface}"


class Prediction(_Model):
    tunnels: list[TunnelPrediction]
    single_points_of_failure: list[str]
    notes: list[str] = Field(default_factory=list)

    def for_tunnel(self, device: str | None, interface: str | None = None,
                   neighbor: str | None = None) -> TunnelPrediction | None:
        for t in self.tunnels:
            if t.device == device and (t.interface == interface or t.neighbor == neighbor):
                return t
        return None

    def lines(self) -> list[str]:
        """The prediction as `check` prints it."""
        out = []
        for t in self.tunnels:
            out.append(f"predict {t.name} ({t.neighbor}, instance {_inst(t.azure_instance)}) "
                       f"fails: on-prem notices in {t.onprem_detection.text()}; Azure in "
                       f"{t.azure_detection.text()}; flows on it lose "
                       f"{t.blackhole.text()}; path role {t.role} ({t.role_why}); "
                       f"affected: {t.affected}; unaffected: {t.unaffected}"
                       + (f"; DPD {_num(t.dpd_s)} s if IKE stops too" if t.dpd_s else ""))
        out.extend(f"note: {n}" for n in self.notes)
        return out


def _num(x: float | None) -> str:
    if x is None:
        return "?"
    return str(int(x)) if float(x).is_integer() else f"{x:.3f}".rstrip("0").rstrip(".")


def _inst(index: int | None) -> str:
    return "?" if index is None else str(index)


# ---------------------------------------------------------------- windows


def onprem_window(s: SessionFacts, fault: FaultKind) -> Window:
    if fault == "underlay":  # silent on both ends: the router waits as Azure does
        return azure_window(s, "link")[0]
    if fault == "neighbor":
        return Window(lo=0.0, hi=ONPREM_LINK_S, bound_by="neighbor shutdown",
                      why="the router closes the session itself")
    return Window(lo=0.0, hi=ONPREM_LINK_S, bound_by="interface down",
                  why="the interface going down takes the session with it")


def azure_window(s: SessionFacts, fault: FaultKind) -> tuple[Window, list[str]]:
    """When Azure's side should notice, and what was assumed."""
    notes: list[str] = []
    if fault == "neighbor":
        return Window(lo=0.0, hi=ONPREM_LINK_S, bound_by="BGP notification",
                      why="the router's Cease notification tells Azure at once"), notes
    if s.bfd == "up" and s.bfd_detect_s:
        interval = s.bfd_interval_s or s.bfd_detect_s / 3
        notes.append(f"{s.device} {s.interface}: BFD is up; Azure VPN Gateway does not offer "
                     "BFD, so this holds for the lab (or ExpressRoute), not a real VPN gateway")
        return Window(lo=max(0.0, s.bfd_detect_s - interval), hi=s.bfd_detect_s + REACTION_S,
                      bound_by="BFD", timer_s=s.bfd_detect_s,
                      why=f"BFD detection {_num(s.bfd_detect_s)} s"), notes
    hold = s.hold_s
    if hold is None:
        hold = AZURE_HOLD_S
        notes.append(f"{s.device} {s.interface}: hold time not read; Azure's fixed "
                     f"{_num(AZURE_HOLD_S)} s assumed")
    keepalive = s.keepalive_s if s.keepalive_s else hold / 3
    return Window(lo=max(0.0, hold - keepalive), hi=hold + REACTION_S, bound_by="BGP hold timer",
                  timer_s=hold, why=f"BGP hold timer {_num(hold)} s, keepalive "
                  f"{_num(keepalive)} s"), notes


# ---------------------------------------------------------------- paths


def _within(prefix: str, onprem: list[str]) -> bool:
    try:
        net = ipaddress.ip_network(prefix, strict=False)
        return any(net.version == o.version and net.subnet_of(o)  # type: ignore[arg-type]
                   for o in (ipaddress.ip_network(p, strict=False) for p in onprem))
    except ValueError:
        return False


def azure_next_hops(facts: DesignFacts) -> dict[str, dict[str, int]]:
    """On-prem prefix -> on-prem next hop -> shortest AS path seen through it (EBgp rows
    from the inventory's own peers; Azure's instances relaying to each other are left out)."""
    peers = {s.azure_peer for s in facts.sessions}
    out: dict[str, dict[str, int]] = {}
    for p in facts.azure_paths or []:
        if p.next_hop not in peers or not _within(p.prefix, facts.onprem_prefixes):
            continue
        hops = out.setdefault(p.prefix, {})
        hops[p.next_hop] = min(hops.get(p.next_hop, p.as_path_len), p.as_path_len)
    return out


def path_role(facts: DesignFacts, s: SessionFacts) -> tuple[Role, str, int]:
    """(role, why, number of equal best paths) of this session for Azure->on-prem flows."""
    if facts.azure_paths is None:
        return "unknown", "Azure's learned routes not read", 0
    hops = azure_next_hops(facts)
    if not hops:
        return "unknown", "Azure learns no on-prem prefix from the inventory's peers", 0
    roles: list[tuple[Role, str, int]] = []
    for prefix, by_hop in sorted(hops.items()):
        best = min(by_hop.values())
        equal = sum(1 for n in by_hop.values() if n == best)
        mine = by_hop.get(s.azure_peer)
        if mine is None:
            roles.append(("no_path", f"Azure learns {prefix} not via {s.azure_peer}", equal))
        elif mine > best:
            roles.append(("backup", f"{prefix}: AS path {mine} via {s.azure_peer} against "
                          f"{best} on the best path", equal))
        elif equal > 1:
            roles.append(("ecmp", f"{prefix}: AS path {mine} on {equal} paths", equal))
        else:
            roles.append(("primary", f"{prefix}: AS path {mine}, the only shortest "
                          f"({', '.join(f'{h} {n}' for h, n in sorted(by_hop.items()))})", equal))
    # The most exposed role across prefixes decides (primary beats ecmp beats backup).
    order: list[Role] = ["primary", "ecmp", "backup", "no_path"]
    return min(roles, key=lambda r: order.index(r[0]))


def _flows(role: Role, equal: int, s: SessionFacts) -> tuple[str, str]:
    if role == "ecmp":
        return (f"flows Azure hashes onto {s.interface} (about 1 in {equal})",
                f"flows Azure hashes onto the other {equal - 1} path(s), and every flow "
                f"from on-prem (the router moves them at once)")
    if role == "primary":
        return ("every flow Azure sends to on-prem (this is its preferred path)",
                "flows from on-prem (the router moves them at once)")
    if role in ("backup", "no_path"):
        return "none", "every flow (Azure does not send over this path)"
    return ("flows Azure sends over this path (how many: unknown)",
            "flows on the other paths")


# ---------------------------------------------------------------- single points of failure


def single_points_of_failure(facts: DesignFacts) -> list[str]:
    out: list[str] = []
    for s in facts.sessions:
        if s.established is False:
            out.append(f"{s.device} {s.interface}: BGP to {s.neighbor} is down on the router")
        state = (facts.azure_peer_states or {}).get(s.azure_peer, "Connected")
        if facts.azure_peer_states is not None and state != "Connected":
            out.append(f"{s.device} {s.interface}: Azure's peer {s.azure_peer} is "
                       f"{state or 'not listed'}")
    if facts.azure_paths is not None:
        hops = azure_next_hops(facts)
        for prefix in facts.onprem_prefixes:
            learned = {h for p, by_hop in hops.items() if _within(p, [prefix]) for h in by_hop}
            if len(learned) == 0:
                out.append(f"Azure learns on-prem prefix {prefix} over no path")
            elif len(learned) == 1:
                out.append(f"Azure learns on-prem prefix {prefix} over one path only "
                           f"(via {next(iter(learned))})")
    for device, by_prefix in (facts.onprem_paths or {}).items():
        tunnels = {s.neighbor for s in facts.sessions if s.device == device}
        for prefix in facts.azure_prefixes:
            routes = {p: {n for n in ns if n in tunnels} for p, ns in by_prefix.items()
                      if _within(p, [prefix])}
            if not routes or not any(routes.values()):
                out.append(f"{device} learns Azure prefix {prefix} over no tunnel")
                continue
            for route, neighbors in sorted(routes.items()):
                if len(neighbors) == 1:
                    out.append(f"{device} learns Azure prefix {route} over one tunnel only "
                               f"(via {next(iter(neighbors))})")
    return out


# ---------------------------------------------------------------- the prediction


def predict_tunnel(facts: DesignFacts, s: SessionFacts,
                   fault: FaultKind = "link") -> tuple[TunnelPrediction, list[str]]:
    onprem = onprem_window(s, fault)
    azure, notes = azure_window(s, fault)
    role, why, equal = path_role(facts, s)
    affected, unaffected = _flows(role, equal, s)
    if role in ("backup", "no_path"):
        blackhole = Window(lo=0.0, hi=0.0, bound_by="not on this path",
                           why="Azure sends no flow over it")
    else:
        blackhole = Window(lo=azure.lo, hi=azure.hi + ROUTE_MOVE_S, bound_by=azure.bound_by,
                           timer_s=azure.timer_s,
                           why=f"until Azure notices ({azure.bound_by}) and moves the flows")
    dpd = facts.dpd_timeout_s.get(s.connection or "") or None
    return TunnelPrediction(
        device=s.device, interface=s.interface, neighbor=s.neighbor, azure_peer=s.azure_peer,
        azure_instance=s.azure_instance, fault=fault, role=role, role_why=why,
        onprem_detection=onprem, azure_detection=azure, blackhole=blackhole,
        affected=affected, unaffected=unaffected, dpd_s=dpd), notes


def predict(facts: DesignFacts, fault: FaultKind = "link") -> Prediction:
    tunnels: list[TunnelPrediction] = []
    notes: list[str] = list(facts.notes)
    for s in facts.sessions:
        t, more = predict_tunnel(facts, s, fault)
        tunnels.append(t)
        notes.extend(n for n in more if n not in notes)
    return Prediction(tunnels=tunnels, single_points_of_failure=single_points_of_failure(facts),
                      notes=notes)
