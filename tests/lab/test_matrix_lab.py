"""The matrix on the real lab, reduced to its two quick cells (fast 1/3 s timers): two ISPs
with ISP1's uplink down, and dual redundancy with edge1's uplink down (the whole router).

Each cell's figures are held against independent evidence: the routers' own FRR logs (wall
clock, millisecond stamps), kept by the matrix in the cell's evidence/ folder. A silent
underlay loss is seen by BGP only through its hold timer, so the logs must say the sessions
that left by the downed uplink ended by "Hold Timer Expired" - the link really went down,
without telling BGP - and none other did; the report's on-prem detection must contain the
log's time; the longest outage must lie between the first and last session drop the
logs show for that uplink (flows are lost from the link's fall until BGP moves them); and
after link_up those sessions must come Up again, the report's on-prem failback containing
the log's time of the first tunnel's Up."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from failover_harness.matrix.cells import run_matrix
from failover_harness.matrix.model import load_matrix
from failover_harness.matrix.results import CellResult
from failover_harness.matrix.table import markdown
from tests.lab.conftest import lab_prefix

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
QUICK = ROOT / "tests" / "data" / "matrices" / "quick.yaml"
LOG_STAMP = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3})")
# Convergence after a session drop (route withdrawal, ECMP rehash, iBGP fallback): routes
# move in milliseconds in the lab; one second is far above it and far below the hold timer.
CONVERGE_S = 1.0
# The report's on-prem detection is bounded by its SSH polls (each ~0.1 s); the log stamps
# and the wall clock of the timeline agree to a few ms.
CLOCK_S = 0.05


def wall(event: dict) -> datetime:
    return datetime.fromisoformat(event["wall"].replace("Z", "+00:00"))


def downs(log: Path, after: datetime) -> dict[str, tuple[float, str]]:
    """neighbor -> (seconds after `after` its session went Down, why), from a FRR log; why
    is the NOTIFICATION it sent or got just before the Down line (FRR logs it apart)."""
    found: dict[str, tuple[float, str]] = {}
    why: dict[str, str] = {}
    for line in log.read_text().splitlines():
        stamp = LOG_STAMP.match(line)
        note = re.search(r"%NOTIFICATION: \w+ (?:to|from) neighbor (\S+) .*\((.+?)\)", line)
        if stamp and note:
            why[note.group(1)] = note.group(2)
        hit = re.search(r"%ADJCHANGE: neighbor (\S+?)\(.* Down ", line)
        if not stamp or not hit:
            continue
        when = datetime.strptime(stamp.group(1), "%Y/%m/%d %H:%M:%S.%f").astimezone(UTC)
        if when >= after:
            found.setdefault(hit.group(1), ((when - after).total_seconds(),
                                            f"{why.get(hit.group(1), '?')}: {line}"))
    return found


def ups(log: Path, after: datetime) -> dict[str, float]:
    """neighbor -> seconds after `after` its session first came Up again, from a FRR log."""
    found: dict[str, float] = {}
    for line in log.read_text().splitlines():
        stamp = LOG_STAMP.match(line)
        hit = re.search(r"%ADJCHANGE: neighbor (\S+?)\(.* Up\b", line)
        if stamp and hit:
            when = datetime.strptime(stamp.group(1), "%Y/%m/%d %H:%M:%S.%f").astimezone(UTC)
            if when >= after:
                found.setdefault(hit.group(1), (when - after).total_seconds())
    return found


def check_cell(cell_dir: Path, cut: list[str], kept: list[str]) -> dict[str, float]:
    """`cut`: edge1's neighbors (Azure side) that left by the downed uplink; `kept`: others."""
    run = cell_dir / "run"
    report = json.loads((run / "report.json").read_text())
    section = report["sections"][0]
    events = [json.loads(x) for x in (run / "timeline.jsonl").read_text().splitlines()]
    done = next(e for e in events if e["kind"] == "action_done"
                and e["data"].get("uplink") == "wan0" and not e["data"].get("recovered"))
    start = next(e for e in events if e["kind"] == "action_start" and e["seq"] < done["seq"]
                 and e["data"].get("uplink") == "wan0")
    restore = next(e for e in events if e["kind"] == "action_start" and e["t"] > done["t"]
                   and e["data"].get("action") == "no_shut_interface")
    # The link is down by the time the shut is done (drops: at most the hold timer after
    # it); the report's delays count from when the shut was sent, `shutting` seconds before.
    sent = wall(done)
    shutting = (sent - wall(start)).total_seconds()
    edge1 = downs(cell_dir / "evidence" / "edge1-frr.log", sent)
    fault = {n: v for n, v in edge1.items() if v[0] < (wall(restore) - sent).total_seconds()}
    print(cell_dir.name, {n: (round(s, 3), line) for n, (s, line) in fault.items()})
    assert sorted(fault) == sorted(cut), f"sessions down during the fault: {fault}"
    for neighbor in cut:
        seconds, line = fault[neighbor]
        assert line.startswith("Hold Timer Expired:"), line  # silent: nothing told BGP
        assert 0 < seconds <= 3 + CLOCK_S, line  # within the 3 s hold timer
    metrics = section["metrics"]
    first = min(s for s, _ in fault.values())
    last = max(s for s, _ in fault.values())
    onprem = metrics["onprem_detection_s"]
    tunnel1 = fault[cut[0]][0]  # the report follows the first tunnel of the uplink
    assert onprem["lo"] - CLOCK_S <= tunnel1 + shutting <= onprem["hi"] + CLOCK_S, (onprem, tunnel1, shutting)
    outage = metrics["max_outage_s"]
    assert metrics["flows_with_loss"]["value"] >= 1
    assert outage["hi"] >= first - CLOCK_S, (outage, first)
    assert outage["lo"] <= last + shutting + CONVERGE_S, (outage, last, shutting)
    # The failback: every session cut comes back after link_up (its IPsec and the default
    # route return with the link), and the report's on-prem failback contains the log's Up.
    back = ups(cell_dir / "evidence" / "edge1-frr.log", wall(restore))
    assert sorted(n for n in back if n in cut) == sorted(cut), f"sessions back after link_up: {back}"
    failback = metrics["failback_onprem_s"]
    assert failback["lo"] - CLOCK_S <= back[cut[0]] <= failback["hi"] + CLOCK_S, (failback, back)
    return {"outage": outage["value"], "first_drop": first, "last_drop": last, "back": back[cut[0]]}


def failed_verdicts(result: CellResult) -> list[str]:
    if result.run_dir is None:
        return []
    report = json.loads((Path(result.run_dir) / "report.json").read_text())
    return [v["message"] for s in report["sections"] for v in s["verdicts"] if v["status"] != "passed"]


def test_quick_matrix_against_the_routers_logs(tmp_path: Path) -> None:
    matrix = load_matrix(QUICK)
    results = run_matrix(matrix, matrix.cells, lab_prefix() + "m", tmp_path, None, print)
    print(markdown(results))
    assert [r.status for r in results] == ["passed", "passed"], [(r.cell, r.why, failed_verdicts(r)) for r in results]
    table = (tmp_path / "matrix.json").read_text()
    assert json.loads(table)["cells"][1]["cell"] == "dual-router-down"
    # two ISPs: ISP1 carries Tunnel1 only
    isp = check_cell(tmp_path / "two-isps-link-down", cut=["169.254.21.1"], kept=["169.254.21.5"])
    # dual: edge1's only uplink carries both of its tunnels; edge2's stay (its log: no drop)
    dual = check_cell(tmp_path / "dual-router-down", cut=["169.254.21.1", "169.254.21.5"],
                      kept=[])
    edge2 = downs(tmp_path / "dual-router-down" / "evidence" / "edge2-frr.log",
                  datetime.fromisoformat(results[1].measured_at))
    assert not [n for n in edge2 if n.startswith("169.254.")], edge2
    print({"isp": isp, "dual": dual})
