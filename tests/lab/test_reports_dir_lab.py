"""A reports directory that cannot hold the run is refused before anything is contacted
(issue 10), against the real lab: a read-only one (exit 2), and a 60 KiB tmpfs too small for
the run's estimated timeline (exit 3, the estimate stated). Nothing is touched: edge1's running
config is unchanged and no BGP session was reset; each test ends with every BGP session
Established and both tunnels up, as the routers themselves say."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from failover_harness.lab.state import LabState
from tests.lab.conftest import lab_vtysh
from tests.lab.test_safety import LONG_HOLD, wait_for

pytestmark = pytest.mark.lab
GATE_TIMEOUT_S = 30


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


def uptimes_ms(lab: LabState) -> dict[str, int]:
    peers = lab_vtysh(lab, "edge1", "show bgp summary json")["ipv4Unicast"]["peers"]  # type: ignore[index]
    return {a: int(p["peerUptimeMsec"]) for a, p in peers.items()}  # type: ignore[union-attr]


@contextmanager
def tmpfs(where: Path, options: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "fh-test", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "failover_harness.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_cli(lab: LabState, playbook: Path, reports: Path) -> subprocess.Popen[str]:
    return cli("run", str(playbook), "-i", str(lab.inventory), "--reports", str(reports),
               "--run-id", "run", "--no-live", "--gate-timeout", str(GATE_TIMEOUT_S))


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, " ".join(out.split()), err



def test_a_tmpfs_too_small_for_the_run_is_refused_before_anything(lab: LabState,
                                                                   tmp_path: Path) -> None:
    config, uptimes = running_config(lab), uptimes_ms(lab)
    started = time.monotonic()
    with tmpfs(tmp_path / "reports", "size=60k") as reports:
        code, out, err = finish(run_cli(lab, LONG_HOLD, reports))
    text = " ".join((out + err).split())
    assert code == 3, text
    assert "KiB free" in text and "flow-seconds" in text and "nothing was contacted" in text
    assert "Traceback" not in text
    assert running_config(lab) == config
    elapsed_ms = (time.monotonic() - started) * 1000
    assert all(uptimes_ms(lab)[a] >= ms + elapsed_ms * 0.5 for a, ms in uptimes.items())
    every_session_up(lab)


def test_a_read_only_reports_directory_exits_2_and_touches_nothing(lab: LabState,
                                                                   tmp_path: Path) -> None:
    config, uptimes = running_config(lab), uptimes_ms(lab)
    started = time.monotonic()
    with tmpfs(tmp_path / "reports", "ro,size=1m") as reports:
        code, out, err = finish(run_cli(lab, LONG_HOLD, reports))
    assert code == 2, out + err
    text = " ".join((out + err).split())
    assert "cannot write there (Read-only file system)" in text and "Traceback" not in text
    assert running_config(lab) == config
    # No session was reset: every uptime grew by (about) the time that passed.
    elapsed_ms = (time.monotonic() - started) * 1000
    assert all(uptimes_ms(lab)[a] >= ms + elapsed_ms * 0.5 for a, ms in uptimes.items())
    every_session_up(lab)
