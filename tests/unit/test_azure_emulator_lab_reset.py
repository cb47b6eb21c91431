"""The lab's instance reset, with the commands recorded instead of run: what goes down, in
which order, and that everything comes back also when the emulator stops mid-outage."""

from __future__ import annotations

import asyncio
import json

import pytest

from failover_harness.lab.azure_emulator.lab_reset import NFT_TABLE, InstanceReset, block_ike_ruleset
from failover_harness.lab.state import RouterState

ROUTER = RouterState(name="gw1", netns="fe-gw1", role="azure_instance", asn=65515, frr_dir="/run/x/gw1",
                     vici_socket="/run/x/gw1/charon.vici", router_id="10.0.255.5")
SUMMARY = {"ipv4Unicast": {"peers": {"169.254.21.6": {}, "10.0.255.4": {}, "10.0.1.1": {}}}}


class Recorder:
    def __init__(self) -> None:
        self.steps: list[str] = []

    async def run(self, *argv: str, stdin: str | None = None) -> str:
        if argv[-1] == "show bgp summary json":
            return json.dumps(SUMMARY)
        self.steps.append(" ".join(argv[3:] if argv[0] == "vtysh" else argv[4:]) + (f" <<{stdin.split()[0]}" if stdin else ""))
        return ""

    async def terminate(self, name: str) -> None:
        self.steps.append(f"terminate {name}")

    async def initiate(self, name: str) -> None:
        self.steps.append(f"initiate {name}")


def reset(rec: Recorder, ike: list[str]) -> InstanceReset:
    return InstanceReset(ROUTER, ike, rec.run, rec.terminate, rec.initiate)


def test_down_then_up_in_order() -> None:
    rec = Recorder()
    asyncio.run(reset(rec, ["tunnel2"]).outage(0.01))
    shut = "-c configure terminal -c router bgp 65515 " + " ".join(
        f"-c neighbor {n} shutdown" for n in ("10.0.1.1", "10.0.255.4", "169.254.21.6"))
    assert rec.steps == [shut, "nft -f - <<table", "terminate tunnel2",
                         "nft -f - <<delete", shut.replace("-c neighbor", "-c no neighbor"), "initiate tunnel2"]


def test_cancelled_mid_outage_still_restores() -> None:
    rec = Recorder()

    async def main() -> None:
        task = asyncio.create_task(reset(rec, []).outage(30))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert rec.steps[-1].startswith("-c configure terminal -c router bgp 65515 -c no neighbor")
    assert not any("nft" in s for s in rec.steps), "no IPsec on this instance: nothing to block"


def test_ike_block_rules_name_the_peer_when_given() -> None:
    assert "ip saddr 203.0.113.10 udp dport { 500, 4500 } drop" in block_ike_ruleset("203.0.113.10")
    assert f"table inet {NFT_TABLE}" in block_ike_ruleset() and "saddr" not in block_ike_ruleset()
