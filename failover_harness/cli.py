"""The `failover-harness` command. Sub-commands live beside the data they work on
(lab/cli.py, reports/cli.py); this module wires them together and maps errors to exit statuses."""

from __future__ import annotations

import typer

from failover_harness.lab.cli import lab_app
from failover_harness.reports.cli import report_app

app = typer.Typer(
    help="Break a VPN tunnel to an active-active Azure VPN gateway on purpose and measure "
    "what happens, on one clock.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(lab_app, name="lab")
app.add_typer(report_app, name="report")


if __name__ == "__main__":
    app()
