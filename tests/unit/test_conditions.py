"""Steady-state checks, wait conditions and the guard, against a fake view of the world."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from failover_harness.azure.models import AzureSnapshot
from failover_harness.inventory import Inventory, load_inventory
from failover_harness.orchestrator import conditions
from failover_harness.playbook import WaitUntil

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = load_inventory(ROOT / "inventories" / "lab.yaml")
I0, I1 = "10.0.255.4", "10.0.255.5"


@dataclass
class View:
    inventory: Inventory = field(default_factory=lambda: INVENTORY)
    onprem: dict[str, bool] = field(default_factory=lambda: {"169.254.21.1": True,
                                                              "169.254.21.5": True})
    snapshot: AzureSnapshot | None = None
    loss_free: bool = True

    def onprem_established(self, device: str, neighbor: str) -> bool | None:
        return self.onprem.get(neighbor)

    def azure(self) -> AzureSnapshot | None:
        return self.snapshot

    def loss_free_for(self, seconds: float) -> bool:
        return self.loss_free


def snapshot(peer1: str = "Connected", peer2: str = "Connected",
             hops0: tuple[str, ...] = ("169.254.21.2", I1),
             hops1: tuple[str, ...] = ("169.254.21.6", I0)) -> AzureSnapshot:
    return AzureSnapshot(
        peers={I0: {"169.254.21.2": peer1, I1: "Connected"},
               I1: {"169.254.21.6": peer2, I0: "Connected"}},
        peer_asns={"169.254.21.2": 65010, "169.254.21.6": 65010, I0: 65515, I1: 65515},
        gateway_asn=65515,
        next_hops={I0: {"192.168.10.0/24": hops0}, I1: {"192.168.10.0/24": hops1}})


def wait(condition: str, **kw: object) -> WaitUntil:
    return WaitUntil.model_validate({"action": "wait_until", "condition": condition,
                                     "timeout_s": 10, **kw})


def test_steady_state_holds_only_with_every_peer_up_and_routes_on_all_paths() -> None:
    view = View(snapshot=snapshot())
    assert conditions.onprem_up(view, "edge1")
    assert conditions.azure_up(view)
    assert conditions.routes_on_all_paths(view, "192.168.10.0/24")
    view.snapshot = snapshot(peer2="Connecting", hops1=(I0,))
    answer = conditions.azure_up(view)
    assert not answer and "169.254.21.6 Connecting" in answer.why
    assert not conditions.routes_on_all_paths(view, "192.168.10.0/24")
    view.onprem["169.254.21.5"] = False
    assert "169.254.21.5" in conditions.onprem_up(view, "edge1").why


def test_no_azure_data_is_not_a_steady_state() -> None:
    assert not conditions.azure_up(View(snapshot=None))
    assert not conditions.onprem_up(View(onprem={}), "edge1")


def test_peer_conditions_accept_either_address_of_the_session() -> None:
    view = View(snapshot=snapshot(peer1="Idle", hops0=(I1,), hops1=("169.254.21.6",)))
    for peer in ("169.254.21.2", "169.254.21.1"):
        assert conditions.condition(view, wait("azure_peer_down", peer=peer))
        assert not conditions.condition(view, wait("azure_peer_up", peer=peer))
        assert conditions.condition(view, wait("routes_withdrawn", peer=peer))
    assert not conditions.condition(view, wait("all_peers_up"))
    view.onprem["169.254.21.1"] = False
    assert conditions.condition(view, wait("onprem_peer_down", peer="169.254.21.2"))


def test_the_guard_ignores_the_broken_tunnel_and_trips_on_the_survivor() -> None:
    broken = [r for r in INVENTORY.tunnels() if r.interface == "Tunnel1"]
    view = View(onprem={"169.254.21.1": False, "169.254.21.5": True},
                snapshot=snapshot(peer1="Idle"))
    assert conditions.surviving_paths(view, broken)
    view.snapshot = snapshot(peer1="Idle", peer2="Connecting")
    answer = conditions.surviving_paths(view, broken)
    assert not answer and "Tunnel2" in answer.why and "169.254.21.6" in answer.why
    view.snapshot = snapshot(peer1="Idle")
    view.onprem["169.254.21.5"] = False
    assert not conditions.surviving_paths(view, broken)


def test_the_built_in_steady_state_names_what_does_not_hold() -> None:
    assert all(conditions.steady_state(View(snapshot=snapshot())))
    answer = conditions.all_of(conditions.steady_state(
        View(snapshot=snapshot(peer2="Idle", hops1=(I0,)))))
    assert not answer and "169.254.21.6 Idle" in answer.why and "192.168.10.0/24" in answer.why
