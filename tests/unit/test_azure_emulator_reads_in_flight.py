"""The emulator's lab reads: overlapping reads of the same thing share one command."""

from __future__ import annotations

import asyncio

from failover_harness.lab.azure_emulator.live_source import _ReadsInFlight


def test_overlapping_reads_share_one_command_and_later_ones_run_again() -> None:
    started: list[str] = []

    async def command(name: str, seconds: float) -> str:
        started.append(name)
        number = len(started)
        await asyncio.sleep(seconds)
        return f"{name}#{number}"

    async def scenario() -> tuple[list[str], str, str]:
        reads = _ReadsInFlight()
        together = await asyncio.gather(*(reads.read(("a",), lambda: command("a", 0.05)) for _ in range(5)),
                                        reads.read(("b",), lambda: command("b", 0.01)))
        after = await reads.read(("a",), lambda: command("a", 0.0))
        return list(together), after, ",".join(started)

    together, after, started_order = asyncio.run(scenario())
    assert together == ["a#1"] * 5 + ["b#2"]
    assert after == "a#3"  # the first read had ended: a new command
    assert started_order == "a,b,a"


def test_a_cancelled_reader_leaves_the_shared_read_to_the_others() -> None:
    async def scenario() -> str:
        reads = _ReadsInFlight()

        async def slow() -> str:
            await asyncio.sleep(0.05)
            return "done"

        first = asyncio.ensure_future(reads.read(("x",), slow))
        second = asyncio.ensure_future(reads.read(("x",), slow))
        await asyncio.sleep(0.01)
        first.cancel()
        return await second

    assert asyncio.run(scenario()) == "done"
