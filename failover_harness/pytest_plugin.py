"""pytest plugin (pytest11 entry point `failover_harness`): failover tests beside other tests.

Options
  --failover-inventory PATH   run failover tests against this inventory
  --failover-lab              bring up the embedded lab for the session (unique prefix), use its
                              inventory, take it down at the end (always; also after Ctrl-C)
  --failover-lab-options STR  lab variant, e.g. "bfd,timers=tuned,mode=primary-backup"
  --failover-report-dir DIR   where each test's run directories go (default: reports/)

Marker
  @pytest.mark.failover                         a failover test (slow, touches devices)
  @pytest.mark.failover(playbook="p.yaml", max_outage_s=5, failback_lost_probes=None)
      runs the playbook before the test body (result: the `failover_result` fixture); every
      expectation not met fails the test with the metric, its value, the bound and the report;
      when none failed but the data could not decide one (inconclusive, e.g. its evidence
      fell in an Azure data gap), the test is skipped with that reason, never passed.
      Keyword overrides name a metric (expectations.MetricName): a number replaces that
      expectation's bound (max, or min where the playbook has only a min; a new one gets max,
      min for flows_without_loss), {"min": a, "max": b} sets both, None drops it;
      {"max": {"p95": 5}} bounds a statistic over a repeated run's iterations.

Fixtures
  failover_inventory   the loaded Inventory (session)
  failover_run         failover_run(playbook, **overrides) -> FailoverResult
  failover_result      the marker's run
  azure_gateway        azure_gateway() -> AzureGatewaySnapshot (one read-only read)
  onprem_device        onprem_device(name=None) -> DeviceSnapshot (BGP neighbors, read-only)

Tests that use these fixtures are marked `failover` automatically, so `-m failover` and
`-m "not failover"` select them. Without an inventory they are skipped with the reason, and
the terminal summary says whether failover tests ran, how many, and against what.
"""

from __future__ import annotations

import logging
import re
import secrets
import signal
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from types import FrameType
from typing import Any, get_args

import pytest
from pydantic import BaseModel, ValidationError

from failover_harness.azure.models import AzureSnapshot, BgpPeer, ConnectionStatus, GatewayRoute
from failover_harness.devices import BgpNeighbor
from failover_harness.errors import EXIT_BAD_INPUT, EXIT_INFRASTRUCTURE, HarnessError, InputError
from failover_harness.expectations import Expectation, MetricName
from failover_harness.inventory import Inventory, load_inventory
from failover_harness.metrics import FlowMetrics, LossEpisode, MetricValue, Verdict
from failover_harness.orchestrator import gameday as gameday_api
from failover_harness.orchestrator.gameday import GameDayResult
from failover_harness.orchestrator.playbook_run import PlaybookOutcome
from failover_harness.orchestrator.session import RunOptions
from failover_harness.playbook import Playbook, load_playbook
from failover_harness.reports.repeat_model import RepeatSummary
from failover_harness.signals import handled
from failover_harness.timeline import Event

log = logging.getLogger("failover_harness.pytest")

METRICS: tuple[str, ...] = get_args(MetricName)
# Metrics where more is better: a bare number sets a min when the playbook has none.
MIN_METRICS = frozenset({"flows_without_loss"})
AUTO_MARK_FIXTURES = frozenset({"failover_inventory", "failover_run", "failover_result",
                                "azure_gateway", "onprem_device"})
MARKER_DOC = ("failover(playbook=None, **expectation_overrides): a failover test (slow, touches "
              "devices); with a playbook, runs it and fails on every expectation not met")
NO_INVENTORY = ("failover test: no inventory (pass --failover-inventory PATH, or --failover-lab "
                "to bring up the embedded lab)")


class ExpectationsNotMet(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """A failover run missed expectations (a test failure, not an error; xfail(raises=) it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, pytrace=False)


class OverrideError(ValueError):
    pass


# ---------------------------------------------------------------- results (no I/O)


class FailoverResult(BaseModel):
    """What one failover run measured, for plain asserts.

    metrics: metric -> value (None when unavailable; `measurements` says why, with bounds).
    loss_episodes: flow -> its loss episodes (phases before_fault / fault / failback).
    """

    run_id: str
    run_dir: Path
    report: Path
    exit_code: int
    message: str
    playbook: str | None = None
    outcomes: list[PlaybookOutcome]
    metrics: dict[str, float | None]
    measurements: dict[str, MetricValue]
    verdicts: list[Verdict]
    flows: list[FlowMetrics]
    loss_episodes: dict[str, list[LossEpisode]]
    events: list[Event]
    t0: float | None = None
    restore_t: float | None = None
    # A repeated playbook: metrics/flows are its last iteration's; verdicts hold every
    # iteration's and those on statistics; `repeats` the per-iteration values and statistics.
    repeats: list[RepeatSummary] = []

    @property
    def failed_verdicts(self) -> list[Verdict]:
        """Expectations not met."""
        return [v for v in self.verdicts if v.status == "failed"]

    @property
    def inconclusive_verdicts(self) -> list[Verdict]:
        """Expectations the data could not decide (unavailable, censored, or in a data gap)."""
        return [v for v in self.verdicts if v.status == "inconclusive"]

    @property
    def completed(self) -> bool:
        return bool(self.outcomes) and all(o.status == "completed" for o in self.outcomes)

    @property
    def passed(self) -> bool:
        return self.completed and all(v.status == "passed" for v in self.verdicts)

    def outage_s(self, flow: str | None = None) -> float:
        """The flow's outage after the fault (0 when it lost nothing); without a flow, the
        worst flow's (0 when no flow lost anything, or there are no flows)."""
        if flow is None:
            return max((f.outage_s.value or 0.0 for f in self.flows), default=0.0)
        for f in self.flows:
            if f.flow == flow:
                return f.outage_s.value or 0.0
        raise KeyError(f"no flow {flow!r} (has {', '.join(f.flow for f in self.flows)})")

    def flows_of(self, kind: str) -> list[FlowMetrics]:
        return [f for f in self.flows if f.kind == kind]

    def events_of(self, source: str, kind: str | None = None) -> list[Event]:
        return [e for e in self.events if e.source == source and (kind is None or e.kind == kind)]

    def failure_message(self) -> str:
        """Why the run is not a pass: each expectation missed, and where the report is."""
        lines = []
        name = self.playbook or "playbook"
        for o in self.outcomes:
            if o.status != "completed":
                lines.append(f"{o.playbook}: {o.status}" + (f" ({o.reason})" if o.reason else ""))
        if not self.outcomes and self.message:
            lines.append(self.message)
        for v in self.failed_verdicts:
            lines.append(v.message)
        for v in self.inconclusive_verdicts:
            lines.append(f"inconclusive: {v.message}")
        if not lines:
            return f"{name}: all expectations met; report: {self.report}"
        what = ("inconclusive" if self.completed and not self.failed_verdicts
                and self.inconclusive_verdicts else "not met")
        head = f"failover expectations {what} ({name}, run {self.run_id}):"
        return "\n".join([head, *(f"  {line}" for line in lines), f"report: {self.report}"])


def apply_overrides(playbook: Playbook, overrides: Mapping[str, object]) -> Playbook:
    """The playbook with its expectations adjusted (see the module docstring)."""
    expectations = list(playbook.expectations)
    for metric, value in overrides.items():
        if metric not in METRICS:
            raise OverrideError(f"unknown expectation override {metric!r}: expected one of "
                                f"{', '.join(METRICS)}")
        existing = [e for e in expectations if e.metric == metric]
        rest = [e for e in expectations if e.metric != metric]
        description = existing[0].description if existing else None
        if value is None:
            expectations = rest
            continue
        if isinstance(value, Mapping):
            unknown = set(value) - {"min", "max"}
            if unknown:
                raise OverrideError(f"override {metric}: only 'min' and 'max' (got "
                                    f"{', '.join(sorted(map(str, unknown)))})")
            bounds = {k: _bound(metric, v) for k, v in value.items() if v is not None}
        else:
            number = _number(metric, value)
            have = {b for e in existing for b in ("min", "max") if getattr(e, b) is not None}
            if have == {"min", "max"}:
                raise OverrideError(f"override {metric}: the playbook sets both min and max; "
                                    f"give {{'min': ..., 'max': ...}}")
            bound = have.pop() if have else ("min" if metric in MIN_METRICS else "max")
            bounds = {bound: number}
        try:
            new = Expectation.model_validate({"metric": metric, "description": description,
                                              **bounds})
        except ValidationError as exc:
            raise OverrideError(f"override {metric}: {exc.errors()[0]['msg']}") from exc
        expectations = [*rest, new]
    return playbook.model_copy(update={"expectations": expectations})


def _bound(metric: str, value: object) -> float | dict[str, float]:
    """A number, or bounds on statistics ({'p95': 5}: checked by Expectation)."""
    if isinstance(value, Mapping):
        return {str(k): _number(metric, v) for k, v in value.items()}
    return _number(metric, value)


def _number(metric: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OverrideError(f"override {metric}: expected a number, None or "
                            f"{{'min': ..., 'max': ...}}, got {value!r}")
    return float(value)


def collect_result(gameday: GameDayResult, report: Any, events: list[Event]) -> FailoverResult:
    """Flatten a game-day of one playbook (its report.json model and timeline) into a result."""
    sections = list(report.sections) if report is not None else []
    section = sections[-1] if sections else None
    measurements: dict[str, MetricValue] = dict(section.metrics) if section else {}
    flows: list[FlowMetrics] = list(section.flows) if section else []
    html = next((p for p in gameday.report_files if p.suffix == ".html"), gameday.run_dir)
    return FailoverResult(
        run_id=gameday.run_id, run_dir=gameday.run_dir, report=html,
        exit_code=gameday.exit_code, message=gameday.message,
        playbook=section.run.playbook if section else None, outcomes=gameday.outcomes,
        metrics={k: (m.value if m.available else None) for k, m in measurements.items()},
        measurements=measurements,
        verdicts=[v for s in sections for v in s.verdicts]
        + [v for r in (report.repeats if report is not None else []) for v in r.verdicts],
        flows=flows, loss_episodes={f.flow: list(f.episodes) for f in flows}, events=events,
        t0=section.t0 if section else None, restore_t=section.restore_t if section else None,
        repeats=list(report.repeats) if report is not None else [])


def junit_properties(result: FailoverResult, prefix: str = "failover.") -> list[tuple[str, str]]:
    """JUnit <property> pairs: every metric (value, or n/a with the reason), run id, report."""
    props = [(f"{prefix}run_id", result.run_id), (f"{prefix}report", str(result.report)),
             (f"{prefix}exit_code", str(result.exit_code))]
    for name, m in result.measurements.items():
        props.append((f"{prefix}{name}", repr(m.value) if m.available and m.value is not None
                      else f"n/a: {m.reason}"))
    for v in result.verdicts:
        which = f"{v.statistic}." if v.statistic else ""
        props.append((f"{prefix}verdict.{which}{v.metric}", v.status))
    for r in result.repeats:
        for series in r.series:
            if series.instance is None:
                for stat, m in series.stats.items():
                    props.append((f"{prefix}{series.metric}.{stat}",
                                  repr(m.value) if m.available else f"n/a: {m.reason}"))
    return props


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


def safe_dirname(nodeid: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.replace("::", "__")).strip("_.")
    return name[-120:] or "test"


# ---------------------------------------------------------------- snapshots (read-only)


class AzureGatewaySnapshot(BaseModel):
    """One read of the gateway: BGP peers, learned routes, connections (raw rows), the
    keyed state the harness's checks use, and the error of every call that failed."""

    peers: list[BgpPeer]
    learned_routes: list[GatewayRoute]
    connections: list[ConnectionStatus]
    state: AzureSnapshot
    errors: list[str]

    def peer_state(self, peer_ip: str) -> str | None:
        return self.state.peer_state(peer_ip)

    def next_hops(self, prefix: str) -> dict[str, tuple[str, ...]]:
        return self.state.next_hops_for(prefix)


class DeviceSnapshot(BaseModel):
    device: str
    neighbors: list[BgpNeighbor]

    def neighbor(self, address: str) -> BgpNeighbor:
        for n in self.neighbors:
            if n.address == address:
                return n
        raise KeyError(f"{self.device} has no BGP neighbor {address} "
                       f"(has {', '.join(n.address for n in self.neighbors)})")

    def established(self, address: str) -> bool:
        return self.neighbor(address).established


def read_azure_gateway(inventory: Inventory) -> AzureGatewaySnapshot:
    from failover_harness.azure.reader import read_once
    from failover_harness.orchestrator.components import azure_settings

    read = read_once(azure_settings(inventory))  # builds and closes its own connection
    peers = [p for s in read.samples if s.peers for p in s.peers]
    routes = [r for s in read.samples if s.routes for r in s.routes]
    conns = [c for s in read.samples if s.connections for c in s.connections]
    errors = [f"{s.operation}: {s.error}" for s in read.samples if not s.ok]
    return AzureGatewaySnapshot(peers=peers, learned_routes=routes, connections=conns,
                                state=AzureSnapshot.model_validate(
                                    read.model_dump(exclude={"samples"})), errors=errors)


def read_device(inventory: Inventory, name: str | None) -> DeviceSnapshot:
    from failover_harness.devices import open_device
    from failover_harness.orchestrator.components import device_connection

    if name is None:
        name = next(iter(inventory.devices))
    if name not in inventory.devices:
        raise KeyError(f"no device {name!r} in the inventory (has {', '.join(inventory.devices)})")
    with open_device(device_connection(inventory, name)) as dev:
        return DeviceSnapshot(device=name, neighbors=dev.bgp_neighbors())


# ---------------------------------------------------------------- the session (I/O)


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
RESULT_KEY = pytest.StashKey[FailoverResult]()
RUNS_KEY = pytest.StashKey[int]()


def _session(config: pytest.Config) -> FailoverSession:
    return config.stash[SESSION_KEY]


# ---------------------------------------------------------------- module hooks


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


# ---------------------------------------------------------------- running a playbook


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


def _read_run(gameday: GameDayResult) -> FailoverResult:
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
    session = _session(item.config)
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
    result = _read_run(gameday)
    item.user_properties.extend(
        junit_properties(result, "failover." if count == 1 else f"failover.run{count}."))
    return result


def _marker_playbook(marker: pytest.Mark) -> tuple[str | Path | Playbook | None, dict[str, object]]:
    kwargs = dict(marker.kwargs)
    if len(marker.args) > 1:
        raise OverrideError("@pytest.mark.failover takes at most one positional argument "
                            "(the playbook)")
    playbook = kwargs.pop("playbook", marker.args[0] if marker.args else None)
    if playbook is not None and not isinstance(playbook, (str, Path, Playbook)):
        raise OverrideError(f"playbook must be a path or a Playbook, got {playbook!r}")
    return playbook, kwargs


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def failover_inventory_path(pytestconfig: pytest.Config) -> Iterator[Path]:
    """The inventory file: --failover-inventory, or the one the session's lab wrote."""
    session = _session(pytestconfig)
    if not session.configured:
        pytest.skip(NO_INVENTORY)
    if not session.use_lab:
        assert session.inventory_option is not None
        yield session.inventory_option
        return
    with sigterm_interrupts():
        try:
            try:
                path = session.lab_up()
            except HarnessError as exc:
                pytest.fail(f"--failover-lab: {exc}", pytrace=False)
            yield path
        finally:
            session.lab_down()


@pytest.fixture(scope="session")
def failover_inventory(failover_inventory_path: Path) -> Inventory:
    return load_inventory(failover_inventory_path)


@pytest.fixture
def failover_run(request: pytest.FixtureRequest, failover_inventory_path: Path,
                 failover_inventory: Inventory) -> Callable[..., FailoverResult]:
    """failover_run(playbook, *, options=None, **overrides) -> FailoverResult.

    playbook: a path (absolute, or relative to the test file, the rootdir or the start
    directory) or a loaded Playbook. Verdicts do not raise: assert on the result."""
    item = request.node

    def run(playbook: str | Path | Playbook, *, options: RunOptions | None = None,
            **overrides: object) -> FailoverResult:
        return run_playbook(item, failover_inventory_path, failover_inventory, playbook,
                            overrides, options)

    return run


@pytest.fixture
def failover_result(request: pytest.FixtureRequest,
                    failover_run: Callable[..., FailoverResult]) -> FailoverResult:
    """The run of @pytest.mark.failover(playbook=...); its unmet expectations fail the test."""
    marker = request.node.get_closest_marker("failover")
    try:
        playbook, overrides = _marker_playbook(marker) if marker else (None, {})
        if playbook is None:
            raise OverrideError("failover_result needs @pytest.mark.failover(playbook=...)")
        result = failover_run(playbook, **overrides)
    except (OverrideError, InputError) as exc:
        pytest.fail(f"@pytest.mark.failover: {exc}", pytrace=False)
    if result.exit_code in (EXIT_BAD_INPUT, EXIT_INFRASTRUCTURE):
        # Not a finding about the network: the run itself could not be done (an error).
        pytest.fail(f"failover run could not be done: {result.message}\n"
                    f"report: {result.report}", pytrace=False)
    request.node.stash[RESULT_KEY] = result
    return result


@pytest.fixture(autouse=True)
def _failover_marker(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("failover")
    if marker is not None and (marker.args or "playbook" in marker.kwargs):
        request.getfixturevalue("failover_result")


@pytest.fixture
def azure_gateway(failover_inventory: Inventory) -> Callable[[], AzureGatewaySnapshot]:
    """azure_gateway() reads the gateway once (read-only): peers, learned routes, connections."""
    return lambda: read_azure_gateway(failover_inventory)


@pytest.fixture
def onprem_device(failover_inventory: Inventory) -> Callable[..., DeviceSnapshot]:
    """onprem_device(name=None) reads a device's BGP neighbors (read-only; default: the first
    device of the inventory)."""
    return lambda name=None: read_device(failover_inventory, name)
