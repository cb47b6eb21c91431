"""A replay driver (in the spirit of NAPALM's mock driver) for fast tests without SSH.

It answers show commands from recorded outputs and records the config commands it is sent.
Parsing and command rendering are the real ones (same platform table as the SSH driver).

    dev = ReplayDevice("edge1", "cisco_ios", {"show ip bgp summary": Path("x.raw").read_text()})
    dev = ReplayDevice.simulated_frr("edge1", 65010, {"Tunnel1": ("169.254.21.1", 65515)})

`simulated_frr` also reacts to shut / no shut of an interface or a neighbor by changing the
FRR JSON it answers, so an orchestrator test sees the neighbor leave Established.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel

from failover_harness.devices.base import BgpNeighbor, PlatformName
from failover_harness.devices.common import CommandDevice
from failover_harness.errors import DeviceError

ConfigHook = Callable[["ReplayDevice", list[str]], None]


class ReplayDevice(CommandDevice):
    def __init__(self, name: str, platform: PlatformName,
                 responses: Mapping[str, str | Sequence[str]] | None = None, *,
                 bgp_asn: int | None = None, on_config: ConfigHook | None = None) -> None:
        super().__init__(name, platform, bgp_asn)
        self._responses: dict[str, deque[str]] = {}
        for command, outputs in (responses or {}).items():
            self.respond(command, *([outputs] if isinstance(outputs, str) else outputs))
        self.on_config = on_config
        self.connected = False
        self.connects = 0
        self.reconnects = 0
        self.show_log: list[str] = []  # every show command asked, in order
        self.config_log: list[list[str]] = []  # every config set sent, in order
        self._drops = 0
        self._failures: dict[str, DeviceError] = {}

    @classmethod
    def from_files(cls, name: str, platform: PlatformName, files: Mapping[str, Path],
                   **kwargs: object) -> ReplayDevice:
        """Recorded outputs from files: {command: path}."""
        return cls(name, platform, {c: p.read_text() for c, p in files.items()},
                   **kwargs)  # type: ignore[arg-type]

    # --- scripting
    def respond(self, command: str, *outputs: str) -> None:
        """Answer `command` with these outputs in turn; the last one repeats."""
        if not outputs:
            raise ValueError("respond() needs at least one output")
        self._responses[command] = deque(outputs)

    def drop_session(self, times: int = 1) -> None:
        """The next `times` commands find the session dropped and reconnect first."""
        self._drops += times

    def fail(self, command: str, error: DeviceError) -> None:
        """Raise `error` whenever `command` is sent (a show command or a config line)."""
        self._failures[command] = error

    @property
    def config_commands(self) -> list[str]:
        return [c for batch in self.config_log for c in batch]

    # --- Device I/O
    def connect(self) -> None:
        self.connected = True
        self.connects += 1

    def close(self) -> None:
        self.connected = False

    def _before(self, command: str) -> None:
        if not self.connected:
            raise DeviceError(f"{self.name}: not connected (call connect())")
        if self._drops:
            self._drops -= 1
            self.reconnects += 1  # the SSH driver reconnects once and retries
        if command in self._failures:
            raise self._failures[command]

    def send_show(self, command: str) -> str:
        self._before(command)
        self.show_log.append(command)
        queue = self._responses.get(command)
        if queue is None:
            raise DeviceError(f"{self.name}: no recorded output for {command!r}")
        output = queue.popleft() if len(queue) > 1 else queue[0]
        return self.check_output(command, output)

    def _send_config(self, commands: list[str]) -> str:
        for command in commands:
            self._before(command)
        self.config_log.append(list(commands))
        if self.on_config is not None:
            self.on_config(self, list(commands))
        return ""

    # --- a small simulated FRR router
    @classmethod
    def simulated_frr(cls, name: str, local_as: int,
                      tunnels: Mapping[str, tuple[str, int]], *,
                      router_id: str = "192.0.2.254", prefixes: int = 1) -> ReplayDevice:
        """An FRR router whose BGP neighbors ride on tunnel interfaces.

        tunnels: {interface: (neighbor_ip, remote_as)}. Shutting an interface or a neighbor
        makes that neighbor Idle (and 'Idle (Admin)' for a neighbor shutdown); no shut brings
        it back to Established. Uptimes stay 0: the clock is the test's business.
        """
        sim = _FrrSim(local_as=local_as, router_id=router_id, prefixes=prefixes,
                      tunnels=dict(tunnels))
        device = cls(name, "frr", bgp_asn=local_as, on_config=sim.on_config)
        device.respond("show bgp summary json", sim.render())
        return device


class _FrrSim(BaseModel):
    local_as: int
    router_id: str
    prefixes: int
    tunnels: dict[str, tuple[str, int]]
    interfaces_down: set[str] = set()
    neighbors_down: set[str] = set()

    def on_config(self, device: ReplayDevice, commands: list[str]) -> None:
        context: str | None = None
        for command in commands:
            if m := re.match(r"^interface (\S+)$", command):
                context = m.group(1)
            elif command in ("shutdown", "no shutdown") and context is not None:
                (self.interfaces_down.add if command == "shutdown"
                 else self.interfaces_down.discard)(context)
            elif m := re.match(r"^(no )?neighbor (\S+) shutdown$", command):
                (self.neighbors_down.discard if m.group(1) else self.neighbors_down.add)(
                    m.group(2))
        device.respond("show bgp summary json", self.render())

    def render(self) -> str:
        neighbors: list[BgpNeighbor] = []
        for interface, (address, remote_as) in self.tunnels.items():
            admin = address in self.neighbors_down
            up = not admin and interface not in self.interfaces_down
            neighbors.append(BgpNeighbor(
                address=address, remote_as=remote_as, state="Established" if up else "Idle",
                established=up, admin_down=admin, uptime_s=0.0,
                prefixes_received=self.prefixes if up else None))
        return render_frr_summary_json(self.local_as, neighbors, router_id=self.router_id)


def render_frr_summary_json(local_as: int, neighbors: Sequence[BgpNeighbor], *,
                            router_id: str = "192.0.2.254") -> str:
    """FRR 8's `show bgp summary json` shape (the fields the parser reads), for replays."""
    peers = {}
    for nb in neighbors:
        state = "Idle (Admin)" if nb.admin_down else nb.state
        peers[nb.address] = {
            "remoteAs": nb.remote_as,
            "state": state,
            "peerState": "Admin" if nb.admin_down else "OK",
            "peerUptime": "never" if nb.uptime_s is None else "00:00:00",
            "peerUptimeMsec": int((nb.uptime_s or 0) * 1000),
            "pfxRcd": nb.prefixes_received or 0,
            "pfxSnt": 0,
        }
    doc = {"ipv4Unicast": {"routerId": router_id, "as": local_as, "vrfName": "default",
                           "peerCount": len(peers), "peers": peers}}
    return json.dumps(doc, indent=2)
