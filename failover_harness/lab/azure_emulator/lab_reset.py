"""A gateway instance reset that really happens in the lab: the instance router's BGP
neighbors are shut and its IKE/NAT-T traffic is dropped (its IKE SAs terminated) for the
outage, then everything comes back and the instance initiates its tunnels again.

Why this shape: a reset reboots one instance (MicrosoftDocs azure-docs, vpn-gateway/
reset-gateway.md); while it reboots it answers nothing. `neighbor X shutdown` sends BGP
Cease first, as an orderly reboot would; dropping UDP 500/4500 in the instance's namespace
keeps the on-prem router from re-keying during the outage (and stops ESP-in-UDP, the data
plane). The on-prem charon gives up re-initiating after its retries, so the instance
initiates on the way back (the Azure end of the lab's swanctl config has start_action none).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Collection

from failover_harness.lab.state import RouterState

log = logging.getLogger(__name__)
NFT_TABLE = "fh_azure_reset"

Run = Callable[..., Awaitable[str]]


def block_ike_ruleset(peer: str | None = None) -> str:
    """nft rules dropping IKE and NAT-T (UDP 500/4500) both ways; only to/from `peer` if given."""
    match_in = f"ip saddr {peer} " if peer else ""
    match_out = f"ip daddr {peer} " if peer else ""
    return (f"table inet {NFT_TABLE} {{\n"
            f"  chain in {{ type filter hook input priority -10; policy accept;\n"
            f"    {match_in}udp dport {{ 500, 4500 }} drop\n    {match_in}udp sport {{ 500, 4500 }} drop\n  }}\n"
            f"  chain out {{ type filter hook output priority -10; policy accept;\n"
            f"    {match_out}udp dport {{ 500, 4500 }} drop\n    {match_out}udp sport {{ 500, 4500 }} drop\n  }}\n"
            f"}}\n")


def neighbor_commands(asn: int, neighbors: list[str], shutdown: bool) -> list[str]:
    prefix = "" if shutdown else "no "
    return ["configure terminal", f"router bgp {asn}", *(f"{prefix}neighbor {n} shutdown" for n in neighbors)]


class InstanceReset:
    """Down/up steps for one instance router; `run(*argv)` executes a command (raises on failure)."""

    def __init__(self, router: RouterState, ike_names: list[str], run: Run,
                 terminate_ike: Callable[[str], Awaitable[None]],
                 initiate_ike: Callable[[str], Awaitable[None]]) -> None:
        self.router, self.ike_names, self.run = router, ike_names, run
        self.terminate_ike, self.initiate_ike = terminate_ike, initiate_ike
        self.neighbors: list[str] = []

    async def _vtysh(self, commands: list[str]) -> str:
        argv = ["vtysh", "--vty_socket", self.router.frr_dir]
        for c in commands:
            argv += ["-c", c]
        return await self.run(*argv)

    async def _nft(self, rules: str) -> None:
        await self.run("ip", "netns", "exec", self.router.netns, "nft", "-f", "-", stdin=rules)

    async def down(self) -> None:
        summary = json.loads(await self._vtysh(["show bgp summary json"]) or "{}")
        self.neighbors = sorted(((summary.get("ipv4Unicast") or {}).get("peers") or {}).keys())
        await self._vtysh(neighbor_commands(self.router.asn, self.neighbors, shutdown=True))
        if self.ike_names:
            await self._nft(block_ike_ruleset())
            for name in self.ike_names:
                await self.terminate_ike(name)

    async def up(self, as_standby: Collection[str] = ()) -> None:
        """Undo `down`; every step is tried even if an earlier one fails. `as_standby`: the
        instance returns as an active-standby gateway's standby (its standby took over):
        these neighbors (towards on-prem) stay shut and it initiates no tunnel."""
        errors: list[Exception] = []
        if self.ike_names:
            try:
                await self._nft(f"delete table inet {NFT_TABLE}\n")
            except Exception as e:  # noqa: BLE001 - keep restoring
                errors.append(e)
        try:
            back = [n for n in self.neighbors if n not in as_standby]
            await self._vtysh(neighbor_commands(self.router.asn, back, shutdown=False))
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        for name in [] if as_standby else self.ike_names:
            try:
                await self.initiate_ike(name)
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        if errors:
            raise errors[0]

    async def outage(self, seconds: float) -> None:
        """down, wait, up; `up` also runs when the wait is cancelled (emulator stopping)."""
        log.info("reset %s: down for %.1f s", self.router.name, seconds)
        try:
            await self.down()
            await asyncio.sleep(seconds)
        finally:
            await asyncio.shield(self.up())
            log.info("reset %s: back", self.router.name)
