"""The reports directory, checked before anything is contacted: a directory this process
can write, with room for the timeline the run is expected to write."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from failover_harness.azure.models import OPERATIONS
from failover_harness.errors import InfrastructureError, InputError
from failover_harness.inventory import Inventory
from failover_harness.orchestrator.components import probe_sets
from failover_harness.playbook import Baseline, Hold, Playbook, WaitUntil

# Measured on lab runs: one flow_stats line (~260 B) per flow per second dominates; each
# Azure operation samples about once per polling interval (~230 B a sample).
FLOW_SECOND_BYTES = 270
AZURE_SAMPLE_BYTES = 250
FIXED_BYTES = 32 * 1024  # run_start, flow_start lines, steps, BGP changes, the journal


def os_reason(exc: OSError) -> str:
    """'Read-only file system' rather than '[Errno 30] Read-only file system: ...'."""
    return exc.strerror or str(exc)


@dataclass(frozen=True)
class Estimate:
    """An upper bound of the timeline's size: every wait_until taking its whole timeout."""

    flow_seconds: float
    azure_samples: float

    @property
    def bytes(self) -> int:
        return int(self.flow_seconds * FLOW_SECOND_BYTES
                   + self.azure_samples * AZURE_SAMPLE_BYTES + FIXED_BYTES)

    def explain(self) -> str:
        return (f"{self.flow_seconds:.0f} flow-seconds x {FLOW_SECOND_BYTES} B + "
                f"{self.azure_samples:.0f} Azure samples x {AZURE_SAMPLE_BYTES} B + "
                f"{FIXED_BYTES // 1024} KiB")


def longest_seconds(pb: Playbook, gate_timeout_s: float, settle_s: float) -> float:
    """How long the playbook's probes may run at most."""
    steps = [*pb.method, *pb.restore_plan()]
    waits = sum(s.seconds for s in steps if isinstance(s, (Baseline, Hold)))
    waits += sum(s.timeout_s for s in steps if isinstance(s, WaitUntil))
    return gate_timeout_s + waits + settle_s


def estimate(inventory: Inventory, playbooks: Sequence[Playbook], gate_timeout_s: float,
             settle_s: float) -> Estimate:
    flow_seconds = azure_seconds = 0.0
    for pb in playbooks:
        seconds = longest_seconds(pb, gate_timeout_s, settle_s)
        flow_seconds += sum(len(f) for _vantage, f in probe_sets(inventory, pb)) * seconds
        azure_seconds += seconds
    samples = azure_seconds * len(OPERATIONS) / inventory.azure.polling.interval_s
    return Estimate(flow_seconds, samples)


def check_reports_root(root: Path, need: Estimate) -> None:
    """InputError (2) when `root` cannot be a reports directory here; InfrastructureError
    (3) when its filesystem has no room for the run. Creates `root` if it is missing."""
    if root.exists() and not root.is_dir():
        raise InputError(f"--reports {root} is not a directory: give a directory for the "
                         "run directories")
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".failover-harness-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise InputError(f"--reports {root}: cannot write there ({os_reason(exc)}); give a "
                         "writable directory") from None
    free = shutil.disk_usage(root).free
    if free < need.bytes:
        raise InfrastructureError(
            f"--reports {root}: {free / 1024:.0f} KiB free, but this run's timeline may take "
            f"up to {need.bytes / 1024:.0f} KiB ({need.explain()}); nothing was contacted - "
            "free some space or give another --reports directory")
