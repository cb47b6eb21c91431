"""The timeline chart of one playbook section: every source on one time axis (matplotlib).

Lanes, top to bottom: Azure samples (each request-to-response window as a thin bar), Azure
connections and BGP peers per instance (state bands), learned next hops per instance and
prefix, on-prem BGP neighbors (state bands), then one lane per probe flow with its loss
episodes; a UDP flow that lost probes gets two more lanes, its forward and return loss
(direction_lanes.py). Actions are vertical markers across all lanes. A state change's uncertainty window
is drawn hatched. SVG element ids (gid) name what they show, so a browser test can find them.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import Patch

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

from failover_harness.events import (
    ActionDone,
    ActionFailed,
    AzureConnection,
    AzurePeer,
    AzureRoutes,
    BgpState,
    Event,
    Sample,
)
from failover_harness.metrics import RunMetrics
from failover_harness.reports.direction_lanes import (
    DIRECTION_LEGEND,
    direction_lanes,
    draw_direction_lane,
)

UP, PARTIAL, DOWN, SAMPLE_OK, SAMPLE_FAIL = "#2e7d32", "#f9a825", "#c62828", "#607d8b", "#d81b60"
LOSS, FLOW_BG = "#c62828", "#e8f5e9"
UP_STATES = {"established", "connected"}
RC: dict[RcKeyType, Any] = {"svg.fonttype": "none", "svg.hashsalt": "failover-harness", "font.size": 8,
      "font.family": "sans-serif"}


def _gid(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts))


Banded = AzureConnection | AzurePeer | AzureRoutes | BgpState


class _Band:
    """Successive states of one thing: [(t, window, state)]."""

    def __init__(self) -> None:
        self.changes: list[tuple[float, tuple[float, float] | None, str]] = []


def _state_text(event: Banded) -> str:
    if isinstance(event, AzureRoutes):
        return ",".join(event.data.next_hops)
    return str(event.data.status if isinstance(event, AzureConnection) else event.data.state)


def _bands(events: Sequence[Event], kind: type[Banded]) -> dict[str, _Band]:
    bands: dict[str, _Band] = {}
    for event in events:
        if isinstance(event, kind):
            band = bands.setdefault(event.subject, _Band())
            band.changes.append((event.t, event.window, _state_text(event)))
    return bands


def _label(subject: str) -> str:
    return (subject.replace("device:", "").replace("azure:instance:", "inst ")
            .replace("azure:connection:", "conn ").replace("/neighbor:", " nbr ")
            .replace("/peer:", " peer ").replace("/prefix:", " "))


def _draw_states(ax: object, y: float, band: _Band, t_end: float, gid: str,
                 full: int | None = None) -> None:
    """State band; for next hops, colour by how many of the `full` paths are present."""
    segments: list[tuple[float, float]] = []
    colours: list[str] = []
    for i, (t, _window, state) in enumerate(band.changes):
        end = band.changes[i + 1][0] if i + 1 < len(band.changes) else t_end
        if end <= t:
            continue
        if full is not None:
            count = len([h for h in state.split(",") if h and h != "None"])
            colour = UP if count >= full else (PARTIAL if count else DOWN)
        else:
            colour = UP if state.lower() in UP_STATES else DOWN
        segments.append((t, end - t))
        colours.append(colour)
        if full is not None or i > 0:
            ax.text(t, y, " " + state, va="center", ha="left", fontsize=6,  # type: ignore[attr-defined]
                    color="white", clip_on=True)
    ax.broken_barh(segments, (y - 0.35, 0.7), facecolors=colours, gid=gid)  # type: ignore[attr-defined]
    windows = [(w[0], w[1] - w[0]) for _t, w, _s in band.changes[1:] if w and w[1] > w[0]]
    if windows:
        ax.broken_barh(windows, (y - 0.45, 0.9), facecolors="none", edgecolors="black",  # type: ignore[attr-defined]
                       hatch="////", linewidth=0.5, gid=gid + "-uncertainty")


def draw_timeline(events: Sequence[Event], metrics: RunMetrics, title: str) -> Figure:
    """One figure, one time axis, for one section."""
    with matplotlib.rc_context(RC):
        return _draw(events, metrics, title)


def _draw(events: Sequence[Event], metrics: RunMetrics, title: str) -> Figure:
    lanes: list[str] = []
    drawers: list[tuple[float, str]] = []
    t_end = metrics.t_end
    samples: dict[str, list[Sample]] = {}
    for event in events:
        if isinstance(event, Sample):
            samples.setdefault(event.subject, []).append(event)
    connections = _bands(events, AzureConnection)
    azure_peers = _bands(events, AzurePeer)
    routes = _bands(events, AzureRoutes)
    onprem = _bands(events, BgpState)
    directions = direction_lanes(metrics.flows)
    n = (len(samples) + len(connections) + len(azure_peers) + len(routes) + len(onprem)
         + len(metrics.flows) + 2 * len(directions))
    fig = Figure(figsize=(11.5, 1.8 + 0.3 * max(n, 3)), layout="constrained")
    ax = fig.add_subplot()
    y = 0.0

    def lane(name: str, group: str) -> float:
        nonlocal y
        lanes.append(name)
        drawers.append((y, group))
        y += 1
        return y - 1

    for subject, sample_events in sorted(samples.items()):
        row = lane(subject.replace("azure:", "Azure sample "), "azure")
        for ok in (True, False):
            spans = [(e.window[0], e.window[1] - e.window[0]) for e in sample_events
                     if e.data.ok == ok]
            if spans:
                ax.broken_barh(spans, (row - 0.12, 0.24), alpha=0.8,
                               facecolors=SAMPLE_OK if ok else SAMPLE_FAIL,
                               gid=_gid("azure-samples", subject, "ok" if ok else "failed"))
    for subject, band in sorted(connections.items()):
        _draw_states(ax, lane(_label(subject), "azure"), band, t_end, _gid("azure", subject))
    for subject, band in sorted(azure_peers.items()):
        _draw_states(ax, lane("Azure " + _label(subject), "azure"), band, t_end,
                     _gid("azure-peer", subject))
    for subject, band in sorted(routes.items()):
        full = max(len(s.split(",")) for _t, _w, s in band.changes)
        _draw_states(ax, lane("routes " + _label(subject), "routes"), band, t_end,
                     _gid("routes", subject), full=full)
    for subject, band in sorted(onprem.items()):
        _draw_states(ax, lane("on-prem " + _label(subject), "onprem"), band, t_end,
                     _gid("onprem-peer", subject))
    for flow in metrics.flows:
        row = lane(f"flow {flow.flow}" + (f" ({flow.kind})" if flow.kind else ""), "flows")
        ax.broken_barh([(metrics.t_start, t_end - metrics.t_start)], (row - 0.3, 0.6),
                       facecolors=FLOW_BG)
        episodes = [(e.start, max(e.duration_s, 0.001)) for e in flow.episodes]
        if episodes:
            ax.broken_barh(episodes, (row - 0.3, 0.6), facecolors=LOSS,
                           gid=_gid("loss-episodes", flow.flow))
        for direction in directions.get(flow.flow, ()):
            draw_direction_lane(ax, lane(direction.label, "flows"), direction,
                                _gid(f"loss-{direction.direction}", flow.flow))

    for event in events:
        if isinstance(event, ActionDone | ActionFailed):
            action = event.data.action
            colour = (DOWN if action.startswith("shut") else
                      UP if action.startswith("no_shut") else "#455a64")
            ax.axvline(event.t, color=colour, linestyle="--", linewidth=1,
                       gid=_gid("action", action, f"{event.t:.3f}"))
            ax.text(event.t, -0.9, action, rotation=0, ha="left", va="bottom", fontsize=7,
                    color=colour)
    if metrics.t0 is not None:
        ax.text(metrics.t0, -1.6, " t0", ha="left", va="bottom", fontsize=7, color=DOWN)

    # Lines between lane groups, so peers, routes and flows read as blocks.
    for (y_prev, g_prev), (y_next, g_next) in itertools.pairwise(drawers):
        if g_prev != g_next:
            ax.axhline((y_prev + y_next) / 2, color="#9e9e9e", linewidth=0.6)
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(len(lanes) - 0.4, -2.0)
    ax.set_xlim(metrics.t_start, t_end)
    ax.set_xlabel("seconds since run start (one monotonic clock)")
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.5)
    ax.set_axisbelow(True)
    ax.set_title(title, loc="left", fontsize=10)
    fig.legend(handles=[Patch(color=UP, label="up / all paths"),
                       Patch(color=PARTIAL, label="some paths"),
                       Patch(color=DOWN, label="down / loss"),
                       Patch(facecolor="none", edgecolor="black", hatch="////",
                             label="change window"),
                       Patch(color=SAMPLE_OK, label="Azure request..response"),
                       Patch(color=SAMPLE_FAIL, label="Azure call failed"),
                       *(DIRECTION_LEGEND if directions else [])],
              loc="outside lower center", ncol=6,
              fontsize=7, frameon=False)
    return fig


def figure_svg(fig: Figure) -> str:
    """Inline SVG (no XML prolog), deterministic ids, text kept as text."""
    buf = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def figure_png(fig: Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
