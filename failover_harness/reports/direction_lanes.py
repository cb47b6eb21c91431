"""Loss by direction on the timeline chart: under a UDP flow that lost probes, a lane for its
forward loss (on-prem -> Azure) and one for its return loss (Azure -> on-prem).

Within an episode the prober knows how many lost probes went each way, not which ones
(metrics/directions.py). So each lane outlines the whole episode (where inside it the loss
lay is not measured) and fills that direction's lost probes x interval: forward from the
episode's start, return up to its end, the order a failing tunnel usually shows (the on-prem
side moves first); the count is written beside it. An episode whose split is unknown is
hatched over its whole span in both lanes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from matplotlib.axes import Axes
from matplotlib.patches import Patch

from failover_harness.metrics.directions import DIRECTION_KINDS, PATHS, Direction
from failover_harness.metrics.flows import FlowMetrics

COLOURS: dict[Direction, str] = {"forward": "#ef6c00", "return": "#6a1b9a"}
DIRECTION_LEGEND = [Patch(color=COLOURS[d], label=f"{d} loss ({PATHS[d]})")
                    for d in ("forward", "return")]
Span = tuple[float, float]  # (start, width)


@dataclass
class DirectionLane:
    direction: Direction
    label: str
    bars: list[Span] = field(default_factory=list)  # lost x interval of this direction
    episodes: list[Span] = field(default_factory=list)  # each episode, outlined
    unknown: list[Span] = field(default_factory=list)  # episodes whose split is not known
    counts: list[tuple[float, int]] = field(default_factory=list)  # (where, lost probes)


def direction_lanes(flows: Sequence[FlowMetrics]) -> dict[str, list[DirectionLane]]:
    """Flow id -> its forward and return lanes, for UDP flows with loss episodes."""
    lanes: dict[str, list[DirectionLane]] = {}
    for flow in flows:
        if flow.kind not in DIRECTION_KINDS or not flow.episodes or not flow.interval_s:
            continue
        pair = [DirectionLane(d, f"  {d} ({PATHS[d]})") for d in ("forward", "return")]
        for episode in flow.episodes:
            span = (episode.start, max(episode.duration_s, 0.001))
            for lane in pair:
                lane.episodes.append(span)
                lost = (episode.forward_lost if lane.direction == "forward"
                        else episode.return_lost)
                if episode.forward_lost is None or episode.return_lost is None or lost is None:
                    lane.unknown.append(span)
                elif lost:
                    width = min(lost * flow.interval_s, span[1])
                    start = episode.start if lane.direction == "forward" else episode.end - width
                    lane.bars.append((start, width))
                    lane.counts.append((start + width, lost))
                else:
                    lane.counts.append((episode.start, 0))
        lanes[flow.flow] = pair
    return lanes


def draw_direction_lane(ax: Axes, y: float, lane: DirectionLane, gid: str) -> None:
    ax.broken_barh(lane.episodes, (y - 0.25, 0.5), facecolors="none", edgecolors="#9e9e9e",
                   linewidth=0.5, gid=gid + "-episodes")
    if lane.bars:
        ax.broken_barh(lane.bars, (y - 0.25, 0.5), facecolors=COLOURS[lane.direction], gid=gid)
    if lane.unknown:
        ax.broken_barh(lane.unknown, (y - 0.25, 0.5), facecolors="none", edgecolors="#616161",
                       hatch="xx", linewidth=0.5, gid=gid + "-unknown")
    for x, count in lane.counts:
        ax.text(x, y, f" {count}", va="center", ha="left", fontsize=6,
                color=COLOURS[lane.direction], clip_on=True)
