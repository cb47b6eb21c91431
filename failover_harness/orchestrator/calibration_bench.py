"""`failover-harness bench --calibration`: calibrated azure_detection_s on a running lab,
checked against the Azure-side router's own log, over N runs of the calibration playbook in
one game-day (one poller warm-up), with the emulator's LRO latency set for the bench (10 +/- 2 s
by default) and put back afterwards. Prints per run the truth, the interval, its width and
whether the truth is inside, then the poller's cadence and budget; asserts nothing.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from failover_harness.inventory import load_inventory
from failover_harness.lab.azure_emulator.control import EmulatorControl
from failover_harness.lab.lifecycle import load_state
from failover_harness.lab.state import LabState
from failover_harness.metrics import fmt
from failover_harness.orchestrator.calibration_check import (
    WIDTH_TARGET_S,
    CalibrationRun,
    calibration_runs,
    playbook_path,
)
from failover_harness.orchestrator.claim import Say
from failover_harness.orchestrator.gameday import GameDayResult, run_gameday
from failover_harness.orchestrator.session import RunOptions
from failover_harness.playbook import Playbook, load_playbook
from failover_harness.playbook.steps import Hold, WaitUntil
from failover_harness.reports.azure_polling import AzurePolling

TUNNEL = "Tunnel1"


def run_calibration(lab: LabState, runs: int, reports_root: Path, latency_s: float, jitter_s: float,
                    say: Say = print) -> tuple[GameDayResult, list[CalibrationRun]]:
    """The game-day of `runs` calibration playbooks at the given LRO latency, and its rows."""
    if lab.emulator is None or lab.inventory is None:
        raise RuntimeError("the lab has no Azure emulator or inventory")
    playbook = calibration_playbook(Path(lab.inventory), latency_s + jitter_s + 1.0)
    ctl = EmulatorControl.from_state(lab.emulator)
    before = ctl.state().settings
    ctl.set(lro_latency_s=latency_s, lro_jitter_s=jitter_s)
    try:
        result = run_gameday(Path(lab.inventory), [playbook] * runs,
                             RunOptions(reports_root=reports_root, gate_timeout_s=90), say=say)
    finally:
        ctl.set(lro_latency_s=before.lro_latency_s, lro_jitter_s=before.lro_jitter_s)
    if not (result.run_dir / "report.json").is_file():
        raise RuntimeError(f"the calibration game-day left no report: {result.message}")
    tunnel = next(t for t in lab.tunnels if t.name == TUNNEL)
    gateway_router = lab.routers[f"gw{tunnel.azure_instance}"]
    return result, calibration_runs(result.run_dir, gateway_router.frr_dir, tunnel.onprem_bgp_ip)


def calibration_playbook(inventory: Path, hold_down_s: float) -> Playbook:
    """The calibration playbook with the fault held `hold_down_s` after Azure saw the peer
    down. Failback readings count for calibration only from calls started after Azure's
    first down answer (an earlier one may have read the peer before Azure noticed the
    fault), so the hold must outlast one LRO (latency + jitter): then the calls whose
    snapshots straddle the failback all qualify, and the closest bound it tightest."""
    playbook = load_playbook(playbook_path(), load_inventory(inventory))
    method = list(playbook.method)
    down = next(i for i, step in enumerate(method)
                if isinstance(step, WaitUntil) and step.condition == "azure_peer_down")
    hold = method[down + 1]
    assert isinstance(hold, Hold), "azure_calibration.yaml: a hold follows the wait for azure_peer_down"
    method[down + 1] = hold.model_copy(update={"seconds": hold_down_s})
    return playbook.model_copy(update={"method": method})


def calibration_bench_main(prefix: str, runs: int, latency_s: float, jitter_s: float) -> int:
    console = Console(width=max(Console().width, 160))
    lab = load_state(prefix)
    with tempfile.TemporaryDirectory(prefix="fh-bench-calibration-") as tmp:
        result, rows = run_calibration(lab, runs, Path(tmp), latency_s, jitter_s, say=lambda _m: None)
        polling = _last_polling(result)
    table = Table(title=f"azure_detection_s against gw0's log, LRO {latency_s:g} +/- {jitter_s:g} s "
                        f"(target: truth inside, interval <= {WIDTH_TARGET_S:g} s wide)")
    for col in ("run", "truth (router log)", "azure_detection_s interval", "width", "inside", "calibrated"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r.section), f"{fmt(r.truth_s)} s", f"{fmt(r.lo)} .. {fmt(r.hi)} s",
                      f"{fmt(r.width_s)} s", str(r.inside), str(r.calibrated))
    console.print(table)
    inside = sum(1 for r in rows if r.inside)
    narrow = sum(1 for r in rows if r.width_s is not None and r.width_s <= WIDTH_TARGET_S)
    console.print(f"truth inside {inside} of {len(rows)}; no wider than {WIDTH_TARGET_S:g} s {narrow} of {len(rows)}; "
                  f"game-day exit {result.exit_code}")
    for line in polling.lines() if polling else ["no Azure poll summary"]:
        console.print(f"Azure {line}", highlight=False, markup=False)
    return 0


def _last_polling(result: GameDayResult) -> AzurePolling | None:
    report = json.loads((result.run_dir / "report.json").read_text())
    found = [s["azure_polling"] for s in report["sections"] if s.get("azure_polling")]
    return AzurePolling.model_validate(found[-1]) if found else None
