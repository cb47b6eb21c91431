"""The `failover-harness` command. Sub-commands live beside the data they work on
(lab/cli.py, reports/cli.py); this module wires them together and maps errors to exit
statuses: 0 all expectations met, 1 an expectation failed, 2 bad input, 3 infrastructure,
4 inconclusive (none failed, the data could not decide one)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from failover_harness.azure_cli import azure_app
from failover_harness.errors import EXIT_BAD_INPUT, EXIT_OK, HarnessError
from failover_harness.inventory_cli import inventory_app
from failover_harness.lab.cli import lab_app
from failover_harness.matrix.cli import matrix as matrix_command
from failover_harness.reports.cli import report_app

if TYPE_CHECKING:
    from failover_harness.orchestrator.parts import Parts

app = typer.Typer(
    help="Break a VPN tunnel to an active-active Azure VPN gateway on purpose and measure "
    "what happens, on one clock.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(lab_app, name="lab")
app.add_typer(report_app, name="report")
app.add_typer(inventory_app, name="inventory")
app.add_typer(azure_app, name="azure")
app.command(name="matrix")(matrix_command)

err = Console(stderr=True)
out = Console(soft_wrap=True)

InventoryOpt = Annotated[Path, typer.Option("-i", "--inventory", help="inventory YAML")]


def _print_version(value: bool) -> None:
    if value:
        from failover_harness import __version__
        out.print(f"failover-harness {__version__}", highlight=False)
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="print the version and exit")] = False) -> None:
    """Options for every sub-command (the group's help is the Typer's)."""


def _parts(ctx: typer.Context) -> Parts | None:
    """Tests hand the commands fake parts as the click context object; users never do."""
    from failover_harness.orchestrator.parts import Parts
    return ctx.obj if isinstance(ctx.obj, Parts) else None


def _fail(exc: HarnessError) -> None:
    err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
    raise typer.Exit(exc.exit_code)


@app.command()
def validate(
    playbooks: Annotated[list[Path], typer.Argument(help="playbook YAML files")] = [],  # noqa: B006
    inventory: InventoryOpt = Path("inventories/lab.yaml"),
) -> None:
    """Check inventory and playbooks (files only: nothing is contacted)."""
    from failover_harness.playbook import validate as validate_files
    try:
        for line in validate_files(inventory, playbooks):
            out.print(line, highlight=False)
    except HarnessError as exc:
        _fail(exc)


@app.command()
def run(
    ctx: typer.Context,
    playbooks: Annotated[list[Path], typer.Argument(help="one or more playbooks: one game-day")],
    inventory: InventoryOpt,
    reports: Annotated[Path, typer.Option(help="where run directories go")] = Path("reports"),
    run_id: Annotated[str | None, typer.Option(help="name of the run directory")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print every command and API call; touch nothing")] = False,
    live: Annotated[bool, typer.Option(help="rich live view (default: when on a terminal)")] = sys.stdout.isatty(),
    unsafe_skip_gate: Annotated[bool, typer.Option(
        "--unsafe-skip-gate", help="LAB ONLY: inject the fault even if the steady state does not hold")] = False,
    gate_timeout: Annotated[float, typer.Option(help="seconds the steady state may take to hold")] = 60.0,
    guard_loss: Annotated[float | None, typer.Option(
        help="abort when every flow has lost this many seconds (default: the largest "
             "convergence bound read before the fault - BGP hold, the playbook's max_outage_s - "
             "plus 5 s)")] = None,
    repeat: Annotated[int | None, typer.Option(
        min=1, max=1000, help="run each playbook's method N times (overrides its repeat: count); "
        "the steady state must return between iterations")] = None,
    alternate: Annotated[str | None, typer.Option(
        help="with --repeat: fault these tunnels in turn, e.g. Tunnel1,Tunnel2 (interfaces of "
             "the device the method faults)")] = None,
) -> None:
    """Run a game-day: probes, the fault, both control planes, one timeline, verdicts."""
    from failover_harness.orchestrator.dry_run import print_plan
    from failover_harness.orchestrator.gameday import run_gameday
    from failover_harness.orchestrator.live import live_view
    from failover_harness.orchestrator.session import RunOptions
    try:
        tunnels = [t.strip() for t in alternate.split(",") if t.strip()] if alternate else None
        if dry_run:
            print_plan(inventory, playbooks, out, repeat, tunnels)
            raise typer.Exit(EXIT_OK)
        options = RunOptions(reports_root=reports, run_id=run_id, skip_gate=unsafe_skip_gate,
                             gate_timeout_s=gate_timeout, guard_loss_s=guard_loss,
                             repeat=repeat, alternate=tunnels)
        with live_view(out, live) as view:
            result = run_gameday(inventory, playbooks, options,
                                 say=lambda m: out.print(m, highlight=False),
                                 on_session=view.attach, parts=_parts(ctx))
    except HarnessError as exc:
        _fail(exc)
    for o in result.outcomes:
        which = f" #{o.iteration} of {o.iterations}" if (o.iterations or 1) > 1 else ""
        out.print(f"{o.playbook}{which}: {o.status}" + (f" ({o.reason})" if o.reason else ""),
                  highlight=False)
    _print_summary(result.run_dir)
    colour = "green" if result.exit_code == EXIT_OK else "red"
    out.print(f"[{colour}]{result.message}[/] (exit {result.exit_code}); report: "
              f"{result.run_dir}", highlight=False)
    raise typer.Exit(result.exit_code)


def _print_summary(run_dir: Path) -> None:
    import json
    path = run_dir / "report.json"
    if not path.is_file():
        return
    from rich.markup import escape

    from failover_harness.reports.repeat_model import RepeatSummary
    from failover_harness.reports.repeats_out import terminal_lines
    report = json.loads(path.read_text())
    sections = report.get("sections", [])
    for section in sections:
        run = section.get("run", {})
        if (run.get("iterations") or 1) > 1:
            out.print(f"{run.get('playbook')} #{run.get('iteration')} of {run.get('iterations')}"
                      + (f" ({run['tunnel']})" if run.get("tunnel") else ""), highlight=False)
        for v in section.get("verdicts", []):
            mark = {"passed": "[green]PASS[/]", "failed": "[red]FAIL[/]"}.get(
                v["status"], "[yellow]INCONCLUSIVE[/]")
            out.print(f"  {mark} {v['message']}", highlight=False)
        if section.get("directions"):  # loss by direction of the UDP flows (schema 2.1)
            out.print(f"  {section['directions']['text']}", highlight=False, markup=False)
        if section.get("azure_polling"):
            from failover_harness.reports.azure_polling import AzurePolling
            for line in AzurePolling.model_validate(section["azure_polling"]).lines():
                out.print(f"  Azure {line}", highlight=False, markup=False)
    for raw in report.get("repeats", []):
        summary = RepeatSummary.model_validate(raw)
        for line in terminal_lines(summary):
            out.print(escape(line), highlight=False)
        for v in summary.verdicts:
            mark = {"passed": "[green]PASS[/]", "failed": "[red]FAIL[/]"}.get(
                v.status, "[yellow]INCONCLUSIVE[/]")
            out.print(f"  {mark} {escape(v.message)}", highlight=False)


@app.command()
def check(ctx: typer.Context, inventory: InventoryOpt,
          wait: Annotated[float, typer.Option(help="seconds to wait for a steady state")] = 15.0) -> None:
    """Read-only steady-state report for pre-change validation (changes nothing)."""
    from failover_harness.orchestrator.gameday import check_steady_state
    try:
        result = check_steady_state(inventory, wait_s=wait, parts=_parts(ctx),
                                    say=lambda m: err.print(m, highlight=False))
    except HarnessError as exc:
        _fail(exc)
    for ok, line in result.lines:
        out.print(("[green]ok  [/] " if ok else "[red]FAIL[/] ") + line, highlight=False)
    for line in result.prediction.lines() if result.prediction else []:
        out.print(line, highlight=False, markup=False)
    raise typer.Exit(EXIT_OK if result.ok else 1)


@app.command()
def recover(ctx: typer.Context,
            run_dir: Annotated[Path, typer.Argument(help="the run directory of a killed run")],
            inventory: Annotated[Path | None, typer.Option("-i", "--inventory")] = None) -> None:
    """Undo what a killed run's journal says it changed."""
    from failover_harness.orchestrator.recovery import recover as recover_run
    try:
        problems = recover_run(run_dir, lambda m: out.print(m, highlight=False), inventory,
                               parts=_parts(ctx))
    except HarnessError as exc:
        _fail(exc)
    for p in problems:
        err.print(f"[red]not restored:[/] {p}", highlight=False)
    raise typer.Exit(3 if problems else EXIT_OK)


@app.command()
def bench(flows: Annotated[int, typer.Option(help="parallel flows")] = 20,
          rate: Annotated[int, typer.Option(help="probes per second per flow")] = 100,
          seconds: Annotated[float, typer.Option(help="how long to measure")] = 5.0,
          kinds: Annotated[str, typer.Option(help="engines, comma-separated")] = "icmp,tcp,udp",
          azure: Annotated[bool, typer.Option(
              "--azure", help="instead: the Azure poller against the ARM emulator, LRO latencies 2, 10, 20 s",
          )] = False,
          remote: Annotated[bool, typer.Option(
              "--remote", help="instead: orchestrator CPU and ingest latency for 1, 2, 4, 8 "
              "SSH vantage points x 16 flows x 100 probes/s (--seconds per row)")] = False,
          calibration: Annotated[bool, typer.Option(
              "--calibration", help="instead: calibrated azure_detection_s against the running lab's router "
              "log, --runs times (lab up first)")] = False,
          runs: Annotated[int, typer.Option(help="--calibration: runs", min=1, max=100)] = 10,
          prefix: Annotated[str, typer.Option(help="--calibration: the lab's prefix")] = "fh",
          lro_latency: Annotated[float, typer.Option(help="--calibration: emulator LRO latency (s)")] = 10.0,
          lro_jitter: Annotated[float, typer.Option(help="--calibration: +/- jitter (s)")] = 2.0,
          ) -> None:
    """Probe engine figures per engine (ICMP, TCP, UDP): sustained rate on one core, send
    jitter, outage accuracy against a capture (--azure: Azure sample interval, budget spent,
    calibrated detection window; --remote: remote vantage points' cost on the orchestrator;
    --calibration: calibrated Azure detection against a running lab's router log)."""
    try:
        if remote:
            from failover_harness.orchestrator.remote_bench import bench_remote_main
            code = bench_remote_main(seconds)
        elif calibration:
            from failover_harness.orchestrator.calibration_bench import calibration_bench_main
            code = calibration_bench_main(prefix, runs, lro_latency, lro_jitter)
        elif azure:
            from failover_harness.orchestrator.azure_bench import bench_azure_main
            code = bench_azure_main()
        else:
            from failover_harness.bench import bench_main
            code = bench_main(flows, rate, seconds, [k.strip() for k in kinds.split(",")])
    except HarnessError as exc:  # e.g. --calibration without a lab up
        _fail(exc)
    raise typer.Exit(code)


@app.command()
def reflect(port: Annotated[int, typer.Option(help="UDP port (862, STAMP's own, needs root)",
                                              min=1, max=65535)] = 8620,
            bind: Annotated[str, typer.Option(help="address to listen on")] = "0.0.0.0") -> None:
    """Answer UDP probes (a STAMP reflector) until Ctrl-C. On a host without
    failover-harness: copy failover_harness/probes/reflector.py and run `python3 reflector.py`."""
    from failover_harness.probes.reflector import main as reflector_main
    raise typer.Exit(reflector_main(["--port", str(port), "--bind", bind]))


def main() -> None:  # pragma: no cover - console entry for `python -m`
    try:
        app()
    except HarnessError as exc:
        err.print(f"error: {exc}")
        sys.exit(exc.exit_code if exc.exit_code else EXIT_BAD_INPUT)


if __name__ == "__main__":
    app()
