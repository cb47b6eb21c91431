"""`run --dry-run`: every device command and Azure API call the run would make, in order,
without resolving a secret or opening a connection."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from failover_harness.devices.platforms import PLATFORMS, render_commands
from failover_harness.inventory import Inventory, load_inventory
from failover_harness.orchestrator.steps import device_change
from failover_harness.playbook import Playbook, load_playbook

ARM = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network"


def azure_calls(inv: Inventory) -> list[str]:
    base = ARM.format(sub=inv.azure.subscription_id, rg=inv.azure.resource_group)
    gw = f"{base}/virtualNetworkGateways/{inv.azure.gateway}"
    calls = [f"GET  {gw}", f"POST {gw}/getBgpPeerStatus (long-running, repeated)",
             f"POST {gw}/getLearnedRoutes (long-running, repeated)"]
    calls += [f"GET  {base}/connections/{c} (repeated)" for c in inv.azure.connections]
    return calls


def device_commands(inv: Inventory, pb: Playbook) -> list[str]:
    lines = []
    steps = list(pb.method) + [s for s in pb.restore_plan() if s not in pb.method]
    for step in steps:
        change = device_change(step)
        if change is None:
            lines.append(f"  ({step.action})")
            continue
        device = inv.devices[change.device]
        commands = render_commands(PLATFORMS[device.platform], change.action, device.bgp_asn)
        lines.append(f"  {change.device} ({device.host}): " + " / ".join(commands))
    return lines


def print_plan(inventory_path: Path, playbook_paths: list[Path], console: Console) -> None:
    inv = load_inventory(inventory_path)
    for path in playbook_paths:
        pb = load_playbook(path, inv)
        console.print(f"[bold]{pb.name}[/] (dry run: nothing is contacted)", highlight=False)
        console.print("device commands, in order (rollbacks last):", highlight=False)
        for line in device_commands(inv, pb):
            console.print(line, highlight=False, markup=False)
        for name, device in inv.devices.items():
            console.print(f"  {name}: poll `{PLATFORMS[device.platform].bgp_summary_command}` "
                          "every 0.2 s", highlight=False, markup=False)
        console.print("Azure calls (polled about every second):", highlight=False)
        for call in azure_calls(inv):
            console.print(f"  {call}", highlight=False, markup=False)
