"""Several vantage points in one playbook (`probes.also`), the monitor that answers for all
of them, and a remote vantage point's events mapped onto the run's clock (fakes, no SSH)."""

from __future__ import annotations

from pathlib import Path

import pytest

from failover_harness.clocksync import ClockEstimate
from failover_harness.errors import InputError
from failover_harness.inventory import Inventory, SshVantage, VantagePoint, load_inventory
from failover_harness.orchestrator.components import probe_flows, probe_sets
from failover_harness.orchestrator.multi_monitor import MultiMonitor
from failover_harness.orchestrator.remote_monitor import RemoteProbeMonitor
from failover_harness.playbook import load_playbook
from failover_harness.probes.flows import FlowTarget, build_flows
from failover_harness.timeline import Clock, Timeline, load_timeline

ROOT = Path(__file__).resolve().parents[2]
T1_TEXT = (ROOT / "playbooks" / "tunnel1-failover.yaml").read_text()


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    text = (ROOT / "inventories" / "lab.yaml").read_text().replace(
        "vantage_points:\n", "vantage_points:\n  branch:\n    ssh: {host: 198.18.1.2, user: root}\n"
        "    sources: [192.168.20.10]\n", 1)
    path = tmp_path / "inv.yaml"
    path.write_text(text)
    return load_inventory(path)


def playbook_with(tmp_path: Path, also: str) -> Path:
    path = tmp_path / "pb.yaml"
    path.write_text(T1_TEXT.replace("  interval_ms: 10\n", "  interval_ms: 10\n" + also))
    return path


def test_also_probes_from_another_vantage_point_with_their_own_ids(
        tmp_path: Path, inventory: Inventory) -> None:
    pb = load_playbook(playbook_with(tmp_path, "  also:\n    - {from: branch, to: [vm1], "
                                               "kinds: [icmp], flows: 2}\n"), inventory)
    sets = probe_sets(inventory, pb)
    assert [name for name, _flows in sets] == ["onprem-host", "branch"]
    assert [f.id for f in sets[0][1]] == [f.id for f in probe_flows(inventory, pb)[0]]
    assert [f.id for f in sets[1][1]] == ["branch/vm1-icmp-0", "branch/vm1-icmp-1"]
    assert {f.src for f in sets[1][1]} == {"192.168.20.10"}


@pytest.mark.parametrize(("also", "field", "words"), [
    ("  also:\n    - {from: nowhere, to: [vm1]}\n", "probes.also[0].from", "unknown vantage point"),
    ("  also:\n    - {from: onprem-host, to: [vm1]}\n", "probes.also[0].from", "already probes"),
    ("  also:\n    - {from: branch, to: [vm9]}\n", "probes.also[0].to[0]", "unknown target"),
])
def test_bad_also_names_file_line_field(tmp_path: Path, inventory: Inventory, also: str,
                                        field: str, words: str) -> None:
    path = playbook_with(tmp_path, also)
    with pytest.raises(InputError) as info:
        load_playbook(path, inventory)
    text = str(info.value)
    line = path.read_text().splitlines().index(also.splitlines()[1]) + 1
    assert f"pb.yaml:{line}: field '{field}'" in text and words in text, text


class FakeMonitor:
    def __init__(self, fail: bool = False, quiet: bool = True, losing: bool = True) -> None:
        self.fail, self.quiet, self.losing = fail, quiet, losing
        self.started = self.stopped = False

    def start(self) -> None:
        if self.fail:
            raise RuntimeError("no python3 there")
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def loss_free_for(self, seconds: float) -> bool:
        return self.quiet

    def all_flows_losing_for(self, seconds: float, now: float) -> bool:
        return self.losing

    def summary(self) -> dict[str, tuple[int, int, bool]]:
        return {f"f{id(self)}": (1, 0, False)}


def test_one_vantage_point_failing_to_start_stops_the_others() -> None:
    first, second = FakeMonitor(), FakeMonitor(fail=True)
    with pytest.raises(RuntimeError):
        MultiMonitor([first, second]).start()
    assert first.started and first.stopped


def test_questions_cover_every_vantage_point() -> None:
    assert not MultiMonitor([FakeMonitor(), FakeMonitor(quiet=False)]).loss_free_for(3)
    assert MultiMonitor([FakeMonitor(), FakeMonitor()]).loss_free_for(3)
    # The guard trips only when every flow everywhere is losing.
    assert not MultiMonitor([FakeMonitor(), FakeMonitor(losing=False)]).all_flows_losing_for(1, 0)
    assert len(MultiMonitor([FakeMonitor(), FakeMonitor()]).summary()) == 2


class FakeRemote:
    def __init__(self, estimate: ClockEstimate) -> None:
        self.estimate = estimate
        self.running = True

    def clock(self) -> ClockEstimate:
        return self.estimate


def test_remote_events_land_on_the_run_clock_with_the_uncertainty_as_window(
        tmp_path: Path) -> None:
    flows = build_flows([FlowTarget(name="vm1", ip="10.0.1.4")], ["192.168.20.10"], 1,
                        kinds=["icmp"])
    clock = Clock()
    timeline = Timeline(tmp_path / "timeline.jsonl", clock)
    vantage = VantagePoint(ssh=SshVantage(host="198.18.1.2", user="root"),
                           sources=["192.168.20.10"])
    monitor = RemoteProbeMonitor(flows, "branch", vantage, timeline)
    # The remote clock runs 1000 s ahead of ours, known to +/- 0.4 ms.
    monitor._remote = FakeRemote(ClockEstimate(offset_s=1000.0, drift=0.0, ref_t=clock.mono0,  # type: ignore[assignment]
                                               uncertainty_s=0.0004, rtt_min_s=0.0008,
                                               samples=10, used=5))
    remote0 = clock.mono0 + 1000.0  # the run's t = 0 on the remote clock
    fid = flows[0].id
    for second in range(4):
        monitor._on_event({"k": "flow_stats", "flow_id": fid, "t": remote0 + second,
                           "period_s": 1.0, "sent": 100, "received": 100, "lost": 0,
                           "rtt_ms_p50": 0.2, "rtt_ms_max": 0.3, "fwd_delay_ms_p50": None,
                           "ret_delay_ms_p50": None})
    assert monitor.loss_free_for(3.0)
    monitor._remote.running = False  # type: ignore[attr-defined]  # its SSH session ended
    assert not monitor.loss_free_for(3.0)
    monitor._remote.running = True  # type: ignore[attr-defined]
    monitor._on_event({"k": "loss_start", "flow_id": fid, "t": remote0 + 4.5, "seq": 450})
    assert not monitor.loss_free_for(3.0)
    monitor._on_event({"k": "loss_end", "flow_id": fid, "t": remote0 + 7.5, "seq": 750,
                       "lost": 300, "open": False, "start_t": remote0 + 4.5, "probes": 300,
                       "prev_t": remote0 + 4.49, "last_lost_t": remote0 + 7.49,
                       "forward_lost": None, "return_lost": None})
    timeline.close()
    events = {e.kind: e for e in load_timeline(tmp_path / "timeline.jsonl").events}
    start, end = events["loss_start"], events["loss_end"]
    assert start.t == pytest.approx(4.5, abs=1e-6)
    assert start.window == pytest.approx((4.5 - 0.0004, 4.5 + 0.0004), abs=1e-6)
    assert end.data.start_t == pytest.approx(4.5, abs=1e-6)  # type: ignore[union-attr]
    assert end.data.max_duration_s == pytest.approx(3.01, abs=1e-6)  # type: ignore[union-attr]
    assert end.data.min_duration_s == pytest.approx(2.99, abs=1e-6)  # type: ignore[union-attr]
    monitor._key_dir.cleanup()
