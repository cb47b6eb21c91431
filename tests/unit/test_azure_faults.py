"""Azure's own faults in a run (reset_azure_instance, reset_connection), against the fake
world: the VIP found from the gateway's resources, the journal, the events, the gate and
the guard. The real SDK against the emulator is tests/lab/test_azure_faults.py."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from failover_harness.azure.actions import AzureActionError, InstanceVip, instance_vips
from failover_harness.errors import InputError
from failover_harness.lab.azure_emulator import arm_resources
from failover_harness.lab.state import AzureInstanceState, AzureResources
from failover_harness.orchestrator.dry_run import device_commands
from failover_harness.orchestrator.recovery import azure_actions
from failover_harness.playbook import Playbook, load_playbook
from tests.unit.orchestrator_fakes import FAST, INVENTORY, INVENTORY_PATH, ROOT, World, events, playbook

VIPS = ["198.51.100.10", "198.51.100.11"]


class FakeActions:
    """The gateway's two instances; a reset takes the instance's tunnel down on the router
    and brings it back after `outage_ticks` ticks of the run."""

    def __init__(self, world: World, outage_ticks: int = 5) -> None:
        self.world = world
        self.calls: list[tuple[str, str]] = []
        self.outage_ticks = outage_ticks
        self.closed = False

    def vips(self) -> list[InstanceVip]:
        return [InstanceVip(instance=i, ip_configuration_id=f"cfg{i}", public_ip_id=f"pip{i}",
                            vip=v, bgp_addresses=[]) for i, v in enumerate(VIPS)]

    def _outage(self, interface: str) -> None:
        self.world.router.shut(interface)
        left = [self.outage_ticks]
        before = self.world.tick

        def tick() -> None:
            before()
            left[0] -= 1
            if left[0] == 0:
                self.world.router.device.set_interface_enabled(interface, True)
        self.world.tick = tick

    def begin_reset_instance(self, vip: str) -> object:
        self.calls.append(("reset", vip))
        self._outage("Tunnel1" if vip == VIPS[0] else "Tunnel2")
        return None

    def begin_reset_connection(self, name: str) -> object:
        self.calls.append(("resetconnection", name))
        self._outage("Tunnel1" if name.endswith("t1") else "Tunnel2")
        return None

    def close(self, wait_s: float = 5.0) -> list[str]:
        self.closed = True
        return []


def run_with(world: World, actions: FakeActions, pb: Playbook, tmp_path: Path,
             **options: object) -> Any:
    from failover_harness.orchestrator.gameday import run_gameday
    parts = dataclasses.replace(world.parts(), azure_actions=lambda _inv: actions)
    opts = FAST.model_copy(update={"reports_root": tmp_path / "reports", "run_id": "run",
                                   **options})
    return run_gameday(INVENTORY_PATH, [pb], opts, say=lambda _m: None, parts=parts)


RESET0 = [{"action": "baseline", "seconds": 0.05},
          {"action": "reset_azure_instance", "instance": 0},
          {"action": "wait_until", "condition": "onprem_peer_down", "peer": "169.254.21.1",
           "timeout_s": 2},
          {"action": "wait_until", "condition": "all_peers_up", "timeout_s": 2}]


def test_reset_instance_names_its_vip_journals_and_emits(tmp_path: Path) -> None:
    world = World()
    actions = FakeActions(world)
    result = run_with(world, actions, playbook(RESET0), tmp_path)
    assert result.exit_code == 0, result.message
    assert actions.calls == [("reset", VIPS[0])]
    assert actions.closed
    done = [e for e in events(result) if e["kind"] == "action_done"]
    assert len(done) == 1
    data = done[0]["data"]
    assert done[0]["subject"] == "device:azure:vpngw-lab/instance0"
    assert (data["action"], data["vip"], data["device"], data["interface"],
            data["onprem_neighbor"]) == ("reset_azure_instance", VIPS[0], "edge1", "Tunnel1",
                                         "169.254.21.1")
    assert data["azure_instance"] == "10.0.255.4"  # the snapshot's instance of peer .2
    assert any("reset?gatewayVip=198.51.100.10" in c for c in data["commands"])
    resets = azure_actions(result.run_dir / "journal.jsonl")
    assert [(r["action"], r["target"], r["vip"]) for r in resets] == [
        ("reset_azure_instance", "instance0", VIPS[0])]
    assert world.router.established() == {"169.254.21.1": True, "169.254.21.5": True}


def test_reset_connection_takes_its_tunnel(tmp_path: Path) -> None:
    world = World()
    actions = FakeActions(world)
    pb = playbook([{"action": "reset_connection", "connection": "cn-edge1-t2"},
                   {"action": "wait_until", "condition": "onprem_peer_down",
                    "peer": "169.254.21.5", "timeout_s": 2}])
    result = run_with(world, actions, pb, tmp_path)
    assert result.exit_code == 0, result.message
    assert actions.calls == [("resetconnection", "cn-edge1-t2")]
    done = next(e for e in events(result) if e["kind"] == "action_done")
    assert (done["data"]["interface"], done["data"]["connection"]) == ("Tunnel2", "cn-edge1-t2")


def test_gate_refuses_a_reset_when_the_other_instance_is_down(tmp_path: Path) -> None:
    world = World()
    world.router.shut("Tunnel2")  # instance 1's peer is down: resetting 0 leaves nothing
    actions = FakeActions(world)
    result = run_with(world, actions, playbook(RESET0), tmp_path)
    assert result.outcomes[0].status == "gate_failed"
    assert actions.calls == []
    assert not azure_actions(result.run_dir / "journal.jsonl")


def test_guard_trips_when_the_surviving_instance_fails(tmp_path: Path) -> None:
    world = World()
    actions = FakeActions(world, outage_ticks=100)
    pb = playbook([{"action": "reset_azure_instance", "instance": 0},
                   {"action": "hold", "seconds": 5}])
    original = actions.begin_reset_instance

    def reset_and_lose_the_other(vip: str) -> object:
        out = original(vip)
        actions._outage("Tunnel2")  # the surviving path fails during the reset (for a while)
        return out
    actions.begin_reset_instance = reset_and_lose_the_other  # type: ignore[method-assign]
    result = run_with(world, actions, pb, tmp_path)
    assert result.outcomes[0].status == "aborted"
    assert "Tunnel2" in (result.outcomes[0].reason or "")


def test_instance_vips_follow_bgp_peering_order_to_public_ips() -> None:
    res = AzureResources(subscription_id="sub", resource_group="rg", gateway="gw",
                         location="westeurope", asn=65515)
    insts = [AzureInstanceState(index=i, router=f"gw{i}", ip_configuration=f"cfg{i}",
                                private_ip=f"10.0.255.{4 + i}", bgp_ip=f"169.254.21.{1 + 4 * i}",
                                public_ip=VIPS[i]) for i in range(2)]
    gateway = arm_resources.gateway_resource(res, insts)
    pips = {arm_resources.public_ip_id(res, i): i.public_ip for i in insts}
    # bgpPeeringAddresses order decides the instance, not ipConfigurations order
    props = gateway["properties"]
    assert isinstance(props, dict)
    props["ipConfigurations"] = list(reversed(props["ipConfigurations"]))
    found = instance_vips(json.loads(json.dumps(gateway)), pips.get)
    assert [(v.instance, v.vip) for v in found] == [(0, VIPS[0]), (1, VIPS[1])]
    assert found[1].bgp_addresses == ["10.0.255.5", "169.254.21.5"]
    with pytest.raises(AzureActionError, match="has no ipAddress"):
        instance_vips(gateway, lambda _id: None)


def test_dry_run_lists_the_calls_with_the_vip() -> None:
    pb = load_playbook(ROOT / "playbooks" / "reset-instance0.yaml", INVENTORY)
    lines = device_commands(INVENTORY, pb, VIPS)
    text = "\n".join(lines)
    assert "takes down edge1 Tunnel1" in text
    assert ("POST /subscriptions/00000000-0000-0000-0000-00000000fa11/resourceGroups/"
            "rg-failover-lab/providers/Microsoft.Network/virtualNetworkGateways/vpngw-lab/"
            "reset?gatewayVip=198.51.100.10") in text
    unread = "\n".join(device_commands(INVENTORY, pb, "no credential"))
    assert "VIP not read: no credential" in unread
    conn = load_playbook(ROOT / "playbooks" / "reset-connection.yaml", INVENTORY)
    assert any("connections/cn-edge1-t1/resetconnection" in line
               for line in device_commands(INVENTORY, conn))


def test_unknown_connection_is_named(tmp_path: Path) -> None:
    path = tmp_path / "pb.yaml"
    path.write_text("name: x\nprobes: {from: onprem-host, to: [vm1]}\nmethod:\n"
                    "  - action: reset_connection\n    connection: cn-nope\n")
    with pytest.raises(InputError, match="cn-nope") as err:
        load_playbook(path, INVENTORY)
    assert "line 5" in str(err.value) or "method" in str(err.value)
