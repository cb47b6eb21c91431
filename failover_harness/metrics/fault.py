"""The fault and the restore of one playbook section: t0 and what was broken.

t0 is the `t` of the fault action's `action_done` (the first one whose action is in
vocabulary.FAULT_ACTIONS): the device acknowledged the change. Its `action_start` (same
subject, just before) is when the command was sent: nothing can change before it, so it is
the causal lower bound of every delay measured from t0. The restore is the first
`action_done` after t0 whose action is in RESTORE_ACTIONS.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from failover_harness.events import ActionDone, ActionStart, Event
from failover_harness.vocabulary import FAULT_ACTIONS, RESTORE_ACTIONS


class FaultTarget(BaseModel):
    """What the fault action broke (the fields of its action events; see events.py)."""

    model_config = ConfigDict(extra="ignore")

    action: str
    device: str | None = None
    interface: str | None = None
    onprem_neighbor: str | None = None
    azure_peer: str | None = None
    azure_instance: str | None = None
    connection: str | None = None


class Section(BaseModel):
    """The instants every metric of a section is measured against."""

    t_start: float
    t_end: float
    t0: float | None = None
    fault_start: float | None = None
    restore_t: float | None = None
    restore_start: float | None = None
    fault: FaultTarget | None = None


def _target(start: ActionStart | None, done: ActionDone) -> FaultTarget:
    """Fields of action_done, completed from its action_start and its subject."""
    merged: dict[str, object] = start.data.model_dump(exclude_none=True) if start else {}
    merged.update(done.data.model_dump(exclude_none=True))
    device, _, target = done.subject.removeprefix("device:").partition("/")
    merged.setdefault("device", device)
    if done.data.action == "shut_interface":
        merged.setdefault("interface", target)
    elif done.data.action == "shut_neighbor":
        merged.setdefault("onprem_neighbor", done.data.neighbor or target)
    return FaultTarget.model_validate(merged)


def _first_done(events: Sequence[Event], actions: frozenset[str],
                after: float) -> tuple[ActionStart | None, ActionDone | None]:
    starts: dict[str, ActionStart] = {}
    for event in events:
        if isinstance(event, ActionStart):
            starts[event.subject] = event
        elif isinstance(event, ActionDone) and event.t >= after and event.data.action in actions:
            start = starts.get(event.subject)
            return (start if start is not None and start.t >= after else None), event
    return None, None


def find_section(events: Sequence[Event]) -> Section:
    """t0, the fault's send time, the restore (events sorted by t)."""
    t_start = next((e.t for e in events if e.kind == "run_start"), events[0].t if events else 0.0)
    t_end = next((e.t for e in reversed(events) if e.kind == "run_end"),
                 events[-1].t if events else 0.0)
    start, done = _first_done(events, FAULT_ACTIONS, float("-inf"))
    if done is None:
        return Section(t_start=t_start, t_end=t_end)
    t0 = done.t
    fault_start = start.t if start else t0
    restore_start_ev, restore_ev = _first_done(events, RESTORE_ACTIONS, t0)
    restore_t = restore_ev.t if restore_ev else None
    restore_start = restore_start_ev.t if restore_start_ev else restore_t
    return Section(t_start=t_start, t_end=t_end, t0=t0, fault_start=fault_start,
                   restore_t=restore_t, restore_start=restore_start,
                   fault=_target(start, done))

