"""The game-day against the real lab: the Tunnel1 playbook end to end, checked against an
independent packet capture (issue 4), and BFD against no BFD."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from markupsafe import escape
from typer.testing import CliRunner

from failover_harness.cli import app
from failover_harness.inventory import load_inventory
from failover_harness.lab import lab as lab_api
from failover_harness.lab.state import LabState
from failover_harness.lab.topology import LabOptions
from failover_harness.orchestrator.gameday import GameDayResult, run_gameday
from failover_harness.orchestrator.session import RunOptions
from failover_harness.playbook import load_playbook
from failover_harness.reports.chart import _gid
from failover_harness.reports.compare import compare_reports, load_reports
from tests.lab.conftest import lab_prefix
from tests.lab.test_report_browser import _chromium, _console_messages, _SvgIndex
from tests.lab.wire import Capture, FlowKey, flows_seen, read_probes, reflected_seqs

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"


def run(lab: LabState, playbooks: list, tmp_path: Path, **options: object) -> GameDayResult:
    assert lab.inventory is not None
    opts = RunOptions(reports_root=tmp_path / "reports", gate_timeout_s=40, **options)
    return run_gameday(Path(lab.inventory), playbooks, opts, say=print)


BLACKHOLE_S = 0.1  # episodes this long are compared one to one; shorter ones are blips
T = 0.01  # the playbooks' probe interval


def flow_keys(events: list[dict]) -> dict[str, FlowKey]:
    """Flow id -> its key on the wire, from the flow_start events."""
    keys = {}
    for e in events:
        if e["kind"] == "flow_start":
            d = e["data"]
            ident = d["icmp_id"] if d["probe"] == "icmp" else d["sport"]
            keys[e["subject"].removeprefix("flow:")] = (d["probe"], d["src"], ident)
    return keys


def onprem_neighbor_down(lab: LabState, neighbor: str, after: datetime) -> datetime:
    """When the on-prem router's own BGP log says the session to `neighbor` went down."""
    log = Path(lab.routers["edge1"].frr_dir) / "frr.log"
    for line in log.read_text().splitlines():
        if f"neighbor {neighbor}" not in line or " Down " not in line:
            continue
        stamp = datetime.strptime(line[:23], "%Y/%m/%d %H:%M:%S.%f").astimezone(UTC)
        if stamp >= after:
            return stamp
    raise AssertionError(f"no 'neighbor {neighbor} ... Down' in {log} after {after}")


def wall(event: dict) -> datetime:
    return datetime.fromisoformat(event["wall"].replace("Z", "+00:00"))


def check_against_capture(lab: LabState, result: GameDayResult, lan_packets: list,
                          vm_packets: list) -> dict[str, float]:
    """Every flow's blackholes (ICMP, TCP, UDP) against the capture in the probe namespace,
    within one probe interval; each UDP episode's loss by direction against the captures on
    both ends, within one probe; forward loss no longer than the on-prem router's own
    detection (its BGP log) + one interval. Returns per kind the longest outage compared."""
    report = json.loads((result.run_dir / "report.json").read_text())
    section = report["sections"][0]
    events = timeline(result)
    keys = flow_keys(events)
    wire = read_probes(lan_packets)
    until = max(float(p.time) for p in lan_packets) - 1.5  # answers may be cut off after
    # The report's fault phase (from the shut's send to the restore's) on the capture's clock:
    # a blip of the lab before the fault (userspace IPsec under load) is no fault episode.
    shut = next(e for e in events if e["kind"] == "action_start"
                and e["data"]["action"] == "shut_interface")
    offset = wall(shut).timestamp() - shut["t"]
    fault_from = section["fault_start"] + offset
    fault_to = (section["restore_start"] if section["restore_start"] is not None else float("inf")) + offset
    longest: dict[str, float] = {}
    for flow in section["flows"]:
        key = keys[flow["flow"]]
        reported = [ep["end"] - ep["start"] for ep in flow["episodes"]
                    if ep["phase"] == "fault" and not ep["open"] and ep["duration_s"] > BLACKHOLE_S]
        seen = [end - start for start, end in wire.episodes(key, until)
                if end - start > BLACKHOLE_S and end > fault_from and start < fault_to]
        assert len(reported) == len(seen), (flow["flow"], reported, seen)
        for r, c in zip(reported, seen, strict=True):
            assert abs(r - c) <= T, (flow["flow"], r, c)
            longest[key[0]] = max(longest.get(key[0], 0.0), c)
    detected = onprem_neighbor_down(lab, "169.254.21.1", wall(shut))
    onprem_detection = (detected - wall(shut)).total_seconds()
    at_vm = reflected_seqs(vm_packets)
    directions = [e for e in events if e["kind"] == "loss_end" and e["data"].get("forward_lost") is not None
                  and e["t"] > shut["t"]]
    episodes = {(f["flow"], round(ep["end"], 6)): ep for f in section["flows"] for ep in f["episodes"]}
    on_wire: dict[str, list[int]] = {}  # flow -> [forward, return, episodes] on the captures
    for e in directions:
        flow = e["subject"].removeprefix("flow:")
        key = keys[flow]
        probes = range(e["data"]["seq"] - e["data"]["probes"], e["data"]["seq"])
        arrived, answered = at_vm.get(key, (set(), set()))
        forward = sum(1 for seq in probes if seq not in arrived)
        back = sum(1 for seq in probes if seq in answered)
        assert abs(e["data"]["forward_lost"] - forward) <= 1, (e, forward)
        assert abs(e["data"]["return_lost"] - back) <= 1, (e, back)
        # The report's episode carries the same split (report.json, schema 2.1).
        ep = episodes[(flow, round(e["t"], 6))]
        assert (ep["forward_lost"], ep["return_lost"]) == (e["data"]["forward_lost"],
                                                           e["data"]["return_lost"]), (ep, e)
        # The forward path healed when the on-prem router moved (its own log says when).
        assert e["data"]["forward_lost"] * T <= onprem_detection + T, (e, onprem_detection)
        if ep["phase"] == "fault":
            counts = on_wire.setdefault(flow, [0, 0, 0])
            counts[0] += forward
            counts[1] += back
            counts[2] += 1
    assert directions, "no UDP flow lost a probe after the shut"
    check_directions(section, on_wire, onprem_detection)
    return longest


def check_directions(section: dict, on_wire: dict[str, list[int]], onprem_detection: float) -> None:
    """The report's loss by direction (per flow, summed, in words) against the captures:
    each flow's counts within one probe per episode, the path the captures say lost most is
    the one the report names, and every flow's forward loss within the on-prem router's own
    detection (its BGP log) plus one interval."""
    d = section["directions"]
    assert d is not None, "a section with UDP flows has a direction summary"
    for f in d["flows"]:
        forward, back, n = on_wire.get(f["flow"], [0, 0, 0])
        assert f["unknown_lost"] == 0, f
        assert abs(f["forward_lost"] - forward) <= n and abs(f["return_lost"] - back) <= n, (f, forward, back)
        for m in (f["forward_loss_s"], f["return_loss_s"]):
            assert m["estimate"] == "lost_x_interval" and 0 <= m["lo"] <= m["value"] <= m["hi"], m
        assert f["forward_loss_s"]["value"] <= onprem_detection + T, (f, onprem_detection)
    forward = sum(c[0] for c in on_wire.values())
    back = sum(c[1] for c in on_wire.values())
    print(f"loss by direction: report forward {d['forward_lost']} return {d['return_lost']}; "
          f"captures forward {forward} return {back}; on-prem detection (router log) "
          f"{onprem_detection:.3f} s; {d['text']}")
    # Tunnel1 shut: the on-prem side moves at once, Azure keeps the dead path until it notices.
    assert back > forward, ("the captures do not show return-path loss", forward, back)
    assert d["dominant"] == "return"
    assert f"{d['return_lost']} probes" in d["text"] and "return path (Azure -> on-prem)" in d["text"]
    assert d["forward_within_onprem_detection"] is True
    assert "Forward loss per flow is within the on-prem detection time" in d["text"]
    assert d["text"] in section["summary"]


def timeline(result: GameDayResult) -> list[dict]:
    return [json.loads(line) for line in (result.run_dir / "timeline.jsonl").read_text().splitlines()]


def captures(lab: LabState, tmp_path: Path) -> tuple[Capture, Capture, Capture]:
    """The probe namespace's LAN, the VM (the reflector's side) and Azure's Tunnel1 end."""
    assert lab.host_netns is not None and lab.vm_netns is not None
    return (Capture(lab.host_netns, "lan", tmp_path / "host.pcap"),
            Capture(lab.vm_netns, "eth0", tmp_path / "vm.pcap"),
            Capture(lab.routers["gw0"].netns, lab.tunnels[0].azure_interface,
                    tmp_path / "gw0-tunnel1.pcap"))


def assert_causal(report: dict) -> None:
    """No delay or duration below 0, every value inside its bounds and naming its estimate."""
    for section in report["sections"]:
        for name, m in section["metrics"].items():
            if not m["available"]:
                continue
            assert m["estimate"], (name, m)
            assert m["lo"] <= m["value"] and (m["hi"] is None or m["value"] <= m["hi"]), (name, m)
            if m["unit"] == "s":
                assert m["lo"] >= 0, (name, m)
        if section["fault_start"] is not None:
            assert section["fault_start"] <= section["t0"]
        directions = section.get("directions") or {"flows": []}
        for m in [m for f in directions["flows"] for m in (f["forward_loss_s"], f["return_loss_s"])]:
            assert m["estimate"] and m["lo"] >= 0 and m["lo"] <= m["value"], m
            assert m["hi"] is None or m["value"] <= m["hi"], m


def test_tunnel1_failover_against_an_independent_capture(lab: LabState, tmp_path: Path) -> None:
    lan, vm, t1 = captures(lab, tmp_path)
    try:
        result = run(lab, [PLAYBOOKS / "tunnel1-failover.yaml"], tmp_path)
    finally:
        lan_packets, vm_packets, t1_packets = lan.stop(), vm.stop(), t1.stop()
    report = json.loads((result.run_dir / "report.json").read_text())
    section = report["sections"][0]
    verdicts = {v["metric"]: v for v in section["verdicts"]}
    print(result.message, {m: v["measured"]["value"] for m, v in verdicts.items()})
    assert result.exit_code == 0, (result.message, verdicts)

    assert_causal(report)
    metrics = section["metrics"]
    events = timeline(result)
    # Delays run from the shut's send; the command itself took `command_s` (slower under load).
    sent = next(e["t"] for e in events if e["kind"] == "action_start"
                and e["data"]["action"] == "shut_interface")
    acked = next(e["t"] for e in events if e["kind"] == "action_done"
                 and e["data"]["action"] == "shut_interface")
    command_s = acked - sent
    assert metrics["onprem_detection_s"]["value"] <= command_s + 1.0
    # Azure's peer leaves Connected within the hold time (3 s), then one sample interval (1 s)
    # and one call (its request-to-response time, as the calls around the fault took).
    calls = [e["window"][1] - e["window"][0] for e in events if e["kind"] == "sample"
             and e["subject"] == "azure:bgp_peer_status" and e["data"]["ok"]
             and sent - 10 < e["t"] < sent + 20]
    assert metrics["azure_detection_s"]["value"] <= command_s + 3.0 + 1.0 + max(calls)
    assert metrics["onprem_detection_s"]["value"] < metrics["azure_detection_s"]["value"]

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

    # Every flow's outage against the capture of the same packets, loss by direction too.
    longest = check_against_capture(lab, result, lan_packets, vm_packets)
    print("longest outage on the capture by kind:", longest)
    assert set(longest) == {"icmp", "tcp", "udp"}, "a kind had no flow through Tunnel1"
    assert abs(metrics["max_outage_s"]["value"] - max(longest.values())) <= T

    # Flows that never touched Tunnel1 (either direction) lost nothing.
    keys = flow_keys(events)
    on_t1 = flows_seen(t1_packets)
    for flow in section["flows"]:
        during = [ep for ep in flow["episodes"] if ep["phase"] != "before_fault"]
        if keys[flow["flow"]] not in on_t1:
            assert not during, (flow["flow"], during)
        if during:
            assert keys[flow["flow"]] in on_t1, f"{flow['flow']} lost probes but never used Tunnel1"
    # Full recovery: every episode closed before the end, failback lost nothing.
    assert not any(ep["open"] for f in section["flows"] for ep in f["episodes"])
    assert metrics["failback_lost_probes"]["value"] == 0
    assert (result.run_dir / "report.html").is_file() and (result.run_dir / "junit.xml").is_file()
    # The words of the loss by direction (checked against the captures above) in both reports.
    words = section["directions"]["text"]
    assert words in (result.run_dir / "report.md").read_text()
    assert str(escape(words)) in (result.run_dir / "report.html").read_text()


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
        lan, vm, t1 = captures(bfd_lab, tmp_path)
        try:
            bfd = run(bfd_lab, [PLAYBOOKS / "tunnel1-failover-bfd.yaml"], tmp_path / "bfd")
        finally:
            lan_packets, vm_packets, _ = lan.stop(), vm.stop(), t1.stop()
        # With BFD too, every flow's outage and direction against the captures.
        longest = check_against_capture(bfd_lab, bfd, lan_packets, vm_packets)
    finally:
        lab_api.down(prefix)

    def outage(result: GameDayResult) -> float:
        report = json.loads((result.run_dir / "report.json").read_text())
        assert_causal(report)
        return report["sections"][0]["metrics"]["max_outage_s"]["value"]

    print(f"max outage: no BFD {outage(plain):.3f} s, BFD {outage(bfd):.3f} s; "
          f"BFD on the capture by kind: {longest}")
    assert bfd.exit_code == 0, bfd.message
    assert outage(bfd) < 0.5 * outage(plain)
    assert abs(outage(bfd) - max(longest.values())) <= T

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
    # UDP flows that lost probes: their return loss in a lane of its own.
    udp_hit = [f["flow"] for f in section["flows"] if f["episodes"] and f["kind"] == "udp"]
    assert udp_hit and all(groups.get(_gid("loss-return", flow), 0) >= 1 for flow in udp_hit)
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
    assert_causal(report)
    html = (result.run_dir / "report.html").read_text()
    assert html.count("<svg") == 2  # one timeline chart per playbook
    suites = (result.run_dir / "junit.xml").read_text().count("<testsuite ")
    assert suites == 2
