"""`failover-harness report ...`: render, compare and trend game-day reports."""

from __future__ import annotations

import typer

report_app = typer.Typer(help="Render, compare and trend game-day reports.", no_args_is_help=True)
