"""`report index|export` and the run-index halves of `report trend|compare --baseline`
(registered in reports/cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from failover_harness.errors import HarnessError
from failover_harness.history.openmetrics import latest_runs, openmetrics_text, write_atomically
from failover_harness.history.record import default_index, record_run
from failover_harness.history.store import index_path, open_index
from failover_harness.history.views import compare_with_baseline, parse_baseline, target_runs
from failover_harness.reports.compare import Comparison

console = Console()
err_console = Console(stderr=True)
ReportsDir = Annotated[Path, typer.Argument(help="reports directory holding history.sqlite "
                                            "(or the .sqlite file)")]


def _fail(err: HarnessError) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {err}", highlight=False)
    return typer.Exit(err.exit_code)


def baseline_comparisons(runs: list[Path], baseline: str, reports: Path | None
                         ) -> list[tuple[str, Comparison]]:
    """(title, comparison) per section of the run asked for (or the newest indexed run)."""
    if len(runs) > 1:
        raise typer.BadParameter("with --baseline give at most one run (a directory or an id)")
    wanted = runs[0] if runs else None
    if reports is not None:
        path = index_path(reports)
    elif wanted is not None and wanted.is_dir():
        path = default_index(wanted)
    else:
        path = index_path(Path("reports"))
    count = parse_baseline(baseline)
    out: list[tuple[str, Comparison]] = []
    with open_index(path, create=False) as index:
        for run in target_runs(index, None if wanted is None else str(wanted)):
            comparison = compare_with_baseline(index, run, count)
            kept = len({c.run_id for c in comparison.columns[:-1]})
            title = (f"{run.playbook} on {run.inventory}: {run.label()} against the last "
                     f"{kept} of {count} asked run(s) (run index {path}; regression: its whole "
                     "window worse than every baseline run's)")
            out.append((title, comparison))
    return out


def index_command(
    directory: Annotated[Path, typer.Argument(help="searched recursively for run directories "
                                              "(timeline.jsonl)")],
    index: Annotated[Path | None, typer.Option(help="the index (default DIR/history.sqlite)")] = None,
) -> None:
    """(Re)build the run index from run directories' timelines (report files are not
    rewritten; runs already indexed are replaced, never doubled)."""
    from failover_harness.reports.render import TIMELINE, report_from_dir
    target = index or index_path(directory)
    loaded = []
    for timeline in sorted(directory.rglob(TIMELINE)):
        try:
            report, sections, _ = report_from_dir(timeline.parent)
        except HarnessError as err:
            err_console.print(f"[yellow]skipped[/yellow] {err}", highlight=False)
            continue
        loaded.append((report, sections, timeline.parent))
    # Oldest first, so each run's baseline is the runs before it, as when it ran.
    loaded.sort(key=lambda item: min((s.run.started_at.timestamp() for s in item[0].sections
                                      if s.run.started_at), default=0.0))
    for report, sections, run_dir in loaded:
        recorded = record_run(report, sections, run_dir, target)
        failed = [n for s in recorded.sections for n in s.notes if n.startswith("run history:")]
        if failed:
            err_console.print(f"[red]error:[/red] {failed[0]}", highlight=False)
            raise typer.Exit(3)
    console.print(f"indexed {len(loaded)} run directories in {target}", highlight=False)


def export_command(
    directory: ReportsDir = Path("reports"),
    format_: Annotated[Literal["openmetrics"], typer.Option(
        "--format", help="openmetrics: gauges for a node-exporter textfile collector")] = "openmetrics",
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="file to replace atomically, e.g. "
        "/var/lib/node_exporter/textfile_collector/failover_harness.prom (default: stdout)")] = None,
) -> None:
    """The latest figures per playbook, inventory and metric, from the run index alone."""
    try:
        with open_index(index_path(directory), create=False) as index:
            text = openmetrics_text(latest_runs(index))
    except HarnessError as err:
        raise _fail(err) from err
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        write_atomically(output, text)
    except OSError as exc:
        err_console.print(f"[red]error:[/red] {output}: {exc.strerror or exc}", highlight=False)
        raise typer.Exit(3) from None
    err_console.print(f"wrote {output}", highlight=False)
