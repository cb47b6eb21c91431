"""`python -m failover_harness.lab.azure_emulator --lab-dir RUN_DIR --port PORT`

Reads RUN_DIR/lab.json, makes the lab CA and server certificate and the identity header
secret under RUN_DIR/azure/, listens (PORT 0 picks a free port), writes
RUN_DIR/azure/endpoint.json (an EmulatorState) atomically once ready, and exits cleanly on
SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

from pydantic import ValidationError

from failover_harness.errors import InputError
from failover_harness.lab.state import LabState

from .live_source import LiveLabSource
from .runner import listen, write_secret
from .server import Emulator
from .settings import EmulatorSettings
from .tls import make_lab_tls

log = logging.getLogger("failover_harness.lab.azure_emulator")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m failover_harness.lab.azure_emulator",
                                     description="Local Azure Network API for the lab's VPN gateway.")
    parser.add_argument("--lab-dir", type=Path, required=True, help="the lab's run directory (holds lab.json)")
    parser.add_argument("--port", type=int, default=0, help="HTTPS port on 127.0.0.1 (0 = a free one)")
    parser.add_argument("--identity-port", type=int, default=0, help="plain-HTTP identity endpoint port")
    parser.add_argument("--settings", type=Path, help="JSON file with initial EmulatorSettings")
    return parser.parse_args(argv)


def load_inputs(args: argparse.Namespace) -> tuple[LabState, EmulatorSettings]:
    """lab.json and the optional settings file, with errors that name the file and field."""
    lab_json = args.lab_dir / "lab.json"
    try:
        lab = LabState.load(args.lab_dir)
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", file=str(lab_json)) from e
    except ValidationError as e:
        err = e.errors()[0]
        raise InputError(err["msg"], file=str(lab_json), field=".".join(map(str, err["loc"]))) from e
    if not lab.azure.instances:
        raise InputError("the lab has no Azure gateway instances", file=str(lab_json), field="azure.instances")
    settings = EmulatorSettings()
    if args.settings:
        try:
            settings = EmulatorSettings.model_validate_json(args.settings.read_text())
        except OSError as e:
            raise InputError(f"cannot read: {e.strerror}", file=str(args.settings)) from e
        except ValidationError as e:
            err = e.errors()[0]
            raise InputError(err["msg"], file=str(args.settings), field=".".join(map(str, err["loc"]))) from e
    if lab.options.get("mode") == "active-standby":  # the gateway resource has one ip configuration
        settings = settings.model_copy(update={"active_active": False})
    return lab, settings


async def serve(args: argparse.Namespace) -> None:
    lab, settings = load_inputs(args)
    azure_dir = args.lab_dir / "azure"
    tls = make_lab_tls(azure_dir)
    header_file = azure_dir / "identity-header"
    secret = secrets.token_urlsafe(32)
    write_secret(header_file, secret)
    onprem_asns = {name: r.asn for name, r in lab.routers.items() if r.role == "onprem_edge"}
    emulator = Emulator(lab.azure, lab.tunnels, LiveLabSource(lab), secret, settings, onprem_asns=onprem_asns)
    listening = await listen(emulator, tls, args.port, args.identity_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    state = listening.emulator_state(tls, header_file)
    tmp = azure_dir / "endpoint.json.tmp"
    tmp.write_text(state.model_dump_json(indent=2))
    os.replace(tmp, azure_dir / "endpoint.json")
    log.info("listening on %s (identity %s)", state.base_url, state.identity_endpoint)
    await stop.wait()
    await listening.runner.cleanup()
    await emulator.shutdown()  # a reset under way brings its instance back before we exit
    emulator.close_connections()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(parse_args(sys.argv[1:] if argv is None else argv)))
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
