"""Where the Azure poller should look hardest: the window after a device change in which
Azure's view is expected to change (AzurePoller.focus). Pure; playbook_run applies it.

A fault: the design's predicted Azure detection window (prediction.py), widened by
MARGIN_S on each side, so the LROs finishing just before and just after the change are both
polled closely. A fault with no prediction: the first DEFAULT_S seconds. A restore: the
first RESTORE_S (the session comes back within a second or two of the command; the focus
spends the same reads whatever its length, so a shorter one polls closer).

A fault waits the poller's lead first (AzurePoller.lead_s: the calls that finish in the
window start one LRO latency before it); a restore never waits.

A restore's focus keeps RESTORE_KEEP of the read bucket: its finishes calibrate (pooled over
every failback of the run), a fault's bound the figure itself, so when faults follow each
other closely (a multi-section run) the next fault's focus finds the bucket less drained
(measured on the lab, 10 sections back to back: 13-17 read tokens spare at each fault with
restores spending everything).
"""

from __future__ import annotations

from typing import NamedTuple

from failover_harness.azure.rates import FOCUS_RESERVE
from failover_harness.orchestrator.steps import DeviceChange
from failover_harness.prediction import Prediction

MARGIN_S = 1.5
DEFAULT_S = 6.0
RESTORE_S = 6.0
RESTORE_KEEP = 0.6


class FocusWindow(NamedTuple):
    """Seconds from the change's send, and the share of the read bucket the focus keeps."""

    after_s: float
    until_s: float
    keep: float = FOCUS_RESERVE

    def later(self, seconds: float) -> FocusWindow:
        """The same window for a change `seconds` from now (a lead, rates.py)."""
        return FocusWindow(self.after_s + seconds, self.until_s + seconds, self.keep)


def focus_window(change: DeviceChange | None, prediction: Prediction | None) -> FocusWindow:
    """Where to focus after `change` (None: an Azure reset)."""
    if change is not None and change.is_restore:
        return FocusWindow(0.0, RESTORE_S, RESTORE_KEEP)
    if change is None or prediction is None:
        return FocusWindow(0.0, DEFAULT_S)
    tunnel = prediction.for_tunnel(change.device, change.target, change.target)
    if tunnel is None:
        return FocusWindow(0.0, DEFAULT_S)
    window = tunnel.azure_detection
    return FocusWindow(max(window.lo - MARGIN_S, 0.0), window.hi + MARGIN_S)
