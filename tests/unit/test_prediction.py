"""The prediction logic (prediction.py) on the lab's designs as the readers report them."""

from __future__ import annotations

import pytest

from failover_harness.prediction import (
    AZURE_HOLD_S,
    ONPREM_LINK_S,
    REACTION_S,
    ROUTE_MOVE_S,
    DesignFacts,
    Window,
    predict,
    single_points_of_failure,
)
from tests.synthetic import INSTANCE1, PEER1, PEER2, PREFIX, synthetic_design


def tunnel(design: DesignFacts, name: str = "Tunnel1"):  # type: ignore[no-untyped-def]
    t = predict(design).for_tunnel("edge1", name)
    assert t is not None
    return t


@pytest.mark.parametrize(("hold", "keepalive"), [(3, 1), (15, 5), (180, 60)])
def test_azure_waits_for_the_hold_timer_within_one_keepalive(hold: float, keepalive: float) -> None:
    t = tunnel(synthetic_design(hold_s=hold, keepalive_s=keepalive))
    assert t.azure_detection.bound_by == "BGP hold timer"
    assert t.azure_detection.timer_s == hold
    assert (t.azure_detection.lo, t.azure_detection.hi) == (hold - keepalive, hold + REACTION_S)
    assert (t.onprem_detection.lo, t.onprem_detection.hi) == (0.0, ONPREM_LINK_S)
    # Flows on the dead path lose until Azure notices and moves them.
    assert t.blackhole.lo == hold - keepalive
    assert t.blackhole.hi == hold + REACTION_S + ROUTE_MOVE_S
    assert t.dpd_s == 45


def test_bfd_bounds_azure_detection_and_says_it_is_not_azure_vpn_gateway() -> None:
    prediction = predict(synthetic_design(bfd_detect_s=0.3))
    t = prediction.tunnels[0]
    assert t.azure_detection.bound_by == "BFD"
    assert t.azure_detection.lo == pytest.approx(0.2)
    assert t.azure_detection.hi == pytest.approx(0.3 + REACTION_S)
    assert any("does not offer BFD" in n for n in prediction.notes)


def test_without_a_reading_azure_fixed_timers_apply() -> None:
    design = synthetic_design()
    design = design.model_copy(update={"sessions": [
        s.model_copy(update={"hold_s": None, "keepalive_s": None}) for s in design.sessions]})
    prediction = predict(design)
    t = prediction.tunnels[0]
    assert (t.azure_detection.lo, t.azure_detection.timer_s) == (AZURE_HOLD_S * 2 / 3, AZURE_HOLD_S)
    assert any("not read" in n and "180" in n for n in prediction.notes)


def test_ecmp_spreads_flows_and_primary_backup_does_not() -> None:
    ecmp = predict(synthetic_design())
    assert [t.role for t in ecmp.tunnels] == ["ecmp", "ecmp"]
    assert "about 1 in 2" in ecmp.tunnels[0].affected
    pb = predict(synthetic_design(prepend_tunnel2=2))
    primary, backup = pb.tunnels
    assert (primary.role, backup.role) == ("primary", "backup")
    assert "every flow" in primary.affected
    assert "AS path 3" in backup.role_why and "1 on the best path" in backup.role_why
    assert backup.affected == "none"
    assert (backup.blackhole.lo, backup.blackhole.hi) == (0.0, 0.0)
    assert pb.single_points_of_failure == []  # a backup path is still a path


def test_unknown_paths_say_so() -> None:
    design = synthetic_design().model_copy(update={"azure_paths": None})
    t = predict(design).tunnels[0]
    assert t.role == "unknown" and "not read" in t.role_why


def test_single_points_of_failure_when_tunnel2_is_down() -> None:
    design = synthetic_design(prepend_tunnel2=2)
    sessions = [s.model_copy(update={"established": s.interface != "Tunnel2"})
                for s in design.sessions]
    down = design.model_copy(update={
        "sessions": sessions,
        "azure_peer_states": {PEER1: "Connected", PEER2: "Connecting"},
        "azure_paths": [p for p in design.azure_paths or [] if p.next_hop != PEER2],
        "onprem_paths": {"edge1": {"10.0.0.0/16": ["169.254.21.1"]}}})
    spofs = single_points_of_failure(down)
    assert any("Tunnel2: BGP to 169.254.21.5 is down" in s for s in spofs)
    assert any("Azure's peer 169.254.21.6 is Connecting" in s for s in spofs)
    assert any(f"on-prem prefix {PREFIX} over one path only (via {PEER1})" in s for s in spofs)
    assert any("Azure prefix 10.0.0.0/16 over one tunnel only (via 169.254.21.1)" in s
               for s in spofs)
    # All up: none.
    assert single_points_of_failure(design) == []
    # The router learns nothing at all: that is one too.
    none = design.model_copy(update={"onprem_paths": {"edge1": {}}})
    assert single_points_of_failure(none) == ["edge1 learns Azure prefix 10.0.0.0/16 over no tunnel"]


def test_paths_from_azure_instances_to_each_other_do_not_count() -> None:
    design = synthetic_design()
    only_ibgp = design.model_copy(update={"azure_paths": [
        p for p in design.azure_paths or [] if p.next_hop != PEER2]})
    # Instance 1 still reaches on-prem through instance 0 (IBgp): one path only.
    assert any("over one path only" in s for s in single_points_of_failure(only_ibgp))
    assert INSTANCE1 not in str(single_points_of_failure(design))


@pytest.mark.parametrize(("lo", "hi", "agrees"), [
    (2.5, 2.6, True), (0.0, 4.7, True), (3.4, 4.0, False), (0.0, 1.9, False), (2.9, None, True),
    (None, None, False)])
def test_a_measurement_agrees_when_its_interval_overlaps(lo: float | None, hi: float | None,
                                                         agrees: bool) -> None:
    w = Window(lo=2.0, hi=3.3, bound_by="BGP hold timer", why="x")
    assert w.agrees(lo, hi) is agrees


def test_check_lines_name_the_windows() -> None:
    lines = predict(synthetic_design()).lines()
    assert lines[0].startswith("predict edge1 Tunnel1 (169.254.21.1, instance 0) fails")
    assert "Azure in 2..3.3 s (BGP hold timer 3 s, keepalive 1 s)" in lines[0]
    assert "DPD 45 s if IKE stops too" in lines[0]


def test_a_neighbor_shutdown_tells_azure_at_once() -> None:
    t = predict(synthetic_design(), fault="neighbor").tunnels[0]
    assert t.azure_detection.bound_by == "BGP notification" and t.azure_detection.hi <= 1.0


def test_an_underlay_cut_is_silent_on_both_ends() -> None:
    """link_down of an uplink: no interface of the session goes down, so the router too waits
    for its hold timer (the lab's FRR log shows 'Hold Timer Expired' on edge1)."""
    t = predict(synthetic_design(hold_s=3, keepalive_s=1), "underlay").for_tunnel("edge1", "Tunnel1")
    assert t is not None
    assert t.onprem_detection.bound_by == "BGP hold timer"
    assert (t.onprem_detection.lo, t.onprem_detection.hi) == (2, 3 + REACTION_S)
    assert t.onprem_detection == t.azure_detection
