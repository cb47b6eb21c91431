"""Azure's own faults against the real lab (issue 13 item 1): the reset playbooks through
the unmodified SDK over HTTPS to the emulator, which really takes the instance's BGP and IKE
away. Checked against the emulator's own record of the reset (control state `resets`), the
lab state's VIPs and the on-prem router's BGP log and sessions, not the harness's outputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from failover_harness.lab.azure_emulator.control import EmulatorControl
from failover_harness.lab.state import LabState
from tests.lab.conftest import lab_vtysh
from tests.lab.test_gameday import PLAYBOOKS, onprem_neighbor_down, run, wall

pytestmark = pytest.mark.lab
OUTAGE_S = 8.0  # the emulator's reset outage for these tests (fixed: no draw)


def all_established(lab: LabState) -> dict[str, str]:
    peers = lab_vtysh(lab, "edge1", "show bgp summary json")["ipv4Unicast"]["peers"]  # type: ignore[index]
    return {n: p["state"] for n, p in peers.items()}  # type: ignore[union-attr]


def test_reset_instance0_runs_restores_and_matches_the_emulator(lab: LabState, tmp_path: Path) -> None:
    assert lab.emulator is not None
    control = EmulatorControl.from_state(lab.emulator)
    before = control.state()
    control.set(reset_outage_s=(OUTAGE_S, OUTAGE_S))
    try:
        result = run(lab, [PLAYBOOKS / "reset-instance0.yaml"], tmp_path)
    finally:
        control.set(reset_outage_s=before.settings.reset_outage_s)
    events = [json.loads(line) for line in (result.run_dir / "timeline.jsonl").read_text().splitlines()]
    start = next(e for e in events if e["kind"] == "action_start")
    done = next(e for e in events if e["kind"] == "action_done")
    print(result.message)
    # The run completes and restores; whether the lab meets the playbook's bounds is the
    # report's verdict, not this test's subject (exit 1 = an expectation missed).
    assert result.exit_code in (0, 1), result.message
    assert [o.status for o in result.outcomes] == ["completed"], result.message
    # The VIP asked for is instance 0's public IP as the lab built it.
    inst0 = next(i for i in lab.azure.instances if i.index == 0)
    assert done["data"]["vip"] == inst0.public_ip
    # The emulator reset exactly instance 0, once, inside the action's window.
    resets = [r for r in control.state().resets if r.started_unix >= before_unix(before)]
    assert [r.target for r in resets] == ["instance 0"]
    reset = resets[0]
    assert wall(start).timestamp() - 0.5 <= reset.started_unix <= wall(done).timestamp() + 0.5
    assert reset.restored_unix is not None
    assert reset.restored_unix - reset.started_unix >= OUTAGE_S
    # The on-prem router saw its session to instance 0 go down after the reset began, by the
    # time its hold timer (3 s) ran out after the instance returned at the latest: the lab's
    # reset is sometimes noticed only when the instance comes back (an open question, #13).
    down = onprem_neighbor_down(lab, "169.254.21.1", datetime.fromtimestamp(reset.started_unix - 0.5, UTC))
    assert down.timestamp() <= reset.restored_unix + 3.5
    # Everything is back, as the router itself says.
    assert set(all_established(lab).values()) == {"Established"}
    report = json.loads((result.run_dir / "report.json").read_text())
    metrics = report["sections"][0]["metrics"]
    print({m: metrics[m]["value"] for m in ("max_outage_s", "onprem_detection_s", "azure_detection_s")
           if m in metrics})
    assert metrics["onprem_detection_s"]["value"] is not None
    # Detection on-prem is bounded by the router's own log (its lab hold timer is 3 s).
    assert metrics["onprem_detection_s"]["value"] <= down.timestamp() - wall(done).timestamp() + 0.5


def before_unix(state: object) -> float:
    """Resets already recorded before the test are not ours."""
    resets = getattr(state, "resets", [])
    return max((r.started_unix for r in resets), default=0.0) + 1e-6


def test_reset_connection_runs_and_restores(lab: LabState, tmp_path: Path) -> None:
    assert lab.emulator is not None
    control = EmulatorControl.from_state(lab.emulator)
    before = control.state()
    result = run(lab, [PLAYBOOKS / "reset-connection.yaml"], tmp_path)
    print(result.message)
    assert result.exit_code == 0, result.message
    resets = [r for r in control.state().resets if r.started_unix >= before_unix(before)]
    assert [r.target for r in resets] == ["connection cn-edge1-t1"]
    assert set(all_established(lab).values()) == {"Established"}
