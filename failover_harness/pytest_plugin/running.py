"""Running a playbook from a test: find it, apply the overrides, run the game-day into the
test's own report folder, read back the result; after the test body, the marker's verdicts
decide (a failure, or a skip when the data could not decide)."""

from __future__ import annotations

import logging
import re
from collections.abc import Generator, Mapping
from pathlib import Path

import pytest

from failover_harness.errors import InputError
from failover_harness.inventory import Inventory
from failover_harness.orchestrator import gameday as gameday_api
from failover_harness.orchestrator.gameday import GameDayResult
from failover_harness.orchestrator.session import RunOptions
from failover_harness.playbook import Playbook, load_playbook
from failover_harness.pytest_plugin.overrides import apply_overrides
from failover_harness.pytest_plugin.result import FailoverResult, collect_result, junit_properties
from failover_harness.pytest_plugin.session import session_of
from failover_harness.timeline import Event

log = logging.getLogger("failover_harness.pytest")

RESULT_KEY = pytest.StashKey[FailoverResult]()
RUNS_KEY = pytest.StashKey[int]()


class ExpectationsNotMet(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """A failover run missed expectations (a test failure, not an error; xfail(raises=) it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, pytrace=False)


def safe_dirname(nodeid: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.replace("::", "__")).strip("_.")
    return name[-120:] or "test"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """The marker's verdicts decide after the test body (its own asserts report first)."""
    outcome = yield
    marked = item.stash.get(RESULT_KEY, None)
    if marked is not None and not marked.passed:
        if marked.completed and not marked.failed_verdicts:
            # Nothing failed, but the data could not decide: not a pass, not a failure.
            item.user_properties.append(("failover.outcome", "inconclusive"))
            pytest.skip(marked.failure_message())
        raise ExpectationsNotMet(marked.failure_message())
    return outcome


def resolve_playbook(playbook: str | Path, item: pytest.Item) -> Path:
    """An absolute path, or relative to the test's file, the rootdir or where pytest started."""
    path = Path(playbook)
    if path.is_absolute():
        return path
    candidates = [item.path.parent / path, item.config.rootpath / path,
                  item.config.invocation_params.dir / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise InputError("playbook not found (looked in " + ", ".join(str(c.parent)
                     for c in candidates) + ")", file=str(path))


def _say(message: str) -> None:
    log.info("%s", re.sub(r"\[/?[a-z ]+\]", "", message))  # rich markup is for terminals


def read_run(gameday: GameDayResult) -> FailoverResult:
    from failover_harness.reports.render import TIMELINE, load_events
    from failover_harness.reports.schema import Report

    report: Report | None = None
    events: list[Event] = []
    report_json = gameday.run_dir / "report.json"
    if report_json.is_file():
        report = Report.model_validate_json(report_json.read_text(encoding="utf-8"))
    try:
        events = load_events(gameday.run_dir / TIMELINE)
    except InputError as exc:
        log.warning("%s", exc)
    return collect_result(gameday, report, events)


def run_playbook(item: pytest.Item, inventory_path: Path, inventory: Inventory,
                 playbook: str | Path | Playbook, overrides: Mapping[str, object],
                 options: RunOptions | None = None) -> FailoverResult:
    session = session_of(item.config)
    pb = playbook if isinstance(playbook, Playbook) else \
        load_playbook(resolve_playbook(playbook, item), inventory)
    pb = apply_overrides(pb, overrides)
    count = item.stash.get(RUNS_KEY, 0) + 1
    item.stash[RUNS_KEY] = count
    root = session.report_dir / safe_dirname(item.nodeid)
    opts = (options or RunOptions()).model_copy(update={"reports_root": root})
    # The runner restores whatever it shut before it returns, whatever ended the run.
    gameday = gameday_api.run_gameday(inventory_path, [pb], opts, say=_say)
    session.runs += 1
    if any(o.status == "interrupted" for o in gameday.outcomes):
        # The runner caught Ctrl-C/SIGTERM to restore; pytest must still stop.
        raise KeyboardInterrupt(gameday.message)
    result = read_run(gameday)
    item.user_properties.extend(
        junit_properties(result, "failover." if count == 1 else f"failover.run{count}."))
    return result
