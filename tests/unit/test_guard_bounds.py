"""The guard's total-loss trip armed from the design (issue 13 item 3): the negotiated BGP
hold of each tunnel's session (FRR's own JSON), Azure's fixed 180 s without it, the
playbook's max_outage_s, `--guard-loss` as an override."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from failover_harness.errors import DeviceError
from failover_harness.orchestrator import guard_bounds
from failover_harness.orchestrator.session import RunOptions
from tests.unit.orchestrator_fakes import INVENTORY, playbook

# `show bgp neighbors json` of FRR 8/9 (trimmed to what is read) for the tuned 5/15 profile
TUNED = {"169.254.21.1": {"bgpState": "Established", "bgpTimerHoldTimeMsecs": 15000,
                          "bgpTimerKeepAliveIntervalMsecs": 5000},
         "169.254.21.5": {"bgpState": "Established", "bgpTimerHoldTimeMsecs": 15000}}


class Dev:
    def __init__(self, answer: dict[str, Any] | None) -> None:
        self.answer = answer

    def send_show(self, command: str) -> str:
        assert command == "show bgp neighbors json"
        if self.answer is None:
            raise DeviceError("edge1: session dropped")
        return json.dumps(self.answer)


def session(answer: dict[str, Any] | None, guard_loss_s: float | None = None) -> Any:
    dev = Dev(answer)
    return SimpleNamespace(inventory=INVENTORY, options=RunOptions(guard_loss_s=guard_loss_s),
                           changer=SimpleNamespace(device=lambda _name: dev))


def test_tuned_timers_arm_after_the_hold_plus_margin() -> None:
    bounds = guard_bounds.arm(session(TUNED), playbook([]))
    assert bounds.hold_s == {"edge1 169.254.21.1": 15.0, "edge1 169.254.21.5": 15.0}
    assert bounds.loss_trip_s == 15.0 + guard_bounds.MARGIN_S
    assert "15 s" in bounds.describe() and not bounds.override


def test_unread_timers_fall_back_to_azures_hold() -> None:
    bounds = guard_bounds.arm(session(None), playbook([]))
    assert bounds.hold_s == {}
    assert bounds.loss_trip_s == guard_bounds.AZURE_HOLD_S + guard_bounds.MARGIN_S


def test_fast_timers_keep_the_floor_and_the_playbook_bound_counts() -> None:
    fast = {n: {"bgpTimerHoldTimeMsecs": 3000} for n in TUNED}
    assert guard_bounds.arm(session(fast), playbook([])).loss_trip_s == guard_bounds.FLOOR_S
    pb = playbook([], expectations=[{"metric": "max_outage_s", "max": 30}])
    assert guard_bounds.arm(session(fast), pb).loss_trip_s == 30 + guard_bounds.MARGIN_S


def test_guard_loss_overrides() -> None:
    bounds = guard_bounds.arm(session(TUNED, guard_loss_s=7.0), playbook([]))
    assert (bounds.loss_trip_s, bounds.override) == (7.0, True)
