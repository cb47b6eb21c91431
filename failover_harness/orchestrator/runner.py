"""The game-day run: one or more playbooks against one inventory, on one clock.

Shape of a playbook run (Chaos Toolkit's, typed):
  probes start -> the gate (steady state must hold; the management path must not use the
  tunnel about to be shut) -> the method, step by step, with the guard watching after the
  first fault -> rollbacks (always) -> probes drain -> run_end.
Every change to a device is journaled before it is made; whatever ends the run (an
exception, Ctrl-C, SIGTERM, a guard trip) the journal's outstanding changes are undone
before the process leaves. After SIGKILL, `recover` (or the next run) undoes them.
"""

from __future__ import annotations

import getpass
import platform
import secrets as pysecrets
import signal
import subprocess
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType

from pydantic import BaseModel

from failover_harness import __version__
from failover_harness.azure.models import AzureSnapshot
from failover_harness.azure.poller import AzurePoller
from failover_harness.devices import Device, DeviceAction, open_device
from failover_harness.errors import (EXIT_BAD_INPUT, EXIT_EXPECTATION_FAILED,
                                     EXIT_INFRASTRUCTURE, EXIT_OK, DeviceError, HarnessError,
                                     InfrastructureError, InputError, SafetyGateError)
from failover_harness.inventory import Inventory, TunnelRef, load_inventory
from failover_harness.journal import Change, ChangeAction, Journal, read_journal, unfinished_journals
from failover_harness.orchestrator import conditions
from failover_harness.orchestrator.components import (azure_settings, device_connection,
                                                      probe_flows)
from failover_harness.orchestrator.device_watch import DeviceWatcher
from failover_harness.orchestrator.probe_monitor import ProbeMonitor
from failover_harness.playbook import (AnyStep, Baseline, Hold, NoShutInterface, NoShutNeighbor,
                                       Playbook, ResetAzureInstance, ShutInterface,
                                       ShutNeighbor, WaitUntil, load_playbook)
from failover_harness.signals import handled
from failover_harness.timeline import Timeline

Say = Callable[[str], None]


class Interrupted(BaseException):
    """SIGTERM (or SIGHUP) arrived; raised in the main thread so every finally runs."""


class GuardTripped(Exception):
    pass


class RunOptions(BaseModel):
    reports_root: Path = Path("reports")
    run_id: str | None = None
    operator: str | None = None
    gate_timeout_s: float = 60.0  # how long the steady state may take to hold
    guard_loss_s: float = 10.0  # every flow losing this long after a fault: abort
    skip_gate: bool = False  # labs only (refused elsewhere), and loud
    settle_s: float = 2.0  # after rollbacks, before probes stop: the tail of the failback
    device_poll_s: float = 0.2


class PlaybookOutcome(BaseModel):
    playbook: str
    status: str  # completed | aborted | gate_failed | failed | interrupted
    reason: str | None = None


class GameDayResult(BaseModel):
    run_id: str
    run_dir: Path
    exit_code: int
    outcomes: list[PlaybookOutcome]
    message: str
    report_files: list[Path] = []


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + pysecrets.token_hex(3)


def signals_raise() -> AbstractContextManager[None]:
    """SIGTERM/SIGHUP raise Interrupted in the main thread (Ctrl-C raises KeyboardInterrupt)."""
    def handler(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signal.Signals(signum).name)
    return handled((signal.SIGTERM, signal.SIGHUP), handler)


def signals_deferred(say: Say) -> AbstractContextManager[None]:
    """While restoring, a second SIGTERM/Ctrl-C must not cut the restore short."""
    def handler(signum: int, _frame: FrameType | None) -> None:
        say(f"{signal.Signals(signum).name}: restoring what was changed first")
    return handled((signal.SIGTERM, signal.SIGHUP, signal.SIGINT), handler)


def is_lab(inventory: Inventory) -> bool:
    """A lab inventory talks to an ARM emulator on loopback; production never does."""
    url = inventory.azure.base_url or ""
    return url.startswith(("https://127.", "https://localhost", "https://[::1]"))


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version
    out = {"failover-harness": __version__, "python": platform.python_version()}
    for dist in ("netmiko", "azure-mgmt-network", "azure-identity", "scapy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


# ---------------------------------------------------------------- device changes


class DeviceChanger:
    """The one place that changes devices: journal first, then the command, then the events."""

    def __init__(self, inventory: Inventory, journal: Journal, timeline: Timeline,
                 view: Session) -> None:
        self.inventory = inventory
        self.journal = journal
        self.timeline = timeline
        self.view = view
        self._devices: dict[str, Device] = {}

    def device(self, name: str) -> Device:
        dev = self._devices.get(name)
        if dev is None:
            dev = open_device(device_connection(self.inventory, name))
            dev.connect()
            self._devices[name] = dev
        return dev

    def forget(self, name: str) -> None:
        """Drop a device's session (it broke); the next change opens a new one."""
        self._devices.pop(name, None)

    def connect_all(self) -> None:
        for name in self.inventory.devices:
            self.device(name)

    def close(self) -> None:
        for dev in self._devices.values():
            try:
                dev.close()
            except DeviceError:
                pass

    def fault_data(self, device: str, action: ChangeAction, target: str) -> dict[str, object]:
        """What metrics need to know about the tunnel a change touches."""
        data: dict[str, object] = {"action": action, "device": device}
        if action.endswith("interface"):
            data["interface"] = target
            tunnel = self.inventory.devices[device].tunnels.get(target)
            ref = TunnelRef(device, target, tunnel) if tunnel else None
        else:
            data["neighbor"] = target
            ref = self.inventory.tunnel_by_address(target)
        if ref is not None:
            azure_peer = conditions.azure_peer_of(ref)
            data.update(interface=ref.interface, onprem_neighbor=str(ref.tunnel.neighbor),
                        azure_peer=azure_peer, connection=ref.tunnel.connection)
            instance = self.view.azure_instance_of(azure_peer)
            if instance is not None:
                data["azure_instance"] = instance
        return data

    def apply(self, device: str, action: ChangeAction, target: str,
              undoes: Change | None = None) -> Change:
        change = self.journal.intent(device, action, target)
        data = self.fault_data(device, action, target)
        subject = f"device:{device}/{target}"
        kind = DeviceAction(kind=action, target=target)
        dev = self.device(device)
        self.timeline.emit("action", "action_start", subject,
                           commands=dev.planned_commands(kind), **data)
        try:
            if kind.on_interface:
                commands = dev.set_interface_enabled(target, kind.enabled)
            else:
                commands = dev.set_neighbor_enabled(target, kind.enabled)
        except DeviceError as exc:
            self.timeline.emit("action", "action_failed", subject, error=str(exc), **data)
            raise
        self.timeline.emit("action", "action_done", subject, commands=commands, **data)
        self.journal.done(change)
        if undoes is not None:
            self.journal.undone(undoes)
        if action.startswith("no_shut"):
            self.journal.undone(change)  # a restore needs no undo of its own
        return change


# ---------------------------------------------------------------- the session


@dataclass
class Session:
    """Everything a game-day holds open: devices, watchers, the Azure poller, probes."""

    inventory: Inventory
    timeline: Timeline
    journal: Journal
    options: RunOptions
    say: Say
    watchers: dict[str, DeviceWatcher] = field(default_factory=dict)
    poller: AzurePoller | None = None
    monitor: ProbeMonitor | None = None
    changer: DeviceChanger | None = None
    outstanding: list[Change] = field(default_factory=list)  # shut changes not yet undone
    current_step: str = ""

    # --- RunView (conditions.py) ---

    def onprem_established(self, device: str, neighbor: str) -> bool | None:
        watcher = self.watchers.get(device)
        return watcher.established(neighbor) if watcher else None

    def azure(self) -> AzureSnapshot | None:
        return self.poller.snapshot() if self.poller else None

    def loss_free_for(self, seconds: float) -> bool:
        return self.monitor.loss_free_for(seconds) if self.monitor else False

    def azure_instance_of(self, azure_peer: str) -> str | None:
        snap = self.azure()
        if snap is None:
            return None
        for instance, peers in snap.peers.items():
            if azure_peer in peers:
                return instance
        return None

    # --- lifecycle ---

    def open(self) -> None:
        self.changer = DeviceChanger(self.inventory, self.journal, self.timeline, self)
        self.say("connecting to devices")
        self.changer.connect_all()  # a wrong password fails here, before anything changes
        for name in self.inventory.devices:
            conn = device_connection(self.inventory, name)
            watcher = DeviceWatcher(name, lambda c=conn: open_device(c), self.timeline,
                                    interval_s=self.options.device_poll_s)
            self.watchers[name] = watcher.start()
        self.say("starting the Azure poller")
        self.poller = AzurePoller(azure_settings(self.inventory), self.timeline).start()

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
            self.monitor = None
        if self.poller is not None:
            self.poller.stop()
        for w in self.watchers.values():
            w.stop()
        if self.changer is not None:
            self.changer.close()

    # --- changes ---

    def change(self, device: str, action: ChangeAction, target: str) -> None:
        assert self.changer is not None
        if action.startswith("no_shut"):
            undoes = next((c for c in self.outstanding
                           if c.device == device and c.target == target), None)
            self.changer.apply(device, action, target, undoes=undoes)
            if undoes is not None:
                self.outstanding.remove(undoes)
        else:
            self.outstanding.append(self.changer.apply(device, action, target))

    def restore_outstanding(self) -> list[str]:
        """Undo every change still outstanding, newest first; retries a dropped session."""
        problems = []
        for change in sorted(self.outstanding, key=lambda c: c.id, reverse=True):
            for attempt in range(3):
                try:
                    self.change(change.device, change.undo_action, change.target)
                    break
                except DeviceError as exc:
                    if attempt == 2:
                        problems.append(f"{change.device} {change.target}: {exc}")
                    else:
                        assert self.changer is not None
                        self.changer.forget(change.device)  # reconnect
                        time.sleep(1.0)
        return problems

    # --- waiting ---

    def wait(self, seconds: float, guard: Callable[[], None] | None = None,
             until: Callable[[], conditions.Answer] | None = None) -> conditions.Answer | None:
        deadline = time.monotonic() + seconds
        answer = None
        while True:
            if guard is not None:
                guard()
            if until is not None:
                answer = until()
                if answer.ok:
                    return answer
            left = deadline - time.monotonic()
            if left <= 0:
                return answer
            time.sleep(min(0.05, left))


# ---------------------------------------------------------------- one playbook


class PlaybookRun:
    def __init__(self, session: Session, playbook: Playbook, run_id: str, index: int) -> None:
        self.s = session
        self.pb = playbook
        self.run_id = run_id
        self.index = index
        self.broken: list[TunnelRef] = []  # tunnels this run faulted (the guard skips them)
        self.executed: list[AnyStep] = []
        self.faulted = False

    @property
    def tl(self) -> Timeline:
        return self.s.timeline

    def guard(self) -> None:
        if not self.faulted:
            return
        s = self.s
        now = self.tl.clock.now()
        if s.monitor is not None and s.monitor.all_flows_losing_for(s.options.guard_loss_s, now):
            raise GuardTripped(f"every probe flow has lost everything for more than "
                               f"{s.options.guard_loss_s:g} s: the surviving path is down too")
        paths = conditions.surviving_paths(s, self.broken)
        if not paths.ok:
            raise GuardTripped(paths.why)

    def gate(self) -> None:
        """Steady state before any fault, and a management path clear of the tunnels to shut."""
        s = self.s

        def all_hold() -> conditions.Answer:
            return conditions.all_of(conditions.steady_state(s)
                                     + [conditions.check(s, c) for c in self.pb.steady_state])

        s.say("gate: waiting for the steady state")
        answer = s.wait(s.options.gate_timeout_s, until=all_hold)
        if answer is None or not answer.ok:
            why = answer.why if answer is not None else "nothing checked"
            if s.options.skip_gate:
                self.tl.emit("guard", "gate_skipped", self.run_id, reason=why)
                s.say(f"[bold red]GATE SKIPPED (lab override): {why}[/]")
                return
            self.tl.emit("guard", "gate_failed", self.run_id, reason=why)
            raise SafetyGateError(why)
        for step in self.pb.faults():
            if isinstance(step, ShutInterface):
                mgmt = management_path_uses(s, step.device, step.interface)
                if mgmt:
                    self.tl.emit("guard", "gate_failed", self.run_id, reason=mgmt)
                    raise SafetyGateError(mgmt)
        self.tl.emit("guard", "gate_passed", self.run_id, reason=answer.why)

    def run(self) -> PlaybookOutcome:
        s, pb = self.s, self.pb
        flows, netns = probe_flows(s.inventory, pb)
        self.tl.emit("run", "run_start", self.run_id,
                     playbook={"name": pb.name, "path": pb.source, "digest": pb.digest},
                     inventory={"name": s.inventory.name, "path": s.inventory.source,
                                "digest": s.inventory.digest},
                     versions=versions(), operator=s.options.operator or _operator(),
                     expectations=[e.model_dump(exclude_none=True) for e in pb.expectations],
                     index=self.index, lab=is_lab(s.inventory), skip_gate=s.options.skip_gate)
        status, reason = "completed", None
        s.monitor = ProbeMonitor(flows, netns, self.tl)
        try:
            s.monitor.start()
            s.say(f"{pb.name}: {len(flows)} probe flows from {pb.probes.from_}")
            self.gate()
            for n, step in enumerate(pb.method, 1):
                self.step(n, step)
        except SafetyGateError as exc:
            status, reason = "gate_failed", f"gate: {exc}; no fault was injected"
        except GuardTripped as exc:
            status, reason = "aborted", f"guard: {exc}; restored at once"
            self.tl.emit("guard", "guard_tripped", self.run_id, reason=str(exc))
            s.say(f"[bold red]ABORTED[/] {exc}")
        except (KeyboardInterrupt, Interrupted) as exc:
            status, reason = "interrupted", f"interrupted ({type(exc).__name__} {exc}); restored"
            raise
        except HarnessError as exc:
            status, reason = "failed", str(exc)
        except Exception as exc:  # a bug must not strand a tunnel: restore, record, go on
            status, reason = "failed", f"unexpected error: {exc!r}"
            self.tl.emit("run", "error", self.run_id, error=repr(exc),
                         traceback=traceback.format_exc())
        finally:
            with signals_deferred(s.say):
                problems = self.rollback()
                if problems:
                    status = "failed"
                    reason = (reason + "; " if reason else "") + "restore failed: " + "; ".join(problems)
                if status in ("completed", "aborted") and self.faulted:
                    s.wait(s.options.settle_s)
                s.monitor.stop()
                s.monitor = None
                self.tl.emit("run", "run_end", self.run_id, status=status, reason=reason)
        return PlaybookOutcome(playbook=pb.name, status=status, reason=reason)

    def rollback(self) -> list[str]:
        s = self.s
        for step in self.pb.restore_plan(self.executed):
            try:
                if isinstance(step, (NoShutInterface, NoShutNeighbor)):
                    target = (step.interface if isinstance(step, NoShutInterface)
                              else str(step.neighbor))
                    if any(c.device == step.device and c.target == target for c in s.outstanding):
                        self.step("rollback", step)
                elif isinstance(step, WaitUntil) and self.faulted:
                    self.step("rollback", step)
            except HarnessError as exc:
                self.tl.emit("run", "rollback_failed", self.run_id, error=str(exc))
        # Whatever the playbook's rollbacks missed, the journal still knows.
        return s.restore_outstanding()

    def step(self, n: int | str, step: AnyStep) -> None:
        s = self.s
        name = f"step:{n}:{step.action}"
        s.current_step = f"{n}. {describe(step)}"
        self.tl.emit("run", "step_start", name, step=step.model_dump(mode="json"),
                     playbook=self.pb.name)
        guard = self.guard if n != "rollback" else None
        if isinstance(step, (Baseline, Hold)):
            s.wait(step.seconds, guard=guard)
        elif isinstance(step, ShutInterface):
            self.faulted = True
            tunnel = s.inventory.devices[step.device].tunnels.get(step.interface)
            if tunnel is not None:
                self.broken.append(TunnelRef(step.device, step.interface, tunnel))
            s.change(step.device, "shut_interface", step.interface)
        elif isinstance(step, ShutNeighbor):
            self.faulted = True
            ref = s.inventory.tunnel_by_address(str(step.neighbor))
            if ref is not None:
                self.broken.append(ref)
            s.change(step.device, "shut_neighbor", str(step.neighbor))
        elif isinstance(step, (NoShutInterface, NoShutNeighbor)):
            target = step.interface if isinstance(step, NoShutInterface) else str(step.neighbor)
            s.change(step.device, "no_shut_interface" if isinstance(step, NoShutInterface)
                     else "no_shut_neighbor", target)
            # A restored tunnel stays out of the guard's surviving paths: it is still
            # coming back up, and its loss is the failback's to measure.
        elif isinstance(step, WaitUntil):
            answer = s.wait(step.timeout_s, guard=guard,
                            until=lambda: conditions.condition(s, step))
            if answer is None or not answer.ok:
                self.tl.emit("run", "step_timeout", name, reason=answer.why if answer is not None else "")
                s.say(f"[yellow]{describe(step)}: not met within {step.timeout_s:g} s[/]"
                      f" ({answer.why if answer is not None else ''})")
        if n != "rollback":
            self.executed.append(step)
        self.tl.emit("run", "step_end", name, playbook=self.pb.name)


def describe(step: AnyStep) -> str:
    parts = [step.action]
    for key in ("device", "interface", "neighbor", "condition", "peer", "seconds"):
        value = getattr(step, key, None)
        if value is not None:
            parts.append(f"{key}={value}")
    return " ".join(parts)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def management_path_uses(session: Session, device: str, interface: str) -> str | None:
    """Would shutting `interface` cut our SSH session to `device`? Asks the device how it
    routes back to the address we connect from. None when the path is clear."""
    host = session.inventory.devices[device].host
    try:
        out = subprocess.run(["ip", "-o", "route", "get", host], capture_output=True,
                             text=True, timeout=5, check=True).stdout.split()
        source = out[out.index("src") + 1]
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None  # not Linux routing here: nothing to ask the device about
    assert session.changer is not None
    try:
        route = session.changer.device(device).send_show(f"show ip route {source}")
    except DeviceError:
        return None
    if any(word.strip(",") == interface for word in route.split()):
        return (f"the management path to {device} ({host}, from {source}) runs through "
                f"{interface}: shutting it would cut this session")
    return None


# ---------------------------------------------------------------- recovery


def recover(run_dir: Path, say: Say, inventory_path: Path | None = None) -> list[str]:
    """Undo what an unfinished run's journal says was changed. Returns problems (empty: done)."""
    journal_path = run_dir / "journal.jsonl"
    if not journal_path.is_file():
        raise InputError("no journal here (expected a run directory)", file=str(journal_path))
    state = read_journal(journal_path)
    if state.closed and not state.outstanding:
        say(f"{run_dir}: nothing to recover")
        return []
    inv_path = inventory_path or (Path(state.inventory) if state.inventory else None)
    if inv_path is None:
        raise InputError("the journal names no inventory; pass one with -i",
                         file=str(journal_path))
    inventory = load_inventory(inv_path)
    journal = Journal(run_dir)
    timeline = Timeline(run_dir / "timeline.jsonl")
    problems = []
    devices: dict[str, Device] = {}
    try:
        for change in state.outstanding:
            say(f"recover: {change.device} {change.undo_action} {change.target}")
            try:
                dev = devices.get(change.device)
                if dev is None:
                    dev = devices[change.device] = open_device(
                        device_connection(inventory, change.device))
                    dev.connect()
                kind = DeviceAction(kind=change.undo_action, target=change.target)
                undo = journal.intent(change.device, change.undo_action, change.target)
                commands = (dev.set_interface_enabled(change.target, True) if kind.on_interface
                            else dev.set_neighbor_enabled(change.target, True))
                timeline.emit("action", "action_done", f"device:{change.device}/{change.target}",
                              action=change.undo_action, device=change.device,
                              commands=commands, recovered=True)
                journal.done(undo)
                journal.undone(undo)
                journal.undone(change)
            except DeviceError as exc:
                problems.append(f"{change.device} {change.target}: {exc}")
        if not problems:
            journal.close()
    finally:
        for dev in devices.values():
            dev.close()
        timeline.close()
    return problems


# ---------------------------------------------------------------- the game-day


def run_gameday(inventory_path: Path, playbooks_in: Sequence[Path | Playbook],
                options: RunOptions, say: Say = print,
                on_session: Callable[[Session], None] | None = None) -> GameDayResult:
    """Run the playbooks (files, or models already loaded and perhaps adjusted) in order as
    one game-day; always restores; renders the reports. Raises InputError before touching
    anything when a file is wrong."""
    inventory = load_inventory(inventory_path)
    playbooks = [p if isinstance(p, Playbook) else load_playbook(p, inventory)
                 for p in playbooks_in]
    for pb in playbooks:
        if any(isinstance(step, ResetAzureInstance) for step in pb.method):
            raise InputError("reset_azure_instance is not carried out by this version's runner",
                             file=pb.source, field="method")
    if options.skip_gate and not is_lab(inventory):
        raise InputError("the gate can only be skipped against a lab (an inventory whose "
                         "azure.base_url is on loopback)", file=str(inventory_path),
                         field="azure.base_url")
    for old in unfinished_journals(options.reports_root):
        say(f"[yellow]an earlier run did not finish ({old}): undoing its changes first[/]")
        problems = recover(old, say)
        if problems:
            raise InfrastructureError(f"could not recover {old}: {'; '.join(problems)}")

    run_id = options.run_id or new_run_id()
    run_dir = options.reports_root / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    timeline = Timeline(run_dir / "timeline.jsonl")
    journal = Journal(run_dir)
    journal.open(inventory_path, run_id)
    session = Session(inventory, timeline, journal, options, say)
    outcomes: list[PlaybookOutcome] = []
    exit_code, message = EXIT_OK, ""
    try:
        with signals_raise():
            try:
                session.open()
                if on_session is not None:
                    on_session(session)
                for index, pb in enumerate(playbooks):
                    outcome = PlaybookRun(session, pb, run_id, index).run()
                    outcomes.append(outcome)
                    if outcome.status in ("failed", "gate_failed"):
                        break
            except (KeyboardInterrupt, Interrupted) as exc:
                exit_code, message = EXIT_INFRASTRUCTURE, f"interrupted ({type(exc).__name__}); restored"
                if not outcomes or outcomes[-1].status != "interrupted":
                    outcomes.append(PlaybookOutcome(playbook="?", status="interrupted",
                                                    reason=message))
            except DeviceError as exc:
                exit_code, message = EXIT_INFRASTRUCTURE, str(exc)
            except InputError as exc:
                exit_code, message = EXIT_BAD_INPUT, str(exc)
            except HarnessError as exc:
                exit_code, message = exc.exit_code, str(exc)
            except Exception as exc:
                exit_code, message = EXIT_INFRASTRUCTURE, f"unexpected error: {exc!r}"
                timeline.emit("run", "error", run_id, error=repr(exc),
                              traceback=traceback.format_exc())
            finally:
                with signals_deferred(say):
                    problems = session.restore_outstanding()
                    session.close()
                    if problems:
                        exit_code = EXIT_INFRASTRUCTURE
                        message += "; RESTORE FAILED: " + "; ".join(problems) + \
                            f" - run `failover-harness recover {run_dir}`"
                    else:
                        journal.close()
    finally:
        timeline.close()

    report_files: list[Path] = []
    verdict_failed = False
    try:
        from failover_harness.reports.render import render_report
        rendered = render_report(run_dir)
        report_files = [rendered.html_path, rendered.json_path, rendered.md_path,
                        rendered.junit_path]
        verdict_failed = any(v.status != "passed" for sec in rendered.report.sections
                             for v in sec.verdicts)
    except HarnessError as exc:
        message += f"; report not rendered: {exc}"
    if exit_code == EXIT_OK:
        bad = [o for o in outcomes if o.status != "completed"]
        if any(o.status == "gate_failed" for o in bad):
            exit_code = EXIT_INFRASTRUCTURE
            message = "; ".join(f"{o.playbook}: {o.reason}" for o in bad)
        elif bad or verdict_failed:
            exit_code = EXIT_EXPECTATION_FAILED
            message = "; ".join([f"{o.playbook}: {o.reason}" for o in bad]
                                + (["an expectation was not met"] if verdict_failed else []))
        else:
            message = "all expectations met"
    return GameDayResult(run_id=run_id, run_dir=run_dir, exit_code=exit_code, outcomes=outcomes,
                         message=message, report_files=report_files)


# ---------------------------------------------------------------- read-only check


class CheckResult(BaseModel):
    ok: bool
    lines: list[tuple[bool, str]]


def check_steady_state(inventory_path: Path, *, wait_s: float = 15.0, probe_s: float = 3.0,
                       say: Say = print) -> CheckResult:
    """Pre-change validation: read both control planes and probe briefly; change nothing."""
    import tempfile

    from failover_harness.playbook import Probes
    inventory = load_inventory(inventory_path)
    with tempfile.TemporaryDirectory(prefix="failover-check-") as tmp:
        timeline = Timeline(Path(tmp) / "timeline.jsonl")
        session = Session(inventory, timeline, Journal(Path(tmp)), RunOptions(), say)
        try:
            session.open()
            vantage = next(iter(inventory.vantage_points))
            pb = Playbook(name="check", probes=Probes.model_validate(
                {"from": vantage, "to": list(inventory.targets), "flows": 4,
                 "kinds": ["icmp", "tcp"] if any(t.tcp_ports for t in inventory.targets.values())
                 else ["icmp"]}))
            flows, netns = probe_flows(inventory, pb)
            session.monitor = ProbeMonitor(flows, netns, timeline)
            session.monitor.start()

            def answers_now() -> list[conditions.Answer]:
                quiet = session.loss_free_for(probe_s)
                return conditions.steady_state(session) + [conditions.Answer(
                    quiet, f"probes: {'no' if quiet else 'some'} loss over {probe_s:g} s "
                    f"({len(flows)} flows)")]

            session.wait(max(wait_s, probe_s + 2.0),
                         until=lambda: conditions.all_of(answers_now()))
            answers = answers_now()
        finally:
            session.close()
            timeline.close()
    return CheckResult(ok=all(a.ok for a in answers), lines=[(a.ok, a.why) for a in answers])
