"""Every kind of timeline event, as a pydantic model: the one vocabulary writers and readers share.

A line of timeline.jsonl is one event: `{seq, t, wall, source, kind, subject, window, data}`.
`t` is seconds on the run's monotonic clock, `wall` the UTC time of the same instant,
`window` [earliest, latest] is when a polled change could have happened (from the sample that
still showed the old state to the response that showed the new one). `kind` picks the model
(a discriminated union); `data` holds that kind's fields, one name each, units in the names.

The list below is generated from the models (`python -m failover_harness.events`) and a unit
test fails when it drifts. `field?` is optional; `[window]` means the event carries one.

<!-- vocabulary -->
- run/run_start (subject: run-id): playbook?, inventory?, versions, operator?, expectations, index?, lab?, skip_gate?, iteration?, iterations?, tunnel?, regression?
- run/step_start (subject: step:<n>:<action>): step, playbook?, iteration?
- run/step_end (subject: step:<n>:<action>): playbook?, iteration?
- run/step_timeout (subject: step:<n>:<action>): reason
- run/run_end (subject: run-id): status, reason?
- run/error (subject: run-id): error, traceback?
- run/rollback_failed (subject: run-id): error
- action/action_start (subject: device:<name>/<target>): action, device?, interface?, uplink?, neighbor?, onprem_neighbor?, azure_peer?, azure_instance?, connection?, vip?, commands, recovered
- action/action_done (subject: device:<name>/<target>): action, device?, interface?, uplink?, neighbor?, onprem_neighbor?, azure_peer?, azure_instance?, connection?, vip?, commands, recovered
- action/action_failed (subject: device:<name>/<target>): action, device?, interface?, uplink?, neighbor?, onprem_neighbor?, azure_peer?, azure_instance?, connection?, vip?, commands, recovered, error
- action/action_late (subject: device:<name>/<target>): action, device?, interface?, uplink?, neighbor?, onprem_neighbor?, azure_peer?, azure_instance?, connection?, vip?, commands, recovered, asked_t, late_s, attempts, why
- guard/gate_passed|gate_failed|gate_skipped|guard_tripped (subject: run-id): reason
- guard/guard_armed (subject: run-id): reason, loss_trip_s, hold_s, expectation_s?, override
- run/prediction (subject: run-id): tunnels, single_points_of_failure, notes
- probe/flow_start (subject: flow:<id>): probe, src, dst, dport?, sport?, icmp_id?, interval_s, timeout_s?, netns?, vantage?, host?
- probe/loss_start (subject: flow:<id>): seq
- probe/loss_end (subject: flow:<id>): seq?, lost, open, start_t?, probes?, min_duration_s, max_duration_s, forward_lost?, return_lost?
- probe/flow_stats (subject: flow:<id>): period_s, sent, received, lost, rtt_ms_p50?, rtt_ms_max?, fwd_delay_ms_p50?, ret_delay_ms_p50?
- probe/vantage_clock (subject: vantage:<name>): host, offset_s, drift_ppm, uncertainty_s, rtt_min_s, samples, used
- device/bgp_state (subject: device:<name>/neighbor:<ip>) [window]: state, previous?, admin_down, raw_state?, remote_as?
- device/poll_error (subject: device:<name>) [window]: error
- device/poll_gap (subject: device:<name>) [window]: reason, failed_polls, open
- azure/sample (subject: azure:<operation>) [window]: ok, error?, gap_reason?, stale, peer_states?, pending_at?
- azure/bgp_peer (subject: azure:instance:<ip>/peer:<ip>) [window]: state?, previous?
- azure/route_next_hops (subject: azure:instance:<ip>/prefix:<prefix>) [window]: next_hops, previous?
- azure/connection (subject: azure:connection:<name>) [window]: status?, previous?
- azure/poll_summary (subject: azure:<operation>): operation, target_interval_s, achieved_interval_s, max_gap_s, samples, ok_samples, latency_median_s, latency_max_s, in_flight_target, in_flight_max, max_in_flight, held_back, short, reasons
- azure/budget (subject: azure:budget): share, requests, rate_per_s, allowed_rate_per_s, waited_s, held_back, throttled, lowest_remaining
- azure/focus (subject: azure:focus) [window]: operations, spare_reads
<!-- /vocabulary -->

Meaning of the fields that need it:
- run_start `index`: the playbook's place in the game-day (0-based); `iteration` of
  `iterations` (1-based) and `tunnel` ("device/interface" it faults): a repeated playbook,
  one section per iteration; step events carry the same `iteration`.
- action_*: the fault's `action_start` is when the command was sent (nothing can change
  before it), its `action_done` `t` is t0 of the metrics (the device acknowledged it);
  `onprem_neighbor` is the device's BGP neighbor on that tunnel (Azure's BGP address),
  `azure_peer` the device's address as Azure's peer (and the next hop Azure learns),
  `azure_instance` Azure's local BGP address of that tunnel; `recovered`: made by `recover`.
- prediction: written once per playbook, before its first device fault, from the design
  read just before it (prediction.py says the model); the report's Findings compare it with
  what was measured.
- action_late: a change that got through only after failed attempts (an SSH blackout) or
  slowly; written with its action_done (same `t`): `asked_t` is its first action_start.
- loss_start `t`: send time of the first lost probe; loss_end `t`: send time of the first
  answered probe after it (`open`: the run ended during the episode, `t` is then the slot
  after the last lost probe); `lost` counts probe slots, `probes` the lost probes really sent;
  `min_duration_s`/`max_duration_s`: what the prober knows of the episode's true length;
  `forward_lost`/`return_lost` (udp flows to a reflector): of the `probes`, those that never
  reached the reflector (on-prem -> Azure) and those it answered that never came back.
- flow_stats `fwd_delay_ms_p50`/`ret_delay_ms_p50` (udp): one-way delays, each a difference of
  the two hosts' clocks (includes their offset unless both are synchronized; changes count).
- flow_stats: counts of one period [t, t + period_s) by send time.
- probe events of a remote vantage point (flow_start `host`): the worker's times mapped onto
  the run's clock by that host's newest clock estimate; `window` is t +/- its uncertainty.
  vantage_clock: the estimate (every few seconds and at the end; the newest one counts).
- poll_gap: the device watcher had no answer from its device over `window` (from the last
  good poll's answer to the next good poll's answer); `open`: still without one at the end.
- sample: one Azure call of `operation`, `window` = request start .. response end; a
  failed one (`ok` false) names its `gap_reason` (throttled, server_error, timeout, auth, ...);
  `stale`: it started before an applied one and changed nothing; `peer_states` (peer status
  only): every peer's state as this sample read it.
- poll_summary / budget: the Azure poller's cadence per operation and its spending so far,
  written every `summary_interval_s` and at stop (the newest one counts).
- focus: written when the run names where Azure's view should change (a fault's predicted
  detection, a restore); inside `window` the named operations' status polls spend the read
  bucket's savings (`spare_reads` when set) on top of the steady rate. Before a fault the
  window starts a lead after the event (the run waits it while extra calls start).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, TypeAdapter

from failover_harness.expectations import Expectation
from failover_harness.history.policy import RegressionPolicy
from failover_harness.prediction import Prediction
from failover_harness.vocabulary import AzureAction, ChangeAction, ProbeKind

Source = Literal["run", "action", "probe", "device", "azure", "guard"]
RunStatus = Literal["completed", "aborted", "failed", "gate_failed", "interrupted"]
GuardKind = Literal["gate_passed", "gate_failed", "gate_skipped", "guard_tripped"]
Window = tuple[float, float]


class Fields(BaseModel):
    """The `data` of one kind of event."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EventBase(BaseModel):
    """What every event has; subclasses fix `source`, `kind` and the type of `data`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    SUBJECT: ClassVar[str] = ""

    seq: NonNegativeInt
    t: float
    wall: datetime
    source: Source
    kind: str
    subject: str
    window: Window | None = None


class WindowedEvent(EventBase):
    """A polled observation: when it could have happened is a window, never a point."""

    window: Window


# ---------------------------------------------------------------- run


class FileRef(Fields):
    name: str | None = None
    path: str | None = None
    digest: str | None = None


class RunStartFields(Fields):
    playbook: FileRef | None = None
    inventory: FileRef | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    operator: str | None = None
    expectations: list[Expectation] = Field(default_factory=list)
    index: int | None = None
    lab: bool | None = None
    skip_gate: bool | None = None
    # A repeated playbook (repeat.py): every iteration is a section of its own.
    iteration: int | None = None  # 1-based
    iterations: int | None = None  # how many the run asked for
    tunnel: str | None = None  # "device/interface" this iteration faults
    regression: RegressionPolicy | None = None  # the playbook's (history/policy.py)


class RunStart(EventBase):
    SUBJECT: ClassVar[str] = "run-id"
    source: Literal["run"]
    kind: Literal["run_start"]
    data: RunStartFields = RunStartFields()


class StepStartFields(Fields):
    step: dict[str, Any]
    playbook: str | None = None
    iteration: int | None = None


class StepStart(EventBase):
    SUBJECT: ClassVar[str] = "step:<n>:<action>"
    source: Literal["run"]
    kind: Literal["step_start"]
    subject: str = Field(pattern=r"^step:")
    data: StepStartFields


class StepEndFields(Fields):
    playbook: str | None = None
    iteration: int | None = None


class StepEnd(EventBase):
    SUBJECT: ClassVar[str] = "step:<n>:<action>"
    source: Literal["run"]
    kind: Literal["step_end"]
    subject: str = Field(pattern=r"^step:")
    data: StepEndFields = StepEndFields()


class ReasonFields(Fields):
    reason: str


class StepTimeout(EventBase):
    SUBJECT: ClassVar[str] = "step:<n>:<action>"
    source: Literal["run"]
    kind: Literal["step_timeout"]
    subject: str = Field(pattern=r"^step:")
    data: ReasonFields


class RunEndFields(Fields):
    status: RunStatus
    reason: str | None = None


class RunEnd(EventBase):
    SUBJECT: ClassVar[str] = "run-id"
    source: Literal["run"]
    kind: Literal["run_end"]
    data: RunEndFields


class RunErrorFields(Fields):
    error: str
    traceback: str | None = None


class RunError(EventBase):
    SUBJECT: ClassVar[str] = "run-id"
    source: Literal["run"]
    kind: Literal["error"]
    data: RunErrorFields


class ErrorFields(Fields):
    error: str


class RollbackFailed(EventBase):
    SUBJECT: ClassVar[str] = "run-id"
    source: Literal["run"]
    kind: Literal["rollback_failed"]
    data: ErrorFields


# ---------------------------------------------------------------- actions and guard


class ActionFields(Fields):
    action: ChangeAction | AzureAction
    device: str | None = None
    interface: str | None = None
    uplink: str | None = None  # link_down/link_up: the uplink shut (interface: its tunnel)
    neighbor: str | None = None
    onprem_neighbor: str | None = None
    azure_peer: str | None = None
    azure_instance: str | None = None
    connection: str | None = None
    vip: str | None = None  # an instance reset: the gateway VIP it was asked for
    commands: list[str] = Field(default_factory=list)  # device commands, or ARM calls
    recovered: bool = False


class ActionFailedFields(ActionFields):
    error: str


_DEVICE_TARGET = r"^device:[^/]+/.+"


class ActionStart(EventBase):
    SUBJECT: ClassVar[str] = "device:<name>/<target>"
    source: Literal["action"]
    kind: Literal["action_start"]
    subject: str = Field(pattern=_DEVICE_TARGET)
    data: ActionFields


class ActionDone(EventBase):
    SUBJECT: ClassVar[str] = "device:<name>/<target>"
    source: Literal["action"]
    kind: Literal["action_done"]
    subject: str = Field(pattern=_DEVICE_TARGET)
    data: ActionFields


class ActionFailed(EventBase):
    SUBJECT: ClassVar[str] = "device:<name>/<target>"
    source: Literal["action"]
    kind: Literal["action_failed"]
    subject: str = Field(pattern=_DEVICE_TARGET)
    data: ActionFailedFields


class ActionLateFields(ActionFields):
    asked_t: float  # when the change was first asked (its first action_start)
    late_s: float = Field(ge=0)  # from asked_t to the device's acknowledgement (this `t`)
    attempts: int = Field(ge=1)
    why: str  # the errors of the failed attempts, or how long the one attempt took


class ActionLate(EventBase):
    SUBJECT: ClassVar[str] = "device:<name>/<target>"
    source: Literal["action"]
    kind: Literal["action_late"]
    subject: str = Field(pattern=_DEVICE_TARGET)
    data: ActionLateFields


class GuardArmedFields(ReasonFields):
    loss_trip_s: float  # every flow losing this long after a fault: abort
    hold_s: dict[str, float] = Field(default_factory=dict)  # negotiated BGP hold per session
    expectation_s: float | None = None  # the playbook's own max_outage_s bound
    override: bool = False  # --guard-loss set it


class GuardArmed(EventBase):
    SUBJECT: ClassVar[str] = "run-id"
    source: Literal["guard"]
    kind: Literal["guard_armed"]
    data: GuardArmedFields


class Guard(EventBase):
    SUBJECT: ClassVar[str] = "run-id"
    source: Literal["guard"]
    kind: GuardKind
    data: ReasonFields


class PredictionFields(Prediction, Fields):
    """What the design predicts for each tunnel's failure, read before the fault
    (prediction.py): detection windows per side, the blackhole, path roles, single points
    of failure."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PredictionMade(EventBase):
    SUBJECT: ClassVar[str] = "run-id"
    source: Literal["run"]
    kind: Literal["prediction"]
    data: PredictionFields


# ---------------------------------------------------------------- probes


class FlowStartFields(Fields):
    probe: ProbeKind
    src: str
    dst: str
    dport: int | None = None
    sport: int | None = None
    icmp_id: int | None = None
    interval_s: PositiveFloat
    timeout_s: PositiveFloat | None = None
    netns: str | None = None
    vantage: str | None = None  # the inventory's vantage point
    host: str | None = None  # its SSH host, when the flow runs there


class FlowStart(EventBase):
    SUBJECT: ClassVar[str] = "flow:<id>"
    source: Literal["probe"]
    kind: Literal["flow_start"]
    subject: str = Field(pattern=r"^flow:.+")
    data: FlowStartFields


class LossStartFields(Fields):
    seq: int


class LossStart(EventBase):
    SUBJECT: ClassVar[str] = "flow:<id>"
    source: Literal["probe"]
    kind: Literal["loss_start"]
    subject: str = Field(pattern=r"^flow:.+")
    data: LossStartFields


class LossEndFields(Fields):
    seq: int | None = None
    lost: NonNegativeInt
    open: bool = False
    start_t: float | None = None
    probes: NonNegativeInt | None = None
    min_duration_s: float
    max_duration_s: float | None
    forward_lost: NonNegativeInt | None = None
    return_lost: NonNegativeInt | None = None


class LossEnd(EventBase):
    SUBJECT: ClassVar[str] = "flow:<id>"
    source: Literal["probe"]
    kind: Literal["loss_end"]
    subject: str = Field(pattern=r"^flow:.+")
    data: LossEndFields


class FlowStatsFields(Fields):
    period_s: PositiveFloat
    sent: NonNegativeInt
    received: NonNegativeInt
    lost: NonNegativeInt
    rtt_ms_p50: float | None = None
    rtt_ms_max: float | None = None
    fwd_delay_ms_p50: float | None = None
    ret_delay_ms_p50: float | None = None


class FlowStats(EventBase):
    SUBJECT: ClassVar[str] = "flow:<id>"
    source: Literal["probe"]
    kind: Literal["flow_stats"]
    subject: str = Field(pattern=r"^flow:.+")
    data: FlowStatsFields


class VantageClockFields(Fields):
    """A remote vantage host's clock against the run's (clocksync.py), as estimated so far."""

    host: str
    offset_s: float  # remote minus harness monotonic clock, at the event's t
    drift_ppm: float
    uncertainty_s: float  # the true offset is within offset_s +/- this
    rtt_min_s: float
    samples: NonNegativeInt  # clock exchanges over the SSH channel
    used: NonNegativeInt  # kept by the min-RTT filter


class VantageClock(EventBase):
    SUBJECT: ClassVar[str] = "vantage:<name>"
    source: Literal["probe"]
    kind: Literal["vantage_clock"]
    subject: str = Field(pattern=r"^vantage:.+")
    data: VantageClockFields


# ---------------------------------------------------------------- on-prem devices


class BgpStateFields(Fields):
    state: str
    previous: str | None = None
    admin_down: bool = False
    raw_state: str | None = None
    remote_as: int | None = None


class BgpState(WindowedEvent):
    SUBJECT: ClassVar[str] = "device:<name>/neighbor:<ip>"
    source: Literal["device"]
    kind: Literal["bgp_state"]
    subject: str = Field(pattern=r"^device:[^/]+/neighbor:.+")
    data: BgpStateFields


class PollError(WindowedEvent):
    SUBJECT: ClassVar[str] = "device:<name>"
    source: Literal["device"]
    kind: Literal["poll_error"]
    subject: str = Field(pattern=r"^device:[^/]+$")
    data: ErrorFields


class PollGapFields(Fields):
    reason: str
    failed_polls: NonNegativeInt
    open: bool = False


class PollGap(WindowedEvent):
    SUBJECT: ClassVar[str] = "device:<name>"
    source: Literal["device"]
    kind: Literal["poll_gap"]
    subject: str = Field(pattern=r"^device:[^/]+$")
    data: PollGapFields


# ---------------------------------------------------------------- Azure


class SampleFields(Fields):
    ok: bool
    error: str | None = None
    gap_reason: str | None = None
    stale: bool = False
    # bgp_peer_status only: "<instance>/<neighbor>" -> state as this sample read it (what
    # snapshot-offset calibration needs from the samples around a known change)
    peer_states: dict[str, str | None] | None = None
    # LROs: when the last status poll that said "still running" was sent (None: the first
    # poll had the result). The operation finished between it and the window's end.
    pending_at: float | None = None


class Sample(WindowedEvent):
    SUBJECT: ClassVar[str] = "azure:<operation>"
    source: Literal["azure"]
    kind: Literal["sample"]
    subject: str = Field(pattern=r"^azure:(bgp_peer_status|learned_routes|connections)$")
    data: SampleFields

    @property
    def operation(self) -> str:
        return self.subject.removeprefix("azure:")


class PeerFields(Fields):
    state: str | None = None
    previous: str | None = None


class AzurePeer(WindowedEvent):
    SUBJECT: ClassVar[str] = "azure:instance:<ip>/peer:<ip>"
    source: Literal["azure"]
    kind: Literal["bgp_peer"]
    subject: str = Field(pattern=r"^azure:instance:[^/]+/peer:.+")
    data: PeerFields


class RouteFields(Fields):
    next_hops: list[str]
    previous: list[str] | None = None


class AzureRoutes(WindowedEvent):
    SUBJECT: ClassVar[str] = "azure:instance:<ip>/prefix:<prefix>"
    source: Literal["azure"]
    kind: Literal["route_next_hops"]
    subject: str = Field(pattern=r"^azure:instance:[^/]+/prefix:.+")
    data: RouteFields


class ConnectionFields(Fields):
    status: str | None = None
    previous: str | None = None


class AzureConnection(WindowedEvent):
    SUBJECT: ClassVar[str] = "azure:connection:<name>"
    source: Literal["azure"]
    kind: Literal["connection"]
    subject: str = Field(pattern=r"^azure:connection:.+")
    data: ConnectionFields


ShortReason = Literal["budget", "max_in_flight", "errors", "latency"]


class PollSummaryFields(Fields):
    """One operation's cadence so far (failover_harness/azure/cadence.py says how)."""

    operation: str
    target_interval_s: float
    achieved_interval_s: float | None  # median spacing of successful samples' response ends
    max_gap_s: float | None  # longest spacing between them
    samples: int
    ok_samples: int
    latency_median_s: float | None  # request start to response end, successful calls
    latency_max_s: float | None
    in_flight_target: int | None  # ceil(latency / interval) + 1 for the recent latency
    in_flight_max: int  # most calls in flight at once
    max_in_flight: int | None  # the cap (None: left to the request budget)
    held_back: dict[str, int]  # budget|max_in_flight|errors -> calls that could not start for it
    short: bool  # median > 1.2 x target or a gap > 2.5 x target
    reasons: list[ShortReason]  # why it fell short (empty when it did not)


class PollSummary(EventBase):
    SUBJECT: ClassVar[str] = "azure:<operation>"
    source: Literal["azure"]
    kind: Literal["poll_summary"]
    subject: str = Field(pattern=r"^azure:(bgp_peer_status|learned_routes|connections)$")
    data: PollSummaryFields


class BudgetFields(Fields):
    """What the poller spent of ARM's request budget (failover_harness/azure/budget.py)."""

    share: float  # of each of ARM's buckets
    requests: dict[str, int]  # reads|writes|deletes -> requests sent
    rate_per_s: dict[str, float]  # requests a second since the poller started
    allowed_rate_per_s: dict[str, float]  # our share of ARM's refill rate
    waited_s: float  # total time requests were held back (all threads)
    held_back: int  # requests that had to wait
    throttled: int  # 429 answers seen
    lowest_remaining: dict[str, int]  # lowest x-ms-ratelimit-remaining-subscription-* seen


class AzureBudget(EventBase):
    SUBJECT: ClassVar[str] = "azure:budget"
    source: Literal["azure"]
    kind: Literal["budget"]
    subject: Literal["azure:budget"]
    data: BudgetFields


class FocusFields(Fields):
    """Where the poller looks hardest (azure/rates.py): its window is the focus."""

    operations: list[str]  # the operations whose polls the focus speeds up
    spare_reads: float  # our read tokens above the reserve when it was set (what it may spend)


class AzureFocus(WindowedEvent):
    SUBJECT: ClassVar[str] = "azure:focus"
    source: Literal["azure"]
    kind: Literal["focus"]
    subject: Literal["azure:focus"]
    data: FocusFields


EVENT_TYPES: tuple[type[EventBase], ...] = (
    RunStart, StepStart, StepEnd, StepTimeout, RunEnd, RunError, RollbackFailed,
    ActionStart, ActionDone, ActionFailed, ActionLate, Guard, GuardArmed, PredictionMade,
    FlowStart, LossStart, LossEnd, FlowStats, VantageClock,
    BgpState, PollError, PollGap,
    Sample, AzurePeer, AzureRoutes, AzureConnection, PollSummary, AzureBudget, AzureFocus,
)

Event = Annotated[
    RunStart | StepStart | StepEnd | StepTimeout | RunEnd | RunError | RollbackFailed
    | ActionStart | ActionDone | ActionFailed | ActionLate | Guard | GuardArmed | PredictionMade
    | FlowStart | LossStart | LossEnd | FlowStats | VantageClock
    | BgpState | PollError | PollGap
    | Sample | AzurePeer | AzureRoutes | AzureConnection | PollSummary | AzureBudget | AzureFocus,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
ActionEvent = ActionStart | ActionDone | ActionFailed


def kinds_of(cls: type[EventBase]) -> tuple[str, ...]:
    return tuple(str(k) for k in get_args(cls.model_fields["kind"].annotation))


def source_of(cls: type[EventBase]) -> str:
    return str(get_args(cls.model_fields["source"].annotation)[0])


def vocabulary_text() -> str:
    """The event list of this module's docstring, made from the models."""
    lines = []
    for cls in EVENT_TYPES:
        data = cls.model_fields["data"].annotation
        assert isinstance(data, type) and issubclass(data, Fields)
        fields = ", ".join(name + ("" if info.is_required() or info.default_factory is not None
                                   or info.default is not None else "?")
                           for name, info in data.model_fields.items())
        window = " [window]" if issubclass(cls, WindowedEvent) else ""
        lines.append(f"- {source_of(cls)}/{'|'.join(kinds_of(cls))} (subject: {cls.SUBJECT})"
                     f"{window}: {fields}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(vocabulary_text())
