"""`failover-harness azure role reader|fault --scope SCOPE`: the custom role definition the
harness needs, for `az role definition create --role-definition @FILE` (the same JSON as
deploy/azure/, so a pipx install without the source has it too)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import typer

azure_app = typer.Typer(help="Azure helpers: the least-privilege custom roles.", no_args_is_help=True)


@azure_app.command("role")
def role_command(
    role: Annotated[str, typer.Argument(help="reader (check, run, discover) or fault (gateway resets)")],
    scope: Annotated[str, typer.Option(help="assignable scope, e.g. /subscriptions/S/resourceGroups/RG")] =
        "/subscriptions/SUBSCRIPTION_ID/resourceGroups/RESOURCE_GROUP",
) -> None:
    """Print a custom role definition (JSON) with exactly the actions the harness uses."""
    from failover_harness.azure.permissions import role_definition
    if role not in ("reader", "fault"):
        typer.echo(f"error: role must be reader or fault, not {role!r}", err=True)
        raise typer.Exit(2)
    name: Literal["reader", "fault"] = "reader" if role == "reader" else "fault"
    typer.echo(json.dumps(role_definition(name, [scope]), indent=2))
