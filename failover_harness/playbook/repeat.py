"""Repeat: a playbook's method run N times, optionally alternating the faulted tunnel.

One run of a failover is one sample: ECMP decides which flows ride the failed tunnel, and
where in the keepalive cycle the fault lands decides how long Azure takes. `repeat:` (or
`run --repeat N`) runs the method N times in one game-day; before every iteration the
steady state must hold again within `steady_timeout_s`. With `alternate: [Tunnel1,
Tunnel2]` iteration k faults the k-th tunnel of the list (cyclically): the method is
mirrored, its tunnel and the iteration's tunnel swap every name and address (interface,
both BGP addresses, connection) in the method, rollbacks and steady-state checks.

```yaml
repeat: {count: 5, alternate: [Tunnel1, Tunnel2], steady_timeout_s: 60}
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field

from failover_harness.inventory import Inventory
from failover_harness.playbook.fields import Name, Strict
from failover_harness.playbook.steps import ShutInterface, ShutNeighbor
from failover_harness.yamlfile import Problem

if TYPE_CHECKING:
    from failover_harness.playbook.model import Playbook

class Repeat(Strict):
    count: int = Field(ge=1, le=1000)
    # Interfaces of the device the method faults, one per iteration in turn (empty: the
    # method's own tunnel every time).
    alternate: list[Name] = Field(default_factory=list)
    # How long the steady state may take to hold again before an iteration (None: the
    # run's gate timeout, --gate-timeout). Past it the repeat stops, restored, exit 1.
    steady_timeout_s: float | None = Field(default=None, gt=0, le=3600)


@dataclass(frozen=True)
class Iteration:
    """One iteration: its number (1-based) of `count`, the tunnel it faults, its playbook."""

    number: int
    count: int
    tunnel: str | None  # "device/interface" of the fault; None: not a tunnel fault
    playbook: Playbook
    steady_timeout_s: float | None = None  # Repeat.steady_timeout_s


def method_tunnel(pb: Playbook, inv: Inventory) -> tuple[str, str] | None:
    """(device, interface) of the one tunnel the method faults by shut_interface or
    shut_neighbor; None when it faults none, several, or by another action."""
    keys: set[tuple[str, str]] = set()
    for step in pb.faults():
        if isinstance(step, ShutInterface):
            keys.add((step.device, step.interface))
        elif isinstance(step, ShutNeighbor):
            ref = inv.tunnel_by_address(str(step.neighbor))
            if ref is None:
                return None
            keys.add((ref.device, ref.interface))
        else:
            return None
    return next(iter(keys)) if len(keys) == 1 else None


def repeat_problems(pb: Playbook, inv: Inventory, alternate: list[str] | None = None,
                    loc: tuple[str | int, ...] = ("repeat", "alternate")) -> list[Problem]:
    """What is wrong with the alternation (the playbook's, or `alternate` from the command
    line): a tunnel the method's device does not have, or a method that does not fault one
    tunnel by shut_interface/shut_neighbor."""
    names = alternate if alternate is not None else (pb.repeat.alternate if pb.repeat else [])
    if not names:
        return []
    own = method_tunnel(pb, inv)
    if own is None:
        return [Problem(loc, "alternating needs a method that faults one tunnel with "
                        "shut_interface or shut_neighbor")]
    device, _ = own
    tunnels = inv.devices[device].tunnels
    return [Problem((*loc, i), f"unknown tunnel '{name}' on device {device} "
                    f"(has {', '.join(tunnels)})")
            for i, name in enumerate(names) if name not in tunnels]


def _swaps(inv: Inventory, device: str, a: str, b: str) -> dict[str, str]:
    """Every name and address of tunnel a <-> the same of tunnel b (as text)."""
    ta, tb = inv.devices[device].tunnels[a], inv.devices[device].tunnels[b]
    pairs = [(a, b), (str(ta.neighbor), str(tb.neighbor)), (ta.connection, tb.connection)]
    if ta.local_address is not None and tb.local_address is not None:
        pairs.append((str(ta.local_address), str(tb.local_address)))
    out: dict[str, str] = {}
    for x, y in pairs:
        if x != y:
            out[x], out[y] = y, x
    return out


def _swapped(node: Any, swaps: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _swapped(v, swaps) for k, v in node.items()}
    if isinstance(node, list):
        return [_swapped(v, swaps) for v in node]
    return swaps.get(node, node) if isinstance(node, str) else node


def mirrored(pb: Playbook, inv: Inventory, tunnel: str) -> Playbook:
    """The playbook with its faulted tunnel and `tunnel` (same device) swapped."""
    own = method_tunnel(pb, inv)
    if own is None or own[1] == tunnel:
        return pb
    swaps = _swaps(inv, own[0], own[1], tunnel)
    data = pb.model_dump(mode="json", by_alias=True, exclude_none=True)
    for section in ("steady_state", "method", "rollbacks"):
        data[section] = _swapped(data[section], swaps)
    out = type(pb).model_validate(data)
    out._digest, out._source = pb.digest, pb.source  # the same file, mirrored
    return out


def iterations(pb: Playbook, inv: Inventory, count: int | None = None,
               alternate: list[str] | None = None) -> list[Iteration]:
    """The playbook's iterations (`count`/`alternate` from the command line win over its
    `repeat:`); a playbook without either runs once, as iteration 1 of 1."""
    n = count if count is not None else (pb.repeat.count if pb.repeat else 1)
    names = alternate if alternate is not None else (pb.repeat.alternate if pb.repeat else [])
    out: list[Iteration] = []
    for k in range(n):
        variant = mirrored(pb, inv, names[k % len(names)]) if names else pb
        where = method_tunnel(variant, inv)
        out.append(Iteration(number=k + 1, count=n, playbook=variant,
                             tunnel="/".join(where) if where else None,
                             steady_timeout_s=pb.repeat.steady_timeout_s if pb.repeat else None))
    return out
