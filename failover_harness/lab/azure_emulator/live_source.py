"""`LiveLabSource`: the `GatewaySource` that reads a running lab.

FRR through `vtysh --vty_socket DIR -c '... json'`, strongSwan through its vici socket (the
`vici` package, blocking, so in a thread), interfaces through `ip -n NS -s -j link`.
Reads of the same thing that overlap share one command (`_ReadsInFlight`): many calls in
flight must not spawn a vtysh each, or a loaded lab slows every call and the poller, sizing
its overlap to that latency, starts yet more.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar, cast

import vici

from failover_harness.errors import LabError
from failover_harness.lab.state import LabState, RouterState, TunnelState

from .frr_parse import (
    PeerFilter,
    hidden_addresses,
    parse_advertised,
    parse_bgp_summary,
    parse_bgp_table,
    parse_links,
    parse_vici_sa,
)
from .lab_reset import NFT_TABLE, InstanceReset, block_ike_ruleset
from .observations import (
    IkeSaObservation,
    InterfaceObservation,
    PeerObservation,
    RouteObservation,
    TunnelObservation,
)
from .takeover import ActiveStandby

log = logging.getLogger(__name__)
T = TypeVar("T")
COMMAND_TIMEOUT_S = 10.0


async def run(*argv: str, stdin: str | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE,
                                                stdin=asyncio.subprocess.PIPE if stdin is not None else None)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None),
                                          COMMAND_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise LabError(f"{' '.join(argv)}: no answer in {COMMAND_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        raise LabError(f"{' '.join(argv)}: exit {proc.returncode}: {err.decode(errors='replace').strip()}")
    return out.decode()


@contextmanager
def vici_session(path: str) -> Iterator[vici.Session]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(COMMAND_TIMEOUT_S)
    try:
        sock.connect(path)
        yield vici.Session(sock)
    finally:
        sock.close()


class _ReadsInFlight:
    """Single flight: a read asked for while the same read runs gets that read's answer
    (taken after it was asked for, at most one command's time earlier than its own)."""

    def __init__(self) -> None:
        self._running: dict[tuple[str, ...], asyncio.Future[Any]] = {}

    async def read(self, key: tuple[str, ...], start: Callable[[], Awaitable[T]]) -> T:
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(start())
            self._running[key] = running
            running.add_done_callback(lambda _: self._running.pop(key, None))
        return cast(T, await asyncio.shield(running))


class LiveLabSource:
    def __init__(self, lab: LabState) -> None:
        self.lab = lab
        vnets = [r for r in lab.routers.values() if r.role == "vnet"]
        keep_asns = {lab.azure.asn} | {r.asn for r in lab.routers.values() if r.role == "onprem_edge"}
        self.hidden = PeerFilter(hostnames={r.name for r in vnets}, asns={r.asn for r in vnets} - keep_asns)
        self._reset_locks: dict[int, asyncio.Lock] = {}
        self._reads = _ReadsInFlight()
        # Active-standby: instance 0 (the gateway's one ip configuration) is whichever
        # instance router holds the VIP.
        self.active_standby = ActiveStandby.from_lab(lab)

    # --- helpers ------------------------------------------------------------------------

    def _instance_router(self, instance: int) -> RouterState:
        if self.active_standby is not None and instance == 0:
            return self.active_standby.active_router()
        for inst in self.lab.azure.instances:
            if inst.index == instance:
                return self.lab.routers[inst.router]
        raise LabError(f"the lab has no gateway instance {instance}")

    async def vtysh_json(self, router: RouterState, command: str) -> Mapping[str, Any]:
        argv = ("vtysh", "--vty_socket", router.frr_dir, "-c", command)
        text = await self._reads.read(argv, lambda: run(*argv))
        return json.loads(text) if text.strip() else {}

    async def vtysh(self, router: RouterState, *commands: str) -> str:
        argv = ["vtysh", "--vty_socket", router.frr_dir]
        for c in commands:
            argv += ["-c", c]
        return await run(*argv)

    async def links(self, netns: str) -> dict[str, InterfaceObservation]:
        argv = ("ip", "-n", netns, "-s", "-j", "link", "show")
        return parse_links(json.loads(await self._reads.read(argv, lambda: run(*argv))))

    async def _sas(self, vici_socket: str) -> list[IkeSaObservation]:
        return await self._reads.read(("vici", vici_socket), partial(asyncio.to_thread, self._list_sas, vici_socket))

    @staticmethod
    def _list_sas(vici_socket: str) -> list[IkeSaObservation]:
        with vici_session(vici_socket) as s:
            return [parse_vici_sa(name, sa) for entry in s.list_sas() for name, sa in entry.items()]

    @staticmethod
    def _terminate_ike(vici_socket: str, ike_name: str) -> None:
        with vici_session(vici_socket) as s:
            try:
                for _ in s.terminate({"ike": ike_name, "timeout": 3000, "force": "yes"}):
                    pass
            except vici.exception.CommandException as e:  # nothing to terminate
                log.info("terminate %s: %s", ike_name, e)

    @staticmethod
    def _initiate_ike(vici_socket: str, ike_name: str) -> None:
        with vici_session(vici_socket) as s:
            children = [child for entry in s.list_conns({"ike": ike_name}) for conn in entry.values()
                        for child in (conn.get("children") or {})]
            for child in children:
                try:
                    for _ in s.initiate({"child": child, "ike": ike_name, "timeout": 5000}):
                        pass
                except vici.exception.CommandException as e:  # the peer may re-initiate instead
                    log.warning("initiate %s/%s: %s", ike_name, child, e)

    def _tunnel(self, name: str) -> TunnelState:
        for t in self.lab.tunnels:
            if t.name == name:
                return t
        raise LabError(f"the lab has no tunnel {name}")

    # --- GatewaySource ------------------------------------------------------------------

    async def peers(self, instance: int) -> list[PeerObservation]:
        summary = await self.vtysh_json(self._instance_router(instance), "show bgp summary json")
        return parse_bgp_summary(summary, self.hidden)

    async def learned_routes(self, instance: int) -> list[RouteObservation]:
        router = self._instance_router(instance)
        summary, table = await asyncio.gather(self.vtysh_json(router, "show bgp summary json"),
                                              self.vtysh_json(router, "show bgp ipv4 unicast json"))
        return parse_bgp_table(table, hidden_addresses(summary, self.hidden))

    async def advertised_routes(self, instance: int, peer: str) -> list[RouteObservation]:
        router = self._instance_router(instance)
        return parse_advertised(await self.vtysh_json(
            router, f"show bgp ipv4 unicast neighbors {peer} advertised-routes json"))

    async def tunnels(self) -> list[TunnelObservation]:
        netns = {self.lab.routers[t.onprem_router].netns for t in self.lab.tunnels}
        netns |= {self._instance_router(t.azure_instance).netns for t in self.lab.tunnels}
        names = sorted(netns)
        links = dict(zip(names, await asyncio.gather(*(self.links(n) for n in names)), strict=True))
        sockets = {self._instance_router(t.azure_instance).vici_socket for t in self.lab.tunnels if t.ipsec}
        sas: dict[str, list[IkeSaObservation]] = {}
        for sock in sorted(s for s in sockets if s):
            try:
                sas[sock] = await self._sas(sock)
            except OSError as e:  # charon gone: no SA, the tunnel reports NotConnected
                log.warning("vici %s: %s", sock, e)
                sas[sock] = []
        out = []
        for t in self.lab.tunnels:
            az = self._instance_router(t.azure_instance)
            onprem = self.lab.routers[t.onprem_router]
            ike = None
            if t.ipsec and az.vici_socket:
                ike = next((sa for sa in sas.get(az.vici_socket, []) if sa.name == t.ike_name
                            and sa.state == "ESTABLISHED"), None) or next(
                    (sa for sa in sas.get(az.vici_socket, []) if sa.name == t.ike_name), None)
            out.append(TunnelObservation(tunnel=t.name, ipsec=t.ipsec, ike_sa=ike,
                                         azure_interface=links[az.netns].get(t.azure_interface),
                                         onprem_interface=links[onprem.netns].get(t.onprem_interface)))
        return out

    async def ike_sas(self, tunnel: str) -> list[IkeSaObservation]:
        t = self._tunnel(tunnel)
        sock = self._instance_router(t.azure_instance).vici_socket
        if not t.ipsec or not sock:
            return []
        return [sa for sa in await self._sas(sock) if sa.name == t.ike_name]

    def _instance_reset(self, instance: int) -> InstanceReset:
        router = self._instance_router(instance)
        sock = router.vici_socket
        ike_names = [t.ike_name for t in self.lab.tunnels
                     if t.azure_instance == instance and t.ipsec and t.ike_name and sock]

        async def terminate(name: str) -> None:
            assert sock is not None
            await asyncio.to_thread(self._terminate_ike, sock, name)

        async def initiate(name: str) -> None:
            assert sock is not None
            await asyncio.to_thread(self._initiate_ike, sock, name)

        return InstanceReset(router, ike_names, run, terminate, initiate)

    async def reset_instance(self, instance: int, outage_s: float, takeover_s: float = 0.0) -> None:
        """A reboot of one instance: its BGP sessions and IKE SAs are gone for `outage_s`.
        Resets of one instance run one after another (a second reset reboots it again).
        Active-standby: the standby takes over after `takeover_s` (takeover.py)."""
        lock = self._reset_locks.setdefault(instance, asyncio.Lock())
        async with lock:
            standby = self.active_standby
            if standby is None or instance != 0:
                await self._instance_reset(instance).outage(outage_s)
                return

            async def initiate(router: RouterState, name: str) -> None:
                if router.vici_socket:
                    await asyncio.to_thread(self._initiate_ike, router.vici_socket, name)

            await standby.reset_active(self._instance_reset(instance), outage_s, takeover_s, run, initiate)

    async def reset_connection(self, tunnel: str, outage_s: float) -> None:
        """The connection's IKE SA is torn down and re-established; BGP over it follows the
        tunnel. With `outage_s` > 0 its IKE traffic is dropped that long in between."""
        t = self._tunnel(tunnel)
        router = self._instance_router(t.azure_instance)
        sock = router.vici_socket
        if not (t.ipsec and t.ike_name and sock):
            return
        name = t.ike_name
        if outage_s <= 0:
            await asyncio.to_thread(self._terminate_ike, sock, name)
            await asyncio.to_thread(self._initiate_ike, sock, name)
            return
        nft = ["ip", "netns", "exec", router.netns, "nft", "-f", "-"]
        await run(*nft, stdin=block_ike_ruleset(t.onprem_public_ip))
        try:
            await asyncio.to_thread(self._terminate_ike, sock, name)
            await asyncio.sleep(outage_s)
        finally:
            await run(*nft, stdin=f"delete table inet {NFT_TABLE}\n")
            await asyncio.to_thread(self._initiate_ike, sock, name)
