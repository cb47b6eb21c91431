"""What bounds convergence in this design, read before the fault, and the guard's
total-loss trip armed after it.

Every flow may lose until the slower side notices the dead path: at worst the BGP hold
timer. BGP negotiates the smaller of the two sides' hold times, so the on-prem router's
view of each session (its neighbor detail, devices/neighbor_detail.py) is the one
both sides use; BFD only shortens it. Without that reading, Azure VPN Gateway's fixed timers
(keepalive 60 s, hold 180 s; learn.microsoft.com vpn-gateway-bgp-overview) bound it. The
playbook's own max_outage_s bound counts too. The trip fires after the largest bound plus a
margin; a failure of the surviving path's control plane trips at once (playbook_run.guard).
"""

from __future__ import annotations

from pydantic import BaseModel

from failover_harness.devices.neighbor_detail import NEIGHBOR_DETAIL
from failover_harness.errors import DeviceError
from failover_harness.orchestrator.session import Session
from failover_harness.playbook import Playbook

AZURE_HOLD_S = 180.0  # Azure's fixed BGP hold time (keepalive 60 s)
MARGIN_S = 5.0  # a reroute after detection, and the probes' own timeout
FLOOR_S = 10.0  # never trip sooner than this (the old fixed trip)


class GuardBounds(BaseModel):
    hold_s: dict[str, float]  # "device neighbor" -> negotiated hold time
    expectation_s: float | None
    loss_trip_s: float
    override: bool

    def describe(self) -> str:
        holds = ", ".join(f"{k} hold {v:g} s" for k, v in self.hold_s.items()) or \
            f"no hold time read: Azure's {AZURE_HOLD_S:g} s"
        expect = f"; playbook max_outage_s {self.expectation_s:g} s" if self.expectation_s else ""
        how = "--guard-loss" if self.override else f"largest bound + {MARGIN_S:g} s"
        return f"guard armed: total loss trips after {self.loss_trip_s:g} s ({how}; {holds}{expect})"


def hold_times(session: Session) -> dict[str, float]:
    """Negotiated hold time of each tunnel's session, from each router's neighbor detail
    (devices/neighbor_detail.py: FRR JSON, IOS-style text, Junos; others: none)."""
    out: dict[str, float] = {}
    for name, device in session.inventory.devices.items():
        entry = NEIGHBOR_DETAIL.get(device.platform)
        if entry is None:
            continue
        command, parse = entry
        try:
            neighbors = parse(session.changer.device(name).send_show(command))
        except (DeviceError, ValueError):
            continue
        for tunnel in device.tunnels.values():
            row = neighbors.get(str(tunnel.neighbor))
            if row is not None and row.hold_s:
                out[f"{name} {tunnel.neighbor}"] = row.hold_s
    return out


def arm(session: Session, pb: Playbook) -> GuardBounds:
    expectation = next((e.every_run_max for e in pb.expectations
                        if e.metric == "max_outage_s" and e.every_run_max is not None), None)
    holds = hold_times(session)
    if session.options.guard_loss_s is not None:
        return GuardBounds(hold_s=holds, expectation_s=expectation,
                           loss_trip_s=session.options.guard_loss_s, override=True)
    bound = max([*holds.values()] or [AZURE_HOLD_S])
    if expectation is not None:
        bound = max(bound, float(expectation))
    return GuardBounds(hold_s=holds, expectation_s=expectation,
                       loss_trip_s=max(FLOOR_S, bound + MARGIN_S), override=False)
