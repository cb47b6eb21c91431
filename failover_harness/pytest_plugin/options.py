"""Command-line options and the `failover` marker: checked at configure time (bad input
stops pytest before any test), then the session object is registered."""

from __future__ import annotations

from pathlib import Path

import pytest

from failover_harness.errors import HarnessError
from failover_harness.inventory import load_inventory
from failover_harness.pytest_plugin.session import SESSION_KEY, FailoverSession, parse_lab_options

MARKER_DOC = ("failover(playbook=None, **expectation_overrides): a failover test (slow, touches "
              "devices); with a playbook, runs it and fails on every expectation not met")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("failover", "failover tests (failover-harness)")
    group.addoption("--failover-inventory", metavar="PATH", type=Path, default=None,
                    help="run failover tests against this inventory")
    group.addoption("--failover-lab", action="store_true", default=False,
                    help="bring up the embedded lab for the session (needs root), run failover "
                         "tests against it, take it down at the end")
    group.addoption("--failover-lab-options", metavar="OPTS", default="",
                    help='lab variant for --failover-lab, e.g. "bfd,timers=tuned,'
                         'mode=primary-backup"')
    group.addoption("--failover-report-dir", metavar="DIR", type=Path, default=Path("reports"),
                    help="where failover runs write their reports, one directory per test "
                         "(default: reports/)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_DOC)
    inventory: Path | None = config.getoption("failover_inventory", None)
    use_lab: bool = bool(config.getoption("failover_lab", False))
    if inventory is not None and use_lab:
        raise pytest.UsageError("--failover-inventory and --failover-lab exclude each other")
    lab_options: str = config.getoption("failover_lab_options", "") or ""
    if lab_options:
        if not use_lab:
            raise pytest.UsageError("--failover-lab-options needs --failover-lab")
        parse_lab_options(lab_options)  # bad options fail now, not at the first test
    base = config.invocation_params.dir
    report_dir: Path = config.getoption("failover_report_dir", None) or Path("reports")
    inventory = None if inventory is None else base / inventory
    if inventory is not None:
        try:
            load_inventory(inventory)
        except HarnessError as exc:
            raise pytest.UsageError(f"--failover-inventory: {exc}") from exc
    session = FailoverSession(config, inventory, use_lab, lab_options, base / report_dir)
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "failover_harness_session")
