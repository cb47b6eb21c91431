"""Running commands for the lab: in a namespace, as a router's host name, with a clear error;
waiting for a daemon; the system binaries the lab starts."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from failover_harness.errors import LabError

FRR_BIN = Path("/usr/lib/frr")
CHARON = Path("/usr/lib/ipsec/charon")


def netns_name(prefix: str, node: str) -> str:
    return f"{prefix}-{node}"


def run(argv: list[str], *, input: str | None = None, check: bool = True,
        timeout: float = 30) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({proc.returncode}): "
                       f"{(proc.stderr or proc.stdout).strip()}")
    return proc


def as_host(hostname: str, argv: list[str]) -> list[str]:
    """argv run in a UTS namespace of its own named `hostname`. FRR daemons and vtysh each
    print their own host name into the running config (and `write memory` saves it), so
    one run in the machine's UTS namespace adds the machine's name to the router's config."""
    return ["unshare", "--uts", "sh", "-c", 'hostname "$0"; exec "$@"', hostname, *argv]


def ip(netns: str | None, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["ip", *(["-n", netns] if netns else []), *args], check=check)


def nsexec(netns: str, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["ip", "netns", "exec", netns, *argv], check=check)


def wait_for(predicate: object, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():  # type: ignore[operator]
            return
        if time.monotonic() > deadline:
            raise LabError(message)
        time.sleep(0.02)


def system_python3() -> str:
    """The system's python3 (a venv's or pyenv's may sit where the user nobody cannot reach):
    what an Azure VM offers."""
    found = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if found is None:
        raise LabError("no system python3 (/usr/bin/python3): run scripts/install.sh")
    return found
