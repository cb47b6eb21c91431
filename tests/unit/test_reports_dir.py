"""An unusable or too small reports directory is refused before anything is contacted:
not a directory, or not writable: exit 2; no room for the timeline the run may write: exit 3,
stating the estimate (an upper bound checked against a recorded lab timeline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from failover_harness.cli import app
from failover_harness.errors import InfrastructureError
from failover_harness.orchestrator.reports_dir import (
    FLOW_SECOND_BYTES,
    Estimate,
    check_reports_root,
    estimate,
)
from failover_harness.playbook import load_playbook
from tests.unit.orchestrator_fakes import INVENTORY, INVENTORY_PATH, ROOT
from tests.unit.test_cli import UNTOUCHABLE


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
