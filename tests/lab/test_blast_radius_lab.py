"""No playbook may cut every path (issue 10), against the real lab: a playbook that shuts
both tunnels is refused before anything is contacted. The test ends with every BGP session
Established and both tunnels up, as the routers themselves say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from failover_harness.lab.state import LabState
from tests.lab.conftest import lab_vtysh
from tests.lab.test_safety import wait_for

pytestmark = pytest.mark.lab

BOTH_TUNNELS = """name: both-tunnels
probes: {from: onprem-host, to: [vm1]}
method:
  - action: shut_interface
    device: edge1
    interface: Tunnel1
  - action: shut_interface
    device: edge1
    interface: Tunnel2
"""



def every_session_up(lab: LabState, timeout: float = 60) -> None:
    """Every router's BGP sessions Established and edge1's tunnels up, from the routers."""
    def up() -> bool:
        for router in lab.routers:
            peers = lab_vtysh(lab, router, "show bgp summary json").get("ipv4Unicast", {})
            states = [p["state"] for p in peers.get("peers", {}).values()]  # type: ignore[union-attr]
            if not states or any(s != "Established" for s in states):
                return False
        interfaces = lab_vtysh(lab, "edge1", "show interface json")
        return all(interfaces[t]["administrativeStatus"] == "up"  # type: ignore[index]
                   and interfaces[t]["operationalStatus"] == "up"  # type: ignore[index]
                   for t in ("Tunnel1", "Tunnel2"))
    wait_for(up, timeout, "every BGP session Established and both tunnels up")


def running_config(lab: LabState) -> str:
    return subprocess.run(["vtysh", "--vty_socket", lab.routers["edge1"].frr_dir, "-c",
                           "show running-config"], check=True, capture_output=True,
                          text=True).stdout


def cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "failover_harness.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_cli(lab: LabState, playbook: Path, reports: Path) -> subprocess.Popen[str]:
    return cli("run", str(playbook), "-i", str(lab.inventory), "--reports", str(reports),
               "--run-id", "run", "--no-live")


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, " ".join(out.split()), err



def test_a_playbook_shutting_both_tunnels_is_refused(lab: LabState, tmp_path: Path) -> None:
    playbook = tmp_path / "both.yaml"
    playbook.write_text(BOTH_TUNNELS)
    config = running_config(lab)
    code, out, err = finish(run_cli(lab, playbook, tmp_path / "reports"))
    text = " ".join((out + err).split())
    assert code == 2, text
    assert f"{playbook}:7" in text and "every path to the gateway" in text
    assert running_config(lab) == config
    assert not (tmp_path / "reports").exists()
    every_session_up(lab)
