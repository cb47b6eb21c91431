"""Loss episodes and per-period statistics of probe flows (pure logic, no I/O).

Definitions: a loss episode is a maximal run of consecutive lost
probes of one flow; it starts at the send time of its first lost probe and ends at the send
time of the first probe answered after it. Results reach us in completion order (an answer
comes back within a millisecond, a loss is only known after the timeout), so each flow's
results are put back into sequence order before they are judged.

Every probe kind sends one probe per grid slot. Should results skip slots (an older worker
held one TCP connect attempt at a time and skipped the slots that came while it was open),
a skipped slot takes the outcome of the probe open during it. Counts are kept per grid
slot, so `lost x interval` is the loss-derived outage and `sent = received + lost` per
period; the probes really sent are counted apart (`probes`, `probes_lost`). How exactly an
episode bounds the outage is the gap to the neighbouring probes (`LossEnd.prev_t`,
`last_lost_t`): one interval.

Loss by direction (UDP flows to a reflector, whose answers carry its receive count
`peer_seq`): between the answered probes a and b around an episode, the reflector received
b.peer_seq - a.peer_seq - 1 of the episode's b.seq - a.seq - 1 probes. Those were lost on
the return path, the others on the forward path (never reached the reflector).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from failover_harness.probes.results import ProbeResult

if TYPE_CHECKING:  # plain dataclasses, no pydantic: a remote worker summarises with these
    from failover_harness.probes.flows import FlowSpec


@dataclass(frozen=True, kw_only=True)
class LossStart:
    flow_id: str
    t: float  # send time of the first lost probe (monotonic s)
    seq: int


@dataclass(frozen=True, kw_only=True)
class LossEnd:
    """End of an episode. `open` means the run ended during it: then `seq` is None and `t` is
    the send slot after the last lost probe, so that t - start_t = lost x interval.

    `lost` counts grid slots (for ICMP the lost probes; for TCP also the slots skipped while a
    lost attempt was open); `probes` counts the lost probes really sent. The outage began
    after `prev_t` (send time of the answered probe before the episode; None: none was) and
    ended after `last_lost_t` (send time of the last lost probe)."""

    flow_id: str
    t: float  # send time of the first answered probe after the episode
    seq: int | None
    lost: int
    start_t: float
    open: bool = False
    probes: int | None = None  # None: not known (made by an older writer)
    prev_t: float | None = None
    last_lost_t: float | None = None
    forward_lost: int | None = None  # probes that never reached the reflector (UDP)
    return_lost: int | None = None  # probes the reflector answered that never came back

    @property
    def duration_s(self) -> float:
        return self.t - self.start_t

    @property
    def min_duration_s(self) -> float:
        """The path was down at least from the first to the last lost probe."""
        return (self.last_lost_t if self.last_lost_t is not None else self.start_t) - self.start_t

    @property
    def max_duration_s(self) -> float | None:
        """At most from the answered probe before to the answered probe after it (None when
        the run began in the episode or ended in it)."""
        return None if self.prev_t is None or self.open else self.t - self.prev_t


@dataclass(frozen=True, kw_only=True)
class FlowStats:
    """One flow over one period, by send time: [t, t + period_s). `sent`, `received` and
    `lost` count grid slots (see the module doc); `probes` / `probes_lost` the probes
    really sent in the period and lost of those."""

    flow_id: str
    t: float
    period_s: float
    sent: int
    received: int
    lost: int
    rtt_ms_p50: float | None
    rtt_ms_max: float | None
    probes: int | None = None
    probes_lost: int | None = None
    fwd_delay_ms_p50: float | None = None  # one-way delays on two clocks (udp_stamp.py)
    ret_delay_ms_p50: float | None = None


EpisodeEvent = LossStart | LossEnd | FlowStats


class FlowLossDetector:
    """Feed one flow's results in any order; get loss_start / loss_end / flow_stats events.

    Sequence numbers start at `first_seq` and every probe yields exactly one result. A result
    for a sequence number already judged (a duplicate, or a reply after the loss verdict) is
    ignored. If results stop arriving for one sequence number while more than `max_pending`
    later ones wait, that number is skipped and counted in `missing`. Grid slots between two
    consecutive probes' slots (`ProbeResult.slot`) were skipped by the worker while the first
    was open and take its outcome; across a missing seq nothing is filled in.
    """

    def __init__(self, flow_id: str, interval_s: float, *, stats_period_s: float = 1.0,
                 stats_origin: float | None = None, first_seq: int = 0,
                 max_pending: int | None = None) -> None:
        if interval_s <= 0 or stats_period_s <= 0:
            raise ValueError("interval_s and stats_period_s must be positive")
        self.flow_id = flow_id
        self.interval_s = interval_s
        self.stats_period_s = stats_period_s
        self._origin = stats_origin
        self._next_seq = first_seq
        self._pending: dict[int, ProbeResult] = {}
        # Enough room for every probe sent during a 10 s timeout, at least 1000.
        self.max_pending = max_pending if max_pending is not None else max(
            1000, int(10.0 / interval_s))
        self.missing = 0
        self.episodes: list[LossEnd] = []
        self._episode_start: ProbeResult | None = None
        self._episode_lost = 0  # grid slots
        self._episode_probes = 0
        self._episode_prev_t: float | None = None
        self._episode_prev_peer: tuple[int, int] | None = None  # (seq, peer_seq) before it
        self._last_lost_sent = 0.0
        self._previous: ProbeResult | None = None  # the last probe judged
        self._window: int | None = None
        self._w_sent = self._w_received = self._w_lost = 0
        self._w_probes = self._w_probes_lost = 0
        self._w_rtts: list[float] = []
        self._w_fwd: list[float] = []
        self._w_ret: list[float] = []
        self.finished = False

    @property
    def in_episode(self) -> bool:
        return self._episode_start is not None

    def feed(self, result: ProbeResult) -> list[EpisodeEvent]:
        if self.finished:
            raise RuntimeError(f"flow {self.flow_id}: result after finish()")
        if result.flow_id != self.flow_id:
            raise ValueError(f"result of flow {result.flow_id!r} fed to {self.flow_id!r}")
        if result.seq < self._next_seq or result.seq in self._pending:
            return []
        self._pending[result.seq] = result
        events: list[EpisodeEvent] = []
        self._drain(events)
        while len(self._pending) > self.max_pending:
            skip_to = min(self._pending)
            self.missing += skip_to - self._next_seq
            self._next_seq = skip_to
            self._drain(events)
        return events

    def finish(self) -> list[EpisodeEvent]:
        """The run is over: judge what is left (gaps skipped), close the last period and
        report an episode still running as open."""
        events: list[EpisodeEvent] = []
        if self.finished:
            return events
        while self._pending:
            skip_to = min(self._pending)
            self.missing += skip_to - self._next_seq
            self._next_seq = skip_to
            self._drain(events)
        self._close_window(events)
        if self._episode_start is not None:
            end = LossEnd(flow_id=self.flow_id, t=self._last_lost_sent + self.interval_s,
                          seq=None, lost=self._episode_lost, start_t=self._episode_start.sent,
                          open=True, probes=self._episode_probes,
                          prev_t=self._episode_prev_t, last_lost_t=self._last_lost_sent)
            self.episodes.append(end)
            events.append(end)
            self._episode_start = None
        self.finished = True
        return events

    def _drain(self, events: list[EpisodeEvent]) -> None:
        while self._next_seq in self._pending:
            self._judge(self._pending.pop(self._next_seq), events)
            self._next_seq += 1

    def _judge(self, result: ProbeResult, events: list[EpisodeEvent]) -> None:
        previous = self._previous
        if previous is not None and result.seq == previous.seq + 1:
            # Slots the worker skipped while `previous` was open share its outcome.
            skipped = round((result.slot - previous.slot) / self.interval_s) - 1
            for k in range(1, skipped + 1):
                self._count_slot(previous.slot + k * self.interval_s, previous.lost, events)
        self._previous = result
        if result.lost and self._episode_start is None:
            self._episode_lost = 0
        self._count_slot(result.sent, result.lost, events)
        self._w_probes += 1
        if result.rtt_s is None:
            self._w_probes_lost += 1
            if self._episode_start is None:
                self._episode_start = result
                self._episode_probes = 0
                self._episode_prev_t = None if previous is None else previous.sent
                self._episode_prev_peer = (
                    None if previous is None or previous.peer_seq is None
                    else (previous.seq, previous.peer_seq))
                events.append(LossStart(flow_id=self.flow_id, t=result.sent, seq=result.seq))
            self._episode_probes += 1
            self._last_lost_sent = result.sent
            return
        self._w_rtts.append(result.rtt_s)
        if result.fwd_s is not None and result.ret_s is not None:
            self._w_fwd.append(result.fwd_s)
            self._w_ret.append(result.ret_s)
        if self._episode_start is not None:
            forward, back = self._directions(result)
            end = LossEnd(flow_id=self.flow_id, t=result.sent, seq=result.seq,
                          lost=self._episode_lost, start_t=self._episode_start.sent,
                          probes=self._episode_probes, prev_t=self._episode_prev_t,
                          last_lost_t=self._last_lost_sent, forward_lost=forward,
                          return_lost=back)
            self.episodes.append(end)
            events.append(end)
            self._episode_start = None

    def _directions(self, after: ProbeResult) -> tuple[int | None, int | None]:
        """(forward, return) lost probes of the episode ending at `after`; None when the
        reflector's counts cannot tell (no reflector, it restarted, or probes went missing)."""
        before = self._episode_prev_peer
        if before is None or after.peer_seq is None:
            return None, None
        probes = after.seq - before[0] - 1
        reached = (after.peer_seq - before[1] - 1) & 0xFFFFFFFF
        if probes != self._episode_probes or reached > probes:
            return None, None
        return probes - reached, reached

    def _count_slot(self, t: float, lost: bool, events: list[EpisodeEvent]) -> None:
        """One grid slot at time `t` into its stats period (and the episode's slot count)."""
        if self._origin is None:
            self._origin = t
        window = math.floor((t - self._origin) / self.stats_period_s)
        if self._window is None:
            self._window = window
        elif window > self._window:
            self._close_window(events)
            self._window = window
        self._w_sent += 1
        if lost:
            self._w_lost += 1
            self._episode_lost += 1
        else:
            self._w_received += 1

    def _close_window(self, events: list[EpisodeEvent]) -> None:
        if self._window is None or self._w_sent == 0:
            return
        assert self._origin is not None
        rtts = self._w_rtts
        events.append(FlowStats(
            flow_id=self.flow_id, t=self._origin + self._window * self.stats_period_s,
            period_s=self.stats_period_s, sent=self._w_sent, received=self._w_received,
            lost=self._w_lost,
            rtt_ms_p50=statistics.median(rtts) * 1000.0 if rtts else None,
            rtt_ms_max=max(rtts) * 1000.0 if rtts else None,
            probes=self._w_probes, probes_lost=self._w_probes_lost,
            fwd_delay_ms_p50=statistics.median(self._w_fwd) * 1000.0 if self._w_fwd else None,
            ret_delay_ms_p50=statistics.median(self._w_ret) * 1000.0 if self._w_ret else None))
        self._w_sent = self._w_received = self._w_lost = 0
        self._w_probes = self._w_probes_lost = 0
        self._w_rtts = []
        self._w_fwd = []
        self._w_ret = []


class LossTracker:
    """Loss detectors for a set of flows, with their stats periods aligned on one origin."""

    def __init__(self, flows: Sequence[FlowSpec], *, stats_period_s: float = 1.0,
                 stats_origin: float | None = None) -> None:
        self.detectors = {
            flow.id: FlowLossDetector(flow.id, flow.interval_s, stats_period_s=stats_period_s,
                                      stats_origin=stats_origin)
            for flow in flows}

    def feed(self, results: Iterable[ProbeResult]) -> list[EpisodeEvent]:
        events: list[EpisodeEvent] = []
        for result in results:
            detector = self.detectors.get(result.flow_id)
            if detector is None:
                raise ValueError(f"result of unknown flow {result.flow_id!r}")
            events.extend(detector.feed(result))
        return events

    def finish(self) -> list[EpisodeEvent]:
        events: list[EpisodeEvent] = []
        for detector in self.detectors.values():
            events.extend(detector.finish())
        return events

    def episodes(self) -> dict[str, list[LossEnd]]:
        return {flow_id: list(d.episodes) for flow_id, d in self.detectors.items()}
