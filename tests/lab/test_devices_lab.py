"""The SSH driver against the lab's on-prem router: a real sshd whose login shell is vtysh."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from failover_harness.devices import BgpNeighbor, DeviceConnection, NetmikoDevice, open_device
from failover_harness.errors import DeviceError
from failover_harness.lab import lab as lab_api
from failover_harness.lab.state import LabState
from tests.lab.conftest import lab_vtysh

pytestmark = pytest.mark.lab

ROUTER = "edge1"


def _conn(lab: LabState, **overrides: Any) -> DeviceConnection:
    run = Path(lab.run_dir)
    fields: dict[str, Any] = {
        "name": ROUTER, "platform": "frr", "host": lab.mgmt[ROUTER], "port": 22,
        "username": lab_api.SSH_USER,
        "password": SecretStr((run / "secrets" / f"{ROUTER}.password").read_text().strip()),
        "known_hosts": run / "ssh" / "known_hosts", "bgp_asn": lab.routers[ROUTER].asn,
        "conn_timeout_s": 5, "auth_timeout_s": 5,
    }
    return DeviceConnection(**(fields | overrides))


def _tunnel1(lab: LabState) -> tuple[str, str]:
    (t,) = [t for t in lab.tunnels if t.onprem_router == ROUTER and t.azure_instance == 0]
    return t.onprem_interface, t.azure_bgp_ip


def _poll(dev: NetmikoDevice, until: Callable[[dict[str, BgpNeighbor]], bool],
          deadline_s: float) -> tuple[dict[str, BgpNeighbor], float]:
    """Poll BGP neighbors until `until` holds or the deadline passes; returns the last view."""
    start = time.monotonic()
    while True:
        view = {n.address: n for n in dev.bgp_neighbors()}
        if until(view) or time.monotonic() - start > deadline_s:
            return view, time.monotonic() - start
        time.sleep(0.02)


def test_reads_both_neighbors_established(lab: LabState) -> None:
    with open_device(_conn(lab)) as dev:
        neighbors = {n.address: n for n in dev.bgp_neighbors()}
    direct = lab_vtysh(lab, ROUTER, "show bgp summary json")["ipv4Unicast"]["peers"]  # type: ignore[index]
    assert set(neighbors) == set(direct) == {"169.254.21.1", "169.254.21.5"}
    for nb in neighbors.values():
        assert nb.established and nb.state == "Established"
        assert nb.remote_as == lab.azure.asn
        assert nb.uptime_s is not None and nb.prefixes_received is not None


def test_running_config_names_the_router_once(lab: LabState) -> None:
    # Seen through the user's SSH login and through `lab exec`/the lab's own vtysh. A vtysh
    # run in the machine's UTS namespace (to push the config, or to read it) added the
    # machine's name ("hostname vm") to the router's config.
    with open_device(_conn(lab)) as dev:
        over_ssh = dev.send_show("show running-config")
    direct = lab_api.vtysh(lab, ROUTER, "show running-config")
    for config in (over_ssh, direct):
        names = [line for line in config.splitlines() if line.startswith("hostname ")]
        assert names == [f"hostname {ROUTER}"], config


def test_shut_tunnel1_then_no_shut(lab: LabState) -> None:
    interface, neighbor = _tunnel1(lab)
    dev = NetmikoDevice(_conn(lab))
    with dev:
        t0 = time.monotonic()
        try:
            sent = dev.set_interface_enabled(interface, False)
            acked = time.monotonic() - t0
            assert sent == [f"interface {interface}", "shutdown"]
            down, down_s = _poll(dev, lambda v: not v[neighbor].established, 10)
            assert not down[neighbor].established, down[neighbor]
            assert down[neighbor].state != "Established" and not down[neighbor].admin_down
            others = [n for a, n in down.items() if a != neighbor]
            assert others and all(n.established for n in others)
        finally:
            dev.set_interface_enabled(interface, True)
        up, up_s = _poll(dev, lambda v: all(n.established for n in v.values()), 30)
        assert all(n.established for n in up.values()), up
    print(f"\nconnect {dev.last_connect_s:.3f} s; shut acknowledged {acked:.3f} s; "
          f"neighbor {neighbor} seen down {down_s:.3f} s after the ack; "
          f"back to Established {up_s:.3f} s after no shut")


def test_shut_neighbor_is_admin_down(lab: LabState) -> None:
    _, neighbor = _tunnel1(lab)
    with open_device(_conn(lab, bgp_asn=None)) as dev:  # ASN read from the device
        try:
            sent = dev.set_neighbor_enabled(neighbor, False)
            assert sent == [f"router bgp {lab.routers[ROUTER].asn}",
                            f"neighbor {neighbor} shutdown"]
            view = {n.address: n for n in dev.bgp_neighbors()}
            assert view[neighbor].admin_down and not view[neighbor].established
        finally:
            dev.set_neighbor_enabled(neighbor, True)
        assert isinstance(dev, NetmikoDevice)
        up, _ = _poll(dev, lambda v: all(n.established for n in v.values()), 30)
        assert all(n.established for n in up.values()), up


def test_dropped_session_reconnects_and_runs_the_command(lab: LabState) -> None:
    dev = NetmikoDevice(_conn(lab))
    with dev:
        assert dev.bgp_neighbors()
        session = dev._session
        assert session is not None and session.remote_conn is not None
        # As if the network dropped the TCP connection under the session.
        sock = session.remote_conn.transport.sock  # type: ignore[union-attr]
        sock.shutdown(socket.SHUT_RDWR)
        assert len(dev.bgp_neighbors()) == 2
        assert dev.reconnects == 1


def test_wrong_password_is_refused(lab: LabState) -> None:
    wrong = "not-the-" + "password"
    with pytest.raises(DeviceError) as info:
        open_device(_conn(lab, password=SecretStr(wrong))).connect()
    message = str(info.value)
    assert f"authentication failed for device {ROUTER} at {lab.mgmt[ROUTER]}:22" in message
    assert wrong not in message


def test_unknown_host_key_is_refused(lab: LabState, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(DeviceError, match="is not in .*known_hosts: refusing to connect"):
        open_device(_conn(lab, known_hosts=empty)).connect()
    assert empty.read_text() == ""  # nothing was added


def test_changed_host_key_is_refused(lab: LabState, tmp_path: Path) -> None:
    key = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    kind, blob = key.with_suffix(".pub").read_text().split()[:2]
    forged = tmp_path / "known_hosts"
    forged.write_text(f"{lab.mgmt[ROUTER]} {kind} {blob}\n")
    with pytest.raises(DeviceError, match="does NOT match"):
        open_device(_conn(lab, known_hosts=forged)).connect()
