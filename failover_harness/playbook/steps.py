"""The method's steps (a discriminated union on `action`); every fault step knows the step
that undoes it (`restore_step`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Discriminator, Field, IPvAnyAddress, IPvAnyNetwork, Tag, model_validator

from failover_harness.playbook.fields import Name, Seconds, Strict, forbids, needs


class Baseline(Strict):
    action: Literal["baseline"]
    seconds: Seconds


class Hold(Strict):
    action: Literal["hold"]
    seconds: Seconds


class ShutInterface(Strict):
    action: Literal["shut_interface"]
    device: Name
    interface: Name

    def restore_step(self) -> NoShutInterface:
        return NoShutInterface(action="no_shut_interface", device=self.device,
                               interface=self.interface)


class NoShutInterface(Strict):
    action: Literal["no_shut_interface"]
    device: Name
    interface: Name


class LinkDown(ShutInterface):
    """An underlay (ISP/WAN) link down: the device's uplink interface shut through its CLI.
    Its tunnels lose their path silently (nothing tells BGP), unlike a tunnel's own shut."""

    action: Literal["link_down"]  # type: ignore[assignment]

    def restore_step(self) -> LinkUp:
        return LinkUp(action="link_up", device=self.device, interface=self.interface)


class LinkUp(NoShutInterface):
    action: Literal["link_up"]  # type: ignore[assignment]


class ShutNeighbor(Strict):
    action: Literal["shut_neighbor"]
    device: Name
    neighbor: IPvAnyAddress

    def restore_step(self) -> NoShutNeighbor:
        return NoShutNeighbor(action="no_shut_neighbor", device=self.device,
                              neighbor=self.neighbor)


class NoShutNeighbor(Strict):
    action: Literal["no_shut_neighbor"]
    device: Name
    neighbor: IPvAnyAddress


class ResetAzureInstance(Strict):
    """Maintenance scenario: Azure's gateway reset of one instance (it comes back by itself)."""

    action: Literal["reset_azure_instance"]
    instance: int = Field(ge=0, le=1)

    def restore_step(self) -> WaitUntil:
        return WaitUntil(action="wait_until", condition="all_peers_up", timeout_s=600)


class ResetConnection(Strict):
    """Azure's connection reset (resetconnection API): the connection's tunnels drop and
    come back by themselves; the gateway does not reboot."""

    action: Literal["reset_connection"]
    connection: Name

    def restore_step(self) -> WaitUntil:
        return WaitUntil(action="wait_until", condition="all_peers_up", timeout_s=600)


Condition = Literal["azure_peer_down", "azure_peer_up", "onprem_peer_down", "onprem_peer_up",
                    "all_peers_up", "routes_withdrawn", "routes_restored", "no_loss"]
_PEER_CONDITIONS = {"azure_peer_down", "azure_peer_up", "onprem_peer_down", "onprem_peer_up",
                    "routes_withdrawn"}


class WaitUntil(Strict):
    """Wait until a condition holds; past `timeout_s` the step fails (and rollbacks run).

    peer: the BGP session, by either of its addresses (routes_withdrawn: whose next hop
    must go). prefix: routes_* only (default: every on-prem prefix). seconds: no_loss only,
    how long loss-free (default 5 s, RFC 6413's sustained recovery)."""

    action: Literal["wait_until"]
    condition: Condition
    peer: IPvAnyAddress | None = None
    prefix: IPvAnyNetwork | None = None
    seconds: Seconds | None = None
    timeout_s: Seconds

    @model_validator(mode="after")
    def _fields_fit_condition(self) -> WaitUntil:
        c = self.condition
        if c in _PEER_CONDITIONS and self.peer is None:
            raise needs("peer", f"for condition '{c}' (the BGP peer's address)")
        if c not in _PEER_CONDITIONS and c != "routes_restored" and self.peer is not None:
            raise forbids("peer", f"for condition '{c}'")
        if not c.startswith("routes_") and self.prefix is not None:
            raise forbids("prefix", f"for condition '{c}' (only routes_withdrawn/restored)")
        if c != "no_loss" and self.seconds is not None:
            raise forbids("seconds", f"for condition '{c}' (only no_loss); use timeout_s")
        return self


def _step_tag(value: object) -> str | None:
    if isinstance(value, dict):
        action = value.get("action")
        return action if isinstance(action, str) else None
    return getattr(value, "action", None)


Step = Annotated[
    Annotated[Baseline, Tag("baseline")] | Annotated[Hold, Tag("hold")]
    | Annotated[ShutInterface, Tag("shut_interface")]
    | Annotated[NoShutInterface, Tag("no_shut_interface")]
    | Annotated[LinkDown, Tag("link_down")] | Annotated[LinkUp, Tag("link_up")]
    | Annotated[ShutNeighbor, Tag("shut_neighbor")]
    | Annotated[NoShutNeighbor, Tag("no_shut_neighbor")]
    | Annotated[WaitUntil, Tag("wait_until")]
    | Annotated[ResetAzureInstance, Tag("reset_azure_instance")]
    | Annotated[ResetConnection, Tag("reset_connection")],
    Discriminator(_step_tag, custom_error_type="unknown_action",
                  custom_error_message="'action' must be one of: baseline, hold, shut_interface, "
                  "no_shut_interface, link_down, link_up, shut_neighbor, no_shut_neighbor, wait_until, "
                  "reset_azure_instance, reset_connection"),
]
AnyStep = (Baseline | Hold | ShutInterface | NoShutInterface | LinkDown | LinkUp | ShutNeighbor
           | NoShutNeighbor | WaitUntil | ResetAzureInstance | ResetConnection)
FaultStep = ShutInterface | ShutNeighbor | ResetAzureInstance | ResetConnection
AzureFaultStep = ResetAzureInstance | ResetConnection


def is_fault(step: AnyStep) -> bool:
    return isinstance(step, (ShutInterface, ShutNeighbor, ResetAzureInstance, ResetConnection))


def restore_key(step: AnyStep) -> tuple[object, ...]:
    """Equal for two steps that do the same thing (to tell what is already restored)."""
    return tuple(sorted(step.model_dump(mode="json").items()))


def fault_of(step: NoShutInterface | NoShutNeighbor) -> ShutInterface | ShutNeighbor:
    """The fault a restore step undoes."""
    if isinstance(step, LinkUp):
        return LinkDown(action="link_down", device=step.device, interface=step.interface)
    if isinstance(step, NoShutInterface):
        return ShutInterface(action="shut_interface", device=step.device,
                             interface=step.interface)
    return ShutNeighbor(action="shut_neighbor", device=step.device, neighbor=step.neighbor)


def step_target(step: AnyStep) -> str:
    """What a device step acts on ('edge1 Tunnel1'); the action for other steps."""
    if isinstance(step, (ShutInterface, NoShutInterface)):
        return f"{step.device} {step.interface}"
    if isinstance(step, (ShutNeighbor, NoShutNeighbor)):
        return f"{step.device} neighbor {step.neighbor}"
    return step.action
