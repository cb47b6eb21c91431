"""Start the emulator's listeners (HTTPS for ARM and control, plain HTTP on loopback for the
identity endpoint, as App Service serves it) in a loop, or in a thread for sync callers."""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from aiohttp import web

from failover_harness.lab.state import EmulatorState

from .server import CONTROL_PATH, IDENTITY_PATH, Emulator
from .tls import TlsFiles


@dataclass
class Listening:
    runner: web.AppRunner
    port: int
    identity_port: int

    def emulator_state(self, tls: TlsFiles, identity_header_file: Path, host: str = "127.0.0.1") -> EmulatorState:
        base = f"https://{host}:{self.port}"
        return EmulatorState(base_url=base, ca_bundle=str(tls.ca_pem),
                             identity_endpoint=f"http://{host}:{self.identity_port}{IDENTITY_PATH}",
                             identity_header_file=str(identity_header_file), control_url=base + CONTROL_PATH)


def _bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp exposes the bound socket only here
    assert isinstance(server, asyncio.base_events.Server)
    return int(server.sockets[0].getsockname()[1])


async def listen(emulator: Emulator, tls: TlsFiles, port: int = 0, identity_port: int = 0,
                 host: str = "127.0.0.1") -> Listening:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls.cert_pem, tls.key_pem)
    runner = web.AppRunner(emulator.app(), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ctx, reuse_address=True)
    await site.start()
    identity_site = web.TCPSite(runner, host, identity_port, reuse_address=True)
    await identity_site.start()
    return Listening(runner, _bound_port(site), _bound_port(identity_site))


def write_secret(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret)
    os.chmod(path, 0o600)


class EmulatorThread:
    """Runs an Emulator in its own event loop thread; for sync tests and tools."""

    def __init__(self, emulator: Emulator, tls: TlsFiles, identity_header_file: Path, port: int = 0) -> None:
        self.emulator, self.tls, self.identity_header_file, self.port = emulator, tls, identity_header_file, port
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="azure-emulator", daemon=True)
        self.listening: Listening | None = None

    def __enter__(self) -> Self:
        self._thread.start()
        self.listening = asyncio.run_coroutine_threadsafe(
            listen(self.emulator, self.tls, self.port), self.loop).result(timeout=30)
        return self

    @property
    def state(self) -> EmulatorState:
        assert self.listening is not None
        return self.listening.emulator_state(self.tls, self.identity_header_file)

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if self.listening is not None:
                await self.listening.runner.cleanup()
            await self.emulator.shutdown()
            self.emulator.close_connections()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0.05)  # let closed transports run connection_lost
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()
