"""A vantage host's SSH server: a real sshd, key login only, in its own mount namespace
(optionally inside a network namespace), touching nothing of the machine's own /etc or /run.

Used by `lab up --sites N` (site hosts, the VM), by `failover-harness bench remote` (sshd on
127.0.0.1) and by the lab tests. The login user is root by default, or a private unprivileged
user (its own passwd/shadow bind-mounted over /etc in the sshd's namespace) to show what a
host without raw-socket permission says; `hide_python` makes python3 unusable on that host.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from failover_harness.errors import LabError

Spawn = Callable[[list[str], Path], "subprocess.Popen[bytes]"]
PROBE_USER = "fhprobe"
PROBE_UID = 64020
INSIDE = "/etc/ssh"  # where the sshd's own mount namespace shows its directory
SESSION_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


@dataclass(frozen=True)
class SshLogin:
    """What a client needs: address, port, user, private key, known_hosts."""

    host: str
    port: int
    user: str
    key_file: Path
    known_hosts: Path


def _run(argv: list[str]) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


class HostSshd:
    """start() / stop(); `login` says how to reach it. Ends only its own process."""

    def __init__(self, directory: Path, address: str, port: int = 22, *,
                 netns: str | None = None, user: str = "root", hide_python: bool = False,
                 spawn: Spawn | None = None) -> None:
        self.dir = directory
        self.address = address
        self.port = port
        self.netns = netns
        self.user = user
        self.hide_python = hide_python
        self.spawn = spawn  # the lab's: records the process so `lab down` ends it
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def login(self) -> SshLogin:
        return SshLogin(self.address, self.port, self.user, self.dir / "client_key",
                        self.dir / "known_hosts")

    def _files(self) -> list[str]:
        """Write keys and config; the mount commands of the sshd's namespace."""
        d = self.dir
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o755)  # an unprivileged login reads its authorized_keys here
        for name in ("host_key", "client_key"):
            if not (d / name).exists():
                _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"fh-{name}",
                      "-f", str(d / name)])
        (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
        os.chmod(d / "authorized_keys", 0o644)
        host_pub = (d / "host_key.pub").read_text().split()
        name = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        (d / "known_hosts").write_text(f"{name} {host_pub[0]} {host_pub[1]}\n")
        (d / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress {self.address}\nHostKey {INSIDE}/host_key\n"
            f"PidFile {INSIDE}/sshd.pid\nAuthorizedKeysFile {INSIDE}/authorized_keys\nUsePAM no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n"
            f"AllowUsers {self.user}\nStrictModes no\nPrintMotd no\nUseDNS no\n"
            "ClientAliveInterval 2\nClientAliveCountMax 3\nMaxStartups 50:30:100\n")
        # Our directory seen as /etc/ssh, where any login can read the key list (the
        # directory itself may be under a 0700 one, or under /run, which a tmpfs hides next).
        mounts = [f"mount --bind {d} {INSIDE}"]
        if self.user != "root":
            (d / "passwd").write_text(Path("/etc/passwd").read_text() + f"{self.user}:x:"
                                      f"{PROBE_UID}:{PROBE_UID}::/tmp:/bin/sh\n")
            (d / "shadow").write_text(Path("/etc/shadow").read_text() + f"{self.user}:*:19000"
                                      ":0:99999:7:::\n")
            os.chmod(d / "shadow", 0o600)
            mounts += [f"mount --bind {d}/passwd /etc/passwd",
                       f"mount --bind {d}/shadow /etc/shadow"]
        if self.hide_python:
            (d / "no-python").write_text("")
            os.chmod(d / "no-python", 0o644)
            for where in SESSION_PATH:
                candidate = Path(where) / "python3"
                if candidate.exists():
                    mounts.append(f"mount --bind {d}/no-python {os.path.realpath(candidate)}")
        return [*mounts, "mount -t tmpfs -o mode=755 tmpfs /run", "mkdir -p /run/sshd"]

    def start(self, timeout_s: float = 10.0) -> SshLogin:
        mounts = self._files()
        pidfile = self.dir / "sshd.pid"
        pidfile.unlink(missing_ok=True)
        script = " && ".join([*mounts, f"exec /usr/sbin/sshd -D -f {INSIDE}/sshd_config "
                              f"-E {INSIDE}/sshd.log"])
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        if self.spawn is not None:
            self.proc = self.spawn(argv, self.dir / "sshd.out")
        else:
            with open(self.dir / "sshd.out", "ab") as out:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=out, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while not pidfile.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = (self.dir / "sshd.log")
                raise LabError(f"sshd on {self.address}:{self.port} did not start: "
                               f"{log.read_text()[-500:] if log.exists() else 'no log'}")
            time.sleep(0.02)
        return self.login

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.proc = None

    def __enter__(self) -> HostSshd:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
