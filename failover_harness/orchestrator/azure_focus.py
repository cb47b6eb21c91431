"""Where the Azure poller should look hardest: the window after a device change in which
Azure's view is expected to change (AzurePoller.focus). Pure; playbook_run applies it.

A fault: the design's predicted Azure detection window (prediction.py), widened by
MARGIN_S on each side, so the LROs finishing just before and just after the change are both
polled closely. A restore, or a fault with no prediction: the first DEFAULT_S seconds (the
session comes back, or the reset acts, within seconds of the command).
"""

from __future__ import annotations

from failover_harness.orchestrator.steps import DeviceChange
from failover_harness.prediction import Prediction

MARGIN_S = 1.5
DEFAULT_S = 6.0


def focus_window(change: DeviceChange | None, prediction: Prediction | None) -> tuple[float, float]:
    """(after_s, until_s) from the change's send."""
    if change is None or change.is_restore or prediction is None:
        return 0.0, DEFAULT_S
    tunnel = prediction.for_tunnel(change.device, change.target, change.target)
    if tunnel is None:
        return 0.0, DEFAULT_S
    window = tunnel.azure_detection
    return max(window.lo - MARGIN_S, 0.0), window.hi + MARGIN_S
