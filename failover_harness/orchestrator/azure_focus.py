"""Where the Azure poller should look hardest: the window after a device change in which
Azure's view is expected to change (AzurePoller.focus). Pure; playbook_run applies it.

A fault: the design's predicted Azure detection window (prediction.py), widened by
MARGIN_S on each side, so the LROs finishing just before and just after the change are both
polled closely. A fault with no prediction: the first DEFAULT_S seconds. A restore: the
first RESTORE_S (the session comes back within a second or two of the command; the focus
spends the same reads whatever its length, so a shorter one polls closer).
"""

from __future__ import annotations

from failover_harness.orchestrator.steps import DeviceChange
from failover_harness.prediction import Prediction

MARGIN_S = 1.5
DEFAULT_S = 6.0
RESTORE_S = 6.0


def focus_window(change: DeviceChange | None, prediction: Prediction | None) -> tuple[float, float]:
    """(after_s, until_s) from the change's send."""
    if change is not None and change.is_restore:
        return 0.0, RESTORE_S
    if change is None or prediction is None:
        return 0.0, DEFAULT_S
    tunnel = prediction.for_tunnel(change.device, change.target, change.target)
    if tunnel is None:
        return 0.0, DEFAULT_S
    window = tunnel.azure_detection
    return max(window.lo - MARGIN_S, 0.0), window.hi + MARGIN_S
