"""A fake world for the orchestrator's unit tests, handed in through `Parts`: one simulated
FRR router (the replay device) that every device session shares, an Azure poller whose
snapshot follows that router's BGP sessions, probes that report what the test says, and a
sleep that lets a test act during a wait. Nothing here needs root or a network."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from failover_harness.azure.design import AzureDesign
from failover_harness.azure.models import AzureSnapshot
from failover_harness.devices import BgpNeighbor, Device, DeviceAction, ReplayDevice
from failover_harness.errors import DeviceError
from failover_harness.inventory import Inventory, load_inventory
from failover_harness.journal import read_journal
from failover_harness.orchestrator.gameday import GameDayResult, run_gameday
from failover_harness.orchestrator.parts import Monitor, Parts, Poller
from failover_harness.orchestrator.session import RunOptions, Session
from failover_harness.playbook import Playbook
from failover_harness.probes.flows import FlowSpec
from failover_harness.reports.render import RenderedReport, report_from_dir
from failover_harness.timeline import Timeline

ROOT = Path(__file__).resolve().parents[2]
INVENTORY_PATH = ROOT / "inventories" / "lab.yaml"
INVENTORY = load_inventory(INVENTORY_PATH)
I0, I1 = "10.0.255.4", "10.0.255.5"  # the gateway instances' own BGP addresses
ONPREM_PREFIX = "192.168.10.0/24"
FAST = RunOptions(gate_timeout_s=2.0, guard_loss_s=1.0, settle_s=0.0, device_poll_s=0.01)


class Router:
    """edge1 of the lab inventory, simulated; `session()` is one SSH session to it."""

    def __init__(self) -> None:
        self.device = ReplayDevice.simulated_frr(
            "edge1", 65010, {"Tunnel1": ("169.254.21.1", 65515),
                             "Tunnel2": ("169.254.21.5", 65515)})
        self.device.connect()
        # (enabled, interface or neighbor) -> errors its next sends of that change raise
        self.failures: dict[tuple[bool, str], list[BaseException]] = {}
        self.sessions = 0

    def session(self) -> Device:
        self.sessions += 1
        return RouterSession(self)

    def fail(self, enabled: bool, target: str, error: BaseException | None = None,
             times: int = 1) -> None:
        """The next `times` sends of this change (shut: enabled False) raise `error`."""
        error = error or DeviceError("edge1: session dropped")
        self.failures.setdefault((enabled, target), []).extend([error] * times)

    def established(self) -> dict[str, bool]:
        return {n.address: n.established for n in self.device.bgp_neighbors()}

    def shut(self, interface: str) -> None:
        """Change the router behind the harness's back (as a killed run left it)."""
        self.device.set_interface_enabled(interface, False)


class RouterSession:
    """One session to the shared router: its own connected flag, the router's state."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.name = router.device.name
        self.platform = router.device.platform
        self.connected = False

    def connect(self) -> None:
        self.connected = True

    def close(self) -> None:
        self.connected = False

    def __enter__(self) -> Device:
        self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _check(self) -> None:
        if not self.connected:
            raise DeviceError(f"{self.name}: not connected")

    def _config(self, enabled: bool, target: str) -> None:
        self._check()
        pending = self.router.failures.get((enabled, target))
        if pending:
            raise pending.pop(0)

    def send_show(self, command: str) -> str:
        self._check()
        return self.router.device.send_show(command)

    def set_interface_enabled(self, interface: str, enabled: bool) -> list[str]:
        self._config(enabled, interface)
        return self.router.device.set_interface_enabled(interface, enabled)

    def set_neighbor_enabled(self, neighbor_ip: str, enabled: bool) -> list[str]:
        self._config(enabled, neighbor_ip)
        return self.router.device.set_neighbor_enabled(neighbor_ip, enabled)

    def bgp_neighbors(self) -> list[BgpNeighbor]:
        self._check()
        return self.router.device.bgp_neighbors()

    def planned_commands(self, action: DeviceAction) -> list[str]:
        return self.router.device.planned_commands(action)


class FakePoller:
    """Azure's view follows the router: a peer is Connected while its on-prem session is
    Established, and only Connected peers are next hops of the on-prem prefix."""

    def __init__(self, router: Router, inventory: Inventory) -> None:
        self.router = router
        self.inventory = inventory
        self.started = self.stopped = False
        self.tick: Callable[[], None] = lambda: None
        self.focused: list[tuple[float, float]] = []
        self.lead = 0.0  # what lead_s answers

    def start(self) -> FakePoller:
        self.started = True
        return self

    def stop(self) -> None:
        self.stopped = True

    def focus(self, after_s: float, until_s: float, keep: float = 0.2) -> None:
        self.focused.append((after_s, until_s))

    def lead_s(self, after_s: float) -> float:
        return self.lead

    def snapshot(self) -> AzureSnapshot:
        self.tick()
        up = self.router.established()
        peers: dict[str, dict[str, str | None]] = {I0: {I1: "Connected"}, I1: {I0: "Connected"}}
        hops: dict[str, list[str]] = {I0: [I1], I1: [I0]}
        for ref in self.inventory.tunnels():
            instance = I0 if ref.tunnel.azure_instance == 0 else I1
            local = str(ref.tunnel.local_address)
            connected = up.get(str(ref.tunnel.neighbor), False)
            peers[instance][local] = "Connected" if connected else "Connecting"
            if connected:
                hops[instance].insert(0, local)
        return AzureSnapshot(
            peers=peers, gateway_asn=65515,
            peer_asns={"169.254.21.2": 65010, "169.254.21.6": 65010, I0: 65515, I1: 65515},
            next_hops={i: {ONPREM_PREFIX: tuple(h)} for i, h in hops.items()})


@dataclass
class FakeMonitor:
    flows: Sequence[FlowSpec]
    loss_free: bool = True
    all_losing: bool = False
    started: bool = False
    stopped: bool = False

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def loss_free_for(self, seconds: float) -> bool:
        return self.loss_free

    def all_flows_losing_for(self, seconds: float, now: float) -> bool:
        return self.all_losing

    def summary(self) -> dict[str, tuple[int, int, bool]]:
        return {}


@dataclass
class World:
    """The fake parts and the handles a test pokes: the router, the poller, the monitors,
    and `tick`, called on every sleep of the run and every read of Azure (to act in the
    middle of a step)."""

    inventory: Inventory = field(default_factory=lambda: INVENTORY)
    router: Router = field(default_factory=Router)
    monitors: list[FakeMonitor] = field(default_factory=list)
    pollers: list[FakePoller] = field(default_factory=list)
    tick: Callable[[], None] = lambda: None
    azure_lead: float = 0.0  # what the fake pollers' lead_s answers
    on_device_open: Callable[[], None] = lambda: None  # called on every new device session
    monitor_defaults: dict[str, bool] = field(default_factory=dict)

    def parts(self) -> Parts:
        return Parts(device=lambda _inv, _name: self._open(),
                     azure_poller=self._poller, probe_monitor=self._monitor,
                     sleep=self._sleep, route_source=lambda _host: None,
                     report=report_without_charts,
                     azure_design=lambda _inv: AzureDesign(notes=["fake Azure: not read"]))

    def _open(self) -> Device:
        self.on_device_open()
        return self.router.session()

    def _poller(self, inventory: Inventory, _timeline: Timeline) -> Poller:
        poller = FakePoller(self.router, inventory)
        poller.tick = lambda: self.tick()
        poller.lead = self.azure_lead
        self.pollers.append(poller)
        return poller

    def _monitor(self, flows: Sequence[FlowSpec], _netns: str | None,
                 _timeline: Timeline) -> Monitor:
        monitor = FakeMonitor(flows, **self.monitor_defaults)
        self.monitors.append(monitor)
        return monitor

    def _sleep(self, seconds: float) -> None:
        self.tick()
        time.sleep(min(seconds, 0.005))  # waits loop on the monotonic clock: short is fine


def report_without_charts(run_dir: Path) -> RenderedReport:
    """The real metrics and verdicts, written as report.json only (charts take seconds)."""
    report, _sections, _metrics = report_from_dir(run_dir)
    json_path = run_dir / "report.json"
    json_path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return RenderedReport(report=report, json_path=json_path, html_path=run_dir / "report.html",
                          md_path=run_dir / "report.md", junit_path=run_dir / "junit.xml",
                          png_paths=[])


# ---------------------------------------------------------------- runs against the world

T1, T2 = "169.254.21.1", "169.254.21.5"  # the on-prem router's neighbors on Tunnel1/Tunnel2

# Every kind of device step the runner carries out (Azure's resets: test_azure_faults.py).
EVERY_KIND: list[dict[str, Any]] = [
    {"action": "baseline", "seconds": 0.05},
    {"action": "shut_interface", "device": "edge1", "interface": "Tunnel1"},
    {"action": "wait_until", "condition": "azure_peer_down", "peer": "169.254.21.2",
     "timeout_s": 2},
    {"action": "hold", "seconds": 0.05},
    {"action": "no_shut_interface", "device": "edge1", "interface": "Tunnel1"},
    {"action": "wait_until", "condition": "onprem_peer_up", "peer": T1, "timeout_s": 2},
    {"action": "shut_neighbor", "device": "edge1", "neighbor": T2},
    {"action": "hold", "seconds": 0.05},
    {"action": "no_shut_neighbor", "device": "edge1", "neighbor": T2},
    {"action": "hold", "seconds": 0.05},
]


def playbook(method: list[dict[str, Any]], **extra: object) -> Playbook:
    return Playbook.model_validate({"name": "unit", "probes": {"from": "onprem-host",
                                                                "to": ["vm1"]},
                                    "method": method, **extra})


def run(world: World, pb: Playbook, tmp_path: Path, sessions: list[Session] | None = None,
        **options: object) -> GameDayResult:
    opts = FAST.model_copy(update={"reports_root": tmp_path / "reports", "run_id": "run",
                                   **options})
    return run_gameday(INVENTORY_PATH, [pb], opts, say=lambda _m: None, parts=world.parts(),
                       on_session=sessions.append if sessions is not None else None)


def events(result: GameDayResult) -> list[dict[str, Any]]:
    lines = (result.run_dir / "timeline.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def assert_all_restored(world: World, result: GameDayResult) -> None:
    assert world.router.established() == {T1: True, T2: True}
    journal = read_journal(result.run_dir / "journal.jsonl")
    assert journal.closed and not journal.outstanding
