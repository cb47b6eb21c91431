"""Command rendering, the replay driver, and the SSH driver's error and reconnect handling.

The SSH driver is exercised against a real sshd in tests/lab/test_devices_lab.py; here a fake
netmiko session stands in, to reach the failure paths quickly and deterministically.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import paramiko
import pytest
from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException
from pydantic import SecretStr

from failover_harness.devices import (
    PLATFORMS,
    Device,
    DeviceAction,
    DeviceConnection,
    NetmikoDevice,
    ReplayDevice,
    open_device,
)
from failover_harness.devices import netmiko_device
from failover_harness.errors import DeviceError, InputError

OUTPUTS = Path(__file__).resolve().parents[1] / "data" / "device-outputs"  # see its README
IOS_SUMMARY = OUTPUTS / "cisco_ios/show_ip_bgp_summary/cisco_ios_show_ip_bgp_summary.raw"
PASSWORD = "s3cret-Pa55word"


def _conn(tmp_path: Path, **kw: Any) -> DeviceConnection:
    known = tmp_path / "known_hosts"
    known.write_text("")
    base: dict[str, Any] = {"name": "edge1", "platform": "frr", "host": "198.18.255.2",
                            "port": 22, "username": "netops", "password": SecretStr(PASSWORD),
                            "known_hosts": known, "bgp_asn": 65010}
    return DeviceConnection(**(base | kw))


# --- command rendering (the platform table)

SHUT_T1 = DeviceAction(kind="shut_interface", target="Tunnel1")
NO_SHUT_T1 = DeviceAction(kind="no_shut_interface", target="Tunnel1")
SHUT_NB = DeviceAction(kind="shut_neighbor", target="169.254.21.1")


@pytest.mark.parametrize(("platform", "action", "expected"), [
    ("frr", SHUT_T1, ["interface Tunnel1", "shutdown"]),
    ("cisco_ios", NO_SHUT_T1, ["interface Tunnel1", "no shutdown"]),
    ("cisco_xe", SHUT_NB, ["router bgp 65010", "neighbor 169.254.21.1 shutdown"]),
    ("cisco_asa", SHUT_NB, ["router bgp 65010", "address-family ipv4 unicast",
                            "neighbor 169.254.21.1 shutdown"]),
    ("juniper_junos", DeviceAction(kind="shut_interface", target="st0.1"),
     ["set interfaces st0 unit 1 disable"]),
    ("juniper_junos", DeviceAction(kind="no_shut_interface", target="ge-0/0/1"),
     ["delete interfaces ge-0/0/1 disable"]),
    ("fortinet", SHUT_T1, ["config system interface", 'edit "Tunnel1"', "set status down",
                           "next", "end"]),
    ("fortinet", DeviceAction(kind="no_shut_neighbor", target="169.254.21.1"),
     ["config router bgp", "config neighbor", 'edit "169.254.21.1"', "set shutdown disable",
      "next", "end", "end"]),
    ("vyos", DeviceAction(kind="shut_interface", target="vti1"),
     ["set interfaces vti vti1 disable"]),
    ("vyos", SHUT_NB, ["set protocols bgp neighbor 169.254.21.1 shutdown"]),
    ("paloalto_panos", DeviceAction(kind="shut_interface", target="ethernet1/3"),
     ["set network interface ethernet ethernet1/3 link-state down"]),
])
def test_planned_commands(platform: str, action: DeviceAction, expected: list[str]) -> None:
    dev = ReplayDevice("r1", platform, bgp_asn=65010)  # type: ignore[arg-type]
    assert dev.planned_commands(action) == expected
    assert dev.show_log == [] and dev.config_log == []  # dry run: no I/O


def test_every_platform_has_a_complete_entry() -> None:
    assert set(PLATFORMS) == {"cisco_ios", "cisco_xe", "frr", "cisco_asa", "juniper_junos",
                              "fortinet", "paloalto_panos", "vyos"}
    for name, spec in PLATFORMS.items():
        assert spec.name == name and spec.bgp_summary_command and spec.interface_shutdown
        assert bool(spec.neighbor_shutdown) or spec.unsupported_hint, name


def test_unsupported_and_bad_targets() -> None:
    with pytest.raises(DeviceError, match="juniper_junos: shut_neighbor is not supported"):
        ReplayDevice("r", "juniper_junos").planned_commands(SHUT_NB)
    with pytest.raises(InputError, match="not an interface name"):
        ReplayDevice("r", "frr").planned_commands(
            DeviceAction(kind="shut_interface", target="Tunnel1\nreload"))
    with pytest.raises(InputError, match="not a neighbor IP"):
        ReplayDevice("r", "frr").planned_commands(
            DeviceAction(kind="shut_neighbor", target="peer-a"))


def test_dry_run_without_asn_shows_placeholder() -> None:
    assert ReplayDevice("r", "cisco_ios").planned_commands(SHUT_NB)[0] == "router bgp <local-asn>"


# --- the replay driver

def test_replay_reads_real_output_and_takes_asn_from_it() -> None:
    dev = ReplayDevice.from_files("core1", "cisco_ios", {"show ip bgp summary": IOS_SUMMARY})
    assert isinstance(dev, Device)
    with dev:
        sent = dev.set_neighbor_enabled("10.0.0.10", True)
        assert sent == ["router bgp 65000", "no neighbor 10.0.0.10 shutdown"]
        assert dev.config_log == [sent] and dev.show_log == ["show ip bgp summary"]
        neighbors = dev.bgp_neighbors()
    assert len(neighbors) == 10 and not dev.connected
    with pytest.raises(DeviceError, match="not connected"):
        dev.bgp_neighbors()


def test_replay_sequences_drops_and_refusals() -> None:
    dev = ReplayDevice("r", "frr", {"show a": ["one", "two"]})
    dev.connect()
    assert [dev.send_show("show a") for _ in range(3)] == ["one", "two", "two"]
    dev.drop_session()
    dev.send_show("show a")
    assert dev.reconnects == 1
    dev.respond("show b", "% Unknown command: show b")
    with pytest.raises(DeviceError, match="refused 'show b'"):
        dev.send_show("show b")
    with pytest.raises(DeviceError, match="no recorded output"):
        dev.send_show("show c")
    dev.fail("shutdown", DeviceError("boom"))
    with pytest.raises(DeviceError, match="boom"):
        dev.set_interface_enabled("Tunnel1", False)


def test_simulated_frr_follows_shut_and_no_shut() -> None:
    dev = ReplayDevice.simulated_frr("edge1", 65010, {"Tunnel1": ("169.254.21.1", 65515),
                                                      "Tunnel2": ("169.254.21.5", 65515)})
    with dev:
        assert all(n.established for n in dev.bgp_neighbors())
        dev.set_interface_enabled("Tunnel1", False)
        states = {n.address: (n.state, n.admin_down) for n in dev.bgp_neighbors()}
        assert states == {"169.254.21.1": ("Idle", False), "169.254.21.5": ("Established", False)}
        dev.set_neighbor_enabled("169.254.21.5", False)
        assert {n.address: n.admin_down for n in dev.bgp_neighbors()}["169.254.21.5"]
        dev.set_interface_enabled("Tunnel1", True)
        dev.set_neighbor_enabled("169.254.21.5", True)
        assert all(n.established for n in dev.bgp_neighbors())
    assert dev.config_commands[:2] == ["interface Tunnel1", "shutdown"]


# --- the SSH driver with a fake netmiko session

class FakeSession:
    def __init__(self, script: list[BaseException | str]) -> None:
        self.script = script
        self.sent: list[str] = []
        self.config: list[list[str]] = []
        self.committed = 0
        self.alive = True
        self.disconnected = False

    def send_command(self, command: str, read_timeout: float) -> str:
        self.sent.append(command)
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            self.alive = False
            raise item
        return item

    def send_config_set(self, commands: list[str], exit_config_mode: bool,
                        read_timeout: float) -> str:
        self.config.append(commands)
        return "\n".join(commands)

    def commit(self) -> str:
        self.committed += 1
        return "commit complete"

    def exit_config_mode(self) -> str:
        return ""

    def is_alive(self) -> bool:
        return self.alive

    def disconnect(self) -> None:
        self.disconnected = True


class FakeConnectHandler:
    def __init__(self, sessions: list[FakeSession | BaseException]) -> None:
        self.sessions = sessions
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **params: Any) -> FakeSession:
        self.calls.append(params)
        item = self.sessions.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item


def _patch(monkeypatch: pytest.MonkeyPatch, sessions: list[Any]) -> FakeConnectHandler:
    handler = FakeConnectHandler(sessions)
    monkeypatch.setattr(netmiko_device, "ConnectHandler", handler)
    return handler


def test_ssh_params_are_strict(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    handler = _patch(monkeypatch, [FakeSession([])])
    conn = _conn(tmp_path)
    with open_device(conn):
        pass
    params = handler.calls[0]
    assert params["ssh_strict"] is True and params["alt_host_keys"] is True
    assert params["alt_key_file"] == str(conn.known_hosts)
    assert params["system_host_keys"] is False
    assert params["use_keys"] is False and params["allow_agent"] is False
    assert params["device_type"] == "cisco_ios"  # frr is driven as cisco_ios


def test_dropped_session_reconnects_once(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    first = FakeSession([OSError("Socket is closed")])
    second = FakeSession(["Tunnel1 is up"])
    handler = _patch(monkeypatch, [first, second])
    dev = NetmikoDevice(_conn(tmp_path))
    dev.connect()
    assert dev.send_show("show interface Tunnel1") == "Tunnel1 is up"
    assert dev.reconnects == 1 and len(handler.calls) == 2 and first.disconnected


def test_dropped_twice_is_a_device_error(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    _patch(monkeypatch, [FakeSession([EOFError()]), FakeSession([EOFError()])])
    dev = NetmikoDevice(_conn(tmp_path))
    dev.connect()
    with pytest.raises(DeviceError, match="failed again after reconnecting"):
        dev.send_show("show bgp summary json")


def test_reconnect_refused_is_a_device_error(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    _patch(monkeypatch, [FakeSession([OSError("Socket is closed")]),
                         NetmikoTimeoutException("TCP connection to device failed.")])
    dev = NetmikoDevice(_conn(tmp_path))
    dev.connect()
    with pytest.raises(DeviceError, match="cannot open an SSH session to device edge1"):
        dev.bgp_neighbors()


def test_wrong_password_message_names_device_not_secret(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    _patch(monkeypatch, [NetmikoAuthenticationException("Authentication to device failed.")])
    conn = _conn(tmp_path, port=2222)
    with pytest.raises(DeviceError) as info:
        open_device(conn).connect()
    message = str(info.value)
    assert "authentication failed for device edge1 at 198.18.255.2:2222" in message
    assert PASSWORD not in message and PASSWORD not in repr(conn) and PASSWORD not in str(conn)


def test_unknown_host_key_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def fail() -> None:
        try:
            raise paramiko.SSHException("Server '198.18.255.2' not found in known_hosts")
        except paramiko.SSHException as e:  # netmiko re-raises inside its except block
            raise NetmikoTimeoutException(f"A paramiko SSHException occurred: {e}") from None

    try:
        fail()
    except NetmikoTimeoutException as exc:
        err = exc
    _patch(monkeypatch, [err])
    with pytest.raises(DeviceError, match="is not in .*known_hosts: refusing to connect"):
        open_device(_conn(tmp_path)).connect()


def test_missing_known_hosts_file(tmp_path: Path) -> None:
    conn = _conn(tmp_path, known_hosts=tmp_path / "nope")
    with pytest.raises(DeviceError, match="known_hosts file .* does not exist"):
        open_device(conn).connect()


def test_candidate_config_platform_commits(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    session = FakeSession([])
    _patch(monkeypatch, [session])
    with open_device(_conn(tmp_path, platform="juniper_junos")) as dev:
        sent = dev.set_interface_enabled("st0.1", False)
    assert session.config == [sent] and session.committed == 1


def test_refused_config_is_a_device_error(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    session = FakeSession([])
    session.send_config_set = lambda commands, exit_config_mode, read_timeout: (  # type: ignore
        "edge1(config)# interface Tunnel9\n% Unknown command: interface Tunnel9")
    _patch(monkeypatch, [session])
    with open_device(_conn(tmp_path)) as dev, pytest.raises(DeviceError, match="refused"):
        dev.set_interface_enabled("Tunnel9", False)


def test_netmiko_debug_logging_is_off() -> None:
    assert logging.getLogger("netmiko").getEffectiveLevel() >= logging.INFO


def test_after_a_failed_reconnect_the_next_command_tries_again(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # e.g. the session dropped while a tunnel was shut; the rollback's no shut must still go out
    later = FakeSession([])
    _patch(monkeypatch, [FakeSession([OSError("Socket is closed")]),
                         NetmikoTimeoutException("TCP connection to device failed."), later])
    dev = NetmikoDevice(_conn(tmp_path))
    dev.connect()
    with pytest.raises(DeviceError):
        dev.send_show("show bgp summary json")
    assert dev.set_interface_enabled("Tunnel1", True) == ["interface Tunnel1", "no shutdown"]
    assert later.config == [["interface Tunnel1", "no shutdown"]]
    dev.close()
    with pytest.raises(DeviceError, match="not connected"):
        dev.send_show("show bgp summary json")
