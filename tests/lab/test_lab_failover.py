"""The on-prem router over SSH (netmiko cisco_ios, as the harness drives it): shutting Tunnel1
drops the on-prem session at once and instance 0's session only when its hold timer expires."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from netmiko import ConnectHandler
from netmiko.base_connection import BaseConnection

from failover_harness.lab import lab as lab_api
from failover_harness.lab.state import LabState
from failover_harness.lab.status import link_is_up
from tests.lab.conftest import lab_vtysh

pytestmark = pytest.mark.lab


@pytest.fixture
def edge1(lab: LabState) -> Iterator[BaseConnection]:
    run_dir = Path(lab.run_dir)
    conn = ConnectHandler(
        device_type="cisco_ios", host=lab.mgmt["edge1"], username="netops",
        password=(run_dir / "secrets" / "edge1.password").read_text().strip(),
        ssh_strict=True, system_host_keys=False, alt_host_keys=True,
        alt_key_file=str(run_dir / "ssh" / "known_hosts"))
    try:
        yield conn
    finally:
        conn.send_config_set(["interface Tunnel1", "no shutdown"])
        conn.disconnect()
        lab_api.wait_established(lab, 60)  # leave the shared lab as we found it


def _state(lab: LabState, router: str, peer: str) -> str:
    peers = lab_vtysh(lab, router, "show bgp summary json")["ipv4Unicast"]["peers"]  # type: ignore[index]
    return str(peers[peer]["state"])


def _neighbor(lab: LabState, router: str, peer: str) -> dict[str, object]:
    return lab_vtysh(lab, router, f"show bgp neighbors {peer} json")[peer]  # type: ignore[return-value]


def test_show_commands_over_ssh(lab: LabState, edge1: BaseConnection) -> None:
    import json

    summary = json.loads(edge1.send_command("show bgp summary json"))
    assert summary["ipv4Unicast"]["as"] == 65010
    assert set(summary["ipv4Unicast"]["peers"]) == {"169.254.21.1", "169.254.21.5"}
    assert "Integrated configuration saved" in edge1.save_config()


def test_shut_tunnel1_asymmetric_then_no_shut(lab: LabState, edge1: BaseConnection) -> None:
    hold_s = int(lab.options["timers"] == "fast" and 3 or 15)
    edge1.send_config_set(["interface Tunnel1", "shutdown"])
    shut_at = time.monotonic()
    assert not link_is_up(lab.routers["edge1"].netns, "Tunnel1")  # really down in the kernel
    # The on-prem side drops its session as soon as the interface goes down...
    assert _state(lab, "edge1", "169.254.21.1") != "Established"
    edge1_down_at = time.monotonic()
    # ...while instance 0 still believes in it until its hold timer fires.
    seen_gw0_established_after_edge1_down = _state(lab, "gw0", "169.254.21.2") == "Established"
    while _state(lab, "gw0", "169.254.21.2") == "Established":
        assert time.monotonic() - shut_at < 10 * hold_s, "instance 0 never noticed"
        time.sleep(0.05)
    gw0_down_at = time.monotonic()
    print(f"edge1 down after {edge1_down_at - shut_at:.3f} s, "
          f"gw0 down after {gw0_down_at - shut_at:.3f} s (hold {hold_s} s)")
    assert seen_gw0_established_after_edge1_down
    assert "Hold Timer Expired" in str(_neighbor(lab, "gw0", "169.254.21.2").get(
        "lastNotificationReason", "")) or "Hold" in str(
        _neighbor(lab, "gw0", "169.254.21.2").get("lastResetDueTo", ""))
    # The surviving path carries everything; the VNet drops the dead instance.
    for _ in range(100):
        if lab_api.vnet_next_hops(lab) == ["10.0.255.5"]:
            break
        time.sleep(0.05)
    assert lab_api.vnet_next_hops(lab) == ["10.0.255.5"]

    edge1.send_config_set(["interface Tunnel1", "no shutdown"])
    lab_api.wait_established(lab, 30)
    assert _state(lab, "edge1", "169.254.21.1") == "Established"
    assert _state(lab, "gw0", "169.254.21.2") == "Established"
    assert lab_api.vnet_next_hops(lab) == ["10.0.255.4", "10.0.255.5"]


def test_ipsec_sas_up_on_both_tunnels(lab: LabState) -> None:
    from failover_harness.lab.status import collect_status

    status = collect_status(lab)
    assert len(status.tunnels) == 2
    for tunnel in status.tunnels:
        assert tunnel.ipsec
        for end in (tunnel.onprem, tunnel.azure):
            assert end is not None, tunnel.name
            assert (end.ike_state, end.child_state) == ("ESTABLISHED", "INSTALLED"), tunnel
            assert end.bytes_in > 0 and end.bytes_out > 0
            assert end.proposal and "AES_GCM_16" in end.proposal
    assert status.all_established and status.errors == []
