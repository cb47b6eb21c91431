"""One playbook of a game-day (Chaos Toolkit's shape, typed):
  probes start -> the gate (steady state must hold; the management path must not use the
  tunnel about to be shut) -> the method, step by step, with the guard watching after the
  first fault -> rollbacks (always) -> probes drain -> run_end.
An iteration of a repeated playbook (playbook/repeat.py) is one such run; from the second on,
its gate waits for the steady state to come back (Iteration.steady_timeout_s).
"""

from __future__ import annotations

import getpass
import platform
import traceback

from pydantic import BaseModel

from failover_harness import __version__
from failover_harness.errors import DeviceError, HarnessError, SafetyGateError
from failover_harness.inventory import Inventory, TunnelRef
from failover_harness.orchestrator import azure_faults, conditions, design_read, guard_bounds
from failover_harness.orchestrator.azure_focus import focus_window
from failover_harness.orchestrator.components import open_monitor, probe_sets
from failover_harness.orchestrator.multi_monitor import MultiMonitor
from failover_harness.orchestrator.session import Session
from failover_harness.orchestrator.steps import describe, device_change, tunnels_cut
from failover_harness.playbook import (
    AnyStep,
    Baseline,
    Hold,
    Iteration,
    LinkDown,
    Playbook,
    ResetAzureInstance,
    ResetConnection,
    ShutInterface,
    WaitUntil,
)
from failover_harness.prediction import Prediction
from failover_harness.signals import RunInterruptedError, termination_deferred
from failover_harness.timeline import Timeline


class GuardTrippedError(Exception):
    """The guard saw the surviving path fail after a fault: abort and restore at once."""


class SteadyStateLostError(Exception):
    """A repeat: the steady state did not come back after the previous iteration."""


class PlaybookOutcome(BaseModel):
    playbook: str
    status: str  # completed | aborted | gate_failed | failed | interrupted
    reason: str | None = None
    iteration: int | None = None  # a repeated playbook's iteration (1-based)
    iterations: int | None = None


def is_lab(inventory: Inventory) -> bool:
    """A lab inventory talks to an ARM emulator on loopback; production never does."""
    return inventory.is_lab()


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version
    out = {"failover-harness": __version__, "python": platform.python_version()}
    for dist in ("netmiko", "azure-mgmt-network", "azure-identity", "scapy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def management_path_uses(session: Session, device: str, interface: str) -> str | None:
    """Would shutting `interface` cut our SSH session to `device`? Asks the device how it
    routes back to the address we connect from. None when the path is clear."""
    host = session.inventory.devices[device].host
    source = session.parts.route_source(host)
    if source is None:
        return None  # nothing to ask the device about
    try:
        route = session.changer.device(device).send_show(f"show ip route {source}")
    except DeviceError:
        return None
    if any(word.strip(",") == interface for word in route.split()):
        return (f"the management path to {device} ({host}, from {source}) runs through "
                f"{interface}: shutting it would cut this session")
    return None


class PlaybookRun:
    def __init__(self, session: Session, playbook: Playbook, run_id: str, index: int,
                 iteration: Iteration | None = None) -> None:
        self.s = session
        self.pb = playbook
        self.run_id = run_id
        self.index = index
        self.iteration = iteration
        self.broken: list[TunnelRef] = []  # tunnels this run faulted (the guard skips them)
        self.executed: list[AnyStep] = []
        self.faulted = False
        self.outcome: PlaybookOutcome | None = None  # set when it ends, however it ends
        # armed before the first fault (arm_guard); this is only the value until then
        self.loss_trip_s = session.options.guard_loss_s or guard_bounds.FLOOR_S
        self.azure_design: design_read.AzureDesignRead | None = None  # for the prediction
        self.prediction: Prediction | None = None  # and the Azure poller's focus

    @property
    def tl(self) -> Timeline:
        return self.s.timeline

    def guard(self) -> None:
        if not self.faulted:
            return
        s = self.s
        now = self.tl.clock.now()
        if s.monitor is not None and s.monitor.all_flows_losing_for(self.loss_trip_s, now):
            raise GuardTrippedError(f"every probe flow has lost everything for more than "
                                    f"{self.loss_trip_s:g} s: the surviving path is "
                                    f"down too")
        paths = conditions.surviving_paths(s, self.broken)
        if not paths.ok:
            raise GuardTrippedError(paths.why)

    def arm_guard(self) -> None:
        """Read what bounds convergence and arm the total-loss trip after it."""
        bounds = guard_bounds.arm(self.s, self.pb)
        self.loss_trip_s = bounds.loss_trip_s
        self.tl.emit("guard", "guard_armed", self.run_id, reason=bounds.describe(),
                     loss_trip_s=bounds.loss_trip_s, hold_s=bounds.hold_s,
                     expectation_s=bounds.expectation_s, override=bounds.override)
        self.s.say(bounds.describe())

    def gate(self) -> None:
        """Steady state before any fault, and a management path clear of the tunnels to shut."""
        s = self.s

        def all_hold() -> conditions.Answer:
            return conditions.all_of(conditions.steady_state(s)
                                     + [conditions.check(s, c) for c in self.pb.steady_state])

        it = self.iteration
        again = it is not None and it.number > 1  # after an iteration: must come back
        timeout = (it.steady_timeout_s if it is not None and again and it.steady_timeout_s
                   else s.options.gate_timeout_s)
        s.say("gate: waiting for the steady state" + (" to return" if again else ""))
        answer = s.wait(timeout, until=all_hold)
        if answer is None or not answer.ok:
            why = answer.why if answer is not None else "nothing checked"
            if s.options.skip_gate:
                self.tl.emit("guard", "gate_skipped", self.run_id, reason=why)
                s.say(f"[bold red]GATE SKIPPED (lab override): {why}[/]")
                return
            self.tl.emit("guard", "gate_failed", self.run_id, reason=why)
            if again and it is not None:
                raise SteadyStateLostError(
                    f"the steady state did not return within {timeout:g} s after iteration "
                    f"{it.number - 1} of {it.count}: {why}")
            raise SafetyGateError(why)
        for step in self.pb.faults():
            # An Azure reset takes its tunnels down as surely as a shut does.
            cut = ([(step.device, step.interface)] if isinstance(step, ShutInterface) else
                   [(r.device, r.interface) for r in azure_faults.tunnels_of(s.inventory, step)]
                   if isinstance(step, (ResetAzureInstance, ResetConnection)) else [])
            for device, interface in cut:
                mgmt = management_path_uses(s, device, interface)
                if mgmt:
                    self.tl.emit("guard", "gate_failed", self.run_id, reason=mgmt)
                    raise SafetyGateError(mgmt)
        self.tl.emit("guard", "gate_passed", self.run_id, reason=answer.why)

    def run(self) -> PlaybookOutcome:
        s, pb, it = self.s, self.pb, self.iteration
        s.current_step = ""  # an earlier iteration's last step is not this one's
        sets = probe_sets(s.inventory, pb)
        flows = [f for _vantage, vp_flows in sets for f in vp_flows]
        self.tl.emit("run", "run_start", self.run_id,
                     playbook={"name": pb.name, "path": pb.source, "digest": pb.digest},
                     inventory={"name": s.inventory.name, "path": s.inventory.source,
                                "digest": s.inventory.digest},
                     versions=versions(), operator=s.options.operator or _operator(),
                     expectations=[e.model_dump(exclude_none=True) for e in pb.expectations],
                     index=self.index, lab=is_lab(s.inventory), skip_gate=s.options.skip_gate,
                     iteration=it.number if it else None,
                     iterations=it.count if it else None, tunnel=it.tunnel if it else None,
                     regression=pb.regression.model_dump() if pb.regression else None)
        status, reason = "completed", None
        monitors = [open_monitor(s.parts, s.inventory, vantage, vp_flows, self.tl)
                    for vantage, vp_flows in sets]
        monitor = s.monitor = monitors[0] if len(monitors) == 1 else MultiMonitor(monitors)
        try:
            monitor.start()
            if pb.faults():  # Azure's design is read while the gate waits
                self.azure_design = design_read.AzureDesignRead(
                    lambda: s.parts.azure_design(s.inventory))
            s.say(f"{pb.name}: {len(flows)} probe flows from "
                  f"{', '.join(vantage for vantage, _flows in sets)}")
            self.gate()
            self.arm_guard()
            for n, step in enumerate(pb.method, 1):
                self.step(n, step)
        except SafetyGateError as exc:
            status, reason = "gate_failed", f"gate: {exc}; no fault was injected"
        except SteadyStateLostError as exc:
            status, reason = "aborted", f"{exc}; no fault was injected in this iteration"
            s.say(f"[bold red]ABORTED[/] {exc}")
        except GuardTrippedError as exc:
            status, reason = "aborted", f"guard: {exc}; restored at once"
            self.tl.emit("guard", "guard_tripped", self.run_id, reason=str(exc))
            s.say(f"[bold red]ABORTED[/] {exc}")
        except (KeyboardInterrupt, RunInterruptedError) as exc:
            signal_name = (exc.signal_name if isinstance(exc, RunInterruptedError)
                           else "SIGINT (Ctrl-C)")
            status, reason = "interrupted", f"{signal_name} during step {s.current_step or 'the gate'}"
            raise
        except HarnessError as exc:
            status, reason = "failed", str(exc)
        except Exception as exc:  # a bug must not strand a tunnel: restore, record, go on
            status, reason = "failed", f"unexpected error: {exc!r}"
            self.tl.emit("run", "error", self.run_id, error=repr(exc),
                         traceback=traceback.format_exc())
        finally:
            with termination_deferred(s.say):
                problems = self.rollback()
                if problems:
                    status = "failed"
                    reason = ((reason + "; " if reason else "") + "restore failed: "
                              + "; ".join(problems))
                if status in ("completed", "aborted") and self.faulted:
                    s.wait(s.options.settle_s)
                elif status == "interrupted":
                    reason = f"{reason}; what it changed was restored"
                monitor.stop()
                s.monitor = None
                self.tl.emit("run", "run_end", self.run_id, status=status, reason=reason)
                self.outcome = PlaybookOutcome(
                    playbook=pb.name, status=status, reason=reason,
                    iteration=it.number if it else None, iterations=it.count if it else None)
        return self.outcome

    def rollback(self) -> list[str]:
        s = self.s
        for step in self.pb.restore_plan(self.executed):
            change = device_change(step)
            try:
                if change is not None and change.is_restore:
                    if s.changer.is_outstanding(change):
                        self.step("rollback", step)
                elif isinstance(step, WaitUntil) and self.faulted:
                    self.step("rollback", step)
            except HarnessError as exc:
                self.tl.emit("run", "rollback_failed", self.run_id, error=str(exc))
        # Whatever the playbook's rollbacks missed, the journal still knows.
        return s.changer.restore_outstanding()

    def step(self, n: int | str, step: AnyStep) -> None:
        s = self.s
        name = f"step:{n}:{step.action}"
        s.current_step = f"{n}. {describe(step)}"
        number = self.iteration.number if self.iteration else None
        self.tl.emit("run", "step_start", name, step=step.model_dump(mode="json"),
                     playbook=self.pb.name, iteration=number)
        guard = self.guard if n != "rollback" else None
        change = device_change(step)
        if isinstance(step, (Baseline, Hold)):
            s.wait(step.seconds, guard=guard)
        elif isinstance(step, (ResetAzureInstance, ResetConnection)):
            fault = azure_faults.resolve(s, step)
            self.faulted = True
            self.broken.extend(fault.tunnels)  # the guard watches the others
            s.focus_azure(focus_window(None, None))
            azure_faults.carry_out(s, fault)
        elif change is not None:
            if not change.is_restore:
                if not self.faulted:  # what the design predicts, before the first fault
                    self.prediction = design_read.emit_prediction(
                        s, self.run_id, "underlay" if isinstance(step, LinkDown)
                        else "link" if change.action.on_interface else "neighbor",
                        self.azure_design)
                self.faulted = True
                self.broken.extend(tunnels_cut(s.inventory, change))
            # A restored tunnel stays out of the guard's surviving paths: it is still
            # coming back up, and its loss is the failback's to measure.
            window = focus_window(change, self.prediction)
            lead = 0.0 if change.is_restore else s.azure_lead_s(window)
            s.focus_azure(window.later(lead))
            if lead > 0:
                s.say(f"waiting {lead:.1f} s for the Azure calls that answer after the change to start")
                s.wait(lead, guard=guard)
            s.changer.apply(change)
        elif isinstance(step, WaitUntil):
            answer = s.wait(step.timeout_s, guard=guard,
                            until=lambda: conditions.condition(s, step))
            if answer is None or not answer.ok:
                why = answer.why if answer is not None else ""
                self.tl.emit("run", "step_timeout", name, reason=why)
                s.say(f"[yellow]{describe(step)}: not met within {step.timeout_s:g} s[/]"
                      f" ({why})")
        if n != "rollback":
            self.executed.append(step)
        self.tl.emit("run", "step_end", name, playbook=self.pb.name, iteration=number)
