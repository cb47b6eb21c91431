"""Azure peer-status calls failing mid-fault (the lab's emulator answers 500 to 8 calls): gaps on
that operation alone, Azure's detection naming the gap its evidence falls in (unknown when its
bounds straddle the expectation), and the run's exit status never "failed" (1) for it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from failover_harness.errors import EXIT_INCONCLUSIVE
from failover_harness.expectations import Expectation
from failover_harness.inventory import load_inventory
from failover_harness.lab.azure_emulator.control import EmulatorControl
from failover_harness.lab.azure_emulator.settings import Fault
from failover_harness.lab.state import LabState
from failover_harness.orchestrator.gameday import run_gameday
from failover_harness.orchestrator.session import RunOptions
from failover_harness.playbook import load_playbook

ROOT = Path(__file__).resolve().parents[2]
SHORT = ROOT / "tests/data/playbooks/tunnel1-short.yaml"
FAILING_CALLS = 8  # about 10 s of calls at one a second (with the poller's backoff)


def _lines(run_dir: Path) -> list[dict]:
    path = run_dir / "timeline.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def test_peer_status_failing_10_s_is_its_own_gap_never_a_failure(lab: LabState,
                                                                   tmp_path: Path) -> None:
    assert lab.emulator is not None and lab.inventory
    control = EmulatorControl.from_state(lab.emulator)
    playbook = load_playbook(SHORT, load_inventory(Path(lab.inventory)))
    playbook.expectations.append(Expectation(metric="azure_detection_s", max=10))
    run_dir = tmp_path / "reports" / "run"
    added: list[float] = []

    def fail_peer_status() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(
                e["kind"] == "action_done" and e["data"]["action"] == "shut_interface"
                for e in _lines(run_dir)):
            time.sleep(0.05)
        # A count, not a duration: on a loaded machine calls may start late, never skipped.
        control.add_fault(Fault(kind="error", status=500, match="getBgpPeerStatus",
                                count=FAILING_CALLS))
        added.append(time.monotonic())

    thread = threading.Thread(target=fail_peer_status, daemon=True)
    thread.start()
    opts = RunOptions.model_validate({"reports_root": tmp_path / "reports", "run_id": "run",
                                      "gate_timeout_s": 30})
    result = run_gameday(Path(lab.inventory), [playbook], opts, say=print)
    thread.join(timeout=5)
    assert added, "the fault was never injected"

    report = json.loads((run_dir / "report.json").read_text())
    section = report["sections"][0]
    events = _lines(run_dir)
    # The injected 500s hit peer-status calls only (timeouts of a loaded machine may hit any).
    injected = [e for e in events if e["kind"] == "sample" and not e["data"]["ok"]
                and e["data"]["gap_reason"] == "server_error"]
    assert injected and {e["subject"] for e in injected} == {"azure:bgp_peer_status"}
    # Each failed call lies in a gap of its own operation (calls already under way when the
    # fault began may still answer and split it); the other operations answered throughout.
    gaps = [g for g in section["data_gaps"] if g["source"] == "azure:bgp_peer_status"
            and g["reasons"] != ["stall"]]
    for e in injected:
        assert any(g["start"] < e["t"] <= g["end"] and "server_error" in g["reasons"]
                   for g in gaps), (e["t"], gaps)
    assert not [g for g in section["data_gaps"] if "server_error" in g["reasons"]
                and g["source"] != "azure:bgp_peer_status"]

    detection = section["metrics"]["azure_detection_s"]
    verdict = next(v for v in section["verdicts"] if v["metric"] == "azure_detection_s")
    print("azure_detection_s", detection, verdict["status"])
    window = (detection["lo"], detection["hi"])
    sent = section["fault_start"]  # delays run from here; gaps are on the run's clock
    if window[1] is not None and any(g["start"] < sent + window[1] and g["end"] > sent + window[0]
                                     for g in gaps):
        assert detection["evidence_gap"] and "azure:bgp_peer_status" in detection["evidence_gap"]
    if detection["evidence_gap"] and (detection["censored"] or window[0] <= 10 < (window[1] or 0)):
        assert verdict["status"] == "inconclusive", verdict
    statuses = {v["status"] for v in section["verdicts"]}
    assert "failed" not in statuses, section["verdicts"]
    assert result.exit_code == (EXIT_INCONCLUSIVE if "inconclusive" in statuses else 0), result.message
