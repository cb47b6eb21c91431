"""`inventory discover` on the lab: the Azure section from the ARM emulator (real SDK over
HTTPS), tunnel interface names from edge1's own output over SSH; a test fills only the
placeholders the command names; `validate` accepts the file and the Tunnel1 game-day passes
with it. The emulator's active-standby setting on this lab too (discover and validate); the
real active-standby lab, its discovery and its game-day: test_active_standby_lab.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from failover_harness.cli import app
from failover_harness.inventory import PLACEHOLDER, placeholders
from failover_harness.lab.azure_emulator.control import EmulatorControl
from failover_harness.lab.state import LabState
from failover_harness.orchestrator.gameday import run_gameday
from failover_harness.orchestrator.session import RunOptions
from failover_harness.playbook import load_playbook
from failover_harness.inventory import load_inventory

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]


def _discover(lab: LabState, out: Path) -> Any:
    run_dir = Path(lab.run_dir)
    args = ["inventory", "discover", "--subscription", lab.azure.subscription_id,
            "--resource-group", lab.azure.resource_group, "--gateway", lab.azure.gateway,
            "--lab-dir", str(run_dir), "--device", "edge1", "--platform", "frr", "--host", lab.mgmt["edge1"],
            "--username", "netops", "--password-file", str(run_dir / "secrets" / "edge1.password"),
            "--known-hosts", str(run_dir / "ssh" / "known_hosts"), "--ssh", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def _fill(lab: LabState, path: Path) -> set[str]:
    """Replace every placeholder by what the lab knows; returns the placeholders' locations."""
    yaml = YAML()
    data = yaml.load(path.read_text())
    found = {".".join(str(p) for p in loc) for loc, _ in placeholders(data)}
    vantage = next(k for k in data["vantage_points"] if k.startswith(PLACEHOLDER))
    del data["vantage_points"][vantage]
    data["vantage_points"]["onprem-host"] = {"netns": lab.host_netns, "sources": list(lab.host_ips)}
    target = next(k for k in data["targets"] if k.startswith(PLACEHOLDER))
    del data["targets"][target]
    data["targets"]["vm1"] = {"ip": lab.vm_ip, "tcp_ports": list(lab.vm_tcp_ports),
                           "reflector_port": lab.vm_reflector_port}
    data["prefixes"]["azure"] = list(lab.azure.vnet_prefixes)
    if any(str(p).startswith(PLACEHOLDER) for p in data["prefixes"]["onprem"]):
        data["prefixes"]["onprem"] = ["192.168.10.0/24"]  # the on-prem LAN (BGP, not in the LNG)
    assert not placeholders(data)
    with path.open("w") as f:
        yaml.dump(data, f)
    return found


@contextmanager
def quick_azure(lab: LabState) -> Iterator[None]:
    """The emulator's long-running calls at 0.5 s (default 3 +/- 1 s) while a game-day runs:
    these tests are about the inventory and privileges, and the shipped playbook's 10 s
    bound on azure_detection_s leaves little room at the default on a loaded machine."""
    assert lab.emulator is not None
    control = EmulatorControl.from_state(lab.emulator)
    before = control.state().settings
    control.set(lro_latency_s=0.5, lro_jitter_s=0)
    try:
        yield
    finally:
        control.set(lro_latency_s=before.lro_latency_s, lro_jitter_s=before.lro_jitter_s)


EXPECTED_PLACEHOLDERS = {
    f"vantage_points.{PLACEHOLDER}-vantage-point", f"targets.{PLACEHOLDER}-target", "prefixes.azure.0",
    "prefixes.onprem.0"}


def test_discovered_inventory_validates_and_the_tunnel1_game_day_passes(lab: LabState, tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    result = _discover(lab, path)
    assert "gateway active-active" in result.output
    # Only what Azure and the router cannot know is left (the options gave the router's login).
    assert _fill(lab, path) == EXPECTED_PLACEHOLDERS
    validated = CliRunner().invoke(app, ["validate", str(ROOT / "playbooks" / "tunnel1-failover.yaml"), "-i", str(path)])
    assert validated.exit_code == 0, validated.output
    inventory = load_inventory(path)
    # Independent source: the lab's own topology (interfaces, addresses, instances, connections).
    got = sorted((ref.interface, str(ref.tunnel.neighbor), str(ref.tunnel.local_address), ref.tunnel.azure_instance,
                  ref.tunnel.connection) for ref in inventory.tunnels())
    want = sorted((t.onprem_interface, t.azure_bgp_ip, t.onprem_bgp_ip, t.azure_instance, t.connection)
                  for t in lab.tunnels)
    assert got == want
    playbook = load_playbook(ROOT / "playbooks" / "tunnel1-failover.yaml", inventory)
    with quick_azure(lab):
        run = run_gameday(path, [playbook], RunOptions(reports_root=tmp_path / "reports", gate_timeout_s=40),
                          say=print)
    assert run.exit_code == 0, run.message + "".join(
        f"\n{v['status']}: {v['message']}" for s in json.loads((run.run_dir / "report.json").read_text())["sections"]
        for v in s["verdicts"])


def test_active_standby_gateway_discovers_the_instance_0_tunnel(lab: LabState, tmp_path: Path) -> None:
    assert lab.emulator is not None
    control = EmulatorControl.from_state(lab.emulator)
    control.set(active_active=False)
    try:
        path = tmp_path / "inventory.yaml"
        result = _discover(lab, path)
    finally:
        control.set(active_active=True)
    assert "gateway active-standby" in result.output
    _fill(lab, path)
    inventory = load_inventory(path)
    got = [(ref.interface, ref.tunnel.azure_instance, ref.tunnel.connection) for ref in inventory.tunnels()]
    assert got == [(t.onprem_interface, 0, t.connection) for t in lab.tunnels if t.azure_instance == 0]
    validated = CliRunner().invoke(app, ["validate", "-i", str(path)])
    assert validated.exit_code == 0, validated.output
