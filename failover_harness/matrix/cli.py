"""`failover-harness matrix FILE`: run each cell (lab design x playbook), print the table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from failover_harness.errors import HarnessError


def matrix(
    file: Annotated[Path, typer.Argument(help="matrix YAML (e.g. matrices/lab-designs.yaml)")],
    cell: Annotated[list[str] | None, typer.Option(
        "--cell", help="run only this cell (repeatable; default: every cell)")] = None,
    prefix: Annotated[str, typer.Option(help="lab prefix for the cells' labs")] = "mx",
    out: Annotated[Path, typer.Option(help="directory for each cell's run, evidence and the "
                                           "tables")] = Path("reports/matrix"),
    lock: Annotated[Path | None, typer.Option(
        help="hold flock(2) on this file during each cell (a lab shared on one machine)")] = None,
    validate_only: Annotated[bool, typer.Option(
        "--validate", help="only validate the matrix and its playbooks")] = False,
) -> None:
    """Each lab design with its fault, side by side: for every cell bring its lab up, run its
    game-day, bring it down; write matrix.md and matrix.json (exit 1 if a cell did not pass)."""
    from failover_harness.matrix.cells import run_matrix
    from failover_harness.matrix.model import load_matrix
    from failover_harness.matrix.table import as_json, markdown

    console = Console()
    try:
        spec = load_matrix(file)
        cells = spec.only(cell or [])
    except HarnessError as exc:
        Console(stderr=True).print(f"error: {escape(str(exc))}", highlight=False)
        raise typer.Exit(exc.exit_code) from None
    if validate_only:
        console.print(f"{file}: ok ({len(cells)} cells)")
        return
    out.mkdir(parents=True, exist_ok=True)
    results = run_matrix(spec, cells, prefix, out, lock, lambda s: console.print(escape(s)))
    table = markdown(results)
    (out / "matrix.md").write_text(table)
    (out / "matrix.json").write_text(as_json(results))
    console.print(escape(table))
    console.print(f"written: {out / 'matrix.md'}, {out / 'matrix.json'}")
    if any(r.status != "passed" for r in results):
        raise typer.Exit(1)
