"""`run --dry-run`: every device command and Azure API call the run would make, in order,
without opening a device connection. A playbook with `reset_azure_instance` reads the
gateway and its public IPs (GETs only) to show the VIP the reset will name."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from failover_harness.azure.actions import AzureActions, InstanceVip
from failover_harness.devices.platforms import PLATFORMS, render_commands
from failover_harness.errors import HarnessError, InputError
from failover_harness.inventory import Inventory, load_inventory
from failover_harness.orchestrator.azure_faults import AzureFault, tunnels_of
from failover_harness.orchestrator.components import azure_settings
from failover_harness.orchestrator.steps import device_change
from failover_harness.playbook import (
    Playbook,
    ResetAzureInstance,
    ResetConnection,
    iterations,
    load_playbook,
    repeat_problems,
)

ARM = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network"


def azure_calls(inv: Inventory) -> list[str]:
    base = ARM.format(sub=inv.azure.subscription_id, rg=inv.azure.resource_group)
    gw = f"{base}/virtualNetworkGateways/{inv.azure.gateway}"
    calls = [f"GET  {gw}", f"POST {gw}/getBgpPeerStatus (long-running, repeated)",
             f"POST {gw}/getLearnedRoutes (long-running, repeated)"]
    calls += [f"GET  {base}/connections/{c} (repeated)" for c in inv.azure.connections]
    return calls


def instance_vips(inv: Inventory) -> list[str] | str:
    """The gateway instances' VIPs, read (GETs only) as the run will read them; or why not."""
    actions = AzureActions(azure_settings(inv))
    try:
        return [i.vip for i in actions.vips()]
    except HarnessError as exc:
        return str(exc)
    finally:
        actions.close()


def device_commands(inv: Inventory, pb: Playbook,
                    vips: list[str] | str | None = None) -> list[str]:
    """Each step's commands, in order. vips: the instances' VIPs (or why they could not be
    read); None: not read, the VIP shows as a placeholder."""
    lines = []
    steps = list(pb.method) + [s for s in pb.restore_plan() if s not in pb.method]
    for step in steps:
        if isinstance(step, (ResetAzureInstance, ResetConnection)):
            fault = AzureFault(step, inv.azure.gateway, tunnels_of(inv, step))
            if (isinstance(step, ResetAzureInstance) and isinstance(vips, list)
                    and step.instance < len(vips)):
                fault = AzureFault(step, fault.gateway, fault.tunnels, InstanceVip(
                    instance=step.instance, ip_configuration_id="", public_ip_id="",
                    vip=vips[step.instance], bgp_addresses=[]))
            down = ", ".join(f"{r.device} {r.interface}" for r in fault.tunnels)
            lines.append(f"  Azure {step.action} (takes down {down or 'no known tunnel'}):")
            lines += [f"    {call}" for call in fault.calls(inv)]
            if isinstance(step, ResetAzureInstance) and isinstance(vips, str):
                lines.append(f"    (VIP not read: {vips})")
            continue
        change = device_change(step)
        if change is None:
            lines.append(f"  ({step.action})")
            continue
        device = inv.devices[change.device]
        commands = render_commands(PLATFORMS[device.platform], change.action, device.bgp_asn)
        lines.append(f"  {change.device} ({device.host}): " + " / ".join(commands))
    return lines


def print_plan(inventory_path: Path, playbook_paths: list[Path], console: Console,
               repeat: int | None = None, alternate: list[str] | None = None) -> None:
    inv = load_inventory(inventory_path)
    for path in playbook_paths:
        pb = load_playbook(path, inv)
        for problem in repeat_problems(pb, inv, alternate, loc=()) if alternate else []:
            raise InputError(f"{problem.message} (playbook {path})", field="--alternate")
        runs = iterations(pb, inv, repeat, alternate)
        if len(runs) > 1:  # each distinct variant once, with the iterations it runs in
            console.print(f"[bold]{pb.name}[/]: {len(runs)} iterations; before each after the "
                          "first the steady state must hold again", highlight=False)
            for tunnel in dict.fromkeys(r.tunnel for r in runs):
                numbers = ", ".join(str(r.number) for r in runs if r.tunnel == tunnel)
                console.print(f"iterations {numbers}" + (f" ({tunnel})" if tunnel else "")
                              + ":", highlight=False, markup=False)
                variant = next(r.playbook for r in runs if r.tunnel == tunnel)
                for line in device_commands(inv, variant, None):
                    console.print(line, highlight=False, markup=False)
        resets = any(isinstance(s, ResetAzureInstance) for s in pb.method)
        # An instance reset names the instance by its VIP: read it (GETs only, nothing changes).
        vips = instance_vips(inv) if resets else None
        nothing = "only the gateway and its public IPs are read" if resets else "nothing is contacted"
        console.print(f"[bold]{pb.name}[/] (dry run: {nothing})", highlight=False)
        console.print("device commands and Azure faults, in order (rollbacks last):",
                      highlight=False)
        for line in device_commands(inv, pb, vips):
            console.print(line, highlight=False, markup=False)
        for name, device in inv.devices.items():
            console.print(f"  {name}: poll `{PLATFORMS[device.platform].bgp_summary_command}` "
                          "every 0.2 s", highlight=False, markup=False)
        console.print("Azure calls (polled about every second):", highlight=False)
        for call in azure_calls(inv):
            console.print(f"  {call}", highlight=False, markup=False)
