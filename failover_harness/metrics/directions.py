"""Loss by direction: per UDP flow (STAMP probes to a reflector) and per section, how many
lost probes never reached the reflector (forward: on-prem -> Azure) and how many the
reflector answered but never came back (return: Azure -> on-prem), and for how long.

The prober knows, per loss episode, how many of its lost probes went each way (the
reflector's receive count before and after the episode, probes/episodes.py), not which ones.
So each direction's duration is its lost probes x the probe interval (`lost_x_interval`),
and its bounds say what the counts allow, with the convention of the flow outages (a run of
consecutive lost probes is one outage, from the first to the last lost probe at least, from
the answered probe before to the one after at most). An episode of F forward and R return
probes holds at most m = min(F, R + 1) separate forward runs (return probes separate them),
so its forward loss lies in [(F - m) x T, (F + m) x T], and never beyond the episode's own
bounds; an episode lost in one direction only has exactly the episode's bounds. The same
holds for the return direction with F and R swapped. A lost probe whose direction is
unknown (the episode was still open at the end, or the reflector's count was missing) may
be either: it widens both directions' upper bounds.

Only episodes of the fault phase count (as for `outage_s`). The forward loss is set beside
the on-prem detection: once the on-prem router notices, it sends on the surviving path, so
the forward loss of a flow should end within that time plus one probe interval; loss beyond
it on the return path is the time the Azure side kept sending into the dead path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from failover_harness.metrics.flows import FlowMetrics, LossEpisode
from failover_harness.metrics.values import MetricValue, fmt

Direction = Literal["forward", "return"]
Dominant = Literal["forward", "return", "both", "none", "unknown"]
PATHS: dict[Direction, str] = {"forward": "on-prem -> Azure", "return": "Azure -> on-prem"}
DIRECTION_KINDS = frozenset({"udp"})  # probe kinds whose losses split by direction


class FlowDirections(BaseModel):
    """One UDP flow's losses by direction, over its loss episodes of the fault phase."""

    flow: str
    interval_s: float | None = None
    episodes: int = Field(description="loss episodes of the fault phase")
    forward_lost: int = Field(description="lost probes that never reached the reflector")
    return_lost: int = Field(description="lost probes the reflector answered that never came back")
    unknown_lost: int = Field(description="lost probes of episodes whose split is not known")
    forward_loss_s: MetricValue
    return_loss_s: MetricValue


class DirectionSummary(BaseModel):
    """A section's loss by direction, over its UDP flows (the only kind that can tell)."""

    flows: list[FlowDirections]
    forward_lost: int
    return_lost: int
    unknown_lost: int
    dominant: Dominant = Field(description="the direction that lost most probes after the fault")
    max_forward_loss_s: MetricValue = Field(description="the flow with the longest forward loss")
    max_return_loss_s: MetricValue = Field(description="the flow with the longest return loss")
    onprem_detection_s: float | None = Field(
        default=None, description="the on-prem detection's value (upper edge) it is set beside")
    forward_within_onprem_detection: bool | None = Field(
        default=None, description="every flow's forward loss <= on-prem detection + one probe "
        "interval (None: no on-prem detection, or no forward figure)")
    text: str = Field(description="the same in words, as the reports say it")


def _split_bounds(own: int, other: int, interval: float,
                  episode: LossEpisode) -> tuple[float, float | None]:
    """(lo, hi) of one direction's loss in an episode of known split (see the module doc)."""
    if own == 0:
        return 0.0, 0.0
    ep_lo = episode.min_duration_s if episode.min_duration_s is not None else 0.0
    ep_hi = episode.max_duration_s
    if other == 0:
        return max(ep_lo, 0.0), ep_hi
    runs = min(own, other + 1)
    hi = (own + runs) * interval
    return max(own - runs, 0) * interval, hi if ep_hi is None else min(hi, ep_hi)


def _direction_loss(name: str, direction: Direction, episodes: Sequence[LossEpisode],
                    interval: float | None) -> MetricValue:
    if interval is None:
        return MetricValue.unavailable(name, "no flow_start for this flow (no probe interval)")
    value = lo = hi = 0.0
    unbounded = False
    own_total = unknown = 0
    for episode in episodes:
        fwd, ret = episode.forward_lost, episode.return_lost
        if fwd is None or ret is None:
            unknown += episode.lost or 0
            if episode.max_duration_s is None:
                unbounded = True
            else:
                hi += episode.max_duration_s  # all of it may have gone this way
            continue
        own, other = (fwd, ret) if direction == "forward" else (ret, fwd)
        own_total += own
        e_lo, e_hi = _split_bounds(own, other, interval, episode)
        value += own * interval
        lo += e_lo
        if e_hi is None:
            unbounded = True
        else:
            hi += e_hi
    detail = f"{own_total} lost {direction} x {fmt(interval)} s"
    if unknown:
        detail += f"; {unknown} lost probe(s) of unknown direction widen the upper bound"
    # An open episode of unknown split: this direction lost at least what the counts say.
    reason = "an episode of unknown direction has no upper bound" if unbounded else None
    return MetricValue.measured(name, value, min(lo, value), max(hi, value),
                                estimate="lost_x_interval", censored=unbounded, detail=detail,
                                reason=reason)


def flow_directions(flow: FlowMetrics) -> FlowDirections:
    episodes = [e for e in flow.episodes if e.phase == "fault"]
    known = [e for e in episodes if e.forward_lost is not None and e.return_lost is not None]
    return FlowDirections(
        flow=flow.flow, interval_s=flow.interval_s, episodes=len(episodes),
        forward_lost=sum(e.forward_lost or 0 for e in known),
        return_lost=sum(e.return_lost or 0 for e in known),
        unknown_lost=sum(e.lost or 0 for e in episodes if e not in known),
        forward_loss_s=_direction_loss("forward_loss_s", "forward", episodes, flow.interval_s),
        return_loss_s=_direction_loss("return_loss_s", "return", episodes, flow.interval_s))


def _worst(flows: Sequence[FlowDirections], direction: Direction) -> MetricValue:
    name = f"max_{direction}_loss_s"
    values = [(f, f.forward_loss_s if direction == "forward" else f.return_loss_s)
              for f in flows]
    values = [(f, m) for f, m in values if m.available and m.value is not None]
    if not values:
        return MetricValue.unavailable(name, "no UDP flow with a probe interval")
    flow, metric = max(values, key=lambda fm: (fm[1].value or 0.0, fm[1].hi or float("inf")))
    return metric.renamed(name, f"flow {flow.flow}")


def _dominant(forward: int, back: int, unknown: int) -> Dominant:
    if forward == back == 0:
        return "unknown" if unknown else "none"
    if forward > back:
        return "forward"
    return "return" if back > forward else "both"


def direction_summary(flows: Sequence[FlowMetrics],
                      metrics: Mapping[str, MetricValue]) -> DirectionSummary | None:
    """The section's loss by direction; None without UDP flows (nothing can tell)."""
    udp = [flow_directions(f) for f in flows if f.kind in DIRECTION_KINDS]
    if not udp:
        return None
    forward = sum(f.forward_lost for f in udp)
    back = sum(f.return_lost for f in udp)
    unknown = sum(f.unknown_lost for f in udp)
    onprem = metrics.get("onprem_detection_s")
    onprem_s = onprem.value if onprem is not None and onprem.available else None
    within: bool | None = None
    if onprem_s is not None and all(f.forward_loss_s.available for f in udp):
        within = all((f.forward_loss_s.value or 0.0) <= onprem_s + (f.interval_s or 0.0) + 1e-9
                     for f in udp)
    summary = DirectionSummary(
        flows=udp, forward_lost=forward, return_lost=back, unknown_lost=unknown,
        dominant=_dominant(forward, back, unknown),
        max_forward_loss_s=_worst(udp, "forward"), max_return_loss_s=_worst(udp, "return"),
        onprem_detection_s=onprem_s, forward_within_onprem_detection=within, text="")
    return summary.model_copy(update={"text": direction_text(summary)})


def _figure(metric: MetricValue) -> str:
    return metric.text() if metric.available else "n/a"


def direction_text(s: DirectionSummary) -> str:
    """E.g. 'UDP flows lost 231 probes on the return path (Azure -> on-prem) and 12 on the
    forward path (on-prem -> Azure) after the fault; ...'."""
    n = len(s.flows)
    if s.forward_lost == s.return_lost == s.unknown_lost == 0:
        return f"Loss by direction: the {n} UDP flow(s) lost no probe after the fault."
    order: list[Direction] = ["return", "forward"] if s.return_lost >= s.forward_lost \
        else ["forward", "return"]
    count = {"forward": s.forward_lost, "return": s.return_lost}
    first, second = order
    if count[second] == 0 and s.unknown_lost == 0:
        text = (f"Loss by direction: UDP flows lost {count[first]} probes after the fault, all "
                f"on the {first} path ({PATHS[first]}), none on the {second} path "
                f"({PATHS[second]})")
    else:
        text = (f"Loss by direction: UDP flows lost {count[first]} probes on the {first} path "
                f"({PATHS[first]}) and {count[second]} on the {second} path "
                f"({PATHS[second]}) after the fault")
    if s.unknown_lost:
        text += f", and {s.unknown_lost} whose direction is unknown"
    text += (f"; forward loss per flow at most {_figure(s.max_forward_loss_s)}, "
             f"return loss up to {_figure(s.max_return_loss_s)}.")
    if s.dominant in ("forward", "return"):
        side = "Azure" if s.dominant == "return" else "on-prem"
        if min(s.forward_lost, s.return_lost) == 0 and not s.unknown_lost:
            text += f" So the {side} side kept sending into the dead path."
        else:
            text += (f" The loss was mostly on the {s.dominant} path: the {side} side kept "
                     "sending into the dead path.")
    if s.onprem_detection_s is not None and s.forward_within_onprem_detection is not None:
        interval = max((f.interval_s or 0.0) for f in s.flows)
        relation = ("within" if s.forward_within_onprem_detection else "longer than")
        text += (f" Forward loss per flow is {relation} the on-prem detection time "
                 f"({fmt(s.onprem_detection_s)} s) plus one probe interval ({fmt(interval)} s)"
                 + ("." if s.forward_within_onprem_detection
                    else ": the on-prem side kept sending into the dead path after it noticed."))
    return text
