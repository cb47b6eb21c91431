"""Cross checks of a playbook (pure): against itself, then every name and address it uses
against the inventory. Each problem names its place in the file (`yamlfile.Problem`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from failover_harness.inventory import Inventory
from failover_harness.playbook.model import (
    AzurePeersConnected,
    OnpremBgpEstablished,
    Playbook,
    RoutesOnAllPaths,
)
from failover_harness.playbook.steps import (
    AnyStep,
    LinkDown,
    LinkUp,
    NoShutInterface,
    NoShutNeighbor,
    ResetConnection,
    ShutInterface,
    ShutNeighbor,
    WaitUntil,
    fault_of,
    is_fault,
    restore_key,
    step_target,
)
from failover_harness.vocabulary import ProbeKind
from failover_harness.yamlfile import Problem


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
            key = restore_key(step)
            if key in shut:
                problems.append(Problem(("method", i), f"{step_target(step)} is already shut by an "
                                        "earlier step and not restored in between"))
            shut.add(key)
        elif isinstance(step, (NoShutInterface, NoShutNeighbor)):
            shut.discard(restore_key(fault_of(step)))
    return problems + _expectation_problems(pb)


def _expectation_problems(pb: Playbook) -> list[Problem]:
    """One bound of each kind per metric (per statistic for bounds on statistics), and no
    min above its max."""
    problems: list[Problem] = []
    seen: Counter[tuple[str, str, str]] = Counter()
    for i, exp in enumerate(pb.expectations):
        bounds = [(kind, "", v) for kind, v in (("max", exp.each_max), ("min", exp.each_min))
                  if v is not None] + list(exp.on_statistics())
        for kind, stat, _ in bounds:
            seen[(exp.metric, kind, stat)] += 1
            if seen[(exp.metric, kind, stat)] == 2:
                loc: tuple[str | int, ...] = ("expectations", i, kind, *([stat] if stat else []))
                what = f"'{kind}' bound on the {stat}" if stat else f"'{kind}' bound"
                problems.append(Problem(loc, f"a second {what} for {exp.metric}"))
        limits = {(kind, stat): v for kind, stat, v in bounds}
        for (kind, stat), low in limits.items():
            high = limits.get(("max", stat))
            if kind == "min" and high is not None and low > high:
                where = f" {stat}" if stat else ""
                problems.append(Problem(("expectations", i, "min", *([stat] if stat else [])),
                                        f"min{where} {low:g} is above max{where} {high:g}"))
    return problems


def _probe_set_problems(inv: Inventory, loc: tuple[str | int, ...], vantage: str,
                        targets: list[str], kinds: list[ProbeKind]) -> list[Problem]:
    problems: list[Problem] = []
    if vantage not in inv.vantage_points:
        problems.append(Problem((*loc, "from"), f"unknown vantage point '{vantage}' "
                                f"(has {_names(list(inv.vantage_points))})"))
    for i, target in enumerate(targets):
        if target not in inv.targets:
            problems.append(Problem((*loc, "to", i), f"unknown target '{target}' "
                                    f"(has {_names(inv.targets)})"))
        elif "tcp" in kinds and not inv.targets[target].tcp_ports:
            problems.append(Problem((*loc, "to", i), f"target '{target}' has no tcp_ports "
                                    "but probes.kinds includes tcp"))
        elif "udp" in kinds and inv.targets[target].reflector_port is None:
            problems.append(Problem((*loc, "to", i), f"target '{target}' has no "
                                    "reflector_port but probes.kinds includes udp (run "
                                    "`failover-harness reflect` there)"))
    return problems


def check_against_inventory(pb: Playbook, inv: Inventory) -> list[Problem]:
    """Every name and address the playbook uses must exist in the inventory."""
    problems: list[Problem] = []
    problems += _probe_set_problems(inv, ("probes",), pb.probes.from_, pb.probes.to,
                                    pb.probes.kinds)
    seen = {pb.probes.from_}
    for j, extra in enumerate(pb.probes.also):
        also: tuple[str | int, ...] = ("probes", "also", j)
        problems += _probe_set_problems(inv, also, extra.from_, extra.to,
                                        extra.kinds or pb.probes.kinds)
        if extra.from_ in seen:
            problems.append(Problem((*also, "from"), f"vantage point '{extra.from_}' already "
                                    "probes in this playbook"))
        seen.add(extra.from_)
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
                                    f"inventory's prefixes (has {_names(map(str, prefixes))})"))
    for section in ("method", "rollbacks"):
        steps: list[AnyStep] = getattr(pb, section)
        for i, step in enumerate(steps):
            problems += _step_problems(inv, step, (section, i), prefixes)
    return problems


def _uplink_problems(inv: Inventory, device: str, interface: str,
                     loc: tuple[str | int, ...]) -> list[Problem]:
    """A link_down's interface must be an uplink some tunnel leaves by (else it cuts nothing
    the run can measure)."""
    uplinks = {t.underlay_interface for t in inv.devices[device].tunnels.values()
               if t.underlay_interface}
    if interface in uplinks:
        return []
    has = (f"has {_names(sorted(uplinks))}" if uplinks
           else "none: set tunnels.<name>.underlay_interface in the inventory")
    return [Problem(loc, f"'{interface}' on device {device} is no tunnel's "
                    f"underlay_interface ({has})")]


def _step_problems(inv: Inventory, step: AnyStep, loc: tuple[str | int, ...],
                   prefixes: Sequence[object]) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(step, (ShutInterface, NoShutInterface, ShutNeighbor, NoShutNeighbor)):
        problems += _device_problems(inv, step.device, (*loc, "device"))
        if step.device in inv.devices:
            if isinstance(step, (LinkDown, LinkUp)):
                problems += _uplink_problems(inv, step.device, step.interface,
                                             (*loc, "interface"))
            elif isinstance(step, (ShutInterface, NoShutInterface)):
                tunnels = inv.devices[step.device].tunnels
                if step.interface not in tunnels:
                    problems.append(Problem((*loc, "interface"),
                                            f"unknown interface '{step.interface}' on device "
                                            f"{step.device} (has {_names(tunnels)})"))
            else:
                problems += _neighbor_problems(inv, step.device, step.neighbor,
                                               (*loc, "neighbor"))
    elif isinstance(step, ResetConnection) and step.connection not in inv.azure.connections:
        problems.append(Problem((*loc, "connection"), f"unknown connection "
                                f"'{step.connection}' (has {_names(inv.azure.connections)})"))
    elif isinstance(step, WaitUntil):
        if step.peer is not None:
            problems += _peer_problems(inv, step.peer, (*loc, "peer"))
        if step.prefix is not None and step.prefix not in prefixes:
            problems.append(Problem((*loc, "prefix"), f"prefix {step.prefix} is not in the "
                                    f"inventory's prefixes (has {_names(map(str, prefixes))})"))
    return problems


def _device_problems(inv: Inventory, device: str, loc: tuple[str | int, ...]) -> list[Problem]:
    if device in inv.devices:
        return []
    return [Problem(loc, f"unknown device '{device}' (has {_names(inv.devices)})")]


def _neighbor_problems(inv: Inventory, device: str, neighbor: object,
                       loc: tuple[str | int, ...]) -> list[Problem]:
    tunnels = inv.devices[device].tunnels
    neighbors = [str(t.neighbor) for t in tunnels.values()]
    if str(neighbor) in neighbors:
        return []
    return [Problem(loc, f"{neighbor} is not a BGP neighbor of {device}'s tunnels "
                    f"(has {_names(neighbors)})")]


def _peer_problems(inv: Inventory, peer: object, loc: tuple[str | int, ...]) -> list[Problem]:
    if inv.tunnel_by_address(str(peer)) is not None:
        return []
    return [Problem(loc, f"{peer} is not an address of any tunnel's BGP session "
                    f"(has {_names(inv.peer_addresses())})")]


def _names(names: object) -> str:
    items = [str(n) for n in names]  # type: ignore[attr-defined]
    return ", ".join(items) if items else "none"


def _duplicates(items: Sequence[str]) -> list[str]:
    return [item for item, count in Counter(items).items() if count > 1]
