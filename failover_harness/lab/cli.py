"""`failover-harness lab ...`: bring the embedded lab up and down, show its state."""

from __future__ import annotations

import subprocess
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from failover_harness.errors import HarnessError, InputError

lab_app = typer.Typer(help="The embedded lab: namespaces, FRR routers, IPsec tunnels, Azure emulator.",
                      no_args_is_help=True)

Prefix = Annotated[str, typer.Option("--prefix", help="Lab name prefix (namespaces PREFIX-*).")]
_err = Console(stderr=True)


def _fail(exc: HarnessError) -> typer.Exit:
    _err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(exc.exit_code)


@lab_app.command()
def up(prefix: Prefix = "fh",
       timers: Annotated[str, typer.Option(help="BGP timers: fast (1/3), tuned (5/15), "
                                                "azure-default (60/180).")] = "fast",
       bfd: Annotated[bool, typer.Option("--bfd", help="BFD 100 ms x3 on the tunnels.")] = False,
       mode: Annotated[str, typer.Option(help="ecmp, primary-backup (AS-path prepend "
                                              "towards instance 1) or active-standby (one VIP "
                                              "the standby instance takes over on a reset).")] = "ecmp",
       dual: Annotated[bool, typer.Option("--dual", help="Two on-prem routers, four "
                                                         "tunnels.")] = False,
       isps: Annotated[int, typer.Option("--isps", min=1, max=2, help="ISP uplinks per on-prem "
                                         "router: 2 puts the instance 1 tunnels on a second "
                                         "one (wan1).")] = 1,
       no_ipsec: Annotated[bool, typer.Option("--no-ipsec", help="Plain tunnels.")] = False,
       no_emulator: Annotated[bool, typer.Option("--no-emulator",
                                                 help="Do not start the Azure emulator.")] = False,
       loss: Annotated[list[str] | None, typer.Option(
           help="LINK:PERCENT loss on an underlay link (edge1-inet, gw0-inet, ...).")] = None,
       azure_lro_latency: Annotated[float | None, typer.Option(
           help="Seconds each Azure long-running call takes in the emulator (default 3).")] = None,
       azure_lro_jitter: Annotated[float | None, typer.Option(
           help="+/- seconds of uniform jitter on that latency (default 1).")] = None,
       sites: Annotated[int, typer.Option(
           help="On-prem site hosts behind edge1 (192.168.21.0/24, ...), each and the VM "
                "reached over SSH as vantage points.", min=0, max=8)] = 0,
       ) -> None:
    """Bring a lab up; waits until every BGP session is Established."""
    from failover_harness.lab import lab
    from failover_harness.lab.topology import LAB_MODES, LabOptions, LossImpairment

    try:
        if timers not in ("fast", "tuned", "azure-default"):
            raise InputError("expected fast, tuned or azure-default", field="timers")
        if mode not in LAB_MODES:
            raise InputError(f"expected one of {', '.join(LAB_MODES)}", field="mode")
        if azure_lro_latency is not None and not 0 <= azure_lro_latency <= 120:
            raise InputError("expected 0..120 seconds", field="azure-lro-latency")
        if azure_lro_jitter is not None and not 0 <= azure_lro_jitter <= 60:
            raise InputError("expected 0..60 seconds", field="azure-lro-jitter")
        options = LabOptions(timers=timers, bfd=bfd, mode=mode, dual=dual, isps=isps,
                             ipsec=not no_ipsec, emulator=not no_emulator,
                             loss=[LossImpairment.parse(x) for x in loss or []],
                             azure_lro_latency_s=azure_lro_latency, azure_lro_jitter_s=azure_lro_jitter,
                             sites=sites)
        start = time.monotonic()
        state = lab.up(prefix, options)
    except HarnessError as exc:
        raise _fail(exc) from exc
    Console().print(f"lab [bold]{prefix}[/bold] up in {time.monotonic() - start:.1f} s "
                    f"(run dir {state.run_dir}; inventory {state.inventory})")


@lab_app.command()
def down(prefix: Prefix = "fh") -> None:
    """Remove everything the lab made (also after a crashed or killed `up`)."""
    from failover_harness.lab import lab

    start = time.monotonic()
    try:
        lab.down(prefix)
    except HarnessError as exc:
        raise _fail(exc) from exc
    Console().print(f"lab [bold]{prefix}[/bold] down in {time.monotonic() - start:.1f} s")


@lab_app.command()
def status(prefix: Prefix = "fh",
           as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
           ) -> None:
    """BGP sessions, IKE/IPsec SAs per tunnel, and the VNet's ECMP next hops."""
    from failover_harness.lab import lab
    from failover_harness.lab.status import collect_status

    try:
        result = collect_status(lab.load_state(prefix))
    except HarnessError as exc:
        raise _fail(exc) from exc
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    console = Console()
    sessions = Table(title=f"BGP sessions (lab {prefix})")
    for col in ("router", "peer", "AS", "description", "state", "up", "pfx rcvd", "pfx sent"):
        sessions.add_column(col, no_wrap=col in ("peer", "state"))
    for s in result.sessions:
        colour = "green" if s.state == "Established" else "red"
        sessions.add_row(s.router, s.peer, str(s.remote_as), s.description or "",
                         f"[{colour}]{s.state}[/{colour}]", f"{s.uptime_msec / 1000:.1f} s",
                         str(s.prefixes_received), str(s.prefixes_sent))
    console.print(sessions)
    tunnels = Table(title="Tunnels")
    for col in ("tunnel", "link", "connection", "on-prem IKE/IPsec", "Azure IKE/IPsec",
                "bytes in/out (on-prem)"):
        tunnels.add_column(col, no_wrap=col != "bytes in/out (on-prem)")
    for t in result.tunnels:
        def end(e: object) -> str:
            return "-" if e is None else f"{e.ike_state}/{e.child_state}"  # type: ignore[attr-defined]
        tunnels.add_row(t.name, "up" if t.link_up else "[red]down[/red]", t.ike_name or "plain",
                        end(t.onprem), end(t.azure),
                        f"{t.onprem.bytes_in}/{t.onprem.bytes_out}" if t.onprem else "-")
    console.print(tunnels)
    hops = Table(title="VNet next hops for 192.168.10.0/24")
    hops.add_column("next hop")
    for hop in result.vnet_next_hops:
        hops.add_row(hop)
    console.print(hops)
    for error in result.errors:
        console.print(f"[yellow]warning:[/yellow] {error}")


@lab_app.command("exec", context_settings={"allow_extra_args": True,
                                           "ignore_unknown_options": True})
def exec_(node: Annotated[str, typer.Argument(help="host, edge1, inet, gw0, gw1, vnet, vm")],
          command: Annotated[list[str], typer.Argument(help="Command (after --).")],
          prefix: Prefix = "fh") -> None:
    """Run a command on a lab node: `lab exec edge1 -- vtysh -c 'show bgp summary'`."""
    from failover_harness.lab import lab

    try:
        ns = lab.netns_name(prefix, node)
        lab.exec_in(prefix, node, ["true"])  # validates the node
    except HarnessError as exc:
        raise _fail(exc) from exc
    state = lab.load_state(prefix) if node in ("edge1", "edge2", "gw0", "gw1", "vnet") else None
    argv = list(command)
    if state is not None and argv and argv[0] == "vtysh" and node in state.routers:
        argv = lab.vtysh_argv(state, node, *argv[1:])
    raise typer.Exit(subprocess.run(["ip", "netns", "exec", ns, *argv]).returncode)


@lab_app.command()
def inventory(prefix: Prefix = "fh") -> None:
    """Print the path of the inventory `lab up` wrote for this lab."""
    from failover_harness.lab import lab

    try:
        state = lab.load_state(prefix)
    except HarnessError as exc:
        raise _fail(exc) from exc
    if not state.inventory:
        _err.print(f"lab {prefix} has no inventory yet (is `up` still running?)")
        raise typer.Exit(3)
    print(state.inventory)


