"""Each step's device change, in one table: what it does to which device, what undoes it,
and what metrics need to know about the tunnel it touches. The runner, its rollbacks, the
recovery and `--dry-run` all read this table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from failover_harness.devices import DeviceAction
from failover_harness.inventory import Inventory, TunnelRef
from failover_harness.journal import Change
from failover_harness.orchestrator import conditions
from failover_harness.playbook import AnyStep, NoShutInterface, NoShutNeighbor, ShutInterface, ShutNeighbor
from failover_harness.vocabulary import UNDO, ChangeAction

DeviceStep = ShutInterface | NoShutInterface | ShutNeighbor | NoShutNeighbor

# step type -> (its device action, the step field naming the target)
CHANGE_OF_STEP: dict[type[DeviceStep], tuple[ChangeAction, str]] = {
    ShutInterface: ("shut_interface", "interface"),
    NoShutInterface: ("no_shut_interface", "interface"),
    ShutNeighbor: ("shut_neighbor", "neighbor"),
    NoShutNeighbor: ("no_shut_neighbor", "neighbor"),
}


@dataclass(frozen=True)
class DeviceChange:
    """One change to one device: a fault (shut) or a restore (no shut)."""

    device: str
    action: DeviceAction

    @property
    def kind(self) -> ChangeAction:
        return self.action.kind

    @property
    def target(self) -> str:
        return self.action.target

    @property
    def is_restore(self) -> bool:
        return self.action.enabled

    def undo(self) -> DeviceChange:
        return DeviceChange(self.device, DeviceAction(kind=UNDO[self.kind], target=self.target))

    @classmethod
    def of(cls, device: str, kind: ChangeAction, target: str) -> DeviceChange:
        return cls(device, DeviceAction(kind=kind, target=target))

    @classmethod
    def undo_of(cls, change: Change) -> DeviceChange:
        """The restore of a journaled change."""
        return cls.of(change.device, change.undo_action, change.target)

    def __str__(self) -> str:
        return f"{self.device} {self.kind} {self.target}"


def device_change(step: AnyStep) -> DeviceChange | None:
    """The device change a step makes; None for steps that change no device."""
    if not isinstance(step, (ShutInterface, NoShutInterface, ShutNeighbor, NoShutNeighbor)):
        return None
    # link_down/link_up are interface shuts (subclasses): the same device change
    kind, field = next(v for t, v in CHANGE_OF_STEP.items() if isinstance(step, t))
    return DeviceChange.of(step.device, kind, str(getattr(step, field)))


def tunnel_of(inventory: Inventory, change: DeviceChange) -> TunnelRef | None:
    """The tunnel a change takes down or brings back (None: not a tunnel the inventory knows)."""
    if change.action.on_interface:
        tunnels = inventory.devices[change.device].tunnels
        tunnel = tunnels.get(change.target)
        if tunnel is not None:
            return TunnelRef(change.device, change.target, tunnel)
        # an uplink: the first tunnel that leaves by it (link_down)
        return next((TunnelRef(change.device, name, t) for name, t in tunnels.items()
                     if t.underlay_interface == change.target), None)
    return inventory.tunnel_by_address(change.target)


def tunnels_cut(inventory: Inventory, change: DeviceChange) -> list[TunnelRef]:
    """Every tunnel a change takes down: an uplink's link_down cuts all that leave by it."""
    ref = tunnel_of(inventory, change)
    if ref is None or ref.interface == change.target or not change.action.on_interface:
        return [ref] if ref is not None else []
    return [TunnelRef(change.device, name, t)
            for name, t in inventory.devices[change.device].tunnels.items()
            if t.underlay_interface == change.target]


def change_data(inventory: Inventory, change: DeviceChange,
                azure_instance_of: Callable[[str], str | None]) -> dict[str, object]:
    """What metrics need to know about the tunnel a change touches (action_* event data)."""
    data: dict[str, object] = {"action": change.kind, "device": change.device,
                               "interface" if change.action.on_interface else "neighbor":
                               change.target}
    ref = tunnel_of(inventory, change)
    if ref is not None:
        azure_peer = conditions.azure_peer_of(ref)
        if ref.interface != change.target:
            data["uplink"] = change.target
        data.update(interface=ref.interface, onprem_neighbor=str(ref.tunnel.neighbor),
                    azure_peer=azure_peer, connection=ref.tunnel.connection)
        instance = azure_instance_of(azure_peer)
        if instance is not None:
            data["azure_instance"] = instance
    return data


def describe(step: AnyStep) -> str:
    """One line for a step: its action and the fields that say what it acts on."""
    parts: list[str] = [step.action]
    for key in ("device", "interface", "neighbor", "condition", "peer", "seconds", "instance"):
        value = getattr(step, key, None)
        if value is not None:
            parts.append(f"{key}={value}")
    return " ".join(parts)
