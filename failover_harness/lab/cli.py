"""`failover-harness lab ...`: bring the embedded lab up and down, show its state."""

from __future__ import annotations

import typer

lab_app = typer.Typer(help="The embedded lab: namespaces, FRR routers, IPsec tunnels, Azure emulator.",
                      no_args_is_help=True)
