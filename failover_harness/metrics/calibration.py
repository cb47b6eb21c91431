"""Calibrated Azure detection: where inside their windows the peer-status calls read their
state (snapshot_offset.py), learned from the failback, applied to the fault.

The known change: at failback the session becomes Established on both ends within a round
trip; the on-prem end's instant is the device watcher's bgp_state window (widened by
SIMULTANEITY_S). The samples: the peer-status samples' own readings (`peer_states` of each
azure/sample), after Azure had seen the peer down. The fault's samples (its episode) are
those that could not have read the state after the restore. Without a failback seen on both
ends there is no calibration and the full windows are used, and the metric says so. A
report pools the points of every section of its run (one gateway, one operation): each
failback adds a known change, each fault an episode that can rule shapes out.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from failover_harness.events import Event, Sample
from failover_harness.metrics.fault import FaultTarget, Section, find_section
from failover_harness.metrics.observations import UP_ONPREM, onprem_sessions, state_of
from failover_harness.metrics.snapshot_offset import (
    Calibration,
    KnownChange,
    StraddleSample,
    calibrate,
    change_bounds,
)
from failover_harness.metrics.values import MetricValue, fmt

# Both ends of a BGP session reach Established within a round trip plus a message (the lab
# measured both up within 46-66 ms of each other after `no shutdown`).
SIMULTANEITY_S = 0.1
CONNECTED = "connected"
# Samples older than this before the fault cannot bracket it (and may predate other changes).
LOOKBACK_S = 120.0


def peer_readings(events: Sequence[Event], peer: str, instance: str | None) -> list[tuple[Sample, bool]]:
    """(sample, showed Connected) of every good, applied peer-status sample that read `peer`."""
    out = []
    for event in events:
        if not isinstance(event, Sample) or event.operation != "bgp_peer_status":
            continue
        data = event.data
        if not data.ok or data.stale or not data.peer_states:
            continue
        for key, state in data.peer_states.items():
            inst, _, neighbor = key.rpartition("/")
            if neighbor == peer and (instance is None or inst == instance):
                out.append((event, (state or "").lower() == CONNECTED))
                break
    return out


def _straddle(sample: Sample, connected: bool, new_is_connected: bool) -> StraddleSample:
    return StraddleSample(start=sample.window[0], end=sample.window[1], showed_new=connected == new_is_connected,
                          pending=sample.data.pending_at)


class CalibrationPoints(BaseModel):
    """What one section offers every calibration of its run: its failback (a known change
    and the samples around it) and its fault's samples (an episode of unknown time)."""

    model_config = ConfigDict(frozen=True)

    observed: list[tuple[KnownChange, list[StraddleSample]]] = Field(default_factory=list)
    episodes: list[list[StraddleSample]] = Field(default_factory=list)

    def __add__(self, other: CalibrationPoints) -> CalibrationPoints:
        return CalibrationPoints(observed=[*self.observed, *other.observed],
                                 episodes=[*self.episodes, *other.episodes])


def section_points(events: Sequence[Event]) -> CalibrationPoints:
    """The calibration points of one section's events (none without a fault)."""
    section = find_section(sorted(events, key=lambda e: (e.t, e.seq)))
    return failback_points(events, section, section.fault) if section.fault else CalibrationPoints()


def failback_points(events: Sequence[Event], section: Section, fault: FaultTarget) -> CalibrationPoints:
    episode = fault_episode(events, section, fault)
    episodes = [episode] if episode else []
    if fault.azure_peer is None or section.restore_start is None or fault.onprem_neighbor is None:
        return CalibrationPoints(episodes=episodes)
    readings = peer_readings(events, fault.azure_peer, fault.azure_instance)
    onprem_up = next((e for e in onprem_sessions(events, fault)
                      if e.t >= section.restore_start and state_of(e).lower() == UP_ONPREM), None)
    # The peer was Connected before the fault: a down reading answered after it is the fault's.
    first_down = next((s for s, up in readings if s.window[1] >= (section.fault_start or 0.0) and not up), None)
    if onprem_up is None or first_down is None:
        return CalibrationPoints(episodes=episodes)
    known = KnownChange(lo=onprem_up.window[0] - SIMULTANEITY_S, hi=onprem_up.window[1] + SIMULTANEITY_S,
                        what=f"session to {fault.onprem_neighbor} Established at failback")
    # Down readings after the fault all came before the failback. A Connected reading is the
    # failback only if its call started after a down reading had been answered (an earlier
    # one may have read the peer before Azure noticed the fault).
    around = [_straddle(s, up, True) for s, up in readings
              if (not up and s.window[1] >= first_down.window[1]) or (up and s.window[0] >= first_down.window[1])]
    return CalibrationPoints(observed=[(known, around)], episodes=episodes)


def failback_calibration(events: Sequence[Event], section: Section, fault: FaultTarget,
                         pooled: CalibrationPoints | None = None) -> Calibration:
    """From this section's failback, or from `pooled`: every section's of the run (the
    snapshot offset belongs to the gateway's operation, the same in every section)."""
    points = pooled if pooled is not None else failback_points(events, section, fault)
    return calibrate(points.observed, points.episodes)


def fault_episode(events: Sequence[Event], section: Section, fault: FaultTarget) -> list[StraddleSample]:
    """The peer-status samples around the fault that cannot have read the restore."""
    if fault.azure_peer is None or section.fault_start is None:
        return []
    until = section.restore_start if section.restore_start is not None else section.t_end
    return [_straddle(s, up, False) for s, up in peer_readings(events, fault.azure_peer, fault.azure_instance)
            if s.window[0] >= section.fault_start - LOOKBACK_S and s.window[1] < until]


def calibrated_detection(events: Sequence[Event], section: Section, fault: FaultTarget,
                         uncalibrated: MetricValue, pooled: CalibrationPoints | None = None) -> MetricValue:
    """azure_detection_s with calibrated bounds where a calibration exists; the uncalibrated
    bounds side by side in its detail, and which one the verdict uses. `pooled`: the run's
    calibration points (every section's), else this section's own."""
    if not uncalibrated.available or uncalibrated.censored or section.t0 is None or section.fault_start is None:
        return uncalibrated
    # Delays run from the fault's send (detection.py), so the calibrated bounds do too.
    fault_start = section.fault_start
    calibration = failback_calibration(events, section, fault, pooled)
    episode = fault_episode(events, section, fault)
    has_both = any(x.showed_new for x in episode) and any(not x.showed_new for x in episode)
    if not calibration.calibrated or not has_both:
        why = calibration.reason if not calibration.calibrated else "no samples on both sides of the fault"
        return uncalibrated.model_copy(update={
            "detail": f"{uncalibrated.detail}; uncalibrated: full sample windows ({why})"})
    lo, hi = change_bounds(calibration, episode)
    lo = max(lo, fault_start)
    if uncalibrated.hi is not None:
        hi = min(hi, fault_start + uncalibrated.hi)
    if hi < lo:  # the calibration does not hold for this run: keep what is certain
        return uncalibrated.model_copy(update={
            "detail": f"{uncalibrated.detail}; calibration contradicted by the fault's samples, uncalibrated"})
    detail = (f"{uncalibrated.detail}; calibrated ({calibration.text()}); uncalibrated "
              f"{fmt(uncalibrated.value)} s ({fmt(uncalibrated.lo)}..{fmt(uncalibrated.hi)}); "
              "the verdict uses the calibrated bounds")
    return MetricValue.delay(uncalibrated.name, fault_start, lo, hi, detail=detail,
                             evidence_gap=uncalibrated.evidence_gap).model_copy(
        update={"reason": uncalibrated.reason})
