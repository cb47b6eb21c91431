"""`failover-harness report ...`: render, compare, trend and export game-day reports.

`failover-harness report RUN_DIR` is short for `failover-harness report render RUN_DIR`.
Exit status: 0 every expectation met (or none given), 1 an expectation failed (or compare
--fail-on-regression found a regression), 2 bad input, 3 the run index could not be
written, 4 inconclusive (no expectation failed, but the data could not decide one). trend,
compare --baseline and export read the run index (history.sqlite, failover_harness/history/).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from failover_harness.errors import EXIT_EXPECTATION_FAILED, HarnessError
from failover_harness.history.cli import baseline_comparisons, export_command, index_command
from failover_harness.history.store import index_path, open_index
from failover_harness.history.views import trend_of
from failover_harness.reports.build import exit_status
from failover_harness.reports.compare import (
    Comparison,
    collect_trend,
    compare_reports,
    load_reports,
    trend_png,
    value_text,
)
from failover_harness.reports.render import render_report

PASSING = ("passed", "no_expectations")


class _DefaultRender(TyperGroup):
    """Treat `report RUN_DIR` as `report render RUN_DIR`."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["render", *args]
        return super().parse_args(ctx, args)


report_app = typer.Typer(help="Render, compare and trend game-day reports.",
                         no_args_is_help=True, cls=_DefaultRender)
console = Console()
err_console = Console(stderr=True)


def _fail(err: HarnessError) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {err}", highlight=False)
    return typer.Exit(err.exit_code)


RunDir = Annotated[Path, typer.Argument(help="a run directory holding timeline.jsonl")]


@report_app.command("render")
def render(run_dir: RunDir) -> None:
    """Render report.json, report.html, report.md (+ PNG) and junit.xml from timeline.jsonl."""
    try:
        rendered = render_report(run_dir)
    except HarnessError as err:
        raise _fail(err) from err
    report = rendered.report
    colour = "green" if report.status in PASSING else "red"
    console.print(f"[{colour}]{report.status.upper()}[/{colour}] {report.summary}",
                  highlight=False)
    for path in (rendered.html_path, rendered.md_path, rendered.json_path, rendered.junit_path,
                 *rendered.png_paths):
        console.print(f"  wrote {path}", highlight=False)
    raise typer.Exit(exit_status(report.status))


@report_app.command("compare")
def compare(
    run_dirs: Annotated[list[Path] | None, typer.Argument(
        help="run directories, the first is the baseline; with --baseline: one run "
        "(directory or run id; default: the newest indexed run)")] = None,
    threshold: Annotated[float, typer.Option(help="relative change that counts (0.2 = 20 %)")] = 0.2,
    fail_on_regression: Annotated[bool, typer.Option(help="exit 1 if a regression is flagged")] = False,
    baseline: Annotated[str | None, typer.Option(
        help="last|N: from the run index, against the run before or the last N runs of the "
        "same playbook and inventory")] = None,
    reports: Annotated[Path | None, typer.Option(
        help="with --baseline: the reports directory holding history.sqlite (default: the "
        "run directory's parent, else ./reports)")] = None,
) -> None:
    """Runs side by side, regressions and improvements flagged: run directories against the
    first (files), or a run against its baseline from the run index (--baseline)."""
    run_dirs = run_dirs or []
    try:
        if baseline is not None:
            comparisons = baseline_comparisons(run_dirs, baseline, reports)
        elif len(run_dirs) < 2:
            err_console.print("[red]error:[/red] compare needs at least two run directories "
                              "(or --baseline last|N)")
            raise typer.Exit(2)
        else:
            comparison = compare_reports(load_reports(run_dirs), threshold=threshold)
            comparisons = [(f"Compared with {comparison.columns[0].label} (threshold "
                            f"{threshold:.0%}, beyond measurement uncertainty)", comparison)]
    except HarnessError as err:
        raise _fail(err) from err
    regressed = False
    for title, comparison in comparisons:
        _print_comparison(title, comparison)
        regressed = regressed or bool(comparison.regressions)
    if fail_on_regression and regressed:
        raise typer.Exit(EXIT_EXPECTATION_FAILED)


def _print_comparison(title: str, comparison: Comparison) -> None:
    table = Table(title=title)
    table.add_column("metric")
    for column in comparison.columns:
        table.add_column(f"{column.label}\n{column.status}", justify="right")
    for row in comparison.rows:
        cells: list[Any] = [f"{row.metric} ({row.better} better)"]
        for cell in row.cells:
            text = value_text(cell.value)
            if cell.delta is not None:
                text += f" [{cell.delta:+.3g}]"
            if cell.regression:
                text = f"[bold red]{text} REGRESSION[/bold red]"
            elif cell.improvement:
                text = f"[green]{text} better[/green]"
            cells.append(text)
        table.add_row(*cells)
    console.print(table)
    for line in comparison.regressions:
        console.print(f"[bold red]regression[/bold red] {line}", highlight=False)
    for line in comparison.improvements:
        console.print(f"[green]improvement[/green] {line}", highlight=False)


@report_app.command("trend")
def trend(
    directory: Annotated[Path, typer.Argument(
        help="reports directory: its run index (history.sqlite), or, without one, searched "
        "recursively for timeline.jsonl")] = Path("reports"),
    metric: Annotated[str, typer.Option(help="metric name, e.g. max_outage_s")] = "max_outage_s",
    playbook: Annotated[str | None, typer.Option(help="only runs of this playbook")] = None,
    inventory: Annotated[str | None, typer.Option(help="only runs against this inventory "
                                                  "(run index only)")] = None,
    output: Annotated[Path | None, typer.Option(help="chart PNG (default DIR/trend-METRIC.png)")] = None,
) -> None:
    """One metric over many runs: a table and a PNG chart, from the run index (or from the
    run directories' timelines when DIR has no index)."""
    index = index_path(directory)
    try:
        if index.is_file():
            with open_index(index, create=False) as opened:
                result = trend_of(opened, metric, playbook, inventory)
            source = f"run index {index}"
        else:
            result = collect_trend(directory, metric, playbook)
            source = f"the timelines under {directory} (no run index there)"
    except HarnessError as err:
        raise _fail(err) from err
    table = Table(title=f"{metric} over {len(result.points)} runs (from {source})")
    for name in ("started (UTC)", "run", "playbook", "status", metric):
        table.add_column(name, justify="right" if name == metric else "left")
    for point in result.points:
        started = point.started_at.strftime("%Y-%m-%d %H:%M:%S") if point.started_at else "?"
        value = value_text(point.value) + (" REGRESSION" if point.regression else "")
        table.add_row(started, point.run_dir, point.playbook or "", point.status, value)
    console.print(table)
    for reason in result.skipped:
        err_console.print(f"[yellow]skipped[/yellow] {reason}", highlight=False)
    if not result.points:
        err_console.print(f"[red]error:[/red] no runs in {source}")
        raise typer.Exit(2)
    png = output or (directory if directory.is_dir() else directory.parent) / f"trend-{metric}.png"
    png.write_bytes(trend_png(result))
    console.print(f"  wrote {png}", highlight=False)


report_app.command("export")(export_command)
report_app.command("index")(index_command)
