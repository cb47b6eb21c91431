"""The probe engine: flows with fixed 5-tuples probed on fixed grids by a worker process
with raw sockets, and the loss episodes computed from its results."""

from failover_harness.probes.episodes import (
    EpisodeEvent,
    FlowLossDetector,
    FlowStats,
    LossEnd,
    LossStart,
    LossTracker,
)
from failover_harness.probes.flows import FlowKind, FlowSpec, FlowTarget, ProbeJob, build_flows
from failover_harness.probes.process import ProbeProcess
from failover_harness.probes.results import ProbeResult, ResultDecoder

__all__ = [
    "EpisodeEvent", "FlowKind", "FlowLossDetector", "FlowSpec", "FlowStats", "FlowTarget",
    "LossEnd", "LossStart", "LossTracker", "ProbeJob", "ProbeProcess", "ProbeResult",
    "ResultDecoder", "build_flows",
]
