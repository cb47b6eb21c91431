"""The prediction's readers end to end without root: Azure's design through the real SDK
against the emulator (static gateway: instance 1's on-prem peer down, the on-prem prefix
learned via instance 0 only), the router from recorded output (FRR JSON from the lab, IOS
text from ntc-templates), into a prediction and its single points of failure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from failover_harness.azure.design import AzureDesign, read_design
from failover_harness.azure.settings import AzureSettings
from failover_harness.devices import ReplayDevice
from failover_harness.devices.neighbor_detail import FRR_BFD_COMMAND, FRR_TABLE_COMMAND
from failover_harness.inventory import load_inventory
from failover_harness.orchestrator.design_read import AzureDesignRead, read_prediction
from tests.unit.azure_emulator_fixtures import RES, Running, emu, running  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
INVENTORY = load_inventory(ROOT / "inventories" / "lab.yaml")


def settings(state: Running) -> AzureSettings:
    return AzureSettings(subscription_id=RES.subscription_id, resource_group=RES.resource_group,
                         gateway=RES.gateway, connections=["cn-edge1-t1", "cn-edge1-t2"],
                         base_url=state.state.base_url, ca_bundle=state.state.ca_bundle)


@pytest.fixture
def design(emu: Running) -> Iterator[AzureDesign]:  # noqa: F811
    yield read_design(settings(emu))


def frr_edge1() -> ReplayDevice:
    return ReplayDevice("edge1", "frr", {
        "show bgp neighbors json": (DATA / "frr/edge1-show-bgp-neighbors-bfd.json").read_text(),
        FRR_BFD_COMMAND: json.dumps([{"peer": "169.254.21.1", "status": "up",
                                      "transmit-interval": 100, "remote-receive-interval": 100,
                                      "remote-detect-multiplier": 3}]),
        FRR_TABLE_COMMAND: (DATA / "frr/edge1-show-bgp-ipv4-unicast-primary-backup.json").read_text()})


def test_azure_design_through_the_sdk(design: AzureDesign) -> None:
    assert design.notes == []
    onprem = {(p.instance, p.next_hop, p.as_path_len) for p in design.paths or []
              if p.prefix == "192.168.10.0/24"}
    assert onprem == {("10.0.255.4", "169.254.21.2", 1), ("10.0.255.5", "10.0.255.4", 1)}
    assert design.peer_states is not None and design.peer_states["169.254.21.2"] == "Connected"
    assert design.peer_states["169.254.21.6"] != "Connected"
    assert design.dpd_timeout_s == {"cn-edge1-t1": 45.0, "cn-edge1-t2": 45.0}


def test_prediction_from_the_emulator_and_a_recorded_frr_router(design: AzureDesign) -> None:
    device = frr_edge1()
    device.connect()
    prediction = read_prediction(INVENTORY, lambda _name: device, design)
    t1 = prediction.for_tunnel("edge1", "Tunnel1")
    assert t1 is not None and t1.azure_detection.bound_by == "BFD"
    assert t1.role == "primary" and t1.dpd_s == 45
    t2 = prediction.for_tunnel("edge1", "Tunnel2")
    assert t2 is not None and t2.role == "no_path"
    assert t2.azure_detection.bound_by == "BGP hold timer"  # bfdd shows no BFD peer for it
    spofs = prediction.single_points_of_failure
    assert any("Azure's peer 169.254.21.6" in s for s in spofs), spofs
    assert any("192.168.10.0/24 over one path only (via 169.254.21.2)" in s for s in spofs), spofs
    assert device.show_log == ["show bgp neighbors json", FRR_BFD_COMMAND, FRR_TABLE_COMMAND]


def test_a_platform_without_a_reader_and_a_failed_read_are_notes() -> None:
    ios = ReplayDevice("edge1", "cisco_ios", {"show ip bgp neighbors": (
        DATA / "device-outputs/cisco_ios/show_ip_bgp_neighbors/cisco_ios_show_ip_bgp_neighbors.raw"
    ).read_text()})
    ios.connect()
    inventory = INVENTORY.model_copy(deep=True)
    inventory.devices["edge1"].platform = "cisco_ios"
    prediction = read_prediction(inventory, lambda _name: ios, None)
    # The recorded router has other neighbors: the tunnels' timers stay unknown -> Azure's.
    assert all(t.azure_detection.timer_s == 180 for t in prediction.tunnels)
    assert any("read on FRR only" in n for n in prediction.notes)
    assert any("180 s assumed" in n for n in prediction.notes)
    assert ios.show_log == ["show ip bgp neighbors"]
    silent = ReplayDevice("edge1", "frr", {})
    silent.connect()
    notes = read_prediction(INVENTORY, lambda _name: silent, None).notes
    assert any("`show bgp neighbors json` not read" in n for n in notes)


def test_a_background_read_that_fails_or_hangs_is_a_note() -> None:
    def boom() -> AzureDesign:
        raise RuntimeError("no route to ARM")
    assert "no route to ARM" in AzureDesignRead(boom).result(1.0).notes[0]
    import threading
    gate = threading.Event()
    slow = AzureDesignRead(lambda: (gate.wait(5), AzureDesign())[1])
    assert slow.result(0.05).notes == ["Azure design not read within 0.05 s"]
    gate.set()


def test_a_run_writes_one_prediction_before_its_first_fault(tmp_path: Path) -> None:
    """The game-day (replay router, fake Azure): the prediction is in the timeline once,
    before the first fault's action_start, and the report's findings use it."""
    from tests.unit.orchestrator_fakes import EVERY_KIND, World, events, playbook, run
    result = run(World(), playbook(EVERY_KIND), tmp_path)
    assert [o.status for o in result.outcomes] == ["completed"], result.message
    kinds = [e["kind"] for e in events(result)]
    assert kinds.count("prediction") == 1
    assert kinds.index("prediction") < kinds.index("action_start")
    made = next(e for e in events(result) if e["kind"] == "prediction")["data"]
    # The simulated router answers no neighbor detail and the fake Azure reads nothing:
    # Azure's fixed timers, and notes that say so.
    assert made["tunnels"][0]["azure_detection"]["timer_s"] == 180
    assert any("not read" in n for n in made["notes"])
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["sections"][0]["prediction"]["tunnels"][0]["interface"] == "Tunnel1"


def test_the_guard_reads_the_hold_time_on_ios_too() -> None:
    """guard_bounds uses the same neighbor detail readers: an IOS router's negotiated hold."""
    from types import SimpleNamespace

    from failover_harness.orchestrator import guard_bounds
    text = ("BGP neighbor is 169.254.21.1,  remote AS 65515, external link\n"
            "  BGP state = Established, up for 01:02:03\n"
            "  Last read 00:00:04, last write 00:00:04, hold time is 30, keepalive interval is 10 seconds\n")
    ios = ReplayDevice("edge1", "cisco_ios", {"show ip bgp neighbors": text})
    ios.connect()
    inventory = INVENTORY.model_copy(deep=True)
    inventory.devices["edge1"].platform = "cisco_ios"
    session = SimpleNamespace(inventory=inventory, changer=SimpleNamespace(device=lambda _n: ios))
    assert guard_bounds.hold_times(session) == {"edge1 169.254.21.1": 30.0}  # type: ignore[arg-type]
