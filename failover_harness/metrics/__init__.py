"""Failover metrics from a timeline (no I/O), defined as in RFC 6412/6413 and RFC 3357.

t0 is the instant the fault action was acknowledged (fault.py). Every metric is a
`MetricValue` (values.py): a value with bounds, or unavailable with the reason why. One
module per idea: flows.py (loss episodes, outages, convergence), detection.py (when each side
noticed), failback.py (after the restore), directions.py (loss by direction of UDP flows),
gaps.py (where a source saw nothing, per Azure operation and device poller), verdicts.py
(expectations), run.py (all of one section).
"""

from failover_harness.metrics.fault import FaultTarget
from failover_harness.metrics.flows import FlowMetrics, LossEpisode, Phase
from failover_harness.metrics.gaps import DataGap
from failover_harness.metrics.run import RunMetrics, compute_metrics
from failover_harness.metrics.values import ESTIMATES, METRIC_UNITS, Estimate, MetricValue, Unit, fmt
from failover_harness.metrics.verdicts import Verdict, VerdictStatus, evaluate

__all__ = ["ESTIMATES", "METRIC_UNITS", "DataGap", "Estimate", "FaultTarget", "FlowMetrics",
           "LossEpisode", "MetricValue", "Phase", "RunMetrics", "Unit", "Verdict", "VerdictStatus", "compute_metrics",
           "evaluate", "fmt"]
