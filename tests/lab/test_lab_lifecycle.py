"""Up and down of labs of their own: nothing left behind, also after `up` is SIGKILLed; an
`up` on a running lab refuses; the variants (dual, primary/backup, BFD, loss, plain) come up."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from failover_harness.errors import LabError
from failover_harness.lab import lab as lab_api
from failover_harness.lab.state import LabState, run_dir_for
from failover_harness.lab.status import collect_status
from failover_harness.lab.topology import LabOptions, LossImpairment
from tests.lab.conftest import lab_prefix, lab_vtysh

pytestmark = pytest.mark.lab


def _leftovers(prefix: str, pids: list[int]) -> list[str]:
    """Everything of lab `prefix` still on the machine, described."""
    found: list[str] = []
    netns = json.loads(subprocess.run(["ip", "-j", "netns", "list"], capture_output=True,
                                      text=True).stdout or "[]")
    found += [f"netns {n['name']}" for n in netns if n["name"].startswith(prefix + "-")]
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True,
                                      text=True).stdout)
    found += [f"link {x['ifname']}" for x in links if x["ifname"].startswith(prefix + "-")]
    run_dir = str(run_dir_for(prefix))
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if run_dir in line or f"/run/netns/{prefix}-" in line:
            found.append(f"mount {line}")
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
            found.append(f"process {pid}")
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if run_dir + "/" in cmdline or run_dir + " " in cmdline:
            found.append(f"process {proc.name}: {cmdline[:120]}")
    if Path(run_dir).exists():
        found.append(f"dir {run_dir}")
    return found


def test_up_refuses_a_running_lab_and_down_leaves_nothing() -> None:
    prefix = lab_prefix() + "d"
    lab_api.down(prefix)
    started = time.monotonic()
    state = lab_api.up(prefix, LabOptions(ipsec=False, emulator=False))
    up_s = time.monotonic() - started
    pids = [p.pid for p in state.processes]
    try:
        assert len(pids) >= 13  # 4 routers x 3 daemons, sshd, VM service
        with pytest.raises(LabError, match="already up"):
            lab_api.up(prefix, LabOptions(ipsec=False, emulator=False))
        assert _leftovers(prefix, pids)  # the check sees a live lab
    finally:
        started = time.monotonic()
        lab_api.down(prefix)
        down_s = time.monotonic() - started
    print(f"plain lab: up {up_s:.2f} s, down {down_s:.2f} s")
    assert _leftovers(prefix, pids) == []
    lab_api.down(prefix)  # idempotent


# Run in a process of its own so that its exit is seen: a child it started but never
# waited for stays a zombie until then, and its Popen warns "still running" at exit.
UP_DOWN = """
import os, sys
from pathlib import Path
from failover_harness.lab import lab
from failover_harness.lab.topology import LabOptions
prefix = sys.argv[1]
state = lab.up(prefix, LabOptions(emulator=False))
pids = [p.pid for p in state.processes]
lab.down(prefix)
zombies = []
for pid in pids:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        continue
    state_, ppid = stat.rsplit(")", 1)[1].split()[:2]
    if int(ppid) == os.getpid():
        zombies.append(f"{pid} {stat.split()[1]} {state_}")
print(len(pids), zombies)
"""


def test_down_reaps_what_up_started_and_the_exit_is_clean() -> None:
    prefix = lab_prefix() + "z"
    lab_api.down(prefix)
    try:
        proc = subprocess.run([sys.executable, "-W", "error::ResourceWarning",
                               "-c", UP_DOWN, prefix], capture_output=True, text=True,
                              timeout=180)
    finally:
        lab_api.down(prefix)
    assert proc.returncode == 0, proc.stderr
    count, zombies = proc.stdout.split(" ", 1)
    assert int(count) >= 16 and zombies.strip() == "[]"  # 3 charon, 12 FRR, sshd, VM
    assert proc.stderr == ""  # e.g. no "ResourceWarning: subprocess N is still running"


def test_sigkill_during_up_then_down_leaves_nothing() -> None:
    prefix = lab_prefix() + "k"
    lab_api.down(prefix)
    run_dir = run_dir_for(prefix)
    up = subprocess.Popen([sys.executable, "-m", "failover_harness.cli", "lab", "up",
                           "--prefix", prefix, "--no-emulator"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pids: list[int] = []
    try:
        # Kill it midway: once some daemons run but before it finished.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                state = LabState.load(run_dir)
            except (FileNotFoundError, ValueError):
                state = None
            if state is not None and len(state.processes) >= 4:
                break
            time.sleep(0.01)
        assert state is not None and not state.complete
        os.kill(up.pid, signal.SIGKILL)
        up.wait()
        pids = [p.pid for p in LabState.load(run_dir).processes]
        assert _leftovers(prefix, pids)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        lab_api.down(prefix)
    assert _leftovers(prefix, pids) == []


def test_variants_dual_primary_backup_bfd_loss() -> None:
    prefix = lab_prefix() + "v"
    lab_api.down(prefix)
    options = LabOptions(dual=True, mode="primary-backup", bfd=True, timers="tuned",
                         emulator=False, loss=[LossImpairment(link="gw1-inet", percent=1)])
    try:
        state = lab_api.up(prefix, options)
        status = collect_status(state)
        assert status.all_established
        # Four tunnel sessions plus the iBGP session between the two routers, seen from each end.
        assert len([s for s in status.sessions if s.router in ("edge1", "edge2")]) == 6
        assert all(t.onprem and t.onprem.child_state == "INSTALLED" for t in status.tunnels)
        # Primary/backup: the VNet uses instance 0 only; edge1 prefers Tunnel1 (local-pref).
        assert status.vnet_next_hops == ["10.0.255.4"]
        route = lab_vtysh(state, "edge1", "show ip route 10.0.0.0/16 json")["10.0.0.0/16"]
        assert [h["interfaceName"] for h in route[0]["nexthops"]  # type: ignore[index]
                if h.get("active")] == ["Tunnel1"]
        peers = lab_vtysh(state, "gw1", "show bgp neighbors 169.254.21.6 json")
        assert peers["169.254.21.6"]["bgpTimerHoldTimeMsecs"] == 15000  # type: ignore[index]
        # BFD comes up on its own clock after BGP (slow-start timers); give it a few seconds.
        deadline = time.monotonic() + 15
        while True:
            bfd = json.loads(lab_api.vtysh(state, "gw0", "show bfd peers json"))
            if [p["status"] for p in bfd] == ["up", "up"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert [p["status"] for p in bfd] == ["up", "up"], bfd
        assert {p["receive-interval"] for p in bfd} == {100}
        rules = lab_api.exec_in(prefix, "gw1", ["nft", "list", "ruleset"]).stdout
        assert "numgen random mod 100 < 1 drop" in rules
    finally:
        lab_api.down(prefix)
    assert _leftovers(prefix, []) == []


def test_management_subnet_overlapping_a_host_route_is_refused() -> None:
    prefix = lab_prefix() + "m"
    lab_api.down(prefix)
    routes = subprocess.run(["ip", "-4", "-j", "route", "show", "table", "all"],
                            capture_output=True, text=True).stdout
    taken = next(r["dst"] for r in json.loads(routes)
                 if "/" in r.get("dst", "") and not r["dst"].startswith("0."))
    subnet = str(next(ipaddress.ip_network(taken).subnets(new_prefix=30)))
    with pytest.raises(LabError, match="overlaps the host route .*pick another /30"):
        lab_api.up(prefix, LabOptions(mgmt_subnet=subnet, emulator=False))
    assert _leftovers(prefix, []) == []
