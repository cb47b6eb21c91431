"""The active-standby lab (`lab up --mode active-standby`): discover, validate and a
game-day on it (issue 17, "in active-standby mode too"), and a reset of the active instance
run to completion and checked against a capture (issue 13).

What "the Tunnel1 game-day" means here: an active-standby gateway has one VIP and one tunnel
per on-prem router, so shutting Tunnel1 leaves no path to fail over to; the failover this
design has is Azure's own, the standby taking the VIP over when the active instance is reset.
So the game-day run with the discovered inventory is playbooks/reset-active-standby.yaml.

Independent evidence: the emulator's record of the reset (when it began, the takeover delay
it drew), which router holds the VIP afterwards (`ip addr`), the standby's own FRR log (when
its session to on-prem came up) and a capture of the probes in the on-prem host's namespace.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from failover_harness.cli import app
from failover_harness.inventory import load_inventory
from failover_harness.lab import lab as lab_api
from failover_harness.lab.azure_emulator.control import EmulatorControl
from failover_harness.lab.state import LabState
from failover_harness.lab.topology import LabOptions
from failover_harness.orchestrator.gameday import run_gameday
from failover_harness.orchestrator.session import RunOptions
from failover_harness.playbook import load_playbook
from tests.lab.conftest import lab_prefix
from tests.lab.test_discover_lab import _discover, _fill
from tests.lab.test_gameday import assert_causal, flow_keys, timeline
from tests.lab.wire import Capture, read_probes

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "reset-active-standby.yaml"
TAKEOVER_S, OUTAGE_S = 4.0, 8.0  # the emulator's draws, fixed (defaults: 10-15 s each)
T = 0.01  # the playbook's probe interval
BLACKHOLE_S = 0.1


@pytest.fixture(scope="module")
def standby_lab() -> Iterator[LabState]:
    prefix = lab_prefix() + "s"
    lab_api.down(prefix)
    try:
        state = lab_api.up(prefix, LabOptions(mode="active-standby"))
        assert state.emulator is not None
        EmulatorControl.from_state(state.emulator).set(
            reset_outage_s=(OUTAGE_S, OUTAGE_S), standby_takeover_s=(TAKEOVER_S, TAKEOVER_S),
            lro_latency_s=0.5, lro_jitter_s=0)
        yield state
    finally:
        lab_api.down(prefix)


def vip_holder(lab: LabState) -> list[str]:
    """The instance routers that have the VIP on their loopback (`ip addr`)."""
    vip = lab.azure.instances[0].public_ip

    def loopback(router: str) -> str:
        return subprocess.run(["ip", "-j", "-n", lab.routers[router].netns, "addr", "show", "dev", "lo"],
                              capture_output=True, text=True, check=True).stdout

    return [i.router for i in lab.azure.instances if f'"{vip}"' in loopback(i.router)]


def session_up_in_log(lab: LabState, router: str, neighbor: str, after: datetime) -> datetime:
    """When `router`'s own BGP log says its session to `neighbor` came up."""
    log = Path(lab.routers[router].frr_dir) / "frr.log"
    for line in log.read_text().splitlines():
        if f"neighbor {neighbor}" in line and " Up" in line:
            stamp = datetime.strptime(line[:23], "%Y/%m/%d %H:%M:%S.%f").astimezone(UTC)
            if stamp >= after:
                return stamp
    raise AssertionError(f"no 'neighbor {neighbor} ... Up' in {log} after {after}")


def test_discovered_inventory_and_the_reset_game_day_against_a_capture(standby_lab: LabState,
                                                                         tmp_path: Path) -> None:
    lab = standby_lab
    assert vip_holder(lab) == ["gw0"]
    path = tmp_path / "inventory.yaml"
    result = _discover(lab, path)
    assert "gateway active-standby" in result.output
    _fill(lab, path)
    validated = CliRunner().invoke(app, ["validate", str(PLAYBOOK), "-i", str(path)])
    assert validated.exit_code == 0, validated.output
    inventory = load_inventory(path)
    # One tunnel per on-prem router, to the VIP's BGP address, as the lab built it.
    got = [(r.interface, str(r.tunnel.neighbor), r.tunnel.azure_instance, r.tunnel.connection)
           for r in inventory.tunnels()]
    assert got == [(t.onprem_interface, t.azure_bgp_ip, 0, t.connection) for t in lab.tunnels]

    control = EmulatorControl.from_state(lab.emulator)  # type: ignore[arg-type]
    resets_before = len(control.state().resets)
    assert lab.host_netns is not None
    lan = Capture(lab.host_netns, "lan", tmp_path / "host.pcap")
    try:
        run = run_gameday(path, [load_playbook(PLAYBOOK, inventory)],
                          RunOptions(reports_root=tmp_path / "reports", gate_timeout_s=40), say=print)
    finally:
        packets = lan.stop()
    report = json.loads((run.run_dir / "report.json").read_text())
    section = report["sections"][0]
    metrics = section["metrics"]
    print(run.message, {m: metrics[m]["value"] for m in
                        ("onprem_detection_s", "max_outage_s", "reset_recovery_s", "azure_detection_s")})
    assert run.exit_code == 0, run.message + "".join(f"\n{v['status']}: {v['message']}" for v in section["verdicts"])
    assert [o.status for o in run.outcomes] == ["completed"]
    assert_causal(report)

    # The emulator reset the active instance once, with the takeover it was told to draw;
    # afterwards the standby holds the VIP and its session to on-prem is up, the old active
    # one's is shut (it came back as the standby).
    [reset] = control.state().resets[resets_before:]
    assert (reset.target, reset.takeover_s) == ("instance 0", TAKEOVER_S)
    assert vip_holder(lab) == ["gw1"]
    t = lab.tunnels[0]
    gw1 = lab_api.bgp_peers(lab, "gw1")[t.onprem_bgp_ip]
    gw0 = lab_api.bgp_peers(lab, "gw0")[t.onprem_bgp_ip]
    assert gw1["state"] == "Established" and "Admin" in str(gw0["state"])
    up_at = session_up_in_log(lab, "gw1", t.onprem_bgp_ip, datetime.fromtimestamp(reset.started_unix, UTC))
    assert up_at.timestamp() >= reset.started_unix + TAKEOVER_S

    # Every flow's outage against the capture; every flow lost at least until the takeover.
    events = timeline(run)
    keys = flow_keys(events)
    wire = read_probes(packets)
    until = max(float(p.time) for p in packets) - 1.5
    sent = next(e for e in events if e["kind"] == "action_start" and e["data"]["action"] == "reset_azure_instance")
    sent_wall = datetime.fromisoformat(sent["wall"].replace("Z", "+00:00")).timestamp()
    back_on_wire = 0.0
    for flow in section["flows"]:
        key = keys[flow["flow"]]
        reported = [ep["end"] - ep["start"] for ep in flow["episodes"]
                    if ep["phase"] == "fault" and ep["duration_s"] > BLACKHOLE_S]
        seen = [(s, e) for s, e in wire.episodes(key, until) if e - s > BLACKHOLE_S]
        assert len(reported) == len(seen), (flow["flow"], reported, seen)
        for r, (s, e) in zip(reported, seen, strict=True):
            assert abs(r - (e - s)) <= T, (flow["flow"], r, s, e)
        assert seen and max(e - s for s, e in seen) >= TAKEOVER_S - 0.5, (flow["flow"], seen)
        back_on_wire = max(back_on_wire, max(e for _, e in seen))
    longest = max(e - s for key in keys.values() for s, e in wire.episodes(key, until) if e - s > BLACKHOLE_S)
    assert abs(metrics["max_outage_s"]["value"] - longest) <= T
    # Recovery: not before the last flow came back on the wire (from the reset's send, wall
    # clock of the timeline vs the capture's), nor before the standby's session was up.
    recovery = metrics["reset_recovery_s"]
    assert recovery["estimate"] == "upper_edge" and not recovery["censored"]
    assert recovery["value"] >= back_on_wire - sent_wall - 2 * T, (recovery, back_on_wire - sent_wall)
    assert recovery["value"] >= up_at.timestamp() - sent_wall - 0.1, recovery
    assert recovery["value"] <= OUTAGE_S + 30, recovery
