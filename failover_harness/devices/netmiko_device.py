"""The SSH driver: netmiko with strict host-key checking and one reconnect on a dropped session."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import paramiko
from netmiko import BaseConnection, ConnectHandler
from netmiko.exceptions import (
    NetmikoAuthenticationException,
    NetmikoTimeoutException,
    ReadTimeout,
)

from failover_harness.devices.base import DeviceConnection
from failover_harness.devices.common import CommandDevice
from failover_harness.errors import DeviceError, exception_chain

log = logging.getLogger(__name__)
T = TypeVar("T")

# netmiko's DEBUG log echoes what it writes to the channel (enable secrets, some logins);
# paramiko's DEBUG is just noisy. Keep both at INFO or above unless the user explicitly
# configured them.
for _name in ("netmiko", "paramiko"):
    _logger = logging.getLogger(_name)
    if _logger.level == logging.NOTSET or _logger.level < logging.INFO:
        _logger.setLevel(logging.WARNING)

# Errors that mean "the session is gone", after which one reconnect is worth trying.
_SESSION_ERRORS = (OSError, EOFError, paramiko.SSHException, NetmikoTimeoutException,
                   ReadTimeout)


class NetmikoDevice(CommandDevice):
    """A device behind SSH. Thread-safe: one command at a time on the one session."""

    def __init__(self, conn: DeviceConnection) -> None:
        super().__init__(conn.name, conn.platform, conn.bgp_asn)
        self.conn = conn
        self._session: BaseConnection | None = None
        self._lock = threading.RLock()
        self._wanted = False  # connect() called and close() not: keep a session up
        self.reconnects = 0
        self.last_connect_s: float | None = None  # how long the last login took

    def __repr__(self) -> str:
        return f"NetmikoDevice({self.conn.where}, platform={self.platform})"

    # --- connection
    def _netmiko_params(self) -> dict[str, Any]:
        c = self.conn
        known_hosts = c.known_hosts
        return {
            "device_type": self.spec.netmiko_device_type,
            "host": c.host,
            "port": c.port,
            "username": c.username,
            "password": c.password.get_secret_value(),
            "conn_timeout": c.conn_timeout_s,
            "auth_timeout": c.auth_timeout_s,
            "banner_timeout": c.conn_timeout_s,
            "read_timeout_override": None,
            # Unknown host keys are refused (RejectPolicy), never added.
            "ssh_strict": True,
            "system_host_keys": known_hosts is None,
            "alt_host_keys": known_hosts is not None,
            "alt_key_file": str(known_hosts) if known_hosts else "",
            # Password only: no agent or ~/.ssh keys that could log in as someone else.
            "use_keys": False,
            "allow_agent": False,
        }

    def _open(self) -> BaseConnection:
        c = self.conn
        if c.known_hosts is not None and not c.known_hosts.is_file():
            raise DeviceError(f"{c.where}: known_hosts file {c.known_hosts} does not exist; "
                              f"refusing to connect without a host key to check")
        start = time.monotonic()
        try:
            session = ConnectHandler(**self._netmiko_params())
        except NetmikoAuthenticationException:
            raise DeviceError(f"authentication failed for device {c.where} "
                              f"(user {c.username!r})") from None
        except (NetmikoTimeoutException, paramiko.SSHException, OSError, EOFError) as exc:
            raise self._connect_error(exc) from None
        self.last_connect_s = time.monotonic() - start
        return session

    def _connect_error(self, exc: BaseException) -> DeviceError:
        c = self.conn
        keys = str(c.known_hosts) if c.known_hosts else "~/.ssh/known_hosts"
        for e in exception_chain(exc):
            if isinstance(e, paramiko.BadHostKeyException):
                return DeviceError(f"host key of {c.where} does NOT match {keys}: refusing to "
                                   f"connect (possible man-in-the-middle, or the device was "
                                   f"re-keyed)")
            if "not found in known_hosts" in str(e):
                return DeviceError(f"host key of {c.where} is not in {keys}: refusing to "
                                   f"connect; verify the key and add it (ssh-keyscan -p "
                                   f"{c.port} {c.host})")
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        return DeviceError(f"cannot open an SSH session to device {c.where}: {first}")

    def connect(self) -> None:
        with self._lock:
            self._wanted = True
            if self._session is None:
                self._session = self._open()

    def close(self) -> None:
        with self._lock:
            self._wanted = False
            self._drop()

    def _drop(self) -> None:
        with self._lock:
            session, self._session = self._session, None
            if session is not None:
                try:
                    session.disconnect()
                except Exception as exc:  # the session may already be dead; nothing to keep
                    log.debug("%s: disconnect: %s", self.name, exc)

    def _run(self, what: str, op: Callable[[BaseConnection], T]) -> T:
        """Run `op` on the session; if the session dropped, reconnect once and retry."""
        with self._lock:
            if self._session is None:
                if not self._wanted:
                    raise DeviceError(f"{self.conn.where}: not connected (call connect())")
                # An earlier reconnect failed; a rollback must still get its chance.
                self._session = self._open()
                self.reconnects += 1
            try:
                return op(self._session)
            except _SESSION_ERRORS as exc:
                if isinstance(exc, ReadTimeout) and self._session_alive():
                    raise DeviceError(f"{self.conn.where}: no prompt within "
                                      f"{self.conn.command_timeout_s:g} s after {what}") from None
                log.warning("%s: session lost during %s (%s); reconnecting once",
                            self.conn.where, what, type(exc).__name__)
            self._drop()
            self._session = self._open()
            self.reconnects += 1
            try:
                return op(self._session)
            except _SESSION_ERRORS as exc:
                raise DeviceError(f"{self.conn.where}: {what} failed again after reconnecting: "
                                  f"{type(exc).__name__}: {exc}") from None

    def _session_alive(self) -> bool:
        try:
            return self._session is not None and self._session.is_alive()
        except Exception:
            return False

    # --- commands
    def send_show(self, command: str) -> str:
        timeout = self.conn.command_timeout_s
        output = self._run(f"{command!r}", lambda s: str(
            s.send_command(command, read_timeout=timeout)))
        return self.check_output(command, output)

    def _send_config(self, commands: list[str]) -> str:
        timeout = self.conn.command_timeout_s

        def push(session: BaseConnection) -> str:
            out = str(session.send_config_set(commands, exit_config_mode=not self.spec.commit,
                                              read_timeout=timeout))
            self.check_output("; ".join(commands), out)
            if self.spec.commit:
                out += str(session.commit())
                self.check_output("commit", out)
                session.exit_config_mode()
            return out

        return self._run(f"config {commands!r}", push)
