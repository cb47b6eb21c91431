"""Remote vantage points in the lab (issue 16): `lab up --sites 3` gives three on-prem site
hosts behind edge1 and the VM, each reached over SSH on its own management address; one
lab for every test here.

Independent evidence: tcpdump on each vantage host (site LAN, VM eth0), read with scapy
(tests/lab/wire.py); the on-prem router's own BGP log and interface state; /proc for the
worker processes (the bootstrap carries the zipapp's digest on its command line). All
vantage hosts share this machine's kernel clock, so a true clock offset of 0 must lie inside
every reported offset +/- uncertainty.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from failover_harness.lab import lab as lab_api
from failover_harness.lab.state import LabState
from failover_harness.lab.topology import LabOptions
from failover_harness.orchestrator.gameday import run_gameday
from failover_harness.orchestrator.session import RunOptions
from failover_harness.probes.zipapp import worker_bundle
from tests.lab.conftest import lab_prefix
from tests.lab.test_gameday import BLACKHOLE_S, T, flow_keys, onprem_neighbor_down, timeline, wall
from tests.lab.test_safety import admin_up, fault_injected, wait_for
from tests.lab.wire import Capture, read_probes

pytestmark = pytest.mark.lab
SITES = 3
PLAYBOOK = """\
name: tunnel1-sites
probes:
  from: site1
  to: [vm1]
  kinds: [icmp, tcp, udp]
  flows: 2
  interval_ms: 10
  also:
    - {from: site2, to: [vm1], kinds: [icmp, udp]}
    - {from: site3, to: [vm1], kinds: [icmp, udp]}
    - {from: vm-ssh, to: [site1-host, site2-host, site3-host], kinds: [icmp], flows: 1}
steady_state:
  - check: azure_peers_connected
  - check: no_loss
    seconds: 2
method:
  - action: baseline
    seconds: 2
  - action: shut_interface
    device: edge1
    interface: Tunnel1
  - action: wait_until
    condition: azure_peer_down
    peer: 169.254.21.2
    timeout_s: 60
  - action: hold
    seconds: %(hold)s
  - action: no_shut_interface
    device: edge1
    interface: Tunnel1
  - action: wait_until
    condition: all_peers_up
    timeout_s: 60
  - action: hold
    seconds: 2
rollbacks:
  - action: no_shut_interface
    device: edge1
    interface: Tunnel1
expectations:
  - metric: onprem_detection_s
    max: 1.0
  - metric: max_outage_s
    max: 5
"""


@pytest.fixture(scope="module")
def sites_lab() -> Iterator[LabState]:
    prefix = lab_prefix() + "s"
    lab_api.down(prefix)
    try:
        yield lab_api.up(prefix, LabOptions(sites=SITES))
    finally:
        lab_api.down(prefix)


def playbook(tmp_path: Path, hold: int = 1) -> Path:
    path = tmp_path / "tunnel1-sites.yaml"
    path.write_text(PLAYBOOK % {"hold": hold})
    return path


def inventory_with(lab: LabState, tmp_path: Path, **ssh: str) -> Path:
    """The lab's inventory with `ssh` fields changed on site1."""
    assert lab.inventory is not None
    yaml = YAML()
    data = yaml.load(Path(lab.inventory).read_text())
    data["vantage_points"]["site1"]["ssh"].update(ssh)
    out = io.StringIO()
    yaml.dump(data, out)
    path = tmp_path / "inventory.yaml"
    path.write_text(out.getvalue())
    return path


def worker_pids() -> list[int]:
    digest = worker_bundle().digest.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if digest in argv and not argv[0].endswith(b"ssh") and state != "Z":
            found.append(int(entry.name))
    return found


def test_tunnel1_gameday_from_three_sites_and_the_vm(sites_lab: LabState,
                                                     tmp_path: Path) -> None:
    lab = sites_lab
    assert lab.inventory is not None and lab.vm_netns is not None
    assert [s.name for s in lab.sites] == ["site1", "site2", "site3"] and lab.vm_ssh
    captures = {s.name: Capture(s.netns, "lan", tmp_path / f"{s.name}.pcap") for s in lab.sites}
    captures["vm-ssh"] = Capture(lab.vm_netns, "eth0", tmp_path / "vm.pcap")
    try:
        result = run_gameday(Path(lab.inventory), [playbook(tmp_path)],
                             RunOptions(reports_root=tmp_path / "reports", gate_timeout_s=40),
                             say=print)
    finally:
        packets = {name: c.stop() for name, c in captures.items()}
    report = json.loads((result.run_dir / "report.json").read_text())
    print(result.message, report["summary"], *report["sections"][0]["vantage_points"] or [],
          sep="\n")
    assert result.exit_code == 0, report["summary"]
    events = timeline(result)
    clocks = {e["subject"].removeprefix("vantage:"): e["data"] for e in events
              if e["kind"] == "vantage_clock"}
    assert set(clocks) == {"site1", "site2", "site3", "vm-ssh"}
    for name, clock in clocks.items():
        assert clock["uncertainty_s"] <= 0.001, (name, clock)
        assert abs(clock["offset_s"]) <= clock["uncertainty_s"], (name, clock)

    vantage_of = {e["subject"].removeprefix("flow:"): e["data"]["vantage"] for e in events
                  if e["kind"] == "flow_start"}
    keys = flow_keys(events)
    run_start = next(e for e in events if e["kind"] == "run_start")
    wall0 = wall(run_start).timestamp() - run_start["t"]
    compared: dict[str, int] = {}
    for flow in report["sections"][0]["flows"]:
        vantage = vantage_of[flow["flow"]]
        wire = read_probes(packets[vantage])
        until = max(float(p.time) for p in packets[vantage]) - 1.5
        tolerance = T + clocks[vantage]["uncertainty_s"]
        reported = [ep for ep in flow["episodes"] if ep["phase"] == "fault" and not ep["open"]
                    and ep["duration_s"] > BLACKHOLE_S]
        seen = [(s, e) for s, e in wire.episodes(keys[flow["flow"]], until)
                if e - s > BLACKHOLE_S]
        assert len(reported) == len(seen), (flow["flow"], reported, seen)
        for ep, (s, e) in zip(reported, seen, strict=True):
            assert abs(ep["duration_s"] - (e - s)) <= tolerance, (flow["flow"], ep, s, e)
            assert abs(wall0 + ep["start"] - s) <= tolerance, (flow["flow"], ep, s)
            compared[vantage] = compared.get(vantage, 0) + 1
    print("episodes compared per vantage point:", compared)
    assert compared, "no flow through Tunnel1 lost probes"
    # The report's grouping and its finding name every vantage point the captures saw lose.
    section = report["sections"][0]
    groups = {g["vantage"]: g for g in section["vantage_points"]}
    (finding,) = [f["text"] for f in section["findings"] if f["kind"] == "vantage"]
    for vantage in compared:
        assert groups[vantage]["flows_with_loss"] >= 1, groups[vantage]
        assert f"{vantage} (" in finding.split("No loss at")[0], (vantage, finding)
    shut = next(e for e in events if e["kind"] == "action_start"
                and e["data"]["action"] == "shut_interface")
    onprem_neighbor_down(lab, "169.254.21.1", wall(shut))


def test_sigkill_leaves_no_probe_on_any_vantage_host_and_recover_restores(
        sites_lab: LabState, tmp_path: Path) -> None:
    lab = sites_lab
    reports = tmp_path / "reports"
    proc = subprocess.Popen(
        [sys.executable, "-m", "failover_harness.cli", "run", str(playbook(tmp_path, hold=60)),
         "-i", str(lab.inventory), "--reports", str(reports), "--run-id", "run", "--no-live"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: fault_injected(reports / "run"), 90, "the shut")
        assert len(worker_pids()) >= SITES + 1, "not every vantage host runs its worker"
        proc.kill()
        proc.wait(timeout=10)
        killed = time.monotonic()
        while worker_pids() and time.monotonic() - killed < 5.0:
            time.sleep(0.05)
        assert not worker_pids(), "a probe worker outlived the orchestrator by 5 s"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert not admin_up(lab, "edge1", "Tunnel1"), "SIGKILL cannot restore: the journal must"
    done = subprocess.run([sys.executable, "-m", "failover_harness.cli", "recover",
                           str(reports / "run")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert admin_up(lab, "edge1", "Tunnel1")
    lab_api.wait_established(lab, 30)


def test_vantage_host_without_python3_exits_3_before_any_fault(sites_lab: LabState,
                                                               tmp_path: Path) -> None:
    lab = sites_lab
    before = datetime.now(UTC)
    result = run_gameday(inventory_with(lab, tmp_path, python="/nonexistent/python3"),
                         [playbook(tmp_path)],
                         RunOptions(reports_root=tmp_path / "reports", gate_timeout_s=40),
                         say=print)
    assert result.exit_code == 3, result.message
    assert "python3" in result.message and lab.sites[0].host in result.message
    assert not any(e["kind"].startswith("action_") for e in timeline(result))
    with pytest.raises(AssertionError):  # the router's own log: no session went down
        onprem_neighbor_down(lab, "169.254.21.1", before)
    assert admin_up(lab, "edge1", "Tunnel1")
    time.sleep(1.0)
    assert not worker_pids(), "the other vantage hosts' workers were left running"
