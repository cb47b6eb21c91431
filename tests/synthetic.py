"""Synthetic game-day timelines, shaped like a lab run, for the report and plugin tests (test
only, hence here and not in the package: nothing a user runs reads it).

The numbers follow what the lab showed (keepalive 1 s / hold 3 s): shutting Tunnel1 takes the
on-prem session down at once, Azure's instance-0 peer goes down at hold-timer expiry (or
after BFD), flows hashed onto Tunnel1 lose probes until then, flows on Tunnel2 lose nothing.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from failover_harness.prediction import AzurePath, DesignFacts, SessionFacts, predict
from failover_harness.timeline import Clock, Timeline

INSTANCE0, INSTANCE1 = "169.254.21.1", "169.254.21.5"
PEER1, PEER2 = "169.254.21.2", "169.254.21.6"
PREFIX = "192.168.10.0/24"

DEFAULT_EXPECTATIONS: list[dict[str, object]] = [
    {"metric": "onprem_detection_s", "max": 1.0},
    {"metric": "azure_detection_s", "max": 10},
    {"metric": "routes_withdrawn_s", "max": 15},
    {"metric": "max_outage_s", "max": 5},
    {"metric": "flows_without_loss", "min": 1},
    {"metric": "failback_lost_probes", "max": 0},
]


class SyntheticRun(BaseModel):
    """Knobs of one synthetic playbook run (times in seconds since the section started)."""

    run_id: str = "run-synthetic"
    playbook: str = "tunnel1-failover"
    flows_on_tunnel1: int = 2
    flows_on_tunnel2: int = 2
    interval_s: float = 0.01
    baseline_s: float = 5.0
    outage_s: float = 2.6          # data-plane outage of flows on Tunnel1
    azure_detect_s: float = 2.7    # Azure instance-0 peer leaves Connected
    hold_s: float = 6.0            # fault held before the restore
    after_restore_s: float = 6.0
    sample_period_s: float = 1.0   # an Azure sample lands about this often
    sample_latency_s: float = 0.4  # request start .. response end
    azure_gap: tuple[float, float] | None = None  # no Azure answer in this span (throttled)
    azure_data: bool = True
    open_episode: bool = False     # the Tunnel1 flows never recover (run ends mid-episode)
    failback_loss_s: float = 0.0   # a short loss on Tunnel1 flows after the restore
    udp_on_tunnel1: int = 0        # UDP (STAMP) flows hashed onto Tunnel1, beside the ICMP ones
    udp_on_tunnel2: int = 0
    udp_forward_s: float = 0.12    # of a Tunnel1 UDP flow's outage, lost on the forward path
    expectations: list[dict[str, object]] = DEFAULT_EXPECTATIONS
    operator: str = "synthetic"
    # The prediction event written just before the fault (prediction.Prediction as a dict;
    # synthetic_prediction() makes one); None: the run has none.
    prediction: dict[str, object] | None = None
    regression: dict[str, object] | None = None  # the playbook's regression: field


def _bounds(lost: int, interval_s: float) -> dict[str, float]:
    """What an ICMP prober knows of an episode of `lost` probes: first to last lost probe,
    answered probe before to answered probe after."""
    return {"min_duration_s": (lost - 1) * interval_s, "max_duration_s": (lost + 1) * interval_s}


def write_synthetic_run(timeline: Timeline, run: SyntheticRun, offset: float = 0.0) -> float:
    """Append one playbook section to `timeline`, starting at `offset`; returns its end time."""
    t = offset
    emit = timeline.emit
    emit("run", "run_start", run.run_id, t=t,
         playbook={"name": run.playbook, "digest": "sha256:" + "ab" * 32},
         inventory={"name": "lab-fh", "digest": "sha256:" + "cd" * 32},
         versions={"failover-harness": "0.1.0", "frr": "8.4.4"}, operator=run.operator,
         expectations=run.expectations,
         **({"regression": run.regression} if run.regression is not None else {}))
    flows = ([f"icmp-{i}" for i in range(run.flows_on_tunnel1 + run.flows_on_tunnel2)])
    on_t1 = set(flows[: run.flows_on_tunnel1])
    udp = [f"udp-{i}" for i in range(run.udp_on_tunnel1 + run.udp_on_tunnel2)]
    on_t1 |= set(udp[: run.udp_on_tunnel1])
    flows += udp
    for i, flow in enumerate(flows):
        is_udp = flow.startswith("udp")
        emit("probe", "flow_start", f"flow:{flow}", t=t + 0.05, probe="udp" if is_udp else "icmp",
             src=f"192.168.10.{10 + i}", dst="10.0.1.4", dport=8620 if is_udp else None,
             sport=40000 + i if is_udp else None, interval_s=run.interval_s)
    for device_peer, state in ((INSTANCE0, "Established"), (INSTANCE1, "Established")):
        emit("device", "bgp_state", f"device:edge1/neighbor:{device_peer}", t=t + 0.1,
             window=(t, t + 0.1), state=state, previous=None)

    t_shut = t + run.baseline_s
    t_end = t_shut + run.hold_s + run.after_restore_s
    t0 = t_shut + 0.09
    t_restore = t_shut + run.hold_s
    restore_done = t_restore + 0.09

    # Azure samples: overlapping calls, one landing about every sample period.
    peer_state = {(INSTANCE0, PEER1): "Connected", (INSTANCE1, PEER2): "Connected"}
    azure_down_at = t0 + run.azure_detect_s
    azure_up_at = restore_done + 1.2
    routes_back_at = restore_done + 1.3
    hops = {INSTANCE0: [PEER1, PEER2], INSTANCE1: [PEER1, PEER2]}
    connection = "Connected"
    sample_t = t + 0.2
    while run.azure_data and sample_t < t_end:
        start, end = sample_t, sample_t + run.sample_latency_s
        sample_t += run.sample_period_s
        if run.azure_gap and run.azure_gap[0] <= end <= run.azure_gap[1]:
            emit("azure", "sample", "azure:bgp_peer_status", t=end, window=(start, end),
                 ok=False, error="429 Too Many Requests", gap_reason="throttled")
            continue
        emit("azure", "sample", "azure:bgp_peer_status", t=end, window=(start, end), ok=True)
        down = azure_down_at <= end < azure_up_at
        new_peer = "Connecting" if down else "Connected"
        if peer_state[(INSTANCE0, PEER1)] != new_peer:
            emit("azure", "bgp_peer", f"azure:instance:{INSTANCE0}/peer:{PEER1}", t=end,
                 window=(start - run.sample_period_s, end), state=new_peer,
                 previous=peer_state[(INSTANCE0, PEER1)])
            peer_state[(INSTANCE0, PEER1)] = new_peer
        new_conn = "NotConnected" if down else "Connected"
        if new_conn != connection:
            emit("azure", "connection", "azure:connection:cn-edge1-t1", t=end,
                 window=(start - run.sample_period_s, end), status=new_conn, previous=connection)
            connection = new_conn
        withdrawn = azure_down_at + 0.12 <= end < routes_back_at
        want = [PEER2] if withdrawn else [PEER1, PEER2]
        for instance in (INSTANCE0, INSTANCE1):
            if hops[instance] != want or start == t + 0.2:
                emit("azure", "route_next_hops", f"azure:instance:{instance}/prefix:{PREFIX}",
                     t=end, window=(start - run.sample_period_s, end), next_hops=want,
                     previous=hops[instance])
                hops[instance] = want
        if start == t + 0.2:
            emit("azure", "bgp_peer", f"azure:instance:{INSTANCE1}/peer:{PEER2}", t=end,
                 window=(start, end), state="Connected", previous=None)
            emit("azure", "bgp_peer", f"azure:instance:{INSTANCE0}/peer:{PEER1}", t=end,
                 window=(start, end), state="Connected", previous=None)
            emit("azure", "connection", "azure:connection:cn-edge1-t1", t=end,
                 window=(start, end), status="Connected", previous=None)

    emit("run", "step_start", "step:1:baseline", t=t + 0.01,
         step={"action": "baseline", "seconds": run.baseline_s}, playbook=run.playbook)
    emit("run", "step_end", "step:1:baseline", t=t_shut - 0.01, playbook=run.playbook)
    fault = {"device": "edge1", "interface": "Tunnel1", "onprem_neighbor": INSTANCE0,
             "azure_peer": PEER1, "azure_instance": INSTANCE0, "connection": "cn-edge1-t1"}
    if run.prediction is not None:
        emit("run", "prediction", run.run_id, t=t_shut - 0.005, **run.prediction)
    emit("action", "action_start", "device:edge1/Tunnel1", t=t_shut, action="shut_interface",
         commands=["interface Tunnel1", "shutdown"])
    emit("action", "action_done", "device:edge1/Tunnel1", t=t0, action="shut_interface",
         **fault)
    emit("device", "bgp_state", f"device:edge1/neighbor:{INSTANCE0}", t=t0 + 0.05,
         window=(t0 - 0.05, t0 + 0.05), state="Idle", previous="Established")
    for seq_base, flow in enumerate(sorted(on_t1)):
        loss_start = t_shut + 0.005 * seq_base
        emit("probe", "loss_start", f"flow:{flow}", t=loss_start, seq=500)
        if not run.open_episode:
            lost = round(run.outage_s / run.interval_s)
            split: dict[str, int] = {}
            if flow.startswith("udp"):  # the first lost forward, the rest on the way back
                forward = min(round(run.udp_forward_s / run.interval_s), lost)
                split = {"probes": lost, "forward_lost": forward, "return_lost": lost - forward}
            emit("probe", "loss_end", f"flow:{flow}", t=loss_start + lost * run.interval_s,
                 seq=500 + lost, lost=lost, **_bounds(lost, run.interval_s), **split)
    emit("action", "action_start", "device:edge1/Tunnel1", t=t_restore,
         action="no_shut_interface", commands=["interface Tunnel1", "no shutdown"])
    emit("action", "action_done", "device:edge1/Tunnel1", t=restore_done,
         action="no_shut_interface", **fault)
    emit("device", "bgp_state", f"device:edge1/neighbor:{INSTANCE0}", t=restore_done + 0.06,
         window=(restore_done + 0.01, restore_done + 0.06), state="Established",
         previous="Idle")
    if run.failback_loss_s > 0 and not run.open_episode:
        lost = round(run.failback_loss_s / run.interval_s)
        for flow in sorted(on_t1):
            emit("probe", "loss_start", f"flow:{flow}", t=restore_done + 0.5, seq=5000)
            emit("probe", "loss_end", f"flow:{flow}", t=restore_done + 0.5 + lost * run.interval_s,
                 seq=5000 + lost, lost=lost, **_bounds(lost, run.interval_s))
    for flow in flows:
        sent = round((t_end - t) / run.interval_s)
        lost = 0
        if flow in on_t1 and not run.open_episode:
            lost = round(run.outage_s / run.interval_s) + round(run.failback_loss_s / run.interval_s)
        emit("probe", "flow_stats", f"flow:{flow}", t=t, period_s=t_end - t, sent=sent,
             received=sent - lost, lost=lost)
    emit("run", "run_end", run.run_id, t=t_end, status="completed", reason=None)
    return t_end


def write_synthetic_timeline(run_dir: Path, *runs: SyntheticRun) -> Path:
    """A timeline.jsonl under run_dir with one section per run (default: one Tunnel1 run)."""
    path = run_dir / "timeline.jsonl"
    timeline = Timeline(path, Clock())
    offset = 0.0
    for run in runs or (SyntheticRun(),):
        offset = write_synthetic_run(timeline, run, offset) + 2.0
    timeline.close()
    return path


def synthetic_design(hold_s: float = 3.0, keepalive_s: float = 1.0, bfd_detect_s: float | None = None,
                     prepend_tunnel2: int = 0) -> DesignFacts:
    """The lab's design as the readers would report it: edge1 with Tunnel1 (instance 0) and
    Tunnel2 (instance 1), both Established; `prepend_tunnel2` ASNs added on Tunnel2's path
    (primary/backup); BFD up when `bfd_detect_s` is given."""
    sessions = [SessionFacts(device="edge1", interface=name, neighbor=neighbor, azure_peer=peer,
                             azure_instance=i, connection=f"cn-edge1-t{i + 1}", established=True,
                             hold_s=hold_s, keepalive_s=keepalive_s,
                             bfd="up" if bfd_detect_s else "off", bfd_detect_s=bfd_detect_s,
                             bfd_interval_s=bfd_detect_s / 3 if bfd_detect_s else None)
                for i, (name, neighbor, peer) in enumerate(
                    (("Tunnel1", INSTANCE0, PEER1), ("Tunnel2", INSTANCE1, PEER2)))]
    paths = [AzurePath(instance="10.0.255.4", prefix=PREFIX, next_hop=PEER1, as_path_len=1,
                       origin="EBgp"),
             AzurePath(instance="10.0.255.5", prefix=PREFIX, next_hop=PEER2,
                       as_path_len=1 + prepend_tunnel2, origin="EBgp"),
             AzurePath(instance="10.0.255.5", prefix=PREFIX, next_hop="10.0.255.4",
                       as_path_len=1, origin="IBgp")]
    return DesignFacts(sessions=sessions, onprem_prefixes=[PREFIX], azure_prefixes=["10.0.0.0/16"],
                       azure_peer_states={PEER1: "Connected", PEER2: "Connected"},
                       azure_paths=paths, dpd_timeout_s={"cn-edge1-t1": 45, "cn-edge1-t2": 45},
                       onprem_paths={"edge1": {"10.0.0.0/16": [INSTANCE0, INSTANCE1]}})


def synthetic_prediction(**design: object) -> dict[str, object]:
    """A prediction event's data for synthetic_design(**design)."""
    return predict(synthetic_design(**design)).model_dump()  # type: ignore[arg-type]
