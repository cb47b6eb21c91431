"""link_down / link_up: an uplink (ISP/WAN) interface shut through the device CLI, its
inverse, the tunnels it cuts, and bad input (no tunnel leaves by it)."""

from __future__ import annotations

from pathlib import Path

from failover_harness.blast_radius import total_outage_problems
from failover_harness.inventory import load_inventory
from failover_harness.orchestrator.steps import (
    change_data,
    describe,
    device_change,
    tunnels_cut,
)
from failover_harness.playbook import LinkDown, LinkUp, load_playbook
from failover_harness.playbook.steps import fault_of, is_fault, restore_key

ROOT = Path(__file__).resolve().parents[2]
ISPS = load_inventory(ROOT / "inventories" / "lab-isps.yaml")
DUAL = load_inventory(ROOT / "inventories" / "lab-dual.yaml")


def test_link_down_is_an_interface_shut_undone_by_link_up() -> None:
    down = LinkDown(action="link_down", device="edge1", interface="wan0")
    up = down.restore_step()
    assert isinstance(up, LinkUp) and (up.device, up.interface) == ("edge1", "wan0")
    assert is_fault(down) and not is_fault(up)
    assert restore_key(fault_of(up)) == restore_key(down)
    change, undo = device_change(down), device_change(up)
    assert change is not None and undo is not None
    assert (change.kind, change.target, change.is_restore) == ("shut_interface", "wan0", False)
    assert undo == change.undo()
    assert describe(down) == "link_down device=edge1 interface=wan0"


def test_an_uplink_cuts_every_tunnel_that_leaves_by_it() -> None:
    change = device_change(LinkDown(action="link_down", device="edge1", interface="wan0"))
    assert change is not None
    assert [r.interface for r in tunnels_cut(ISPS, change)] == ["Tunnel1"]
    assert [r.interface for r in tunnels_cut(DUAL, change)] == ["Tunnel1", "Tunnel2"]
    data = change_data(ISPS, change, lambda _peer: "0")
    # the event names the uplink and the tunnel it cut (metrics follow that tunnel's session)
    assert data["uplink"] == "wan0" and data["interface"] == "Tunnel1"
    assert data["onprem_neighbor"] == "169.254.21.1" and data["azure_peer"] == "169.254.21.2"
    tunnel = device_change(LinkDown(action="link_down", device="edge1", interface="Tunnel1"))
    assert tunnel is not None and "uplink" not in change_data(ISPS, tunnel, lambda _p: None)


def test_shipped_router_down_keeps_edge2_up_but_not_on_a_one_router_lab() -> None:
    pb = load_playbook(ROOT / "playbooks" / "router-down.yaml", DUAL)
    assert total_outage_problems(pb, DUAL) == []
    one = load_inventory(ROOT / "inventories" / "lab.yaml")
    problems = total_outage_problems(pb, one)
    assert problems and "leaves no tunnel up" in problems[0].message
