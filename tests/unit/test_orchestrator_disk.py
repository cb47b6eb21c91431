"""Restoring never depends on the disk: a full disk mid-fault still restores (exit 3, no
traceback), `recover` on a full disk restores and says what it could not record, and an
unusable or too small reports directory is refused before anything is contacted.

A full disk is made without root: the run's own timeline and journal descriptors are
pointed at /dev/full (every write: ENOSPC) in the middle of the fault."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from failover_harness.cli import app
from failover_harness.errors import (
    InfrastructureError,
)
from failover_harness.inventory import load_inventory
from failover_harness.journal import Journal, read_journal
from failover_harness.orchestrator.recovery import recover
from failover_harness.orchestrator.reports_dir import (
    FLOW_SECOND_BYTES,
    Estimate,
    check_reports_root,
    estimate,
)
from failover_harness.orchestrator.session import Session
from failover_harness.playbook import load_playbook
from tests.unit.orchestrator_fakes import (
    EVERY_KIND,
    INVENTORY,
    INVENTORY_PATH,
    ROOT,
    T1,
    T2,
    World,
    playbook,
    run,
)
from tests.unit.test_cli import UNTOUCHABLE

SHUT_HOLD_RESTORE = playbook([EVERY_KIND[0], EVERY_KIND[1],
                              {"action": "hold", "seconds": 0.3}, EVERY_KIND[4]])


def fill_the_disk(run_dir: Path) -> None:
    """From now on every write to the run's timeline and journal fails: ENOSPC."""
    targets = {str(run_dir / "timeline.jsonl"), str(run_dir / "journal.jsonl")}
    full = os.open("/dev/full", os.O_WRONLY)
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") in targets:
                os.dup2(full, int(fd))
        except OSError:
            pass  # closed meanwhile
    os.close(full)


def test_a_full_disk_mid_fault_still_restores_and_exits_3(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world, sessions = World(), list[Session]()
    run_dir = tmp_path / "reports" / "run"

    def tick() -> None:  # during the hold after the shut
        if sessions and sessions[0].current_step.startswith("3. "):
            world.tick = lambda: None
            fill_the_disk(run_dir)
    world.tick = tick
    result = run(world, SHUT_HOLD_RESTORE, tmp_path, sessions)
    assert world.router.established() == {T1: True, T2: True}
    assert result.exit_code == 3
    assert "could not be written" in result.message
    assert "No space left on device" in result.message
    assert f"failover-harness recover {run_dir}" in result.message
    err = capsys.readouterr().err
    assert "cannot write the timeline" in err and "Traceback" not in err
    # The journal never heard of the restore: it still lists the shut, and `recover`
    # (with room on the disk again) repeats the restore and closes it.
    assert [c.target for c in read_journal(run_dir / "journal.jsonl").outstanding] == ["Tunnel1"]
    assert recover(run_dir, lambda _m: None, parts=world.parts()) == []
    assert read_journal(run_dir / "journal.jsonl").finished


def killed_run(tmp_path: Path, world: World) -> Path:
    run_dir = tmp_path / "reports" / "killed"
    journal = Journal(run_dir)
    journal.open(INVENTORY_PATH, "killed")
    journal.done(journal.intent("edge1", "shut_interface", "Tunnel1"))
    journal.release()
    world.router.shut("Tunnel1")
    return run_dir


def test_recover_on_a_full_disk_restores_then_says_so_with_exit_3(tmp_path: Path) -> None:
    world = World()
    run_dir = killed_run(tmp_path, world)
    world.on_device_open = lambda: fill_the_disk(run_dir)  # the disk fills as it connects
    result = CliRunner().invoke(app, ["recover", str(run_dir)], obj=world.parts())
    assert result.exit_code == 3, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert world.router.established() == {T1: True, T2: True}
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "restored edge1 Tunnel1, but" in output
    assert "No space left on device" in output and "Traceback" not in output


def test_recover_says_when_nothing_was_left_changed(tmp_path: Path) -> None:
    run_dir = tmp_path / "killed-before-any-change"
    journal = Journal(run_dir)
    journal.open(INVENTORY_PATH, "early")
    journal.release()
    said: list[str] = []
    assert recover(run_dir, said.append, parts=World().parts()) == []
    assert said == [f"{run_dir}: nothing was left changed; journal closed"]


def invoke_run(reports: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["run", str(ROOT / "playbooks" / "tunnel1-failover.yaml"),
                                      "-i", str(INVENTORY_PATH), "--reports", str(reports),
                                      "--no-live"], obj=UNTOUCHABLE)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


def test_a_plain_file_as_reports_directory_exits_2_and_touches_nothing(tmp_path: Path) -> None:
    plain = tmp_path / "reports"
    plain.write_text("not a directory\n")
    code, output = invoke_run(plain)
    assert code == 2 and "is not a directory" in output and "Traceback" not in output
    code, output = invoke_run(plain / "below")
    assert code == 2 and "cannot write there" in output and "Traceback" not in output


def test_no_room_for_the_timeline_is_refused_with_the_estimate(tmp_path: Path) -> None:
    need = Estimate(flow_seconds=1e13, azure_samples=10)
    with pytest.raises(InfrastructureError) as caught:
        check_reports_root(tmp_path, need)
    message = str(caught.value)
    assert caught.value.exit_code == 3
    assert "KiB free" in message and "1e+13 flow-seconds" not in message
    assert f"10000000000000 flow-seconds x {FLOW_SECOND_BYTES} B" in message
    assert "nothing was contacted" in message
    check_reports_root(tmp_path, Estimate(flow_seconds=1, azure_samples=1))  # room enough


def test_the_estimate_bounds_a_real_lab_timeline() -> None:
    """The recorded lab run (tests/data/timelines) of the Tunnel1 playbook fits in the
    estimate, and its flow_stats lines cost less than FLOW_SECOND_BYTES a flow-second."""
    pb = load_playbook(ROOT / "playbooks" / "tunnel1-failover.yaml", INVENTORY)
    need = estimate(INVENTORY, [pb], gate_timeout_s=60, settle_s=2)
    # flows per kind and target; 60 s gate + 5+60+5+60+5 s of steps + 2 s settle, every
    # wait at its timeout
    flows = pb.probes.flows * len(pb.probes.kinds) * len(pb.probes.to)
    assert need.flow_seconds == flows * (60 + 135 + 2)
    recorded = ROOT / "tests" / "data" / "timelines" / "lab-tunnel1-baf246e.jsonl"
    lines = recorded.read_text().splitlines()
    assert len(recorded.read_bytes()) < need.bytes
    events = [json.loads(line) for line in lines]
    stats = [line for line, e in zip(lines, events, strict=True) if e["kind"] == "flow_stats"]
    flows = sum(1 for e in events if e["kind"] == "flow_start")
    seconds = events[-1]["t"] - min(e["t"] for e in events if e["kind"] == "flow_start")
    assert sum(len(s) + 1 for s in stats) / (flows * seconds) < FLOW_SECOND_BYTES


def test_the_inventory_knows_a_lab(tmp_path: Path) -> None:
    assert INVENTORY.is_lab()
    production = tmp_path / "prod.yaml"
    production.write_text(INVENTORY_PATH.read_text().replace("https://127.0.0.1:18443",
                                                             "https://arm.example"))
    assert not load_inventory(production).is_lab()
