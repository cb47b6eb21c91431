"""The playbook: probes, steady-state checks, the method (steps), rollbacks, expectations.

Step and check types are discriminated unions (on `action` / `check`). Every fault step
knows its inverse (`restore_step`), so the orchestrator can undo a fault even when the
playbook has no rollback for it (`Playbook.restore_plan`).

`load_playbook(path, inventory)` validates shape, then names against the inventory;
`validate(inventory, playbooks)` does it for the `validate` command.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, IPvAnyAddress, IPvAnyNetwork, Tag, model_validator
from pydantic_core import PydanticCustomError

from failover_harness.errors import InputError
from failover_harness.expectations import Expectation
from failover_harness.inventory import Inventory, inventory_from_document
from failover_harness.vocabulary import FAULT_ACTIONS, ProbeKind
from failover_harness.yamlfile import (
    InputErrors,
    LoadedFromFile,
    Problem,
    YamlDocument,
    raise_all,
    read_yaml,
    validate_document,
)

Name = Annotated[str, Field(min_length=1, max_length=128)]
Seconds = Annotated[float, Field(gt=0, le=86400)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True,
                              populate_by_name=True)


def _needs(field: str, why: str) -> PydanticCustomError:
    # `field_hint` makes the error point at the field, not at the whole step.
    return PydanticCustomError("field_required_for", "required {why}",
                               {"field_hint": field, "why": why})


def _forbids(field: str, why: str) -> PydanticCustomError:
    return PydanticCustomError("field_not_allowed", "not allowed {why}",
                               {"field_hint": field, "why": why})


# ---------------------------------------------------------------- probes


class Probes(_Strict):
    from_: Name = Field(alias="from")  # a vantage point
    to: list[Name] = Field(min_length=1)  # targets
    kinds: list[ProbeKind] = Field(default_factory=lambda: list[ProbeKind](["icmp"]), min_length=1)
    flows: int = Field(default=8, ge=1, le=4096)  # per kind and target
    interval_ms: int = Field(default=10, ge=1, le=60000)
    # A probe unanswered this long is lost: `timeout_ms` for every kind, `timeouts_ms` per
    # kind; a kind in neither takes its own default (probes.flows.DEFAULT_TIMEOUT_S).
    timeout_ms: int | None = Field(default=None, ge=1, le=60000)
    timeouts_ms: dict[ProbeKind, Annotated[int, Field(ge=1, le=60000)]] = Field(
        default_factory=dict)


# ---------------------------------------------------------------- steady state


class OnpremBgpEstablished(_Strict):
    check: Literal["onprem_bgp_established"]
    device: Name
    neighbors: list[IPvAnyAddress] | None = None  # None: every tunnel of the device


class AzurePeersConnected(_Strict):
    check: Literal["azure_peers_connected"]
    peers: list[IPvAnyAddress] | None = None  # None: every tunnel in the inventory


class RoutesOnAllPaths(_Strict):
    check: Literal["routes_on_all_paths"]
    prefix: IPvAnyNetwork


class NoLoss(_Strict):
    check: Literal["no_loss"]
    seconds: Seconds = 3.0


SteadyStateCheck = Annotated[
    OnpremBgpEstablished | AzurePeersConnected | RoutesOnAllPaths | NoLoss,
    Field(discriminator="check"),
]


# ---------------------------------------------------------------- steps


class Baseline(_Strict):
    action: Literal["baseline"]
    seconds: Seconds


class Hold(_Strict):
    action: Literal["hold"]
    seconds: Seconds


class ShutInterface(_Strict):
    action: Literal["shut_interface"]
    device: Name
    interface: Name

    def restore_step(self) -> NoShutInterface:
        return NoShutInterface(action="no_shut_interface", device=self.device,
                               interface=self.interface)


class NoShutInterface(_Strict):
    action: Literal["no_shut_interface"]
    device: Name
    interface: Name


class ShutNeighbor(_Strict):
    action: Literal["shut_neighbor"]
    device: Name
    neighbor: IPvAnyAddress

    def restore_step(self) -> NoShutNeighbor:
        return NoShutNeighbor(action="no_shut_neighbor", device=self.device,
                              neighbor=self.neighbor)


class NoShutNeighbor(_Strict):
    action: Literal["no_shut_neighbor"]
    device: Name
    neighbor: IPvAnyAddress


class ResetAzureInstance(_Strict):
    """Maintenance scenario: Azure's gateway reset of one instance (it comes back by itself)."""

    action: Literal["reset_azure_instance"]
    instance: int = Field(ge=0, le=1)

    def restore_step(self) -> WaitUntil:
        return WaitUntil(action="wait_until", condition="all_peers_up", timeout_s=600)


class ResetConnection(_Strict):
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


class WaitUntil(_Strict):
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
            raise _needs("peer", f"for condition '{c}' (the BGP peer's address)")
        if c not in _PEER_CONDITIONS and c != "routes_restored" and self.peer is not None:
            raise _forbids("peer", f"for condition '{c}'")
        if not c.startswith("routes_") and self.prefix is not None:
            raise _forbids("prefix", f"for condition '{c}' (only routes_withdrawn/restored)")
        if c != "no_loss" and self.seconds is not None:
            raise _forbids("seconds", f"for condition '{c}' (only no_loss); use timeout_s")
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
    | Annotated[ShutNeighbor, Tag("shut_neighbor")]
    | Annotated[NoShutNeighbor, Tag("no_shut_neighbor")]
    | Annotated[WaitUntil, Tag("wait_until")]
    | Annotated[ResetAzureInstance, Tag("reset_azure_instance")]
    | Annotated[ResetConnection, Tag("reset_connection")],
    Discriminator(_step_tag, custom_error_type="unknown_action",
                  custom_error_message="'action' must be one of: baseline, hold, shut_interface, "
                  "no_shut_interface, shut_neighbor, no_shut_neighbor, wait_until, "
                  "reset_azure_instance, reset_connection"),
]
AnyStep = (Baseline | Hold | ShutInterface | NoShutInterface | ShutNeighbor | NoShutNeighbor
           | WaitUntil | ResetAzureInstance | ResetConnection)
FaultStep = ShutInterface | ShutNeighbor | ResetAzureInstance | ResetConnection
AzureFaultStep = ResetAzureInstance | ResetConnection


def is_fault(step: AnyStep) -> bool:
    return isinstance(step, (ShutInterface, ShutNeighbor, ResetAzureInstance, ResetConnection))


# ---------------------------------------------------------------- the playbook


class Playbook(_Strict, LoadedFromFile):
    name: Name
    description: str | None = None
    probes: Probes
    steady_state: list[SteadyStateCheck] = Field(default_factory=list)
    method: list[Step] = Field(default_factory=list)
    rollbacks: list[Step] = Field(default_factory=list)
    expectations: list[Expectation] = Field(default_factory=list)
    # Lab only (refused elsewhere, like --unsafe-skip-gate): the method may cut every path.
    allow_total_outage: bool = False

    def faults(self) -> list[FaultStep]:
        return [s for s in self.method if isinstance(s, (ShutInterface, ShutNeighbor,
                                                           ResetAzureInstance, ResetConnection))]

    def restore_plan(self, executed: Sequence[AnyStep] | None = None) -> list[AnyStep]:
        """Steps that put everything back: the playbook's rollbacks, then the inverse of
        every fault (latest first) that no rollback already restores.

        executed: the method steps actually taken (default: all of them)."""
        steps = list(self.method if executed is None else executed)
        plan: list[AnyStep] = list(self.rollbacks)
        covered = {_restore_key(s) for s in plan}
        for step in reversed(steps):
            if isinstance(step, (ShutInterface, ShutNeighbor, ResetAzureInstance, ResetConnection)):
                inverse = step.restore_step()
                key = _restore_key(inverse)
                if key not in covered:
                    covered.add(key)
                    plan.append(inverse)
        return plan


def _restore_key(step: AnyStep) -> tuple[object, ...]:
    return tuple(sorted(step.model_dump(mode="json").items()))


# ---------------------------------------------------------------- cross checks (pure)


def check_playbook(pb: Playbook) -> list[Problem]:
    """Checks that need only the playbook."""
    problems: list[Problem] = []
    for dup in _duplicates(pb.probes.to):
        problems.append(Problem(("probes", "to"), f"target '{dup}' is listed twice"))
    for dup in _duplicates(pb.probes.kinds):
        problems.append(Problem(("probes", "kinds"), f"kind '{dup}' is listed twice"))
    for i, step in enumerate(pb.rollbacks):
        if is_fault(step):
            problems.append(Problem(("rollbacks", i, "action"),
                                    f"'{step.action}' injects a fault; rollbacks only restore"))
    shut: set[tuple[object, ...]] = set()
    for i, step in enumerate(pb.method):
        if isinstance(step, (ShutInterface, ShutNeighbor)):
            key = _restore_key(step)
            if key in shut:
                problems.append(Problem(("method", i), f"{_describe(step)} is already shut by an "
                                        "earlier step and not restored in between"))
            shut.add(key)
        elif isinstance(step, (NoShutInterface, NoShutNeighbor)):
            shut.discard(_restore_key(_fault_of(step)))
    seen: Counter[tuple[str, str]] = Counter()
    for i, exp in enumerate(pb.expectations):
        for bound in ("max", "min"):
            if getattr(exp, bound) is not None:
                seen[(exp.metric, bound)] += 1
                if seen[(exp.metric, bound)] == 2:
                    problems.append(Problem(("expectations", i, bound),
                                            f"a second '{bound}' bound for {exp.metric}"))
        if exp.max is not None and exp.min is not None and exp.min > exp.max:
            problems.append(Problem(("expectations", i, "min"),
                                    f"min {exp.min} is above max {exp.max}"))
    return problems


def check_against_inventory(pb: Playbook, inv: Inventory) -> list[Problem]:
    """Every name and address the playbook uses must exist in the inventory."""
    problems: list[Problem] = []
    vps = list(inv.vantage_points)
    if pb.probes.from_ not in inv.vantage_points:
        problems.append(Problem(("probes", "from"), f"unknown vantage point '{pb.probes.from_}' "
                                f"(has {_list(vps)})"))
    for i, target in enumerate(pb.probes.to):
        if target not in inv.targets:
            problems.append(Problem(("probes", "to", i), f"unknown target '{target}' "
                                    f"(has {_list(inv.targets)})"))
        elif "tcp" in pb.probes.kinds and not inv.targets[target].tcp_ports:
            problems.append(Problem(("probes", "to", i), f"target '{target}' has no tcp_ports "
                                    "but probes.kinds includes tcp"))
        elif "udp" in pb.probes.kinds and inv.targets[target].reflector_port is None:
            problems.append(Problem(("probes", "to", i), f"target '{target}' has no "
                                    "reflector_port but probes.kinds includes udp (run "
                                    "`failover-harness reflect` there)"))
    prefixes = [*inv.prefixes.onprem, *inv.prefixes.azure]
    for i, check in enumerate(pb.steady_state):
        loc = ("steady_state", i)
        if isinstance(check, OnpremBgpEstablished):
            problems += _device_problems(inv, check.device, (*loc, "device"))
            if check.device in inv.devices and check.neighbors:
                for j, n in enumerate(check.neighbors):
                    problems += _neighbor_problems(inv, check.device, n, (*loc, "neighbors", j))
        elif isinstance(check, AzurePeersConnected) and check.peers:
            for j, p in enumerate(check.peers):
                problems += _peer_problems(inv, p, (*loc, "peers", j))
        elif isinstance(check, RoutesOnAllPaths) and check.prefix not in prefixes:
            problems.append(Problem((*loc, "prefix"), f"prefix {check.prefix} is not in the "
                                    f"inventory's prefixes (has {_list(map(str, prefixes))})"))
    for section in ("method", "rollbacks"):
        steps: list[AnyStep] = getattr(pb, section)
        for i, step in enumerate(steps):
            problems += _step_problems(inv, step, (section, i), prefixes)
    return problems


def _step_problems(inv: Inventory, step: AnyStep, loc: tuple[str | int, ...],
                   prefixes: Sequence[object]) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(step, (ShutInterface, NoShutInterface, ShutNeighbor, NoShutNeighbor)):
        problems += _device_problems(inv, step.device, (*loc, "device"))
        if step.device in inv.devices:
            if isinstance(step, (ShutInterface, NoShutInterface)):
                tunnels = inv.devices[step.device].tunnels
                if step.interface not in tunnels:
                    problems.append(Problem((*loc, "interface"),
                                            f"unknown interface '{step.interface}' on device "
                                            f"{step.device} (has {_list(tunnels)})"))
            else:
                problems += _neighbor_problems(inv, step.device, step.neighbor,
                                               (*loc, "neighbor"))
    elif isinstance(step, ResetConnection) and step.connection not in inv.azure.connections:
        problems.append(Problem((*loc, "connection"), f"unknown connection "
                                f"'{step.connection}' (has {_list(inv.azure.connections)})"))
    elif isinstance(step, WaitUntil):
        if step.peer is not None:
            problems += _peer_problems(inv, step.peer, (*loc, "peer"))
        if step.prefix is not None and step.prefix not in prefixes:
            problems.append(Problem((*loc, "prefix"), f"prefix {step.prefix} is not in the "
                                    f"inventory's prefixes (has {_list(map(str, prefixes))})"))
    return problems


def _device_problems(inv: Inventory, device: str, loc: tuple[str | int, ...]) -> list[Problem]:
    if device in inv.devices:
        return []
    return [Problem(loc, f"unknown device '{device}' (has {_list(inv.devices)})")]


def _neighbor_problems(inv: Inventory, device: str, neighbor: object,
                       loc: tuple[str | int, ...]) -> list[Problem]:
    tunnels = inv.devices[device].tunnels
    neighbors = [str(t.neighbor) for t in tunnels.values()]
    if str(neighbor) in neighbors:
        return []
    return [Problem(loc, f"{neighbor} is not a BGP neighbor of {device}'s tunnels "
                    f"(has {_list(neighbors)})")]


def _peer_problems(inv: Inventory, peer: object, loc: tuple[str | int, ...]) -> list[Problem]:
    if inv.tunnel_by_address(str(peer)) is not None:
        return []
    return [Problem(loc, f"{peer} is not an address of any tunnel's BGP session "
                    f"(has {_list(inv.peer_addresses())})")]


def _list(names: object) -> str:
    items = [str(n) for n in names]  # type: ignore[attr-defined]
    return ", ".join(items) if items else "none"


def _duplicates(items: Sequence[str]) -> list[str]:
    return [item for item, count in Counter(items).items() if count > 1]


def _fault_of(step: NoShutInterface | NoShutNeighbor) -> ShutInterface | ShutNeighbor:
    if isinstance(step, NoShutInterface):
        return ShutInterface(action="shut_interface", device=step.device,
                             interface=step.interface)
    return ShutNeighbor(action="shut_neighbor", device=step.device, neighbor=step.neighbor)


def _describe(step: AnyStep) -> str:
    if isinstance(step, (ShutInterface, NoShutInterface)):
        return f"{step.device} {step.interface}"
    if isinstance(step, (ShutNeighbor, NoShutNeighbor)):
        return f"{step.device} neighbor {step.neighbor}"
    return step.action


# ---------------------------------------------------------------- loading


def playbook_from_document(doc: YamlDocument, inventory: Inventory | None = None) -> Playbook:
    pb = validate_document(Playbook, doc)
    problems = check_playbook(pb)
    if inventory is not None:
        from failover_harness.blast_radius import total_outage_problems
        problems += check_against_inventory(pb, inventory) + total_outage_problems(pb, inventory)
    raise_all(doc.problems_error(problems))
    pb.loaded_from(doc)
    return pb


def load_playbook(path: str | Path, inventory: Inventory | None = None) -> Playbook:
    """Read and validate a playbook; with an inventory, also check every name it uses."""
    return playbook_from_document(read_yaml(path), inventory)


def validate(inventory_path: str | Path, playbook_paths: Sequence[str | Path]) -> list[str]:
    """Validate files only (nothing runs). Returns one summary line per file; raises one
    InputError (InputErrors) listing every problem of every file."""
    errors: list[InputError] = []
    lines: list[str] = []
    inventory: Inventory | None = None
    try:
        inventory = inventory_from_document(read_yaml(inventory_path))
        lines.append(summarize_inventory(inventory))
    except InputErrors as exc:
        errors += exc.errors
    except InputError as exc:
        errors.append(exc)
    for path in playbook_paths:
        try:
            doc = read_yaml(path)
            pb = playbook_from_document(doc, inventory)
            lines.append(summarize_playbook(pb))
        except InputErrors as exc:
            errors += exc.errors
        except InputError as exc:
            errors.append(exc)
    raise_all(errors)
    return lines


def summarize_inventory(inv: Inventory) -> str:
    tunnels = sum(len(d.tunnels) for d in inv.devices.values())
    return (f"{inv.source}: ok - {_count(len(inv.devices), 'device')}, "
            f"{_count(tunnels, 'tunnel')}, {_count(len(inv.vantage_points), 'vantage point')}, "
            f"{_count(len(inv.targets), 'target')}; sha256 {(inv.digest or '')[:12]}")


def summarize_playbook(pb: Playbook) -> str:
    faults = ", ".join(f"{f.action} {f.instance}" if isinstance(f, ResetAzureInstance)
                       else f"{f.action} {f.connection}" if isinstance(f, ResetConnection)
                       else f"{f.action} {_describe(f)}" for f in pb.faults()) or "no faults"
    return (f"{pb.source}: ok - {_count(len(pb.steady_state), 'steady-state check')}, "
            f"{_count(len(pb.method), 'step')} ({faults}), "
            f"{_count(len(pb.rollbacks), 'rollback')}, "
            f"{_count(len(pb.expectations), 'expectation')}; sha256 {(pb.digest or '')[:12]}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


__all__ = [
    "FAULT_ACTIONS",
    "AnyStep",
    "AzurePeersConnected",
    "Baseline",
    "Condition",
    "FaultStep",
    "Hold",
    "NoLoss",
    "NoShutInterface",
    "NoShutNeighbor",
    "OnpremBgpEstablished",
    "Playbook",
    "Probes",
    "ResetAzureInstance",
    "RoutesOnAllPaths",
    "ShutInterface",
    "ShutNeighbor",
    "SteadyStateCheck",
    "Step",
    "WaitUntil",
    "check_against_inventory",
    "check_playbook",
    "is_fault",
    "load_playbook",
    "playbook_from_document",
    "summarize_inventory",
    "summarize_playbook",
    "validate",
]
