"""The journal against random kill points (hypothesis): random runs (shut/no_shut on a few
targets) and recoveries, each perhaps killed at any byte of its writes (mid-line too), with
a device that may or may not have carried out the command in flight; then the file is cut
once more at a random byte. From whatever the file holds, the undo plan must bring every
target back up, in every device state that cut could have left."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from failover_harness.errors import DeviceError
from failover_harness.journal import Change, ChangeAction, Journal, read_journal

TARGETS: list[tuple[str, ChangeAction, ChangeAction]] = [  # target, shut, restore
    ("Tunnel1", "shut_interface", "no_shut_interface"),
    ("Tunnel2", "shut_interface", "no_shut_interface"),
    ("169.254.21.5", "shut_neighbor", "no_shut_neighbor"),
]
Key = tuple[str, str, str]


class Killed(BaseException):
    """SIGKILL: the process stops between two instructions."""


@dataclass
class History:
    """What happened, in order: journal writes (byte spans) and device states."""

    device: dict[Key, bool] = field(default_factory=dict)  # up?
    events: list[tuple[str, int, int, dict[Key, bool]]] = field(default_factory=list)

    def apply(self, change: Change) -> None:
        self.device[change.target_key] = change.is_restore
        self.events.append(("device", 0, 0, dict(self.device)))

    def states_at_cut(self, cut: int) -> list[dict[Key, bool]]:
        """Every device state a process killed when the file held `cut` bytes could leave."""
        state: dict[Key, bool] = {}
        possible = [state]
        for kind, start, end, snapshot in self.events:
            if kind == "device":
                possible.append(snapshot)
                continue
            if end <= cut:  # this write completed: whatever came before it happened
                possible = [possible[-1]]
                continue
            return possible if start >= cut else [possible[-1]]
        return possible


@dataclass
class Episode:
    kill_at: tuple[int, int] | None  # dies after this many writes + bytes of the next (None: lives)
    device_first: bool  # killed right after a complete write: did the command go out?
    fail: frozenset[int]  # device calls (by index) that raise DeviceError
    fail_after_applying: bool  # ...after the change took effect (the answer was lost)


class KillableJournal(Journal):
    def __init__(self, run_dir: Path, episode: Episode, history: History) -> None:
        self.episode, self.history = episode, history
        self.writes_left, self.bytes_left = episode.kill_at or (-1, 0)
        self.dying = False  # the kill comes before the next write
        super().__init__(run_dir)

    def _append(self, data: bytes) -> None:  # as Journal's, killable, without the fsync
        if self.dying:
            raise Killed
        if self.writes_left == 0:
            if self.bytes_left < len(data):
                self._record(data[:self.bytes_left])
                raise Killed
            self.dying = True  # the whole record made it; the kill comes right after
        self._record(data)
        self.writes_left -= 1

    def _record(self, data: bytes) -> None:
        assert self._fd is not None
        start = os.lseek(self._fd, 0, os.SEEK_END)
        os.write(self._fd, data)
        self.history.events.append(("write", start, start + len(data), {}))


def device(journal: KillableJournal, history: History) -> Callable[[Change], None]:
    calls = 0

    def apply(change: Change) -> None:
        nonlocal calls
        ep, calls = journal.episode, calls + 1
        if journal.dying:  # the kill comes between the intent and the next write
            if ep.device_first:
                history.apply(change)
            raise Killed
        if calls - 1 in ep.fail:
            if ep.fail_after_applying:
                history.apply(change)
            raise DeviceError("no answer")
        history.apply(change)
    return apply


def run_episode(run_dir: Path, ep: Episode, history: History,
                steps: list[tuple[int, bool]]) -> None:
    """A game-day run: its steps, then (whatever happened) restore everything outstanding."""
    try:
        journal = KillableJournal(run_dir, ep, history)
    except Killed:
        return  # while ending a torn line; the lock goes with the process
    apply = device(journal, history)
    try:
        journal.open(run_dir / "inv.yaml", "run")
        try:
            for index, shut in steps:
                target, shut_action, restore_action = TARGETS[index]
                change = journal.intent("edge1", shut_action if shut else restore_action, target)
                apply(change)
                journal.done(change)
        except DeviceError:
            pass
        journal.undo_outstanding(apply)
    except Killed:
        pass
    finally:
        journal.release()


def recover_episode(run_dir: Path, ep: Episode, history: History) -> None:
    try:
        journal = KillableJournal(run_dir, ep, history)
    except Killed:
        return
    try:
        journal.resume()
        journal.undo_outstanding(device(journal, history))
    except Killed:
        pass
    finally:
        journal.release()


kill_points = st.tuples(st.integers(0, 30), st.one_of(st.just(0), st.integers(0, 200)))
episodes = st.builds(Episode, kill_at=st.none() | kill_points, device_first=st.booleans(),
                     fail=st.frozensets(st.integers(0, 6), max_size=2),
                     fail_after_applying=st.booleans())
steps_st = st.lists(st.tuples(st.integers(0, len(TARGETS) - 1), st.booleans()), max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps_st, run=episodes, recoveries=st.lists(episodes, max_size=3),
       data=st.data())
def test_the_undo_plan_restores_every_change_at_every_kill_point(
        steps: list[tuple[int, bool]], run: Episode, recoveries: list[Episode],
        data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory(prefix="fj-journal-") as tmp:
        run_dir = Path(tmp) / "run"
        history = History()
        run_episode(run_dir, run, history, steps)
        for ep in recoveries:
            recover_episode(run_dir, ep, history)
        content = (run_dir / "journal.jsonl").read_bytes()

        # Ids are unique over the life of the file, whatever was killed where.
        ids = [json.loads(line)["id"] for line in content.splitlines()
               if line.startswith(b'{"op": "intent"') and line.endswith(b"}")]
        assert len(ids) == len(set(ids))

        # Cut once more anywhere; the plan from what is left must restore every target in
        # every device state that kill could have left.
        ends = [end for kind, _, end, _ in history.events if kind == "write"]
        cut = data.draw(st.sampled_from(ends) | st.integers(0, len(content)) if ends
                        else st.just(0), label="cut")
        (run_dir / "journal.jsonl").write_bytes(content[:cut])
        plan = read_journal(run_dir / "journal.jsonl").outstanding
        assert all(not c.is_restore for c in plan)
        for state in history.states_at_cut(cut):
            after = dict(state)
            for change in plan:
                after[change.target_key] = True  # the undo: no shutdown
            assert all(after.values()), (f"left down: {[k for k, up in after.items() if not up]}"
                                         f" after plan {plan} from {content[:cut]!r}")

        # And a recovery that lives through it leaves the journal finished, only once.
        final = History()
        recover_episode(run_dir, Episode(None, False, frozenset(), False), final)
        state = read_journal(run_dir / "journal.jsonl")
        assert state.finished and [e for e in final.events if e[0] == "device"].__len__() == len(plan)
