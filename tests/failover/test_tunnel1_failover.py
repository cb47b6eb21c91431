"""Failover tests as a team would write them, run against the embedded lab:

    pytest -m failover --failover-lab tests/failover          (as root; one lab per session)
    pytest -m failover --failover-inventory inventories/site-a.yaml tests/failover

Without an inventory they are skipped (the terminal summary says so).

TCP probe flows currently report false loss after the restore (a prober bug being fixed), so
these tests drop the playbook's failback_lost_probes expectation and check failback loss on
the ICMP flows instead; restore the expectation once TCP probes are fixed.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from failover_harness.events import ActionDone
from failover_harness.inventory import Inventory
from failover_harness.pytest_plugin import (AzureGatewaySnapshot, DeviceSnapshot,
                                            ExpectationsNotMet, FailoverResult)

PLAYBOOK = "playbooks/tunnel1-failover.yaml"
ONPREM_PREFIX = "192.168.10.0/24"


def test_steady_state_before_any_fault(failover_inventory: Inventory,
                                       azure_gateway: Callable[[], AzureGatewaySnapshot],
                                       onprem_device: Callable[..., DeviceSnapshot]) -> None:
    gateway = azure_gateway()
    assert gateway.errors == []
    assert gateway.peers and all(p.state == "Connected" for p in gateway.peers
                                 if p.neighbor in failover_inventory.peer_addresses())
    assert {c.name for c in gateway.connections} == set(failover_inventory.azure.connections)
    assert all(c.status == "Connected" for c in gateway.connections)
    assert gateway.state.routes_on_all_paths(ONPREM_PREFIX)
    for name, device in failover_inventory.devices.items():
        snapshot = onprem_device(name)
        for tunnel in device.tunnels.values():
            assert snapshot.established(str(tunnel.neighbor)), snapshot.neighbor(str(tunnel.neighbor))


@pytest.mark.failover(playbook=PLAYBOOK, failback_lost_probes=None)
def test_tunnel1_fails_over_to_tunnel2(failover_result: FailoverResult) -> None:
    r = failover_result
    icmp = r.flows_of("icmp")
    outages = {f.flow: r.outage_s(f.flow) for f in icmp}
    # ECMP: flows hashed onto Tunnel1 go dark until Azure gives up on it, the others never notice.
    assert any(o > 0 for o in outages.values()), outages
    assert any(o == 0 for o in outages.values()), outages
    assert all(not eps for flow, eps in r.loss_episodes.items() if outages.get(flow) == 0)
    # The asymmetry the harness exists to show: on-prem notices first, Azure on its hold timer.
    onprem, azure = r.metrics["onprem_detection_s"], r.metrics["azure_detection_s"]
    assert onprem is not None and azure is not None
    assert onprem < azure
    assert r.metrics["max_outage_s"] is not None and r.metrics["max_outage_s"] > 0
    # Failing back loses nothing (ICMP; see the module docstring about TCP).
    assert sum(f.failback_lost for f in icmp) == 0
    done = [e.data.action for e in r.events_of("action", "action_done")
            if isinstance(e, ActionDone)]
    assert done[:2] == ["shut_interface", "no_shut_interface"]
    assert r.report.is_file() and (r.run_dir / "report.json").is_file()


@pytest.mark.xfail(strict=True, raises=ExpectationsNotMet,
                   reason="without BFD the lab's 3 s hold timer keeps Tunnel1 flows dark ~2.5 s")
@pytest.mark.failover(playbook=PLAYBOOK, max_outage_s=0.2, failback_lost_probes=None)
def test_outage_under_200_ms_is_beyond_the_lab(failover_result: FailoverResult) -> None:
    # The body runs first; then the plugin fails the test with this very message.
    message = failover_result.failure_message()
    value = failover_result.measurements["max_outage_s"]
    assert value.available and value.value is not None and value.value > 0.2
    assert f"max_outage_s = {value.text()} > max 0.2 s" in message
    assert f"report: {failover_result.report}" in message
