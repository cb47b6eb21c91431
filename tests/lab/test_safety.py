"""A live tool that never leaves a tunnel down (issue 7), against the real lab: signals,
SIGKILL and recovery, the gate, the guard, Azure faults, bad credentials, secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from failover_harness.journal import read_journal
from failover_harness.lab import lab as lab_api
from failover_harness.lab.azure_emulator.control import EmulatorControl
from failover_harness.lab.azure_emulator.settings import Fault
from failover_harness.lab.state import LabState
from failover_harness.orchestrator.gameday import GameDayResult, run_gameday
from failover_harness.orchestrator.session import RunOptions
from failover_harness.reports.secrets import scan_for_secrets

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
LONG_HOLD = ROOT / "tests/data/playbooks/tunnel1-long-hold.yaml"
SHORT = ROOT / "tests/data/playbooks/tunnel1-short.yaml"


# ---------------------------------------------------------------- helpers


def set_interface(lab: LabState, router: str, interface: str, up: bool) -> None:
    subprocess.run(["vtysh", "--vty_socket", lab.routers[router].frr_dir, "-c",
                    "configure terminal", "-c", f"interface {interface}", "-c",
                    "no shutdown" if up else "shutdown"], check=True, capture_output=True)


def admin_up(lab: LabState, router: str, interface: str) -> bool:
    out = subprocess.run(["ip", "-j", "-n", lab.routers[router].netns, "link", "show", interface],
                         check=True, capture_output=True, text=True).stdout
    return "UP" in json.loads(out)[0]["flags"]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def events(run_dir: Path) -> list[dict]:
    path = run_dir / "timeline.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # being written
    return out


def fault_injected(run_dir: Path) -> bool:
    return any(e["kind"] == "action_done" and e["data"].get("action") == "shut_interface"
               for e in events(run_dir))


@pytest.fixture
def healthy(lab: LabState) -> Iterator[LabState]:
    """The lab as a test found it is put back whatever the test did."""
    yield lab
    for router, interface in (("edge1", "Tunnel1"), ("edge1", "Tunnel2"),
                              ("gw1", lab.tunnels[1].azure_interface)):
        if not admin_up(lab, router, interface):
            set_interface(lab, router, interface, True)
    assert lab.emulator is not None
    EmulatorControl.from_state(lab.emulator).clear_faults()
    lab_api.wait_established(lab, 30)


def run(lab: LabState, playbook: Path, tmp_path: Path, **options: object) -> GameDayResult:
    opts = RunOptions.model_validate({"reports_root": tmp_path / "reports", "run_id": "run",
                                      "gate_timeout_s": 30, **options})
    return run_gameday(Path(lab.inventory or ""), [playbook], opts, say=print)


def cli(lab: LabState, playbook: Path, reports: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "failover_harness.cli", "run", str(playbook), "-i",
         str(lab.inventory), "--reports", str(reports), "--run-id", "run", "--no-live"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextmanager
def run_in_cli_until_the_shut(lab: LabState, reports: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`failover-harness run` of the long-hold playbook in a child process, handed over once
    Tunnel1 is shut; the child never outlives the test."""
    proc = cli(lab, LONG_HOLD, reports)
    try:
        wait_for(lambda: fault_injected(reports / "run"), 60, "the shut")
        assert not admin_up(lab, "edge1", "Tunnel1")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def in_background(action: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread


def secrets_of(lab: LabState) -> list[str]:
    run_dir = Path(lab.run_dir)
    assert lab.emulator is not None
    return [(run_dir / "secrets" / "edge1.password").read_text().strip(),
            Path(lab.emulator.identity_header_file).read_text().strip()]


# ---------------------------------------------------------------- signals


def test_sigterm_mid_run_leaves_the_tunnel_up(healthy: LabState, tmp_path: Path) -> None:
    lab = healthy
    run_dir = tmp_path / "reports" / "run"
    with run_in_cli_until_the_shut(lab, tmp_path / "reports") as proc:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 3
    assert admin_up(lab, "edge1", "Tunnel1")
    lab_api.wait_established(lab, 20)  # raises if the sessions do not come back
    journal = read_journal(run_dir / "journal.jsonl")
    assert journal.closed and not journal.outstanding
    ends = [e for e in events(run_dir) if e["kind"] == "run_end"]
    assert ends and ends[-1]["data"]["status"] == "interrupted"


def test_sigkill_mid_run_then_recover(healthy: LabState, tmp_path: Path) -> None:
    lab = healthy
    run_dir = tmp_path / "reports" / "run"
    with run_in_cli_until_the_shut(lab, tmp_path / "reports") as proc:
        proc.kill()
        proc.wait(timeout=10)
    assert not admin_up(lab, "edge1", "Tunnel1"), "SIGKILL cannot restore: the journal must"
    assert read_journal(run_dir / "journal.jsonl").outstanding
    done = subprocess.run([sys.executable, "-m", "failover_harness.cli", "recover", str(run_dir)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert admin_up(lab, "edge1", "Tunnel1")
    lab_api.wait_established(lab, 20)
    assert read_journal(run_dir / "journal.jsonl").closed


def test_the_next_run_undoes_a_killed_runs_changes_first(healthy: LabState, tmp_path: Path) -> None:
    lab = healthy
    reports = tmp_path / "reports"
    with run_in_cli_until_the_shut(lab, reports) as proc:
        proc.kill()
        proc.wait(timeout=10)
    assert not admin_up(lab, "edge1", "Tunnel1")
    result = run_gameday(Path(lab.inventory or ""), [ROOT / "playbooks/precheck.yaml"],
                         RunOptions(reports_root=reports, run_id="next", gate_timeout_s=30),
                         say=print)
    assert admin_up(lab, "edge1", "Tunnel1")
    assert read_journal(reports / "run" / "journal.jsonl").closed
    assert result.exit_code == 0, result.message


# ---------------------------------------------------------------- gate and guard


def test_the_gate_refuses_when_the_other_tunnel_is_already_down(healthy: LabState,
                                                                tmp_path: Path) -> None:
    lab = healthy
    set_interface(lab, "edge1", "Tunnel2", False)
    result = run(lab, SHORT, tmp_path, gate_timeout_s=8)
    assert result.exit_code == 3
    assert result.outcomes[0].status == "gate_failed"
    assert "169.254.21.5" in result.message and "no fault was injected" in result.message
    assert not any(e["source"] == "action" for e in events(result.run_dir))
    assert admin_up(lab, "edge1", "Tunnel1")


def test_the_guard_aborts_and_restores_when_both_tunnels_are_cut(healthy: LabState,
                                                                 tmp_path: Path) -> None:
    lab = healthy
    run_dir = tmp_path / "reports" / "run"

    def cut_the_survivor() -> None:
        wait_for(lambda: fault_injected(run_dir), 60, "the shut")
        # Azure's instance 1 loses its tunnel too: the surviving path fails.
        set_interface(lab, "gw1", lab.tunnels[1].azure_interface, False)

    thread = in_background(cut_the_survivor)
    result = run(lab, LONG_HOLD, tmp_path)
    thread.join(timeout=5)
    assert result.exit_code == 1, result.message
    assert result.outcomes[0].status == "aborted"
    assert "surviving path" in (result.outcomes[0].reason or "")
    tripped = [e for e in events(result.run_dir) if e["kind"] == "guard_tripped"]
    shut = next(e for e in events(result.run_dir) if e["kind"] == "action_done")
    assert tripped and tripped[0]["t"] - shut["t"] < 30  # long before the 60 s hold ended
    assert admin_up(lab, "edge1", "Tunnel1")


# ---------------------------------------------------------------- Azure faults, credentials


def test_a_429_storm_mid_run_becomes_gaps_and_the_run_completes(healthy: LabState,
                                                               tmp_path: Path) -> None:
    lab = healthy
    assert lab.emulator is not None
    control = EmulatorControl.from_state(lab.emulator)
    run_dir = tmp_path / "reports" / "run"

    def storm() -> None:
        wait_for(lambda: fault_injected(run_dir), 60, "the shut")
        control.add_fault(Fault(kind="throttle", duration_s=6, retry_after_s=1))

    thread = in_background(storm)
    result = run(lab, SHORT, tmp_path)
    thread.join(timeout=5)
    assert result.exit_code == 0, result.message
    timeline = events(result.run_dir)
    gaps = [e for e in timeline if e["kind"] == "sample" and not e["data"].get("ok")]
    assert gaps and all(e["data"].get("gap_reason") for e in gaps)
    assert any(e["data"]["gap_reason"] == "throttled" for e in gaps)
    report = json.loads((result.run_dir / "report.json").read_text())
    section = report["sections"][0]
    assert section["run"]["status"] == "completed"
    assert section["metrics"]["azure_data_gap_s"]["value"] >= 3
    # The storm is a gap of the operations it hit, named with its reason.
    assert any(g["source"].startswith("azure:") and "throttled" in g["reasons"]
               for g in section["data_gaps"])
    assert not scan_for_secrets(result.run_dir, secrets_of(lab))


def test_a_wrong_device_password_exits_3_and_changes_nothing(healthy: LabState,
                                                            tmp_path: Path) -> None:
    lab = healthy
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    inventory = tmp_path / "inventory.yaml"
    text = Path(lab.inventory or "").read_text()
    inventory.write_text(text.replace(str(Path(lab.run_dir) / "secrets" / "edge1.password"),
                                      str(wrong)))
    result = run_gameday(inventory, [SHORT], RunOptions(reports_root=tmp_path / "reports"),
                         say=print)
    assert result.exit_code == 3
    assert "authentication failed" in result.message
    assert not any(e["source"] == "action" for e in events(result.run_dir))
    assert admin_up(lab, "edge1", "Tunnel1")
    assert not scan_for_secrets(result.run_dir, secrets_of(lab) + ["not-the-password"])


def test_no_file_a_run_writes_holds_a_secret(healthy: LabState, tmp_path: Path) -> None:
    lab = healthy
    result = run(lab, SHORT, tmp_path)
    assert result.exit_code == 0, result.message
    written = [p for p in result.run_dir.rglob("*") if p.is_file()]
    assert {"timeline.jsonl", "journal.jsonl", "report.json", "report.html", "junit.xml",
            "report.md"} <= {p.name for p in written}
    assert not scan_for_secrets(result.run_dir, secrets_of(lab))


# ---------------------------------------------------------------- pre-change check


def test_check_reports_the_steady_state_and_changes_nothing(healthy: LabState,
                                                           tmp_path: Path) -> None:
    lab = healthy

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "failover_harness.cli", "check", "-i",
                               str(lab.inventory), "--wait", "8"],
                              capture_output=True, text=True, timeout=120)

    good = check()
    assert good.returncode == 0, good.stdout + good.stderr
    assert "FAIL" not in good.stdout and "Azure: peers 169.254.21.2, 169.254.21.6 Connected" in good.stdout
    set_interface(lab, "edge1", "Tunnel2", False)
    bad = check()
    assert bad.returncode == 1, bad.stdout
    assert "FAIL" in bad.stdout and "169.254.21.5" in bad.stdout
    assert not admin_up(lab, "edge1", "Tunnel2")  # check only reads: the tunnel stays as found
    assert admin_up(lab, "edge1", "Tunnel1")


def test_a_dropped_ssh_session_is_reconnected_to_restore(healthy: LabState, tmp_path: Path) -> None:
    lab = healthy
    run_dir = tmp_path / "reports" / "run"
    with run_in_cli_until_the_shut(lab, tmp_path / "reports") as proc:
        # Cut every SSH session to the router (the sshd listener stays): what a flapping
        # management network or a router-side idle timeout does.
        edge = lab.routers["edge1"].netns
        pids = subprocess.run(["ip", "netns", "pids", edge], capture_output=True, text=True,
                              check=True).stdout.split()
        sessions = [int(p) for p in pids
                    if "sshd: netops" in Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")]
        assert sessions, "no SSH session to cut"
        for pid in sessions:
            os.kill(pid, signal.SIGKILL)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=90)
    assert code == 3
    assert admin_up(lab, "edge1", "Tunnel1")
    lab_api.wait_established(lab, 20)
    assert read_journal(run_dir / "journal.jsonl").closed
