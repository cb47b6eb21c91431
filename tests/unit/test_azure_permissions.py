"""Least privilege: the shipped custom roles hold exactly the actions of the SDK calls the
code makes (permissions.ARM_CALLS), each call's action is what ARM derives from the REST
path the SDK really sends (checked against the emulator, which derives it on its own), and a
403 names the missing action."""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import NetworkManagementClient

from failover_harness.azure.client import AzureConnection
from failover_harness.azure.permissions import (
    ARM_CALLS,
    LRO_ACTIONS,
    ROLE_NAMES,
    actions_for,
    role_definition,
)
from failover_harness.azure.reader import GatewayReader, classify_error
from failover_harness.azure.settings import AzureSettings, PollSettings
from failover_harness.azure.tracker import ChangeTracker
from failover_harness.lab.azure_emulator.control import EmulatorControl
from failover_harness.lab.azure_emulator.runner import EmulatorThread, write_secret
from failover_harness.lab.azure_emulator.server import Emulator
from failover_harness.lab.azure_emulator.settings import EmulatorSettings, Fault
from failover_harness.lab.azure_emulator.static_source import StaticGatewaySource
from failover_harness.lab.azure_emulator.testing import (
    FastARMPolling,
    identity_environment,
    network_client,
    sample_gateway,
    sample_topology,
)
from failover_harness.lab.azure_emulator.tls import make_lab_tls
from failover_harness.lab.state import EmulatorState
from failover_harness.orchestrator import conditions

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "failover_harness"
RES, TUNNELS = sample_topology()


class _NoToken:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("unused", 0)


def _operation_groups() -> set[str]:
    client = NetworkManagementClient(_NoToken(), "sub")  # type: ignore[arg-type]
    return {name for name, value in vars(client).items() if type(value).__name__.endswith("Operations")}


def sdk_calls_in_code() -> set[tuple[str, str]]:
    """Every `<anything>.<operation group>.<method>(...)` outside the lab (the emulator
    serves ARM, it does not call it)."""
    groups = _operation_groups()
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if "lab" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Attribute) and node.func.value.attr in groups):
                found.add((node.func.value.attr, node.func.attr))
    return found


def test_every_sdk_call_in_the_code_is_in_the_permission_table() -> None:
    table = {(c.group, c.method) for c in ARM_CALLS}
    called = sdk_calls_in_code()
    assert called, "the scan found no SDK call at all"
    assert called <= table, f"SDK calls without an RBAC action in permissions.ARM_CALLS: {called - table}"
    # And the reader role asks for nothing the code does not do.
    reader = {(c.group, c.method) for c in ARM_CALLS if c.role == "reader"}
    assert reader <= called, f"reader-role actions for calls the code never makes: {reader - called}"


def test_fault_actions_stay_out_of_the_reader_role() -> None:
    reader, fault = set(actions_for("reader")), set(actions_for("fault"))
    assert not reader & fault
    assert all(a.endswith(("/read", "/getBgpPeerStatus/action", "/getLearnedRoutes/action")) for a in reader), reader
    assert fault == {c.action for c in ARM_CALLS if c.role == "fault"}
    assert set(LRO_ACTIONS) <= reader


@pytest.mark.parametrize("role", ["reader", "fault"])
def test_shipped_role_files_are_the_table(role: str) -> None:
    shipped = json.loads((ROOT / "deploy" / "azure" / f"{ROLE_NAMES[role]}.json").read_text())  # type: ignore[index]
    assert shipped == role_definition(role, shipped["AssignableScopes"])  # type: ignore[arg-type]
    assert shipped["AssignableScopes"] == ["/subscriptions/SUBSCRIPTION_ID/resourceGroups/RESOURCE_GROUP"]


# --- against the emulator: the action ARM would refuse, derived from the real request -----

@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorState]:
    d: Path = tmp_path_factory.mktemp("azure")
    tls = make_lab_tls(d)
    write_secret(d / "identity-header", "s3cret-header")
    emulator = Emulator(RES, TUNNELS, StaticGatewaySource(sample_gateway()), "s3cret-header",
                        EmulatorSettings(lro_latency_s=0.2, lro_jitter_s=0))
    with EmulatorThread(emulator, tls, d / "identity-header") as thread, identity_environment(thread.state):
        yield thread.state


@pytest.fixture
def control(emulator: EmulatorState) -> Iterator[EmulatorControl]:
    ctl = EmulatorControl.from_state(emulator)
    ctl.clear_faults(reset_counters=True)
    yield ctl
    ctl.clear_faults(reset_counters=True)


def _refused_action(exc: HttpResponseError) -> str:
    assert exc.status_code == 403 and exc.error is not None and exc.error.code == "AuthorizationFailed"
    message = exc.error.message or ""
    return message.split("perform action '", 1)[1].split("'", 1)[0]


@pytest.mark.parametrize("call", ARM_CALLS, ids=lambda c: f"{c.group}.{c.method}")
def test_table_action_is_the_one_arm_checks_for_the_sdk_request(emulator: EmulatorState, control: EmulatorControl,
                                                                call: Any) -> None:
    control.add_fault(Fault(kind="forbidden"))
    with network_client(emulator, RES.subscription_id, retry_total=0) as client:
        method = getattr(getattr(client, call.group), call.method)
        with pytest.raises(HttpResponseError) as info:
            if call.method.startswith("begin_"):
                method(RES.resource_group, "some-name", polling=FastARMPolling()).result()
            else:
                result = method(RES.resource_group, "some-name")
                if call.method.startswith("list"):
                    next(iter(result))
    assert _refused_action(info.value) == call.action


def test_lro_status_reads_need_the_operations_actions(emulator: EmulatorState, control: EmulatorControl) -> None:
    control.set(lro_latency_s=1.0)
    control.add_fault(Fault(kind="forbidden", match="/locations/"))
    with network_client(emulator, RES.subscription_id, retry_total=0) as client:
        with pytest.raises(HttpResponseError) as info:
            client.virtual_network_gateways.begin_get_bgp_peer_status(
                RES.resource_group, RES.gateway, polling=FastARMPolling()).result()
    assert _refused_action(info.value) in LRO_ACTIONS
    control.set(lro_latency_s=0.2)


def test_a_refused_poll_is_a_forbidden_gap_naming_the_action_and_the_role(emulator: EmulatorState,
                                                                         control: EmulatorControl) -> None:
    control.add_fault(Fault(kind="forbidden", match="getBgpPeerStatus"))
    settings = AzureSettings(subscription_id=RES.subscription_id, resource_group=RES.resource_group,
                             gateway=RES.gateway, base_url=emulator.base_url, ca_bundle=emulator.ca_bundle,
                             poll=PollSettings(lro_max_delay_s=0.05))
    conn = AzureConnection(settings)
    try:
        reader = GatewayReader(settings, conn, time.monotonic)
        sample = reader.read("bgp_peer_status", time.monotonic())
        routes = reader.read("learned_routes", time.monotonic())
    finally:
        conn.close()
    assert not sample.ok and sample.gap_reason == "forbidden"
    assert "Microsoft.Network/virtualNetworkGateways/getBgpPeerStatus/action" in (sample.error or "")
    assert "failover-harness-reader" in (sample.error or "")
    assert routes.ok  # only the refused action is missing
    # The gate's answer carries the reason: the run stops before any fault saying what to grant.
    tracker = ChangeTracker()
    tracker.apply(sample)
    view = _View(tracker)
    answer = conditions.azure_up(view, ["169.254.21.2"])
    assert not answer.ok and "getBgpPeerStatus/action" in answer.why


class _View:
    def __init__(self, tracker: ChangeTracker) -> None:
        self._snap = tracker.snapshot()

    def azure(self) -> Any:
        return self._snap


def test_classify_error_falls_back_to_the_callers_action_when_arm_names_none() -> None:
    exc = HttpResponseError(message="Forbidden")
    exc.status_code = 403
    reason, text = classify_error(exc, "Microsoft.Network/virtualNetworkGateways/reset/action")
    assert reason == "forbidden"
    assert "Microsoft.Network/virtualNetworkGateways/reset/action" in text and "failover-harness-fault" in text
