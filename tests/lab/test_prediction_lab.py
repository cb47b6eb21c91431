"""Prediction, single points of failure and Findings against the real lab (issue 15 parts 2-3).

Two timer profiles: the default lab (fast 1/3 s, ECMP) and a BFD lab in primary/backup mode.
On each, `check` prints the predicted windows, then a Tunnel1 failover runs and every
prediction is held against the lab's own independent evidence: the FRR logs of the on-prem
router and of the Azure instance say when each side dropped the session (wall clock), which
is compared with the window predicted for it, counted from when the shut was sent. The
report's Findings must name what bounded the outage. On the primary/backup lab, with
Tunnel2's session shut, `check` names the single points of failure and exits non-zero.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from failover_harness.cli import app
from failover_harness.lab import lab as lab_api
from failover_harness.lab.state import LabState
from failover_harness.lab.topology import LabOptions
from failover_harness.orchestrator.gameday import GameDayResult, run_gameday
from failover_harness.orchestrator.session import RunOptions
from failover_harness.prediction import Prediction, TunnelPrediction
from tests.lab.conftest import lab_prefix

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "tests/data/playbooks/tunnel1-predict.yaml"
LOG_STAMP = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3})")


@pytest.fixture(scope="module")
def bfd_backup_lab() -> Iterator[LabState]:
    prefix = lab_prefix() + "p"
    lab_api.down(prefix)
    try:
        yield lab_api.up(prefix, LabOptions(bfd=True, mode="primary-backup"))
    finally:
        lab_api.down(prefix)


def check(lab: LabState, wait: float = 20) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check", "-i", str(lab.inventory), "--wait", str(wait)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    print(result.output)
    return result.exit_code, result.output


def run(lab: LabState, tmp_path: Path) -> tuple[GameDayResult, dict, list[dict]]:
    result = run_gameday(Path(lab.inventory or ""), [PLAYBOOK],
                         RunOptions(reports_root=tmp_path / "reports", gate_timeout_s=40), say=print)
    report = json.loads((result.run_dir / "report.json").read_text())
    events = [json.loads(line) for line in (result.run_dir / "timeline.jsonl").read_text().splitlines()]
    return result, report["sections"][0], events


def wall(event: dict) -> datetime:
    return datetime.fromisoformat(event["wall"].replace("Z", "+00:00"))


def session_down(lab: LabState, router: str, neighbor: str, after: datetime) -> tuple[datetime, str]:
    """When a router's own BGP log says its session to `neighbor` went down, and the line."""
    log = Path(lab.routers[router].frr_dir) / "frr.log"
    for line in log.read_text().splitlines():
        stamp = LOG_STAMP.match(line)
        if not stamp or f"neighbor {neighbor}" not in line or " Down " not in line:
            continue
        when = datetime.strptime(stamp.group(1), "%Y/%m/%d %H:%M:%S.%f").astimezone(UTC)
        if when >= after:
            return when, line
    raise AssertionError(f"no 'neighbor {neighbor} ... Down' in {log} after {after}")


def against_the_logs(lab: LabState, tp: TunnelPrediction, events: list[dict]) -> dict[str, float]:
    """Each side's drop of the Tunnel1 session, from its own log, inside its predicted window
    (seconds from the shut's send; the log's millisecond stamps give +/- 1 ms)."""
    shut = next(e for e in events if e["kind"] == "action_start"
                and e["data"]["action"] == "shut_interface")
    sent = wall(shut)
    onprem_at, _ = session_down(lab, "edge1", tp.neighbor, sent)
    azure_at, line = session_down(lab, "gw0", tp.azure_peer, sent)
    onprem, azure = ((onprem_at - sent).total_seconds(), (azure_at - sent).total_seconds())
    print(f"logs: edge1 down +{onprem:.3f} s, gw0 down +{azure:.3f} s ({line})")
    assert tp.onprem_detection.lo - 0.001 <= onprem <= tp.onprem_detection.hi, (onprem, tp.onprem_detection)
    assert tp.azure_detection.lo - 0.001 <= azure <= tp.azure_detection.hi, (azure, tp.azure_detection)
    assert onprem < azure
    return {"onprem": onprem, "azure": azure}


def predicted(section: dict) -> TunnelPrediction:
    prediction = Prediction.model_validate(section["prediction"])
    tp = prediction.for_tunnel("edge1", "Tunnel1")
    assert tp is not None
    return tp


def configure(lab: LabState, line: str) -> None:
    """One line under `router bgp` on edge1, as an operator would type it."""
    subprocess.run(lab_api.vtysh_argv(lab, "edge1", "-c", "configure terminal", "-c",
                                      "router bgp 65010", "-c", line), check=True)


def findings(section: dict, kind: str) -> list[str]:
    return [f["text"] for f in section["findings"] if f["kind"] == kind]


def test_fast_timers_predicted_and_azure_hold_timer_bounds_the_outage(lab: LabState,
                                                                        tmp_path: Path) -> None:
    code, out = check(lab)
    assert code == 0, out
    assert "predict edge1 Tunnel1 (169.254.21.1, instance 0) fails" in out
    assert "Azure in 2..3.3 s (BGP hold timer 3 s, keepalive 1 s)" in out
    assert "path role ecmp" in out and "single point of failure" not in out

    result, section, events = run(lab, tmp_path)
    assert result.exit_code == 0, result.message
    tp = predicted(section)
    assert tp.azure_detection.bound_by == "BGP hold timer" and tp.azure_detection.timer_s == 3
    logs = against_the_logs(lab, tp, events)
    # The Findings name Azure's hold timer as what bounded the outage, as the logs show.
    bound = findings(section, "bound")
    assert len(bound) == 1 and bound[0].startswith("Azure's side bounded the outage")
    assert "its BGP hold timer is 3 s" in bound[0], bound
    assert logs["azure"] > tp.azure_detection.lo - 0.001 > logs["onprem"]
    # Measured values fall inside (overlap) their predicted windows.
    assert findings(section, "outside_prediction") == [], section["findings"]
    inside = {f["metric"] for f in section["findings"] if f["kind"] == "prediction"}
    assert inside == {"onprem_detection_s", "azure_detection_s", "max_outage_s"}
    assert "shorter BGP hold time" in findings(section, "advice")[0]
    metrics = section["metrics"]
    assert metrics["flows_with_loss"]["value"] >= 1  # ECMP put some on Tunnel1 (1 in 256: not)


def test_bfd_primary_backup_predicted_then_tunnel2_down_is_a_single_point_of_failure(
        bfd_backup_lab: LabState, tmp_path: Path) -> None:
    lab = bfd_backup_lab
    code, out = check(lab)
    assert code == 0, out
    assert re.search(r"predict edge1 Tunnel1 .* Azure in 0\.2\.\.0\.6 s \(BFD detection 0\.3 s\)", out), out
    assert "path role primary" in out and "path role backup" in out

    result, section, events = run(lab, tmp_path)
    assert result.exit_code == 0, result.message
    tp = predicted(section)
    assert (tp.role, tp.azure_detection.bound_by) == ("primary", "BFD")
    against_the_logs(lab, tp, events)
    assert "BFD detects in 0.3 s" in findings(section, "bound")[0]
    assert findings(section, "outside_prediction") == [], section["findings"]
    # Tunnel1 is the primary: every flow lost for about the BFD time.
    assert section["metrics"]["flows_without_loss"]["value"] == 0
    assert any("not equal for Azure's flows" in t for t in findings(section, "asymmetry"))

    # Tunnel2's session down: `check` names what is left single and exits non-zero.
    configure(lab, "neighbor 169.254.21.5 shutdown")
    try:
        deadline = time.monotonic() + 15
        while lab_api.bgp_peer_states(lab, "gw1").get("169.254.21.6") == "Established":
            assert time.monotonic() < deadline, "gw1 kept the session"
            time.sleep(0.1)
        code, out = check(lab, wait=4)
        assert code == 1, out
        assert "single point of failure: edge1 Tunnel2: BGP to 169.254.21.5 is down" in out
        assert ("single point of failure: Azure learns on-prem prefix 192.168.10.0/24 over one "
                "path only (via 169.254.21.2)") in out
        assert ("single point of failure: edge1 learns Azure prefix 10.0.0.0/16 over one "
                "tunnel only (via 169.254.21.1)") in out
    finally:
        configure(lab, "no neighbor 169.254.21.5 shutdown")
        lab_api.wait_established(lab, 60)
