"""Metrics and verdicts on synthetic timelines written through the real Timeline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from failover_harness.expectations import Expectation
from failover_harness.metrics import compute_metrics, evaluate
from failover_harness.timeline import Event, Timeline, read_timeline

T = 0.01
FAULT = {"device": "edge1", "interface": "Tunnel1", "onprem_neighbor": "169.254.21.1",
         "azure_peer": "169.254.21.2", "azure_instance": "169.254.21.1",
         "connection": "cn-edge1-t1"}
PEER = "azure:instance:169.254.21.1/peer:169.254.21.2"


class Run:
    """Builds a timeline on disk and reads it back, as the report will."""

    def __init__(self, path: Path) -> None:
        self.path = path / "timeline.jsonl"
        self.timeline = Timeline(self.path)

    def emit(self, source: Any, kind: str, subject: str, t: float, **data: Any) -> None:
        window = data.pop("window", None)
        self.timeline.emit(source, kind, subject, t=t, window=window, **data)

    def start(self, flows: int = 1) -> None:
        self.emit("run", "run_start", "run-1", 0.0, playbook={"name": "p"})
        for i in range(flows):
            self.emit("probe", "flow_start", f"flow:f{i}", 0.01, probe="icmp", src="192.168.10.10",
                      dst="10.0.1.4", interval_s=T)

    def fault(self, t_start: float = 5.0, t_done: float = 5.1, **data: Any) -> None:
        self.emit("action", "action_start", "device:edge1/Tunnel1", t_start,
                  action="shut_interface")
        self.emit("action", "action_done", "device:edge1/Tunnel1", t_done,
                  action="shut_interface", **data)

    def restore(self, t_start: float = 12.0, t_done: float = 12.1) -> None:
        self.emit("action", "action_start", "device:edge1/Tunnel1", t_start,
                  action="no_shut_interface")
        self.emit("action", "action_done", "device:edge1/Tunnel1", t_done,
                  action="no_shut_interface", **FAULT)

    def loss(self, flow: str, start: float, end: float | None) -> None:
        self.emit("probe", "loss_start", f"flow:{flow}", start, seq=round(start / T))
        if end is not None:
            self.emit("probe", "loss_end", f"flow:{flow}", end, seq=round(end / T),
                      lost=round((end - start) / T), min_duration_s=end - start - T,
                      max_duration_s=end - start + T)

    def end(self, t: float = 20.0) -> list[Event]:
        self.emit("run", "run_end", "run-1", t, status="completed")
        self.timeline.close()
        return list(read_timeline(self.path))


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    yield Run(tmp_path)


def test_one_flow_one_episode(run: Run) -> None:
    run.start()
    run.fault(**FAULT)
    run.loss("f0", 5.02, 7.52)
    run.restore()
    m = compute_metrics(run.end())
    assert m.t0 == 5.1 and m.restore_t == 12.1
    flow = m.flows[0]
    assert [(e.start, e.end, e.lost, e.phase) for e in flow.episodes] == [
        (5.02, 7.52, 250, "fault")]
    assert flow.outage_s.value == pytest.approx(2.5)
    assert (flow.outage_s.lo, flow.outage_s.hi) == pytest.approx((2.49, 2.51))  # +/- T
    assert flow.loss_outage_s.value == pytest.approx(250 * T)
    assert m.metrics["max_outage_s"].value == m.metrics["min_outage_s"].value == pytest.approx(2.5)
    assert m.metrics["total_lost_probes"].value == 250
    assert m.metrics["failback_lost_probes"].value == 0


def test_several_episodes_are_all_listed_and_failback_separated(run: Run) -> None:
    run.start()
    run.fault(**FAULT)
    run.loss("f0", 5.2, 6.0)
    run.loss("f0", 6.5, 6.7)      # a flap after the fault
    run.restore()
    run.loss("f0", 12.5, 12.55)   # loss caused by the failback
    m = compute_metrics(run.end())
    phases = [e.phase for e in m.flows[0].episodes]
    assert phases == ["fault", "fault", "failback"]
    outage = m.metrics["max_outage_s"]
    assert outage.value == pytest.approx(1.0)
    assert outage.hi == pytest.approx(1.0 + 2 * T)  # two episodes, each +/- T
    assert m.metrics["failback_lost_probes"].value == 5
    assert m.metrics["total_lost_probes"].value == 80 + 20 + 5
    verdicts = evaluate(m, [Expectation(metric="failback_lost_probes", max=0)])
    assert verdicts[0].status == "failed" and verdicts[0].miss_by == 5
    assert "failback_lost_probes = 5 probes > max 0" in verdicts[0].message


def test_ecmp_survivors_give_first_and_full_convergence(run: Run) -> None:
    run.start(flows=4)
    run.fault(**FAULT)
    run.loss("f0", 5.05, 7.65)   # hashed onto the dead tunnel
    run.loss("f1", 5.05, 5.45)   # moved early
    run.restore()
    m = compute_metrics(run.end())
    assert m.metrics["flows_with_loss"].value == 2
    assert m.metrics["flows_without_loss"].value == 2
    assert m.metrics["max_outage_s"].value == pytest.approx(2.6)
    assert "f0" in (m.metrics["max_outage_s"].detail or "")
    assert m.metrics["min_outage_s"].value == pytest.approx(0.4)
    survivors = [f for f in m.flows if not f.episodes]
    assert [f.flow for f in survivors] == ["f2", "f3"]
    assert all(f.outage_s.value == 0 for f in survivors)
    verdicts = evaluate(m, [Expectation(metric="flows_without_loss", min=1),
                            Expectation(metric="max_outage_s", max=0.5)])
    assert [v.status for v in verdicts] == ["passed", "failed"]
    assert verdicts[1].miss_by == pytest.approx(2.1)


def test_open_episode_ends_at_run_end_and_is_censored(run: Run) -> None:
    run.start()
    run.fault(**FAULT)
    run.loss("f0", 5.2, None)  # never recovers
    m = compute_metrics(run.end(t=9.0))
    episode = m.flows[0].episodes[0]
    assert episode.open and episode.end == 9.0
    outage = m.metrics["max_outage_s"]
    assert outage.censored and outage.hi is None and outage.value == pytest.approx(3.8)
    over, unknown = evaluate(m, [Expectation(metric="max_outage_s", max=2),
                                 Expectation(metric="max_outage_s", max=5)])
    assert over.status == "failed"          # at least 3.8 s > 2 s: certainly missed
    assert unknown.status == "inconclusive"  # at least 3.8 s: may or may not exceed 5 s
    assert "restore" in " ".join(m.notes)


def test_open_episode_reported_by_prober(run: Run) -> None:
    run.start()
    run.fault(**FAULT)
    run.emit("probe", "loss_start", "flow:f0", 5.2, seq=520)
    run.emit("probe", "loss_end", "flow:f0", 6.0, seq=None, lost=80, open=True,
             min_duration_s=0.79, max_duration_s=None)
    m = compute_metrics(run.end())
    assert m.flows[0].episodes[0].open and m.metrics["max_outage_s"].censored


def test_detection_times_with_windows(run: Run) -> None:
    run.start()
    run.emit("device", "bgp_state", "device:edge1/neighbor:169.254.21.1", 1.0,
             state="Established", window=(0.9, 1.0))
    run.emit("azure", "bgp_peer", PEER, 1.0, state="Connected", window=(0.5, 1.0))
    run.emit("azure", "route_next_hops", "azure:instance:169.254.21.1/prefix:192.168.10.0/24",
             1.0, next_hops=["169.254.21.2", "169.254.21.6"], window=(0.5, 1.0))
    run.emit("azure", "route_next_hops", "azure:instance:169.254.21.5/prefix:192.168.10.0/24",
             1.0, next_hops=["169.254.21.2", "169.254.21.6"], window=(0.5, 1.0))
    run.fault(**FAULT)
    run.emit("device", "bgp_state", "device:edge1/neighbor:169.254.21.1", 5.15,
             state="Idle", window=(5.05, 5.15))
    run.emit("azure", "bgp_peer", PEER, 8.4, state="Connecting", window=(7.1, 8.4))
    run.emit("azure", "route_next_hops", "azure:instance:169.254.21.1/prefix:192.168.10.0/24",
             8.4, next_hops=["169.254.21.6"], window=(7.1, 8.4))
    run.emit("azure", "route_next_hops", "azure:instance:169.254.21.5/prefix:192.168.10.0/24",
             9.4, next_hops=["169.254.21.6"], window=(8.1, 9.4))
    run.restore()
    run.emit("device", "bgp_state", "device:edge1/neighbor:169.254.21.1", 12.2,
             state="Established", window=(12.15, 12.2))
    run.emit("azure", "bgp_peer", PEER, 13.6, state="Connected", window=(12.3, 13.6))
    run.emit("azure", "route_next_hops", "azure:instance:169.254.21.1/prefix:192.168.10.0/24",
             14.6, next_hops=["169.254.21.2", "169.254.21.6"], window=(13.3, 14.6))
    m = compute_metrics(run.end()).metrics
    # Delays run from the fault's send (action_start, t=5.0): the on-prem window (5.05..5.15)
    # is then 0.05..0.15, never below 0; the value is the window's upper edge.
    onprem = m["onprem_detection_s"]
    assert (onprem.value, onprem.lo, onprem.hi) == pytest.approx((0.15, 0.05, 0.15))
    assert onprem.estimate == "upper_edge"
    azure = m["azure_detection_s"]
    assert (azure.value, azure.lo, azure.hi) == pytest.approx((3.4, 2.1, 3.4))
    # withdrawn only when no instance carries the failed next hop any more
    assert m["routes_withdrawn_s"].value == pytest.approx(4.4)
    # failback delays from the restore's send (t=12.0)
    assert m["failback_onprem_s"].value == pytest.approx(0.2)
    assert m["failback_azure_s"].value == pytest.approx(1.6)
    # instance 1 never got .2 back: routes not on all paths again, a lower bound only
    assert m["failback_routes_s"].censored
    assert not m["connection_detection_s"].available
    assert "no events for connection" in (m["connection_detection_s"].reason or "")


def test_missing_azure_data_makes_azure_metrics_unavailable(run: Run) -> None:
    run.start()
    run.fault(**FAULT)
    run.loss("f0", 5.2, 6.0)
    run.restore()
    m = compute_metrics(run.end())
    for name in ("azure_detection_s", "routes_withdrawn_s", "failback_azure_s",
                 "azure_data_gap_s"):
        assert not m.metrics[name].available, name
        assert m.metrics[name].reason
    assert m.metrics["max_outage_s"].available
    verdict = evaluate(m, [Expectation(metric="azure_detection_s", max=10)])[0]
    assert verdict.status == "inconclusive" and "no events for Azure peer" in verdict.message


def test_azure_data_gap_names_its_reason(run: Run) -> None:
    run.start()
    for t in (1.0, 2.0, 3.0, 7.5, 8.5):
        run.emit("azure", "sample", "azure:bgp_peer_status", t, ok=True, window=(t - 0.4, t))
    run.emit("azure", "sample", "azure:bgp_peer_status", 5.0, ok=False,
             error="429", gap_reason="throttled", window=(4.0, 5.0))
    m = compute_metrics(run.end(t=9.0))
    gap = m.metrics["azure_data_gap_s"]
    assert gap.value == pytest.approx(4.5) and "throttled" in (gap.detail or "")
    assert [(g.source, g.reasons) for g in m.data_gaps] == [("azure:bgp_peer_status",
                                                             ["throttled"])]


def test_missing_fault_data_is_reported_per_metric(run: Run) -> None:
    run.start()
    run.fault(device="edge1", interface="Tunnel1", onprem_neighbor="169.254.21.1")
    m = compute_metrics(run.end())
    assert m.fault is not None and m.fault.onprem_neighbor == "169.254.21.1"
    assert "'azure_peer'" in (m.metrics["azure_detection_s"].reason or "")
    assert "'connection'" in (m.metrics["connection_detection_s"].reason or "")
    assert "restore" in (m.metrics["failback_onprem_s"].reason or "")


def test_no_fault_action_means_no_t0(run: Run) -> None:
    run.start()
    run.loss("f0", 2.0, 2.5)
    m = compute_metrics(run.end())
    assert m.t0 is None
    assert not m.metrics["max_outage_s"].available
    assert m.metrics["total_lost_probes"].value == 50
    assert m.metrics["flows_without_loss"].value == 0
