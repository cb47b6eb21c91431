"""Issue 10, items 2 and 3 against the real lab: a `recover` SIGKILLed at each of its journal
writes is finished by the next `recover`; a second `run` started mid-fault (same reports
directory, or another one) is refused naming the holder, and the first run is unharmed."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from failover_harness import state_index
from failover_harness.journal import read_journal
from failover_harness.lab.state import LabState
from tests.lab.conftest import lab_vtysh
from tests.lab.test_safety import ROOT, admin_up, fault_injected, healthy, run_in_cli_until_the_shut, wait_for  # noqa: F401

pytestmark = pytest.mark.lab
SHORT = ROOT / "tests/data/playbooks/tunnel1-short.yaml"
FAILOVER_LONG = ROOT / "tests/data/playbooks/tunnel1-failover-long.yaml"
CLI = [sys.executable, "-m", "failover_harness.cli"]

# recover's journal writes, in order: resume; the no_shut intent; its done (with the
# "undone" lines, one write); closed. What the journal's last record is after each.
RECOVER_WRITES = [("resume", 1), ("intent", 1), ("undone", 3), ("closed", 1)]


def records(run_dir: Path) -> list[dict[str, object]]:
    out = []
    for line in (run_dir / "journal.jsonl").read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def sessions_not_established(lab: LabState) -> list[str]:
    """Every BGP session of every lab router, as the routers themselves see it."""
    bad = []
    for router in lab.routers:
        summary = lab_vtysh(lab, router, "show bgp summary json")
        peers = summary.get("ipv4Unicast", {}).get("peers", {})  # type: ignore[union-attr]
        assert peers, f"{router}: no BGP peers in {summary}"
        bad += [f"{router}->{peer}: {info.get('state')}" for peer, info in peers.items()
                if info.get("state") != "Established"]
    return bad


def all_established(lab: LabState) -> None:
    deadline = time.monotonic() + 30
    while bad := sessions_not_established(lab):
        assert time.monotonic() < deadline, f"BGP sessions not Established: {bad}"
        time.sleep(0.5)


def tunnel1_session_counts(lab: LabState) -> tuple[int, int]:
    """edge1's own count of BGP sessions established and dropped over Tunnel1."""
    neighbor = lab_vtysh(lab, "edge1", "show bgp neighbors 169.254.21.1 json")["169.254.21.1"]
    assert isinstance(neighbor, dict)
    return int(neighbor["connectionsEstablished"]), int(neighbor["connectionsDropped"])


def one_line(text: str) -> str:
    return " ".join(text.split())  # the CLI's console wraps long messages


@pytest.mark.parametrize("write", range(1, len(RECOVER_WRITES) + 1))
def test_recover_killed_at_each_journal_write_is_finished_by_the_next(
        healthy: LabState, tmp_path: Path, write: int) -> None:  # noqa: F811
    lab = healthy
    run_dir = tmp_path / "reports" / "run"
    with run_in_cli_until_the_shut(lab, tmp_path / "reports") as proc:
        proc.kill()
        proc.wait(timeout=10)
    assert not admin_up(lab, "edge1", "Tunnel1")
    journal = (run_dir / "journal.jsonl").resolve()
    before = len(records(run_dir))
    # strace stops `recover` at its write-th fsync of the journal (the record is written,
    # not yet synced) and delivers SIGKILL there.
    killed = subprocess.run(
        ["strace", "-f", "-qq", "-o", "/dev/null", "-P", str(journal), "-e", "trace=fsync",
         "-e", f"inject=fsync:signal=KILL:when={write}", *CLI, "recover", str(run_dir)],
        capture_output=True, text=True, timeout=120)
    assert killed.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL), killed.stderr
    after = records(run_dir)
    op = RECOVER_WRITES[write - 1][0]
    assert len(after) == before + sum(n for _, n in RECOVER_WRITES[:write])
    assert after[-1]["op"] == op
    if op in ("resume", "intent"):  # killed before the router heard of it
        assert not admin_up(lab, "edge1", "Tunnel1")
    assert not read_journal(journal).finished or op == "closed"

    again = subprocess.run([*CLI, "recover", str(run_dir)], capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert admin_up(lab, "edge1", "Tunnel1")
    all_established(lab)
    state = read_journal(journal)
    assert state.finished
    ids = [r["id"] for r in records(run_dir) if r["op"] == "intent"]
    assert len(ids) == len(set(ids)), f"journal ids reused: {ids}"
    assert not any(e.run_dir == str(run_dir.resolve()) for e in state_index.registered())


# A `failover-harness` CLI that has done its imports (seconds on a loaded machine) and starts
# when told to: the second runs must reach their locks while the first run's fault is on.
READY_CLI = ("import sys; import failover_harness.orchestrator.gameday; "
             "from failover_harness.cli import app; print('ready', flush=True); "
             "sys.stdin.readline(); sys.argv[0] = 'failover-harness'; app()")


def test_a_second_run_mid_fault_is_refused_and_the_first_is_unharmed(
        healthy: LabState, tmp_path: Path) -> None:  # noqa: F811
    lab = healthy
    reports = tmp_path / "reports"

    def cli_run(playbook: Path, reports_dir: Path, run_id: str,
                ready: bool = False) -> subprocess.Popen[str]:
        head = [sys.executable, "-c", READY_CLI] if ready else CLI
        return subprocess.Popen([*head, "run", str(playbook), "-i", str(lab.inventory),
                                 "--reports", str(reports_dir), "--run-id", run_id, "--no-live"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    sessions_before = tunnel1_session_counts(lab)
    started: list[subprocess.Popen[str]] = []
    try:
        same_dir = cli_run(SHORT, reports, "second", ready=True)
        other_dir = cli_run(SHORT, tmp_path / "other", "third", ready=True)
        started += [same_dir, other_dir]
        for proc in (same_dir, other_dir):
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        first = cli_run(FAILOVER_LONG, reports, "first")
        started.append(first)
        wait_for(lambda: fault_injected(reports / "first"), 90, "the first run's shut")
        tunnel1_up_at_refusal: dict[str, bool] = {}
        errors: dict[str, str] = {}

        def refusal(name: str, proc: subprocess.Popen[str]) -> None:
            assert proc.stdin is not None and proc.stderr is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
            line = proc.stderr.readline()  # the refusal (exiting takes longer on a busy machine)
            tunnel1_up_at_refusal[name] = admin_up(lab, "edge1", "Tunnel1")
            errors[name] = line + proc.stderr.read()

        watchers = [threading.Thread(target=refusal, args=(name, proc), daemon=True)
                    for name, proc in (("same", same_dir), ("other", other_dir))]
        for thread in watchers:
            thread.start()
        for thread in watchers:
            thread.join(timeout=60)
        # Refused while the fault was on (the router says so), not after the first run.
        assert tunnel1_up_at_refusal == {"same": False, "other": False}, errors
        refusals = []
        for name, proc in (("same", same_dir), ("other", other_dir)):
            assert proc.stdout is not None
            refusals.append((proc.stdout.read(), errors[name]))
            proc.wait(timeout=120)
        first_out, first_err = first.communicate(timeout=240)
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
    holder = f"is in use by run first (pid {first.pid} on host {socket.gethostname()}, since 20"
    for proc, (out, err) in zip((same_dir, other_dir), refusals, strict=True):
        assert proc.returncode == 3, out + err
        assert holder in one_line(err), err
        assert "Traceback" not in out + err
    assert not (reports / "second").exists() and not (tmp_path / "other" / "third").exists()

    # The router saw Tunnel1's session drop once and come back once: nobody restored the
    # tunnel in the middle of the first run's fault (and shut it again).
    established, dropped = (a - b for a, b in zip(tunnel1_session_counts(lab), sessions_before, strict=True))
    assert (established, dropped) == (1, 1)
    assert first.returncode == 0, first_out + first_err
    report = json.loads((reports / "first" / "report.json").read_text())
    metrics = report["sections"][0]["metrics"]
    assert metrics["failback_lost_probes"]["value"] == 0, metrics["failback_lost_probes"]
    assert all(v["status"] == "passed" for v in report["sections"][0]["verdicts"])
    # Nobody else wrote into the first run's journal: its shut, its restore, one close.
    journal = records(reports / "first")
    assert [(r["action"], r["target"]) for r in journal if r["op"] == "intent"] == [
        ("shut_interface", "Tunnel1"), ("no_shut_interface", "Tunnel1")]
    assert [r["op"] for r in journal].count("closed") == 1 and journal[-1]["op"] == "closed"
    assert admin_up(lab, "edge1", "Tunnel1")
    all_established(lab)
