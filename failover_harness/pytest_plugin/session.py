"""The pytest session's failover state (a plugin object): where the inventory comes from,
the embedded lab (up on first use, down at the end, also on SIGTERM), which failover tests
ran how, and the terminal summary line."""

from __future__ import annotations

import logging
import secrets
import signal
from contextlib import AbstractContextManager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from pydantic import ValidationError

from failover_harness.errors import HarnessError
from failover_harness.signals import handled

log = logging.getLogger("failover_harness.pytest")

AUTO_MARK_FIXTURES = frozenset({"failover_inventory", "failover_run", "failover_result",
                                "azure_gateway", "onprem_device"})
MARKER_DOC = ("failover(playbook=None, **expectation_overrides): a failover test (slow, touches "
              "devices); with a playbook, runs it and fails on every expectation not met")
NO_INVENTORY = ("failover test: no inventory (pass --failover-inventory PATH, or --failover-lab "
                "to bring up the embedded lab)")


def parse_lab_options(text: str) -> Any:
    """"bfd,timers=tuned" -> LabOptions (bare names are True)."""
    from failover_harness.lab.topology import LabOptions

    values: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        values[key.strip().replace("-", "_")] = value.strip() if sep else True
    try:
        return LabOptions.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise pytest.UsageError(f"--failover-lab-options {text!r}: {where}: {first['msg']}") from exc


def sigterm_interrupts() -> AbstractContextManager[None]:
    """While a lab is up, SIGTERM ends pytest like Ctrl-C does, so the lab still goes down."""
    def handler(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)
    return handled((signal.SIGTERM,), handler)


class FailoverSession:
    """Per pytest session (a plugin object): where the inventory comes from, the lab, and
    which failover tests ran how."""

    def __init__(self, config: pytest.Config, inventory: Path | None, use_lab: bool,
                 lab_options: str, report_dir: Path) -> None:
        self.config = config
        self.inventory_option = inventory
        self.use_lab = use_lab
        self.lab_options = lab_options
        self.report_dir = report_dir
        self.lab_prefix: str | None = None
        self.lab_used: str | None = None
        self.inventory_path: Path | None = inventory
        self.items: set[str] = set()
        self.deselected = 0
        self.outcomes: dict[str, str] = {}
        self.skip_reasons: dict[str, str] = {}
        self.runs = 0
        self.interrupted = False

    @property
    def configured(self) -> bool:
        return self.inventory_option is not None or self.use_lab

    def where(self) -> str:
        if self.use_lab:
            return f"the embedded lab {self.lab_used or ''} (inventory {self.inventory_path})"
        return f"inventory {self.inventory_option}"

    # --- the lab ---

    def lab_up(self) -> Path:
        from failover_harness.lab import lab as lab_api

        options = parse_lab_options(self.lab_options)
        self.lab_prefix = self.lab_used = "fhp" + secrets.token_hex(3)
        log.info("bringing up lab %s", self.lab_prefix)
        state = lab_api.up(self.lab_prefix, options)
        if not state.inventory:
            raise HarnessError(f"lab {self.lab_prefix} wrote no inventory")
        self.inventory_path = Path(state.inventory)
        return self.inventory_path

    def lab_down(self) -> None:
        if self.lab_prefix is None:
            return
        from failover_harness.lab import lab as lab_api

        prefix, self.lab_prefix = self.lab_prefix, None
        log.info("taking down lab %s", prefix)
        lab_api.down(prefix)

    # --- hooks ---

    @pytest.hookimpl(tryfirst=True)  # before -m deselects, so auto-marked tests are selectable
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        skip = pytest.mark.skip(reason=NO_INVENTORY)
        for item in items:
            uses = AUTO_MARK_FIXTURES & set(getattr(item, "fixturenames", ()))
            if uses and item.get_closest_marker("failover") is None:
                item.add_marker(pytest.mark.failover)
            if item.get_closest_marker("failover") is None:
                continue
            self.items.add(item.nodeid)
            if not self.configured:
                item.add_marker(skip)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            if item.nodeid in self.items:
                self.items.discard(item.nodeid)
                self.deselected += 1

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self.items:
            return
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
        elif report.when != "call" and report.failed:
            outcome = "error"
        elif report.skipped and ("failover.outcome", "inconclusive") in report.user_properties:
            outcome = "inconclusive"  # it ran; the data could not decide
        else:
            outcome = report.outcome
        # A teardown error after a passed call is what counts; otherwise the call's.
        if (report.when == "call" or outcome != "passed") and (
                report.when != "teardown" or self.outcomes.get(report.nodeid, "passed") == "passed"):
            self.outcomes[report.nodeid] = outcome
        if report.skipped and isinstance(report.longrepr, tuple):
            self.skip_reasons[report.nodeid] = str(report.longrepr[2]).removeprefix("Skipped: ")

    def pytest_keyboard_interrupt(self) -> None:
        self.interrupted = True

    def pytest_report_header(self) -> str | None:
        if self.use_lab:
            return "failover: the embedded lab (up on first use, down at the end of the session)"
        if self.inventory_option is not None:
            return f"failover: inventory {self.inventory_option}"
        return None

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.items or self.deselected or self.configured:
            terminalreporter.write_line(summary_line(self))

    def pytest_unconfigure(self) -> None:
        self.lab_down()  # a safety net: the session fixture normally did it


def summary_line(session: FailoverSession) -> str:
    """One line: whether failover tests ran, how many, against what, and how they ended."""
    counts: dict[str, int] = {}
    for outcome in session.outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    ran = sum(n for k, n in counts.items() if k != "skipped")
    tail = f"; {session.deselected} deselected" if session.deselected else ""
    if session.interrupted and session.runs:
        return (f"failover: INTERRUPTED after {session.runs} playbook run(s) against "
                f"{session.where()} ({ran} test(s) finished); each run restored what it shut; "
                f"reports in {session.report_dir}")
    if ran == 0:
        if not session.items:
            return f"failover: no failover tests run{tail}"
        reasons = sorted(set(session.skip_reasons.values()))
        why = f": {reasons[0].removeprefix('failover test: ')}" if len(reasons) == 1 else ""
        return (f"failover: NOT RUN - {counts.get('skipped', 0)} failover test(s) "
                f"skipped{why}{tail}")
    parts = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    return (f"failover: {ran} failover test(s) ran ({session.runs} playbook run(s)) against "
            f"{session.where()}: {parts}{tail}; reports in {session.report_dir}")


SESSION_KEY = pytest.StashKey[FailoverSession]()


def session_of(config: pytest.Config) -> FailoverSession:
    return config.stash[SESSION_KEY]
