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

Modules: options.py (options, marker), session.py (the session, the lab, the summary line),
fixtures.py, running.py (a playbook run from a test, the verdict after the body),
overrides.py, result.py (FailoverResult, failure messages), snapshots.py. This package is the
entry point: the hooks and fixtures below are what pytest registers.
"""

from failover_harness.pytest_plugin.fixtures import (
    _failover_marker,
    azure_gateway,
    failover_inventory,
    failover_inventory_path,
    failover_result,
    failover_run,
    onprem_device,
)
from failover_harness.pytest_plugin.options import MARKER_DOC, pytest_addoption, pytest_configure
from failover_harness.pytest_plugin.overrides import METRICS, MIN_METRICS, OverrideError, apply_overrides
from failover_harness.pytest_plugin.result import FailoverResult, collect_result, junit_properties
from failover_harness.pytest_plugin.running import (
    RESULT_KEY,
    RUNS_KEY,
    ExpectationsNotMet,
    pytest_runtest_call,
    read_run,
    resolve_playbook,
    run_playbook,
    safe_dirname,
)
from failover_harness.pytest_plugin.session import (
    AUTO_MARK_FIXTURES,
    NO_INVENTORY,
    SESSION_KEY,
    FailoverSession,
    parse_lab_options,
    sigterm_interrupts,
    summary_line,
)
from failover_harness.pytest_plugin.snapshots import (
    AzureGatewaySnapshot,
    DeviceSnapshot,
    read_azure_gateway,
    read_device,
)

__all__ = [
    "AUTO_MARK_FIXTURES",
    "MARKER_DOC",
    "METRICS",
    "MIN_METRICS",
    "NO_INVENTORY",
    "RESULT_KEY",
    "RUNS_KEY",
    "SESSION_KEY",
    "AzureGatewaySnapshot",
    "DeviceSnapshot",
    "ExpectationsNotMet",
    "FailoverResult",
    "FailoverSession",
    "OverrideError",
    "_failover_marker",
    "apply_overrides",
    "azure_gateway",
    "collect_result",
    "failover_inventory",
    "failover_inventory_path",
    "failover_result",
    "failover_run",
    "junit_properties",
    "onprem_device",
    "parse_lab_options",
    "pytest_addoption",
    "pytest_configure",
    "pytest_runtest_call",
    "read_azure_gateway",
    "read_device",
    "read_run",
    "resolve_playbook",
    "run_playbook",
    "safe_dirname",
    "sigterm_interrupts",
    "summary_line",
]
