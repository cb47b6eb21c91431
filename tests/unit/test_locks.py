"""One run per target: locks under the per-user state directory, and the index of runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from failover_harness import state_index
from failover_harness.inventory import load_inventory
from failover_harness.journal import Journal
from failover_harness.locks import LockHeldError, acquire, device_keys, new_record, reports_key

ROOT = Path(__file__).resolve().parents[2]
KEYS = ["device 10.20.0.1:22", "gateway https://management.azure.com/x"]


def test_the_state_dir_is_per_user_and_overridable(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert state_index.state_dir() == Path(os.environ["FAILOVER_HARNESS_STATE_DIR"])
    monkeypatch.delenv("FAILOVER_HARNESS_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert state_index.state_dir() == tmp_path / "xdg" / "failover-harness"
    assert (tmp_path / "xdg" / "failover-harness").stat().st_mode & 0o777 == 0o700


def test_a_second_run_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = acquire(KEYS, new_record("r-first", tmp_path / "r-first"))
    with pytest.raises(LockHeldError) as refused:
        acquire([KEYS[0], "reports /elsewhere"], new_record("r-second", None))
    message = str(refused.value)
    assert refused.value.exit_code == 3
    assert "device 10.20.0.1:22 is in use by run r-first" in message
    assert f"pid {os.getpid()} on host " in message and "since 20" in message
    assert str(tmp_path / "r-first") in message
    # All or none: the second run's other lock was not kept.
    acquire(["reports /elsewhere"], new_record("r-third", None)).release(clean=True)
    first.release(clean=True)
    again = acquire(KEYS, new_record("r-second", None))
    assert again.stale == []
    again.release(clean=True)


def test_a_run_that_did_not_close_its_journal_leaves_a_stale_holder(tmp_path: Path) -> None:
    first = acquire(KEYS, new_record("r-first", tmp_path / "r-first"))
    first.release(clean=False)  # its restore failed
    second = acquire(KEYS[:1], new_record("r-second", None))
    assert [s.run_id for s in second.stale] == ["r-first"]
    second.release(clean=False)  # killed while recovering: the stale holder is handed on
    third = acquire(KEYS, new_record("r-third", None))
    assert sorted(s.run_id for s in third.stale) == ["r-first", "r-second"]
    third.settle()
    third.release(clean=True)
    assert acquire(KEYS, new_record("r-fourth", None)).stale == []


HOLD = """
import sys, time
from pathlib import Path
from failover_harness.locks import acquire, new_record
acquire(sys.argv[1:], new_record("r-killed", Path("/tmp/r-killed")))
print("held", flush=True)
time.sleep(60)
"""


def test_a_sigkilled_holder_frees_the_lock_but_stays_on_record(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, *KEYS], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(LockHeldError, match=f"run r-killed \\(pid {proc.pid} "):
            acquire(KEYS, new_record("r-next", None))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
    taken = acquire(KEYS, new_record("r-next", None))
    assert [(s.run_id, s.pid, s.run_dir) for s in taken.stale] == [("r-killed", proc.pid, "/tmp/r-killed")]
    taken.release(clean=True)


def test_lock_keys_name_devices_and_gateway_and_reports(tmp_path: Path) -> None:
    inventory = load_inventory(ROOT / "inventories" / "lab.yaml")
    keys = device_keys(inventory)
    assert keys[0] == "device 198.18.255.2:22"
    assert keys[1].startswith("gateway https://127.0.0.1:18443/subscriptions/")
    assert keys[1].endswith("/virtualnetworkgateways/vpngw-lab")
    assert reports_key(tmp_path / "a" / ".." / "r") == f"reports {tmp_path / 'r'}"


def test_the_index_lists_runs_until_their_journal_is_closed(tmp_path: Path) -> None:
    live, killed, gone = tmp_path / "live", tmp_path / "killed", tmp_path / "gone"
    journals = []
    for run_dir in (live, killed, gone):
        journal = Journal(run_dir)
        journal.open(tmp_path / "inv.yaml", run_dir.name)
        journal.done(journal.intent("edge1", "shut_interface", "Tunnel1"))
        state_index.register(run_dir, run_dir.name, tmp_path / "inv.yaml", KEYS)
        journals.append(journal)
    journals[1].release()
    journals[2].release()
    for path in gone.iterdir():
        path.unlink()
    gone.rmdir()
    assert sorted(e.run_id for e in state_index.unfinished()) == ["killed", "live"]
    entry = next(e for e in state_index.unfinished() if e.run_id == "killed")
    assert entry.run_dir == str(killed) and entry.locks == KEYS and entry.pid == os.getpid()
    assert len(list((state_index.state_dir() / "runs").glob("*.json"))) == 2  # "gone" dropped
    journals[0].done(journals[0].intent("edge1", "no_shut_interface", "Tunnel1"))
    assert journals[0].close()
    journals[0].release()
    assert [e.run_id for e in state_index.unfinished()] == ["killed"]  # closed: dropped
    state_index.deregister(killed)
    assert state_index.registered() == []
