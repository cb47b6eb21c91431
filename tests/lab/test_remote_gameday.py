"""The Tunnel1 game-day with probes from a vantage host reached over SSH (issue 16): the lab's
on-prem host namespace gets a management link and a real sshd (lab/vantage_hosts.py), the
inventory names it by SSH only, and the harness ships its worker there.

Independent evidence: tcpdump on that host's LAN. Each flow's outage must match the capture
within one probe interval plus the reported clock uncertainty, and so must each episode's
start on the run's clock (the capture's timestamps are the kernel's, the run's `wall` its own
clock's). A missing python3 on the vantage host stops the run before any fault (exit 3).
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from failover_harness.lab.host_sshd import SshLogin
from failover_harness.lab.state import LabState
from failover_harness.lab.vantage_hosts import attach_ssh_vantage
from failover_harness.orchestrator.gameday import run_gameday
from failover_harness.orchestrator.session import RunOptions
from tests.lab.test_gameday import BLACKHOLE_S, T, flow_keys, onprem_neighbor_down, timeline, wall
from tests.lab.wire import Capture, read_probes

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def onprem_ssh(lab: LabState) -> SshLogin:
    assert lab.host_netns is not None
    return attach_ssh_vantage(lab, lab.host_netns, "onprem")


def ssh_inventory(lab: LabState, login: SshLogin, tmp_path: Path, python: str = "python3") -> Path:
    assert lab.inventory is not None
    yaml = YAML()
    data = yaml.load(Path(lab.inventory).read_text())
    data["vantage_points"] = {"onprem-ssh": {
        "ssh": {"host": login.host, "port": login.port, "user": login.user,
                "key_file": str(login.key_file), "known_hosts": str(login.known_hosts),
                "python": python},
        "sources": list(lab.host_ips)}}
    out = io.StringIO()
    yaml.dump(data, out)
    path = tmp_path / "inventory-ssh.yaml"
    path.write_text(out.getvalue())
    return path


def ssh_playbook(tmp_path: Path) -> Path:
    text = (ROOT / "playbooks" / "tunnel1-failover.yaml").read_text()
    path = tmp_path / "tunnel1-ssh.yaml"
    path.write_text(text.replace("from: onprem-host", "from: onprem-ssh"))
    return path


def test_tunnel1_gameday_from_an_ssh_vantage_host(lab: LabState, onprem_ssh: SshLogin,
                                                  tmp_path: Path) -> None:
    assert lab.host_netns is not None
    lan = Capture(lab.host_netns, "lan", tmp_path / "host.pcap")
    try:
        result = run_gameday(ssh_inventory(lab, onprem_ssh, tmp_path), [ssh_playbook(tmp_path)],
                             RunOptions(reports_root=tmp_path / "reports", gate_timeout_s=40),
                             say=print)
    finally:
        packets = lan.stop()
    print(result.message)
    assert result.exit_code == 0, result.message
    events = timeline(result)
    clocks = [e for e in events if e["kind"] == "vantage_clock"]
    assert clocks, "no clock estimate of the vantage host"
    uncertainty = clocks[-1]["data"]["uncertainty_s"]
    assert uncertainty <= 0.001, clocks[-1]
    # One kernel clock here: the truth is offset 0.
    assert abs(clocks[-1]["data"]["offset_s"]) <= uncertainty, clocks[-1]
    starts = [e for e in events if e["kind"] == "flow_start"]
    assert starts and all(e["data"]["host"] == onprem_ssh.host for e in starts)

    report = json.loads((result.run_dir / "report.json").read_text())
    section = report["sections"][0]
    keys = flow_keys(events)
    wire = read_probes(packets)
    until = max(float(p.time) for p in packets) - 1.5
    run_start = next(e for e in events if e["kind"] == "run_start")
    wall0 = wall(run_start).timestamp() - run_start["t"]  # the run clock's t = 0, as UTC
    compared = 0
    for flow in section["flows"]:
        key = keys[flow["flow"]]
        reported = [ep for ep in flow["episodes"] if ep["phase"] == "fault" and not ep["open"]
                    and ep["duration_s"] > BLACKHOLE_S]
        seen = [(s, e) for s, e in wire.episodes(key, until) if e - s > BLACKHOLE_S]
        assert len(reported) == len(seen), (flow["flow"], reported, seen)
        for ep, (s, e) in zip(reported, seen, strict=True):
            assert abs((ep["end"] - ep["start"]) - (e - s)) <= T + uncertainty, (ep, s, e)
            assert abs(wall0 + ep["start"] - s) <= T + uncertainty, (ep, s)
            compared += 1
    assert compared, "no flow through Tunnel1 lost probes"
    shut = next(e for e in events if e["kind"] == "action_start"
                and e["data"]["action"] == "shut_interface")
    onprem_neighbor_down(lab, "169.254.21.1", wall(shut))  # the fault really happened


def test_vantage_host_without_python_stops_the_run_before_any_fault(
        lab: LabState, onprem_ssh: SshLogin, tmp_path: Path) -> None:
    inventory = ssh_inventory(lab, onprem_ssh, tmp_path, python="/nonexistent/python3")
    before = datetime.now(UTC)
    result = run_gameday(inventory, [ssh_playbook(tmp_path)],
                         RunOptions(reports_root=tmp_path / "reports", gate_timeout_s=40),
                         say=print)
    assert result.exit_code == 3, result.message
    assert "python3" in result.message and onprem_ssh.host in result.message
    events = timeline(result)
    assert not any(e["kind"].startswith("action_") for e in events)
    with pytest.raises(AssertionError):  # the router's own log: no session went down
        onprem_neighbor_down(lab, "169.254.21.1", before)
