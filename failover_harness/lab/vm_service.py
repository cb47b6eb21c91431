"""The lab VM's services: TCP ports that accept and echo, UDP echo (port 7). Runs in the VM netns."""

from __future__ import annotations

import argparse
import asyncio


class _UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)  # type: ignore[attr-defined]


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _serve(tcp: list[int], udp: list[int]) -> None:
    servers = [await asyncio.start_server(_echo, "0.0.0.0", port, backlog=1024) for port in tcp]
    loop = asyncio.get_running_loop()
    for port in udp:
        await loop.create_datagram_endpoint(_UdpEcho, local_addr=("0.0.0.0", port))
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tcp", type=int, action="append", default=[])
    parser.add_argument("--udp", type=int, action="append", default=[])
    args = parser.parse_args()
    asyncio.run(_serve(args.tcp, args.udp))


if __name__ == "__main__":
    main()
