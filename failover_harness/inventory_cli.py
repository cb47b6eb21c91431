"""`failover-harness inventory discover`: read the gateway from Azure (and, with --ssh, the
router's interfaces) and write an inventory skeleton whose FILL-ME placeholders name what is
left to the operator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr
from rich.console import Console

from failover_harness.errors import EXIT_BAD_INPUT, EXIT_OK, HarnessError, InputError

inventory_app = typer.Typer(help="Inventory helpers: discover a skeleton from Azure.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _lab_access(lab_dir: Path) -> tuple[dict[str, Any], dict[str, SecretStr]]:
    """(what the inventory's azure section needs to reach a lab's emulator, the values the
    credential needs now)."""
    from failover_harness.lab.state import LabState
    state = LabState.load(lab_dir)
    if state.emulator is None:
        raise InputError(f"{lab_dir}: this lab has no Azure emulator")
    emu = state.emulator
    extra = {"base_url": emu.base_url, "ca_bundle": emu.ca_bundle,
             "environment": {"IDENTITY_ENDPOINT": emu.identity_endpoint,
                             "IDENTITY_HEADER": {"file": emu.identity_header_file}}}
    env = {"IDENTITY_ENDPOINT": SecretStr(emu.identity_endpoint),
           "IDENTITY_HEADER": SecretStr(Path(emu.identity_header_file).read_text().strip())}
    return extra, env


def _password_ref(env_name: str | None, file: Path | None) -> dict[str, str] | None:
    if env_name and file:
        raise InputError("give --password-env or --password-file, not both")
    if env_name:
        return {"env": env_name}
    return {"file": str(file.resolve())} if file else None


@inventory_app.command("discover")
def discover_command(
    subscription: Annotated[str, typer.Option(help="subscription id")],
    resource_group: Annotated[str, typer.Option(help="the gateway's resource group")],
    gateway: Annotated[str, typer.Option(help="the VPN gateway's name")],
    output: Annotated[Path, typer.Option("-o", "--output", help="inventory file to write")] = Path("inventory.yaml"),
    device: Annotated[str | None, typer.Option(help="name of the on-prem router (one router only)")] = None,
    platform: Annotated[str | None, typer.Option(help="its platform, e.g. cisco_xe")] = None,
    host: Annotated[str | None, typer.Option(help="its management address")] = None,
    username: Annotated[str | None, typer.Option(help="SSH login")] = None,
    password_env: Annotated[str | None, typer.Option(help="environment variable holding the password")] = None,
    password_file: Annotated[Path | None, typer.Option(help="file holding the password")] = None,
    known_hosts: Annotated[Path | None, typer.Option(help="known_hosts with the router's key")] = None,
    ssh: Annotated[bool, typer.Option(
        "--ssh", help="log in and name tunnel interfaces from the router's output")] = False,
    lab_dir: Annotated[Path | None, typer.Option(help="LAB ONLY: reach this lab's Azure emulator")] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite the output file")] = False,
) -> None:
    """Write an inventory skeleton from the gateway, its connections and local network gateways."""
    from failover_harness.azure.client import AzureConnection
    from failover_harness.azure.discovery import discover_gateway
    from failover_harness.azure.settings import AzureSettings
    from failover_harness.inventory import placeholders
    from failover_harness.orchestrator.discover import DeviceHints, discover, render
    from failover_harness.yamlfile import format_loc, read_yaml
    try:
        if output.exists() and not force:
            raise InputError(f"{output} exists: pick another --output or pass --force")
        hints = DeviceHints(name=device, platform=platform, host=host, username=username,
                            password=_password_ref(password_env, password_file),
                            known_hosts=str(known_hosts.resolve()) if known_hosts else None)
        extra, env = _lab_access(lab_dir) if lab_dir else ({}, {})
        settings = AzureSettings(subscription_id=subscription, resource_group=resource_group, gateway=gateway,
                                 base_url=extra.get("base_url"), ca_bundle=extra.get("ca_bundle"), environment=env)
        connection = AzureConnection(settings)
        try:
            gw = discover_gateway(connection.client, subscription, resource_group, gateway)
        finally:
            connection.close()
        reader = _interface_reader(hints) if ssh else None
        data, notes = discover(gw, hints, azure_extra=extra, read_interfaces=reader)
    except HarnessError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        raise typer.Exit(exc.exit_code) from exc
    except ValueError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    command = "failover-harness inventory discover --subscription ... --resource-group " \
              f"{resource_group} --gateway {gateway}"
    output.write_text(render(data, command))
    out.print(f"wrote {output}: {len(data['devices'])} device(s), "
              f"{sum(len(d['tunnels']) for d in data['devices'].values())} tunnel(s), "
              f"gateway {'active-active' if gw.active_active else 'active-standby'}", highlight=False, markup=False)
    for note in notes:
        out.print(f"note: {note}", highlight=False, markup=False)
    doc = read_yaml(output)
    left = placeholders(doc.data)
    for loc, text in left:
        out.print(f"{output}:{doc.line_of(loc)}: {format_loc(loc)}: {text}", highlight=False, markup=False)
    if left:
        out.print(f"{len(left)} placeholder(s) to fill before `failover-harness validate -i {output}` accepts it",
                  highlight=False, markup=False)
    raise typer.Exit(EXIT_OK)


def _interface_reader(hints: Any) -> Any:
    from failover_harness.devices import DeviceConnection, open_device
    from failover_harness.devices.interfaces import INTERFACE_ADDRESS_COMMANDS, parse_interface_addresses
    from failover_harness.secrets import EnvRef, FileRef, resolve
    missing = [o for o, v in (("--platform", hints.platform), ("--host", hints.host), ("--username", hints.username),
                              ("--password-env/--password-file", hints.password)) if not v]
    if missing:
        raise InputError(f"--ssh needs {', '.join(missing)}")
    if hints.platform not in INTERFACE_ADDRESS_COMMANDS:
        raise InputError(f"--ssh: interface names cannot be read from {hints.platform} yet "
                         f"(supported: {', '.join(INTERFACE_ADDRESS_COMMANDS)}); leave out --ssh")
    ref = EnvRef(**hints.password) if "env" in hints.password else FileRef(**hints.password)

    def read(device_name: str) -> dict[str, list[str]]:
        conn = DeviceConnection(name=device_name, platform=hints.platform, host=hints.host,
                                username=hints.username, password=resolve(ref),
                                known_hosts=Path(hints.known_hosts) if hints.known_hosts else None)
        with open_device(conn) as dev:
            text = dev.send_show(INTERFACE_ADDRESS_COMMANDS[hints.platform])
        return parse_interface_addresses(hints.platform, text)
    return read
