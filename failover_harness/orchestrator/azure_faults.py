"""Azure's own faults (an instance reset, a connection reset) as a run carries them out:
find what they act on, journal them, call ARM, and emit the action events metrics read.

A reset cannot be undone: it ends by itself. So it is journaled as an `azure_action`
record (readers that undo changes skip it), its restore is "wait until every peer is
Connected/Established again" (the playbook's restore plan), and `recover` only reports it:
the operator verifies with `failover-harness check`. Nothing is sent to undo it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from failover_harness.azure.actions import AzureActionError, InstanceVip, planned_calls
from failover_harness.azure.settings import AzureSettings
from failover_harness.inventory import Inventory, TunnelRef
from failover_harness.orchestrator import conditions
from failover_harness.playbook import AzureFaultStep, ResetAzureInstance, ResetConnection

if TYPE_CHECKING:
    from failover_harness.orchestrator.session import Session


@dataclass(frozen=True)
class AzureFault:
    """One Azure fault resolved against the inventory (and, for an instance, the gateway)."""

    step: AzureFaultStep
    gateway: str
    tunnels: list[TunnelRef] = field(default_factory=list)  # what it takes down
    instance: InstanceVip | None = None  # reset_azure_instance: the instance and its VIP

    @property
    def device(self) -> str:
        return f"azure:{self.gateway}"

    @property
    def target(self) -> str:
        if isinstance(self.step, ResetAzureInstance):
            return f"instance{self.step.instance}"
        return f"connection:{self.step.connection}"

    @property
    def subject(self) -> str:
        return f"device:{self.device}/{self.target}"

    def calls(self, inventory: Inventory) -> list[str]:
        settings = azure_settings_no_secrets(inventory)
        if isinstance(self.step, ResetConnection):
            return planned_calls(settings, connection=self.step.connection)
        vip = self.instance.vip if self.instance else None
        return planned_calls(settings, instance=self.step.instance, vip=vip)


def azure_settings_no_secrets(inventory: Inventory) -> AzureSettings:
    """The names the ARM paths need, and no secret (dry-run prints these)."""
    a = inventory.azure
    return AzureSettings(subscription_id=a.subscription_id, resource_group=a.resource_group,
                         gateway=a.gateway, connections=list(a.connections))


def tunnels_of(inventory: Inventory, step: AzureFaultStep) -> list[TunnelRef]:
    """The tunnels the fault takes down, from the inventory."""
    if isinstance(step, ResetAzureInstance):
        return [r for r in inventory.tunnels() if r.tunnel.azure_instance == step.instance]
    return [r for r in inventory.tunnels() if r.tunnel.connection == step.connection]


def resolve(session: Session, step: AzureFaultStep) -> AzureFault:
    """Find what the fault acts on; for an instance, read its VIP from ARM."""
    inventory = session.inventory
    fault = AzureFault(step, inventory.azure.gateway, tunnels_of(inventory, step))
    if isinstance(step, ResetConnection):
        return fault
    instances = session.azure_actions().vips()
    if step.instance >= len(instances):
        raise AzureActionError(f"gateway {inventory.azure.gateway} has {len(instances)} "
                               f"instance(s) (bgpPeeringAddresses): no instance {step.instance}")
    return AzureFault(step, fault.gateway, fault.tunnels, instances[step.instance])


def event_data(session: Session, fault: AzureFault) -> dict[str, Any]:
    """What metrics need: the first tunnel the fault takes down stands for the fault."""
    data: dict[str, Any] = {"action": fault.step.action, "device": fault.device}
    if fault.instance is not None:
        data["vip"] = fault.instance.vip
    if fault.tunnels:
        ref = fault.tunnels[0]
        azure_peer = conditions.azure_peer_of(ref)
        # device: the on-prem router whose session metrics watch (the subject names Azure)
        data.update(device=ref.device, interface=ref.interface,
                    onprem_neighbor=str(ref.tunnel.neighbor),
                    azure_peer=azure_peer, connection=ref.tunnel.connection)
        instance = session.azure_instance_of(azure_peer)
        if instance is not None:
            data["azure_instance"] = instance
    if isinstance(fault.step, ResetConnection):
        data["connection"] = fault.step.connection
    return data


def carry_out(session: Session, fault: AzureFault) -> None:
    """Journal, call ARM (returns once ARM accepted the operation), emit the events."""
    data = event_data(session, fault)
    calls = fault.calls(session.inventory)
    session.journal.azure_action(fault.step.action, fault.target, vip=data.get("vip"))
    session.timeline.emit("action", "action_start", fault.subject, commands=calls, **data)
    try:
        if fault.instance is not None:
            session.azure_actions().begin_reset_instance(fault.instance.vip)
        else:
            assert isinstance(fault.step, ResetConnection)
            session.azure_actions().begin_reset_connection(fault.step.connection)
    except AzureActionError as exc:
        session.timeline.emit("action", "action_failed", fault.subject, error=str(exc), **data)
        raise
    session.timeline.emit("action", "action_done", fault.subject, commands=calls, **data)
    session.say(f"{fault.step.action} {fault.target}"
                + (f" (VIP {fault.instance.vip})" if fault.instance else "")
                + f": accepted; it takes down {', '.join(r.interface for r in fault.tunnels)}")


def dry_run_calls(inventory: Inventory, step: AzureFaultStep) -> list[str]:
    """The ARM calls, for `--dry-run` (the VIP itself is read at run time)."""
    return AzureFault(step, inventory.azure.gateway, tunnels_of(inventory, step)).calls(inventory)

