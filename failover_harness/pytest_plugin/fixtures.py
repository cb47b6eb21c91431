"""The plugin's fixtures: the inventory (from the option or the session's lab), running a
playbook, the marker's run, and read-only snapshots of Azure and a device."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from failover_harness.errors import EXIT_BAD_INPUT, EXIT_INFRASTRUCTURE, HarnessError, InputError
from failover_harness.inventory import Inventory, load_inventory
from failover_harness.orchestrator.session import RunOptions
from failover_harness.playbook import Playbook
from failover_harness.pytest_plugin.overrides import OverrideError, marker_playbook
from failover_harness.pytest_plugin.result import FailoverResult
from failover_harness.pytest_plugin.running import RESULT_KEY, run_playbook
from failover_harness.pytest_plugin.session import NO_INVENTORY, session_of, sigterm_interrupts
from failover_harness.pytest_plugin.snapshots import (
    AzureGatewaySnapshot,
    DeviceSnapshot,
    read_azure_gateway,
    read_device,
)


@pytest.fixture(scope="session")
def failover_inventory_path(pytestconfig: pytest.Config) -> Iterator[Path]:
    """The inventory file: --failover-inventory, or the one the session's lab wrote."""
    session = session_of(pytestconfig)
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
        playbook, overrides = marker_playbook(marker) if marker else (None, {})
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
