"""The game-day against the real lab: the Tunnel1 playbook end to end, checked against an
independent packet capture (issue 4), and BFD against no BFD."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, TCP
from scapy.utils import rdpcap
from typer.testing import CliRunner

from failover_harness.lab import lab as lab_api
from failover_harness.lab.state import LabState
from failover_harness.lab.topology import LabOptions
from failover_harness.orchestrator.gameday import GameDayResult, run_gameday
from failover_harness.orchestrator.session import RunOptions
from failover_harness.playbook import load_playbook
from failover_harness.inventory import load_inventory
from failover_harness.cli import app
from failover_harness.reports.chart import _gid
from failover_harness.reports.compare import compare_reports, load_reports
from tests.lab.conftest import lab_prefix
from tests.lab.test_report_browser import _chromium, _console_messages, _SvgIndex

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"


def run(lab: LabState, playbooks: list, tmp_path: Path, **options: object) -> GameDayResult:
    assert lab.inventory is not None
    opts = RunOptions(reports_root=tmp_path / "reports", gate_timeout_s=40, **options)
    return run_gameday(Path(lab.inventory), playbooks, opts, say=print)


class Capture:
    """tcpdump in one of the lab's namespaces: the independent view of the probes."""

    def __init__(self, netns: str, interface: str, path: Path) -> None:
        self.path = path
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", netns, "tcpdump", "-i", interface, "-n", "-U", "-s", "128",
             "-w", str(path), "icmp or tcp port 443"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)

    def stop(self) -> list:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        return list(rdpcap(str(self.path)))


def capture_outages(packets: list, interval: float) -> dict[tuple[str, int], list[float]]:
    """(source, icmp id) -> durations of runs of unanswered echo requests, from the capture:
    first unanswered request's send time to the next answered request's send time."""
    requests: dict[tuple[str, int], list[tuple[int, float]]] = defaultdict(list)
    answered: set[tuple[str, int, int]] = set()
    for p in packets:
        if ICMP not in p or IP not in p:
            continue
        icmp = p[ICMP]
        if icmp.type == 8:
            requests[(p[IP].src, icmp.id)].append((icmp.seq, float(p.time)))
        elif icmp.type == 0:
            answered.add((p[IP].dst, icmp.id, icmp.seq))
    outages: dict[tuple[str, int], list[float]] = {}
    for (src, ident), reqs in requests.items():
        reqs.sort()
        runs, start = [], None
        for seq, t in reqs[:-150]:  # the last second's answers may be cut off by the stop
            lost = (src, ident, seq) not in answered
            if lost and start is None:
                start = t
            elif not lost and start is not None:
                runs.append(t - start)
                start = None
        outages[(src, ident)] = [r for r in runs if r >= 2 * interval]
    return outages


def flows_seen(packets: list) -> set[tuple[str, str, int]]:
    """Flows (kind, on-prem address, icmp id or tcp source port) in a capture, either way."""
    seen = set()
    for p in packets:
        if IP not in p:
            continue
        if ICMP in p:
            onprem = p[IP].src if p[ICMP].type == 8 else p[IP].dst
            seen.add(("icmp", onprem, p[ICMP].id))
        elif TCP in p:
            if p[TCP].dport == 443:
                seen.add(("tcp", p[IP].src, p[TCP].sport))
            else:
                seen.add(("tcp", p[IP].dst, p[TCP].dport))
    return seen


def timeline(result: GameDayResult) -> list[dict]:
    return [json.loads(line) for line in (result.run_dir / "timeline.jsonl").read_text().splitlines()]


def test_tunnel1_failover_against_an_independent_capture(lab: LabState, tmp_path: Path) -> None:
    host = lab.host_netns
    assert host is not None
    gw0 = lab.routers["gw0"].netns
    lan = Capture(host, "lan", tmp_path / "host.pcap")
    t1 = Capture(gw0, lab.tunnels[0].azure_interface, tmp_path / "gw0-tunnel1.pcap")
    try:
        result = run(lab, [PLAYBOOKS / "tunnel1-failover.yaml"], tmp_path)
    finally:
        lan_packets, t1_packets = lan.stop(), t1.stop()
    report = json.loads((result.run_dir / "report.json").read_text())
    section = report["sections"][0]
    verdicts = {v["metric"]: v for v in section["verdicts"]}
    print(result.message, {m: v["measured"]["value"] for m, v in verdicts.items()})
    assert result.exit_code == 0, (result.message, verdicts)

    metrics = section["metrics"]
    assert metrics["onprem_detection_s"]["value"] <= 1.0
    # Azure's peer leaves Connected within the hold time (3 s) plus one sample (its window).
    assert metrics["azure_detection_s"]["value"] <= 3.0 + 2.5 + 1.0
    assert metrics["onprem_detection_s"]["value"] < metrics["azure_detection_s"]["value"]

    events = timeline(result)
    t0 = next(e["t"] for e in events if e["kind"] == "action_done"
              and e["data"]["action"] == "shut_interface")
    restore = next(e["t"] for e in events if e["kind"] == "action_done"
                   and e["data"]["action"] == "no_shut_interface")
    # Learned routes for the on-prem prefix end up only via the surviving peer (169.254.21.6).
    during = [e for e in events if e["kind"] == "route_next_hops" and t0 < e["t"] < restore
              and e["subject"].endswith("prefix:192.168.10.0/24")]
    assert during, "no learned-route change seen after the shut"
    last = {e["subject"]: e["data"]["next_hops"] for e in during}
    assert all("169.254.21.2" not in hops for hops in last.values()), last
    assert any("169.254.21.6" in hops for hops in last.values()), last

    # Outage per flow against the capture of the same packets, within two probe intervals.
    flows = {e["subject"].removeprefix("flow:"): e["data"] for e in events
             if e["kind"] == "flow_start"}
    interval = 0.01
    captured = capture_outages(lan_packets, interval)
    compared = 0
    for flow in section["flows"]:
        spec = flows[flow["flow"]]
        if spec["probe"] != "icmp":
            continue
        # The blackhole of each flow (longer than half a second), as each side saw it.
        reported = [ep["end"] - ep["start"] for ep in flow["episodes"]
                    if ep["phase"] == "fault" and not ep["open"] and ep["duration_s"] > 0.5]
        seen = [c for c in captured.get((spec["src"], spec["icmp_id"]), []) if c > 0.5]
        assert len(reported) == len(seen), (flow["flow"], reported, seen)
        for r, c in zip(reported, seen):
            assert abs(r - c) <= 2 * interval, (flow["flow"], r, c)
            compared += 1
    assert compared > 0, "no ICMP flow went through the failed tunnel"

    # Flows that never touched Tunnel1 (either direction) lost nothing.
    on_t1 = flows_seen(t1_packets)
    for flow in section["flows"]:
        spec = flows[flow["flow"]]
        key = (spec["probe"], spec["src"], spec["icmp_id"] if spec["probe"] == "icmp" else spec["sport"])
        during = [ep for ep in flow["episodes"] if ep["phase"] != "before_fault"]
        if key not in on_t1:
            assert not during, (flow["flow"], during)
        if during:
            assert key in on_t1, f"{flow['flow']} lost probes but never used Tunnel1"
    # Full recovery: every episode closed before the end, failback lost nothing.
    assert not any(ep["open"] for f in section["flows"] for ep in f["episodes"])
    assert metrics["failback_lost_probes"]["value"] == 0
    assert (result.run_dir / "report.html").is_file() and (result.run_dir / "junit.xml").is_file()


def test_an_expectation_the_lab_cannot_meet_exits_1_and_says_by_how_much(
        lab: LabState, tmp_path: Path) -> None:
    inventory = load_inventory(Path(lab.inventory or ""))
    playbook = load_playbook(ROOT / "tests/data/playbooks/tunnel1-short.yaml", inventory)
    playbook.expectations[0].max = 0.001  # on-prem detection within 1 ms: impossible
    result = run(lab, [playbook], tmp_path)
    assert result.exit_code == 1, result.message
    report = json.loads((result.run_dir / "report.json").read_text())
    failed = [v for v in report["sections"][0]["verdicts"] if v["status"] == "failed"]
    assert [v["metric"] for v in failed] == ["onprem_detection_s"]
    assert "missed by" in failed[0]["message"] and "0.001" in failed[0]["message"]
    assert failed[0]["miss_by"] > 0


def test_bfd_shortens_the_outage(lab: LabState, tmp_path: Path) -> None:
    """The same failover on a BFD lab (100 ms x 3) against the default lab (hold 3 s)."""
    plain = run(lab, [PLAYBOOKS / "tunnel1-failover.yaml"], tmp_path / "plain")
    prefix = lab_prefix() + "b"
    lab_api.down(prefix)
    try:
        bfd_lab = lab_api.up(prefix, LabOptions(bfd=True))
        bfd = run(bfd_lab, [PLAYBOOKS / "tunnel1-failover-bfd.yaml"], tmp_path / "bfd")
    finally:
        lab_api.down(prefix)

    def outage(result: GameDayResult) -> float:
        report = json.loads((result.run_dir / "report.json").read_text())
        return report["sections"][0]["metrics"]["max_outage_s"]["value"]

    print(f"max outage: no BFD {outage(plain):.3f} s, BFD {outage(bfd):.3f} s")
    assert bfd.exit_code == 0, bfd.message
    assert outage(bfd) < 0.5 * outage(plain)

    # `report compare`, BFD as the baseline: the run without BFD is flagged on the outage.
    compared = CliRunner().invoke(app, ["report", "compare", str(bfd.run_dir),
                                        str(plain.run_dir)])
    assert compared.exit_code == 0, compared.output
    assert "max_outage_s" in compared.output and "regression" in compared.output.lower()
    comparison = compare_reports(load_reports([bfd.run_dir, plain.run_dir]))
    assert any(r.startswith("max_outage_s") for r in comparison.regressions)

    # The lab run's report in a real browser: loss episodes and the Azure peer-down band in
    # one chart (one time axis), no console errors.
    dom, err = _chromium(tmp_path / "profile", "--dump-dom", (plain.run_dir / "report.html").as_uri())
    assert _console_messages(err) == []
    index = _SvgIndex()
    index.feed(dom)
    assert len(index.svgs) == 1
    groups = index.svgs[0]
    report = json.loads((plain.run_dir / "report.json").read_text())
    section = report["sections"][0]
    hit = [f["flow"] for f in section["flows"] if f["episodes"]]
    assert hit and all(groups.get(_gid("loss-episodes", flow), 0) >= 1 for flow in hit)
    fault = section["fault"]
    peer_band = _gid("azure-peer", f"azure:instance:{fault['azure_instance']}/peer:{fault['azure_peer']}")
    assert groups.get(peer_band, 0) >= 2, sorted(groups)
    shot = tmp_path / "lab-report.png"
    _, err = _chromium(tmp_path / "profile-shot", f"--screenshot={shot}",
                       (plain.run_dir / "report.html").as_uri())
    assert shot.is_file() and _console_messages(err) == []


def test_several_playbooks_make_one_game_day_with_a_section_each(lab: LabState,
                                                                 tmp_path: Path) -> None:
    result = run(lab, [PLAYBOOKS / "precheck.yaml", ROOT / "tests/data/playbooks/tunnel1-short.yaml"],
                 tmp_path)
    assert result.exit_code == 0, result.message
    assert [o.playbook for o in result.outcomes] == ["precheck", "tunnel1-short"]
    report = json.loads((result.run_dir / "report.json").read_text())
    assert [s["run"]["playbook"] for s in report["sections"]] == ["precheck", "tunnel1-short"]
    assert report["sections"][0]["fault"] is None and report["sections"][1]["fault"]
    html = (result.run_dir / "report.html").read_text()
    assert html.count("<svg") == 2  # one timeline chart per playbook
    suites = (result.run_dir / "junit.xml").read_text().count("<testsuite ")
    assert suites == 2
