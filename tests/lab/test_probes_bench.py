"""Smoke test of `failover-harness bench` with small numbers, every engine: it runs,
measures the drop it caused on both sides, and leaves nothing behind. Figures are printed,
not asserted."""

from __future__ import annotations

import subprocess

import pytest
from rich.console import Console

from failover_harness.bench import KINDS, print_bench, run_benches

pytestmark = pytest.mark.lab


def namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                            check=True).stdout
    return {line.split()[0] for line in listed.splitlines() if line.strip()}


def test_bench_small(capsys: pytest.CaptureFixture[str]) -> None:
    before = {ns for ns in namespaces() if ns.startswith("fhB")}
    results = run_benches(KINDS, flows=4, rate_hz=50, seconds=2.0, drop_s=0.4)
    assert {ns for ns in namespaces() if ns.startswith("fhB")} == before
    assert [r.kind for r in results] == ["icmp", "tcp", "udp"]
    for result in results:
        assert result.requested_pps == 200
        assert result.probes_sent > 0 and result.achieved_pps > 0
        assert result.cpu_percent > 0
        assert len(result.outages) == 4
        for outage in result.outages:
            # Both sides saw the drop; correctness, not a timing target: within 2 intervals
            # of the capture and of the rule's time in place.
            assert outage.engine_s is not None and outage.capture_s is not None, outage
            assert outage.error_s is not None and abs(outage.error_s) <= 2 * result.interval_s
            assert (abs(outage.engine_s - 0.4)
                    <= result.drop_window_s - 0.4 + 2 * result.interval_s), (result.kind, outage)
    print_bench(results, Console(force_terminal=False, width=160))
    printed = capsys.readouterr().out
    assert "send jitter p50 / p99" in printed and "outage error vs capture" in printed
    assert all(name in printed for name in ("ICMP echo", "TCP SYN", "UDP reflector"))
    with capsys.disabled():  # the figures, for whoever runs with -s
        print_bench(results, Console(width=160))
