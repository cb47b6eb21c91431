"""Restoring never depends on the disk, and no playbook may cut every path (issue 10),
against the real lab: a reports directory on a tiny tmpfs that fills mid-fault, `recover`
on a full disk, a read-only reports directory, a tmpfs too small for the run, a playbook
that shuts both tunnels. Each test ends with every BGP session Established and both tunnels
up, as the routers themselves say."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from failover_harness.inventory import load_inventory
from failover_harness.journal import read_journal
from failover_harness.lab.state import LabState
from failover_harness.orchestrator.reports_dir import estimate
from failover_harness.playbook import load_playbook
from tests.lab.conftest import lab_vtysh
from tests.lab.test_safety import LONG_HOLD, admin_up, fault_injected, wait_for

pytestmark = pytest.mark.lab
GATE_TIMEOUT_S = 30
SHORT_FAULT = """name: short-fault
probes: {from: onprem-host, to: [vm1], kinds: [icmp], flows: 2, interval_ms: 10}
steady_state:
  - check: azure_peers_connected
method:
  - action: baseline
    seconds: 1
  - action: shut_interface
    device: edge1
    interface: Tunnel1
  - action: hold
    seconds: 8
  - action: no_shut_interface
    device: edge1
    interface: Tunnel1
  - action: wait_until
    condition: all_peers_up
    timeout_s: 30
"""
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


# ---------------------------------------------------------------- helpers


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


def fill(directory: Path) -> Path:
    """Write a file until the filesystem is full."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


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


def room_for(lab: LabState, playbook: Path) -> int:
    """The tmpfs size (bytes) that just passes the run's free-space check."""
    inventory = load_inventory(lab.inventory or "")
    need = estimate(inventory, [load_playbook(playbook, inventory)], GATE_TIMEOUT_S, 2.0)
    return need.bytes + 64 * 1024  # tmpfs pages: a few files' worth of slack


# ---------------------------------------------------------------- a full disk


def test_a_reports_tmpfs_that_fills_mid_fault_still_restores(lab: LabState,
                                                               tmp_path: Path) -> None:
    playbook = tmp_path / "short-fault.yaml"
    playbook.write_text(SHORT_FAULT)
    with tmpfs(tmp_path / "reports", f"size={room_for(lab, playbook)}") as reports:
        proc = run_cli(lab, playbook, reports)
        try:
            wait_for(lambda: fault_injected(reports / "run"), 90, "the shut")
        except AssertionError:
            proc.kill()
            raise
        assert not admin_up(lab, "edge1", "Tunnel1")
        fill(reports)
        code, out, err = finish(proc)
        assert code == 3, out + err
        assert "Traceback" not in err and "Traceback" not in out
        assert "No space left on device" in out and "could not be written" in out
        assert admin_up(lab, "edge1", "Tunnel1")
    every_session_up(lab)


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)


def test_recover_on_a_disk_it_cannot_write_restores_and_says_so(lab: LabState,
                                                                tmp_path: Path) -> None:
    """Full and then read-only: a full tmpfs still takes the few bytes recover appends to a
    file's last page, so read-only makes sure every write of recover fails."""
    with tmpfs(tmp_path / "reports", f"size={room_for(lab, LONG_HOLD)}") as reports:
        proc = run_cli(lab, LONG_HOLD, reports)
        try:
            wait_for(lambda: fault_injected(reports / "run"), 90, "the shut")
        finally:
            proc.send_signal(signal.SIGKILL)
            finish(proc)
        assert not admin_up(lab, "edge1", "Tunnel1"), "SIGKILL cannot restore"
        filler = fill(reports)
        remount(reports, "ro")
        code, out, err = finish(cli("recover", str(reports / "run")))
        assert code == 3, out + err
        assert "Traceback" not in out + err
        assert "restored edge1 Tunnel1, but" in out + " ".join(err.split())
        assert admin_up(lab, "edge1", "Tunnel1")
        remount(reports, "rw")
        filler.unlink()  # room again: a second recover closes the journal
        code, out, err = finish(cli("recover", str(reports / "run")))
        assert code == 0, out + err
        assert read_journal(reports / "run" / "journal.jsonl").finished
    every_session_up(lab)


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


# ---------------------------------------------------------------- unusable, or too much


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
