"""An active-standby gateway in the lab: which instance router holds the VIP, and the
standby's takeover when the active one is reset.

Azure's active-standby gateway has one public IP and one BGP peering address; on planned
maintenance or a reset of the active instance the standby takes over within 10-15 s, and
unplanned failures take about 1-3 minutes (MicrosoftDocs azure-docs, articles/vpn-gateway/
vpn-gateway-highlyavailable.md). The tunnels and BGP sessions are established again from the
new instance: nothing of the old SA or session survives. In the lab the takeover moves the
VIP /32 from one instance router's loopback to the other's, repoints the underlay's route to
it, opens the standby's BGP neighbors towards on-prem (shut while it stands by) and has the
new active instance initiate its tunnels (the on-prem end would re-initiate after its DPD
timeout otherwise). The reset instance returns as the standby.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from failover_harness.lab.state import AzureInstanceState, LabState, RouterState

from .lab_reset import InstanceReset, neighbor_commands

log = logging.getLogger(__name__)

Run = Callable[..., Awaitable[str]]
Initiate = Callable[[RouterState, str], Awaitable[None]]


def holds_address(ip_addr_json: str, address: str) -> bool:
    """Whether `ip -j addr show` output lists `address` on any interface."""
    return any(a.get("local") == address for link in json.loads(ip_addr_json or "[]")
               for a in link.get("addr_info", []))


@dataclass
class ActiveStandby:
    vip: str
    underlay_netns: str
    instances: dict[int, AzureInstanceState]
    routers: dict[int, RouterState]
    onprem_peers: list[str]  # the on-prem BGP addresses the active instance peers with
    ike_names: list[str]
    active: int = 0

    @classmethod
    def from_lab(cls, lab: LabState) -> ActiveStandby | None:
        """None for an active-active lab; reads which instance router holds the VIP now."""
        if lab.options.get("mode") != "active-standby" or len(lab.azure.instances) < 2:
            return None
        instances = {i.index: i for i in lab.azure.instances}
        routers = {i.index: lab.routers[i.router] for i in lab.azure.instances}
        vip = instances[0].public_ip
        underlay = next(n for n in lab.namespaces if n.endswith("-inet"))
        found = cls(vip=vip, underlay_netns=underlay, instances=instances, routers=routers,
                    onprem_peers=sorted({t.onprem_bgp_ip for t in lab.tunnels}),
                    ike_names=[t.ike_name for t in lab.tunnels if t.ipsec and t.ike_name])
        for index, router in routers.items():
            out = subprocess.run(["ip", "-j", "-n", router.netns, "addr", "show", "dev", "lo"],
                                 capture_output=True, text=True, check=False).stdout
            if holds_address(out, vip):
                found.active = index
        return found

    @property
    def standby(self) -> int:
        return next(i for i in self.routers if i != self.active)

    def active_router(self) -> RouterState:
        return self.routers[self.active]

    async def take_over(self, run: Run, initiate: Initiate) -> None:
        """The standby becomes the active instance (the old one is down: see reset)."""
        old, new = self.routers[self.active], self.routers[self.standby]
        new_index = self.standby
        wan = self.instances[new_index].wan_ip or self.instances[new_index].public_ip
        vip = f"{ipaddress.ip_address(self.vip)}/32"
        try:
            await run("ip", "-n", old.netns, "addr", "del", vip, "dev", "lo")
        except Exception as e:  # noqa: BLE001 - a half-done earlier takeover removed it
            log.warning("takeover: %s", e)
        await run("ip", "-n", self.underlay_netns, "route", "replace", vip, "via", wan)
        await run("ip", "-n", new.netns, "addr", "add", vip, "dev", "lo")
        argv = ["vtysh", "--vty_socket", new.frr_dir]
        for c in neighbor_commands(new.asn, self.onprem_peers, shutdown=False):
            argv += ["-c", c]
        await run(*argv)
        self.active = new_index
        log.info("takeover: %s holds %s", new.name, self.vip)
        if new.vici_socket:
            await asyncio.sleep(0.2)  # charon learns the new local address over netlink
            for name in self.ike_names:
                await initiate(new, name)

    async def reset_active(self, reset: InstanceReset, outage_s: float, takeover_s: float,
                           run: Run, initiate: Initiate) -> None:
        """The active instance goes down (`reset`), the standby takes over after
        `takeover_s`, and the reset instance returns as the standby after `outage_s` (not
        before the takeover). Cancelled before the takeover, the old instance returns as the
        active one."""
        moved = False
        log.info("reset %s (active): takeover after %.1f s, back as standby after %.1f s",
                 reset.router.name, takeover_s, outage_s)
        try:
            await reset.down()
            await asyncio.sleep(takeover_s)
            await self.take_over(run, initiate)
            moved = True
            await asyncio.sleep(max(0.0, outage_s - takeover_s))
        finally:
            await asyncio.shield(reset.up(as_standby=self.onprem_peers if moved else ()))
            log.info("reset %s: back as %s", reset.router.name, "standby" if moved else "active")
