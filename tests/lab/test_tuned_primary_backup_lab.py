"""The seed's recommended enterprise design, tuned BGP timers (5/15) with primary/backup by
AS-path prepend (`lab up --timers tuned --mode primary-backup`), against the guard (issue 13):
every flow is on the failed path until Azure's hold timer fires, so a fixed 10 s total-loss
trip aborted the Tunnel1 game-day. Armed from the negotiated hold (15 s), the guard lets it
run to completion with default settings, and it still aborts when the surviving path fails.

Independent evidence: instance 0's own FRR log (when its hold timer expired) for the outage.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from failover_harness.lab import lab as lab_api
from failover_harness.lab.state import LabState
from failover_harness.lab.topology import LabOptions
from failover_harness.orchestrator.gameday import GameDayResult, run_gameday
from failover_harness.orchestrator.session import RunOptions
from tests.lab.conftest import lab_prefix
from tests.lab.test_safety import LONG_HOLD, admin_up, events, fault_injected, set_interface, wait_for

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
HOLD_S = 15.0  # the tuned preset's hold time


@pytest.fixture(scope="module")
def tuned_lab() -> Iterator[LabState]:
    prefix = lab_prefix() + "p"
    lab_api.down(prefix)
    try:
        yield lab_api.up(prefix, LabOptions(timers="tuned", mode="primary-backup"))
    finally:
        lab_api.down(prefix)


@pytest.fixture
def tuned(tuned_lab: LabState) -> Iterator[LabState]:
    """Put back whatever a test cut."""
    yield tuned_lab
    for router, interface in (("edge1", "Tunnel1"), ("gw1", tuned_lab.tunnels[1].azure_interface)):
        if not admin_up(tuned_lab, router, interface):
            set_interface(tuned_lab, router, interface, True)
    lab_api.wait_established(tuned_lab, 60)


def run(lab: LabState, playbook: Path, tmp_path: Path) -> GameDayResult:
    opts = RunOptions(reports_root=tmp_path / "reports", run_id="run", gate_timeout_s=60)
    return run_gameday(Path(lab.inventory or ""), [playbook], opts, say=print)


def hold_expired_on(lab: LabState, router: str, neighbor: str, after: datetime) -> datetime:
    """When `router`'s own BGP log says its session to `neighbor` went down."""
    log = Path(lab.routers[router].frr_dir) / "frr.log"
    for line in log.read_text().splitlines():
        if f"neighbor {neighbor}" in line and " Down " in line:
            stamp = datetime.strptime(line[:23], "%Y/%m/%d %H:%M:%S.%f").astimezone(UTC)
            if stamp >= after:
                return stamp
    raise AssertionError(f"no 'neighbor {neighbor} ... Down' in {log} after {after}")


def test_tunnel1_game_day_completes_with_the_default_guard(tuned: LabState, tmp_path: Path) -> None:
    result = run(tuned, ROOT / "playbooks" / "tunnel1-failover.yaml", tmp_path)
    timeline = events(result.run_dir)
    [armed] = [e for e in timeline if e["kind"] == "guard_armed"]
    print(result.message, armed["data"]["reason"])
    # Completed: the shipped playbook's 5 s bound is for fast timers, so it may fail (exit 1),
    # but the guard did not abort the run.
    assert [o.status for o in result.outcomes] == ["completed"], result.message
    assert result.exit_code in (0, 1), result.message
    assert not [e for e in timeline if e["kind"] == "guard_tripped"]
    assert f"hold {HOLD_S:g} s" in armed["data"]["reason"]
    metrics = json.loads((result.run_dir / "report.json").read_text())["sections"][0]["metrics"]
    # Primary/backup: every flow rode Tunnel1, so every flow lost until instance 0 gave up
    # the dead path (its own log says when), then moved to the backup within a moment.
    assert metrics["flows_without_loss"]["value"] == 0
    sent = next(e for e in timeline if e["kind"] == "action_start" and e["data"]["action"] == "shut_interface")
    sent_at = datetime.fromisoformat(sent["wall"].replace("Z", "+00:00"))
    gw0_down = (hold_expired_on(tuned, "gw0", tuned.tunnels[0].onprem_bgp_ip, sent_at) - sent_at).total_seconds()
    outage = metrics["max_outage_s"]
    print(f"max outage {outage['value']:.2f} s; instance 0 dropped the session {gw0_down:.2f} s after the shut")
    assert HOLD_S - 5 - 1 <= gw0_down <= HOLD_S + 1  # keepalive 5 s: the last one was 0..5 s before
    assert gw0_down - 0.5 <= outage["value"] <= gw0_down + 1.5, (outage, gw0_down)


def test_the_guard_still_aborts_when_tunnel2_is_cut(tuned: LabState, tmp_path: Path) -> None:
    run_dir = tmp_path / "reports" / "run"
    cut_at: list[float] = []

    def cut_the_backup() -> None:
        wait_for(lambda: fault_injected(run_dir), 90, "the shut")
        set_interface(tuned, "gw1", tuned.tunnels[1].azure_interface, False)  # Azure's end of Tunnel2
        cut_at.append(datetime.now(UTC).timestamp())

    thread = threading.Thread(target=cut_the_backup, daemon=True)
    thread.start()
    result = run(tuned, LONG_HOLD, tmp_path)
    thread.join(timeout=5)
    assert result.exit_code == 1, result.message
    assert result.outcomes[0].status == "aborted"
    assert "surviving path" in (result.outcomes[0].reason or "")
    timeline = events(result.run_dir)
    [tripped] = [e for e in timeline if e["kind"] == "guard_tripped"]
    tripped_at = datetime.fromisoformat(tripped["wall"].replace("Z", "+00:00")).timestamp()
    print(f"guard tripped {tripped_at - cut_at[0]:.1f} s after Tunnel2 was cut: {tripped['data']['reason']}")
    assert tripped_at - cut_at[0] < 2 * HOLD_S  # long before the 60 s hold ended
    assert admin_up(tuned, "edge1", "Tunnel1")
