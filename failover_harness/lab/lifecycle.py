"""Bring a lab up and take it down.

`up(prefix, options)` records every step in RUN_DIR/lab.json before it takes it, so that
`down(prefix)` can undo a half-built lab after a crash.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from failover_harness.errors import LabError
from failover_harness.lab import procs
from failover_harness.lab.build_context import BuildContext
from failover_harness.lab.daemons import emulator, frr, ipsec, sshd, vm_service, write_inventory
from failover_harness.lab.frr_queries import vtysh, wait_established
from failover_harness.lab.host import ip, netns_name, run
from failover_harness.lab.network import (
    hand_default_routes_to_zebra,
    links,
    loss,
    namespaces_and_mgmt,
    spread_ecmp,
    tunnels,
)
from failover_harness.lab.preflight import check_prefix, preflight
from failover_harness.lab.state import DEFAULT_RUN_ROOT, LabState, run_dir_for
from failover_harness.lab.topology import LabOptions, onprem_edges

ESTABLISH_TIMEOUT_S = 45.0


def is_present(prefix: str, root: Path = DEFAULT_RUN_ROOT) -> bool:
    return (run_dir_for(prefix, root) / "lab.json").exists() or bool(_lab_namespaces(prefix))


def up(prefix: str, options: LabOptions | None = None, root: Path = DEFAULT_RUN_ROOT) -> LabState:
    options = options or LabOptions()
    check_prefix(prefix)
    tunnel_kind = preflight(prefix, options)
    if is_present(prefix, root):
        raise LabError(f"lab {prefix!r} is already up (or left over): see `failover-harness lab "
                       f"status --prefix {prefix}`, or `failover-harness lab down --prefix "
                       f"{prefix}` first")
    run_dir = run_dir_for(prefix, root)
    run_dir.mkdir(parents=True, exist_ok=True)
    state = LabState(prefix=prefix, run_dir=str(run_dir),
                     options={**options.model_dump(mode="json"), "tunnel_kind": tunnel_kind,
                              # ESP in userspace over TUN: this kernel class has no ESP/XFRM
                              # interfaces; the same configs run where it has.
                              "ipsec_backend": "kernel-libipsec" if options.ipsec else None})
    state.save()
    try:
        _build(BuildContext(state, options, tunnel_kind, root))
    except BaseException as exc:
        down(prefix, root)
        if isinstance(exc, LabError):
            raise
        if isinstance(exc, Exception):
            raise LabError(f"lab {prefix!r} failed to come up (removed again): {exc}") from exc
        raise
    return state


def _build(ctx: BuildContext) -> None:
    phases: dict[str, float] = {}
    t0 = last = time.monotonic()

    def mark(phase: str) -> None:
        nonlocal last
        now = time.monotonic()
        phases[phase] = round(now - last, 3)
        last = now

    namespaces_and_mgmt(ctx)
    links(ctx)
    mark("namespaces_links")
    if ctx.options.ipsec:
        ipsec(ctx)
        mark("ipsec")
    tunnels(ctx)
    loss(ctx)
    for router in ctx.topo.routers:
        frr(ctx, router.name)
    hand_default_routes_to_zebra(ctx)
    mark("frr")
    for edge in onprem_edges(ctx.options):
        sshd(ctx, edge)
    vm_service(ctx)
    for router in ctx.topo.routers:
        # bgpd backs off after the refusals of a start in sequence; one clear resets that.
        vtysh(ctx.state, router.name, "clear bgp *")
    mark("sshd_vm")
    emulator(ctx)
    mark("emulator")
    wait_established(ctx.state, ESTABLISH_TIMEOUT_S)
    spread_ecmp(ctx)
    mark("bgp_established")
    if ctx.options.sites:
        from failover_harness.lab.sites import add_sites

        add_sites(ctx)
        mark("sites")
    write_inventory(ctx)
    ctx.state.options["up_seconds"] = round(time.monotonic() - t0, 3)
    ctx.state.options["up_phases"] = phases
    ctx.state.complete = True
    ctx.state.save()


def load_state(prefix: str, root: Path = DEFAULT_RUN_ROOT) -> LabState:
    run_dir = run_dir_for(prefix, root)
    try:
        return LabState.load(run_dir)
    except FileNotFoundError as exc:
        raise LabError(f"no lab {prefix!r} here (no {run_dir / 'lab.json'}): "
                       f"`failover-harness lab up --prefix {prefix}`") from exc


def exec_in(prefix: str, node: str, argv: list[str],
            root: Path = DEFAULT_RUN_ROOT) -> subprocess.CompletedProcess[str]:
    """Run argv in the node's namespace (output captured)."""
    ns = netns_name(prefix, node)
    if ns not in _lab_namespaces(prefix):
        raise LabError(f"no node {node!r} in lab {prefix!r}: one of "
                       f"{', '.join(n.removeprefix(prefix + '-') for n in _lab_namespaces(prefix))}")
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True)


def _lab_namespaces(prefix: str) -> list[str]:
    out = run(["ip", "-j", "netns", "list"], check=False).stdout
    names = [n["name"] for n in json.loads(out or "[]")]
    return [n for n in names if n.startswith(prefix + "-")]


def _lab_root_links(prefix: str) -> list[str]:
    out = run(["ip", "-j", "link", "show"], check=False).stdout
    return [link["ifname"] for link in json.loads(out or "[]")
            if link["ifname"].startswith(prefix + "-")]


def down(prefix: str, root: Path = DEFAULT_RUN_ROOT) -> None:
    """Remove everything lab `prefix` made; idempotent, works from a partial or missing state."""
    check_prefix(prefix)
    run_dir = run_dir_for(prefix, root)
    records: list[tuple[int, int]] = []
    try:
        state = LabState.load(run_dir)
        records = [(p.pid, p.start_ticks) for p in state.processes]
    except (FileNotFoundError, ValueError):
        state = None
    namespaces = _lab_namespaces(prefix)
    # Safety net for a process started but not yet recorded when `up` was killed: whatever
    # runs inside this lab's own namespaces belongs to the lab.
    for ns in namespaces:
        pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
        for pid in (int(p) for p in pids):
            ticks = procs.start_ticks(pid)
            if ticks is not None and (pid, ticks) not in records:
                records.append((pid, ticks))
    procs.terminate(list(reversed(records)))
    for ns in namespaces:
        ip(None, "netns", "del", ns, check=False)
    for link in _lab_root_links(prefix):
        ip(None, "link", "del", link, check=False)
    if run_dir.exists():
        shutil.rmtree(run_dir, ignore_errors=True)
    del state
