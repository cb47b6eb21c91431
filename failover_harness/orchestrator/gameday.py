"""The entry points: `run_gameday` (one or more playbooks against one inventory, on one
clock) and `check_steady_state` (read both control planes and probe briefly; change nothing).

Every change to a device is journaled before it is made; whatever ends the run (an
exception, Ctrl-C, SIGTERM, a guard trip) the journal's outstanding changes are undone
before the process leaves. After SIGKILL, `recover` (or the next run) undoes them.
"""

from __future__ import annotations

import secrets as pysecrets
import shutil
import tempfile
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from failover_harness import state_index
from failover_harness.blast_radius import total_outage_problems
from failover_harness.errors import (
    EXIT_BAD_INPUT,
    EXIT_EXPECTATION_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_INFRASTRUCTURE,
    EXIT_OK,
    DeviceError,
    HarnessError,
    InfrastructureError,
    InputError,
)
from failover_harness.inventory import Inventory, load_inventory
from failover_harness.journal import Journal
from failover_harness.locks import device_keys, reports_key
from failover_harness.orchestrator import conditions, design_read
from failover_harness.orchestrator.claim import claim
from failover_harness.orchestrator.components import open_monitor, probe_flows
from failover_harness.orchestrator.failsafe import FailsafeTimeline, os_reason
from failover_harness.orchestrator.parts import Parts
from failover_harness.orchestrator.playbook_run import PlaybookOutcome, PlaybookRun, is_lab
from failover_harness.orchestrator.recovery import recover
from failover_harness.orchestrator.repeat_run import run_iterations
from failover_harness.orchestrator.reports_dir import check_reports_root, estimate
from failover_harness.orchestrator.session import RunOptions, Say, Session
from failover_harness.playbook import Playbook, Probes, iterations, load_playbook, repeat_problems
from failover_harness.prediction import Prediction
from failover_harness.reports.build import exit_status
from failover_harness.reports.schema import SectionStatus
from failover_harness.signals import RunInterruptedError, termination_deferred, termination_raises
from failover_harness.timeline import Timeline
from failover_harness.yamlfile import format_loc


class GameDayResult(BaseModel):
    run_id: str
    run_dir: Path
    exit_code: int
    outcomes: list[PlaybookOutcome]
    message: str
    report_files: list[Path] = []


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + pysecrets.token_hex(3)


def _load(inventory_path: Path, playbooks_in: Sequence[Path | Playbook],
          options: RunOptions) -> tuple[Inventory, list[Playbook]]:
    """Every input checked before anything is contacted (InputError otherwise)."""
    inventory = load_inventory(inventory_path)
    playbooks = [p if isinstance(p, Playbook) else load_playbook(p, inventory)
                 for p in playbooks_in]
    for pb in playbooks:  # models built in memory (pytest overrides) are checked here too
        for problem in total_outage_problems(pb, inventory):
            raise InputError(problem.message, file=pb.source, field=format_loc(problem.loc))
        for problem in repeat_problems(pb, inventory):
            raise InputError(problem.message, file=pb.source, field=format_loc(problem.loc))
        if options.alternate is not None:
            for problem in repeat_problems(pb, inventory, options.alternate, loc=()):
                raise InputError(f"{problem.message} (playbook {pb.source or pb.name})",
                                 field="--alternate")
    if options.skip_gate and not is_lab(inventory):
        raise InputError("the gate can only be skipped against a lab (an inventory whose "
                         "azure.base_url is on loopback)", file=str(inventory_path),
                         field="azure.base_url")
    return inventory, playbooks


def run_gameday(inventory_path: Path, playbooks_in: Sequence[Path | Playbook],
                options: RunOptions, say: Say = print,
                on_session: Callable[[Session], None] | None = None,
                parts: Parts | None = None) -> GameDayResult:
    """Run the playbooks (files, or models already loaded and perhaps adjusted) in order as
    one game-day; always restores; renders the reports. Raises InputError (bad files, an
    unusable reports directory) or InfrastructureError (no room for the timeline, a journal
    that cannot be written) before anything is contacted."""
    parts = parts or Parts()
    inventory, playbooks = _load(inventory_path, playbooks_in, options)
    # A reports directory that cannot hold the run is refused before anything is contacted.
    every_run = [it.playbook for pb in playbooks  # each iteration adds to the timeline
                 for it in iterations(pb, inventory, options.repeat, options.alternate)]
    check_reports_root(options.reports_root, estimate(inventory, every_run,
                                                      options.gate_timeout_s, options.settle_s))
    run_id = options.run_id or new_run_id()
    run_dir = options.reports_root / run_id
    # One run per target: the devices, the gateway and the reports directory stay ours
    # until the reports are written; what earlier runs left changed on them is undone first.
    keys = [*device_keys(inventory), reports_key(options.reports_root)]
    locks = claim(keys, run_id, run_dir, say,
                  recover=lambda old: recover(old, say, parts=parts, locks_held=True),
                  reports_root=options.reports_root)
    journal: Journal | None = None
    try:
        _new_run_dir(run_dir)
        journal = _open_journal(run_dir, inventory_path, run_id, keys)
        state_index.register(run_dir, run_id, inventory_path, keys)
        return _run(inventory, playbooks, options, say, on_session, parts, run_id, run_dir,
                    journal)
    finally:
        closed = journal is None or _close(journal)
        if journal is not None:
            if closed:
                state_index.deregister(run_dir)
            journal.release()
        locks.release(clean=closed)  # not closed: the next taker recovers this run first


def _new_run_dir(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise InputError(f"{run_dir} already exists: give another --run-id") from None
    except OSError as exc:
        raise InfrastructureError(f"{run_dir}: cannot create it ({os_reason(exc)}); nothing "
                                  "was contacted") from None


def _open_journal(run_dir: Path, inventory_path: Path, run_id: str, keys: list[str]) -> Journal:
    """A fault is never made without its journal: no journal, no run (nothing contacted)."""
    journal: Journal | None = None
    try:
        journal = Journal(run_dir)
        journal.open(inventory_path, run_id, locks=keys)
        return journal
    except OSError as exc:
        if journal is not None:
            journal.release()
        shutil.rmtree(run_dir, ignore_errors=True)  # no record left for a recover to trip on
        raise InfrastructureError(f"{run_dir}: cannot write the journal ({os_reason(exc)}); "
                                  "nothing was contacted") from None


def _close(journal: Journal) -> bool:
    try:
        return journal.close()
    except OSError:
        return False  # cannot append: the record stays open, the lock keeps this run on record


def _run(inventory: Inventory, playbooks: list[Playbook], options: RunOptions, say: Say,
         on_session: Callable[[Session], None] | None, parts: Parts, run_id: str,
         run_dir: Path, journal: Journal) -> GameDayResult:
    timeline = FailsafeTimeline(run_dir / "timeline.jsonl", parts.clock())
    session = Session(inventory, timeline, journal, options, say, parts)
    outcomes: list[PlaybookOutcome] = []
    runs: list[PlaybookRun] = []
    exit_code, message = EXIT_OK, ""
    problems: list[str] = []
    journal_closed = False
    try:
        with termination_raises():
            try:
                session.open()
                if on_session is not None:
                    on_session(session)
                for index, pb in enumerate(playbooks):
                    run_iterations(session, pb, run_id, index, runs, outcomes)
                    if outcomes[-1].status in ("failed", "gate_failed"):
                        break
            except (KeyboardInterrupt, RunInterruptedError) as exc:
                exit_code, message = EXIT_INFRASTRUCTURE, f"interrupted by {signal_of(exc)}"
                cut = runs[-1].outcome if runs else None  # the playbook it interrupted
                if cut is None or cut in outcomes:  # before it began, or between iterations
                    cut = PlaybookOutcome(
                        playbook=runs[-1].pb.name if runs else playbooks[0].name,
                        status="interrupted",
                        reason=f"{signal_of(exc)} before it began; nothing was changed")
                outcomes.append(cut)
            except DeviceError as exc:
                exit_code, message = EXIT_INFRASTRUCTURE, str(exc)
            except InputError as exc:
                exit_code, message = EXIT_BAD_INPUT, str(exc)
            except HarnessError as exc:
                exit_code, message = exc.exit_code, str(exc)
            except Exception as exc:  # noqa: BLE001 - a bug must not strand a tunnel
                exit_code, message = EXIT_INFRASTRUCTURE, f"unexpected error: {exc!r}"
                timeline.emit("run", "error", run_id, error=repr(exc),
                              traceback=traceback.format_exc())
            finally:
                with termination_deferred(say):
                    problems = session.changer.restore_outstanding()
                    session.close()
                    if problems:
                        exit_code = EXIT_INFRASTRUCTURE
                        message += ("; RESTORE FAILED: " + "; ".join(problems)
                                    + f" - run `failover-harness recover {run_dir}`")
                    elif message.startswith("interrupted by"):
                        message += "; everything it changed was restored"
                    journal_closed = _closed(journal, session)
    finally:
        timeline.close()

    report_files, status, note = _render(run_dir, parts)
    message += note
    if exit_code == EXIT_OK:
        exit_code, message = _verdict(outcomes, status)
    unwritten = _unwritten(timeline, session, journal_closed, run_dir)
    if unwritten and not problems:
        exit_code = EXIT_INFRASTRUCTURE
        message = f"{message}; {unwritten}" if message else unwritten
    return GameDayResult(run_id=run_id, run_dir=run_dir, exit_code=exit_code, outcomes=outcomes,
                         message=message, report_files=report_files)


def signal_of(exc: BaseException) -> str:
    return exc.signal_name if isinstance(exc, RunInterruptedError) else "SIGINT (Ctrl-C)"


def _closed(journal: Journal, session: Session) -> bool:
    """Close the journal when nothing is outstanding; False if it could not be written."""
    try:
        return journal.close()
    except OSError as exc:
        session.changer.write_problems.append(f"journal: {os_reason(exc)}")
        return False


def _unwritten(timeline: FailsafeTimeline, session: Session, journal_closed: bool,
               run_dir: Path) -> str:
    """What of the run's record could not be written (empty: all of it was)."""
    broken = [p for p in [timeline.write_error, *session.changer.write_problems] if p]
    if not broken and journal_closed:
        return ""
    text = "the run's record could not be written (" + "; ".join(broken or ["journal"]) + ")"
    if not journal_closed:
        text += (f": its journal still lists changes - once the disk has room, "
                 f"`failover-harness recover {run_dir}` closes it (the devices are restored)")
    return text + "; its figures are incomplete"


def _render(run_dir: Path, parts: Parts) -> tuple[list[Path], SectionStatus | None, str]:
    """(report files, the report's status (None: not rendered), a note when not rendered)."""
    try:
        rendered = parts.report(run_dir)
    except (HarnessError, OSError) as exc:
        reason = os_reason(exc) if isinstance(exc, OSError) else str(exc)
        return [], None, f"; report not rendered: {reason}"
    except Exception as exc:  # noqa: BLE001 - a report bug must not hide the run's outcome
        return [], None, f"; report not rendered (a bug): {exc!r}"
    files = [rendered.html_path, rendered.json_path, rendered.md_path, rendered.junit_path]
    return files, rendered.report.status, ""


def _verdict(outcomes: list[PlaybookOutcome], status: SectionStatus | None) -> tuple[int, str]:
    """The exit status of a run that ended without an error of its own: 1 when a verdict
    failed (or a playbook did not complete), 4 when none failed but one was inconclusive."""
    bad = [o for o in outcomes if o.status != "completed"]
    if any(o.status == "gate_failed" for o in bad):
        return EXIT_INFRASTRUCTURE, "; ".join(f"{_label(o)}: {o.reason}" for o in bad)
    failed = status == "failed"
    if bad or failed:
        return EXIT_EXPECTATION_FAILED, "; ".join(
            [f"{_label(o)}: {o.reason}" for o in bad]
            + (["an expectation was not met"] if failed else []))
    if status is not None and exit_status(status) == EXIT_INCONCLUSIVE:
        return EXIT_INCONCLUSIVE, "inconclusive: no expectation failed, but the data could not decide one"
    return EXIT_OK, "all expectations met"


def _label(outcome: PlaybookOutcome) -> str:
    if outcome.iteration is None or (outcome.iterations or 1) < 2:
        return outcome.playbook
    return f"{outcome.playbook} iteration {outcome.iteration} of {outcome.iterations}"


# ---------------------------------------------------------------- read-only check


class CheckResult(BaseModel):
    ok: bool
    lines: list[tuple[bool, str]]
    prediction: Prediction | None = None  # what a tunnel failure would do (prediction.py)


def check_steady_state(inventory_path: Path, *, wait_s: float = 15.0, probe_s: float = 3.0,
                       say: Say = print, parts: Parts | None = None) -> CheckResult:
    """Pre-change validation: read both control planes and probe briefly; change nothing."""
    parts = parts or Parts()
    inventory = load_inventory(inventory_path)
    prediction: Prediction | None = None
    with tempfile.TemporaryDirectory(prefix="failover-check-") as tmp:
        timeline = Timeline(Path(tmp) / "timeline.jsonl", parts.clock())
        session = Session(inventory, timeline, Journal(Path(tmp)), RunOptions(), say, parts)
        try:
            session.open()
            # Azure's design is read while the steady state is awaited (prediction.py).
            azure_design = design_read.AzureDesignRead(lambda: parts.azure_design(inventory))
            vantage = next(iter(inventory.vantage_points))
            pb = Playbook(name="check", probes=Probes.model_validate(
                {"from": vantage, "to": list(inventory.targets), "flows": 4,
                 "kinds": ["icmp", "tcp"] if any(t.tcp_ports for t in inventory.targets.values())
                 else ["icmp"]}))
            flows, _netns = probe_flows(inventory, pb)
            session.monitor = open_monitor(parts, inventory, vantage, flows, timeline)
            session.monitor.start()

            def answers_now() -> list[conditions.Answer]:
                quiet = session.loss_free_for(probe_s)
                return [*conditions.steady_state(session), conditions.Answer(
                    quiet, f"probes: {'no' if quiet else 'some'} loss over {probe_s:g} s "
                    f"({len(flows)} flows)")]

            session.wait(max(wait_s, probe_s + 2.0),
                         until=lambda: conditions.all_of(answers_now()))
            answers = answers_now()
            prediction = design_read.read_prediction(inventory, session.changer.device,
                                                     azure_design.result())
            # A single point of failure fails the check: the design would not survive one fault.
            answers += [conditions.Answer(False, f"single point of failure: {spof}")
                        for spof in prediction.single_points_of_failure]
        finally:
            session.close()
            timeline.close()
    return CheckResult(ok=all(a.ok for a in answers), lines=[(a.ok, a.why) for a in answers],
                       prediction=prediction)
