"""The active-standby takeover with the commands recorded instead of run: the VIP, the
underlay route and the BGP neighbors move to the standby, which initiates the tunnels; the
reset instance returns as the standby; cancelled before the takeover, it returns as active."""

from __future__ import annotations

import asyncio
import json

import pytest

from failover_harness.lab.azure_emulator.lab_reset import InstanceReset
from failover_harness.lab.azure_emulator.takeover import ActiveStandby, holds_address
from failover_harness.lab.state import AzureInstanceState, LabState, RouterState, TunnelState

VIP = "198.51.100.100"


def router(name: str, rid: str) -> RouterState:
    return RouterState(name=name, netns=f"hf-{name}", role="azure_instance", asn=65515,
                       frr_dir=f"/run/x/{name}", vici_socket=f"/run/x/{name}/charon.vici", router_id=rid)


GW0, GW1 = router("gw0", "10.0.255.4"), router("gw1", "10.0.255.5")
SUMMARY = {"ipv4Unicast": {"peers": {"169.254.21.2": {}, "10.0.255.5": {}, "10.0.255.1": {}}}}


class Recorder:
    def __init__(self) -> None:
        self.steps: list[str] = []

    async def run(self, *argv: str, stdin: str | None = None) -> str:
        if argv[-1] == "show bgp summary json":
            return json.dumps(SUMMARY)
        where = argv[2].split("/")[-1] if argv[0] == "vtysh" else ""
        self.steps.append(f"{where} " + " ".join(a for a in argv[3:] if a != "-c") if argv[0] == "vtysh"
                          else " ".join(argv) + (f" <<{stdin.split()[0]}" if stdin else ""))
        return ""

    async def initiate(self, r: RouterState, name: str) -> None:
        self.steps.append(f"initiate {r.name} {name}")

    async def terminate(self, name: str) -> None:
        self.steps.append(f"terminate {name}")


def standby() -> ActiveStandby:
    insts = {i: AzureInstanceState(index=i, router=f"gw{i}", public_ip=VIP, wan_ip=f"198.51.100.{10 + 4 * i}",
                                   bgp_ip="169.254.21.1", private_ip=f"10.0.255.{4 + i}",
                                   ip_configuration=f"vnetGatewayConfig{i}") for i in (0, 1)}
    return ActiveStandby(vip=VIP, underlay_netns="hf-inet", instances=insts, routers={0: GW0, 1: GW1},
                         onprem_peers=["169.254.21.2"], ike_names=["cn-edge1-t1"])


def reset_of(rec: Recorder, r: RouterState) -> InstanceReset:
    return InstanceReset(r, ["cn-edge1-t1"], rec.run, rec.terminate, lambda name: rec.initiate(r, name))


def test_reset_of_the_active_moves_everything_to_the_standby() -> None:
    rec, ab = Recorder(), standby()
    asyncio.run(ab.reset_active(reset_of(rec, GW0), 0.02, 0.01, rec.run, rec.initiate))
    assert ab.active == 1 and ab.active_router() is GW1
    steps = rec.steps
    takeover = [f"ip -n hf-gw0 addr del {VIP}/32 dev lo",
                f"ip -n hf-inet route replace {VIP}/32 via 198.51.100.14",
                f"ip -n hf-gw1 addr add {VIP}/32 dev lo",
                "gw1 configure terminal router bgp 65515 no neighbor 169.254.21.2 shutdown",
                "initiate gw1 cn-edge1-t1"]
    start = steps.index(takeover[0])
    assert steps[start:start + 5] == takeover
    # Before: gw0 went down (every neighbor shut, IKE blocked, its SA ended).
    assert steps[0].startswith("gw0 configure terminal router bgp 65515 neighbor 10.0.255.1 shutdown")
    assert "terminate cn-edge1-t1" in steps[:start]
    # After: gw0 returns as the standby: its iBGP back, its on-prem neighbor still shut, no initiate.
    back = steps[start + 5:]
    assert back[-1] == "gw0 configure terminal router bgp 65515 no neighbor 10.0.255.1 shutdown " \
                       "no neighbor 10.0.255.5 shutdown"
    assert not any(s.startswith("initiate gw0") for s in back)


def test_second_reset_moves_it_back() -> None:
    rec, ab = Recorder(), standby()
    asyncio.run(ab.reset_active(reset_of(rec, GW0), 0.0, 0.0, rec.run, rec.initiate))
    asyncio.run(ab.reset_active(reset_of(rec, GW1), 0.0, 0.0, rec.run, rec.initiate))
    assert ab.active == 0
    assert f"ip -n hf-inet route replace {VIP}/32 via 198.51.100.10" in rec.steps


def test_cancelled_before_the_takeover_the_old_instance_stays_active() -> None:
    rec, ab = Recorder(), standby()

    async def main() -> None:
        task = asyncio.create_task(ab.reset_active(reset_of(rec, GW0), 30, 20, rec.run, rec.initiate))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert ab.active == 0
    assert not any("addr" in s for s in rec.steps)
    assert rec.steps[-2].startswith("gw0 configure terminal router bgp 65515 no neighbor 10.0.255.1 shutdown")
    assert rec.steps[-1] == "initiate gw0 cn-edge1-t1"


def test_holder_read_from_ip_json() -> None:
    out = json.dumps([{"ifname": "lo", "addr_info": [{"local": "127.0.0.1"}, {"local": VIP}]}])
    assert holds_address(out, VIP) and not holds_address("[]", VIP)


def test_active_active_lab_has_no_takeover() -> None:
    lab = LabState(prefix="hf", run_dir="/x", options={"mode": "ecmp"},
                   tunnels=[TunnelState(name="Tunnel1", onprem_router="edge1", onprem_interface="Tunnel1",
                                        onprem_bgp_ip="169.254.21.2", onprem_public_ip="203.0.113.10",
                                        azure_instance=0, azure_interface="Tunnel1", azure_bgp_ip="169.254.21.1",
                                        azure_public_ip="198.51.100.10", ipsec=True, connection="c",
                                        local_network_gateway="l")])
    assert ActiveStandby.from_lab(lab) is None
