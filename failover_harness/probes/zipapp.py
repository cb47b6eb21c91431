"""The remote probe worker as one zipapp built from the installed package, and the few lines
of python that receive it on the vantage host, check its digest and run it.

Nothing is installed on the vantage host: the bootstrap (`python3 -c BOOTSTRAP SIZE DIGEST`)
reads SIZE bytes of zipapp from stdin, refuses them unless their SHA-256 is DIGEST, imports
the worker from a private temporary directory, and removes it when the worker exits.
The zip is deterministic (fixed timestamps and order), so its digest names its content.
"""

from __future__ import annotations

import hashlib
import io
import shlex
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # failover_harness/
# The worker's modules: standard library only (no pydantic, no scapy on the far side).
MODULES = ("probes/worker.py", "probes/remote_worker.py", "probes/icmp_echo.py",
           "probes/tcp_syn.py", "probes/udp_stamp.py", "probes/wire.py", "probes/results.py",
           "probes/reflector.py", "probes/episodes.py", "probes/packets.py")
STUB_INIT = '"""failover-harness remote probe worker (a subset of the package)."""\n'
MIN_PYTHON = (3, 10)
# Exit statuses of the bootstrap (the worker's own: 0 done, 2 cannot start).
EXIT_OLD_PYTHON = 40
EXIT_BAD_DIGEST = 41
EXIT_NO_PYTHON = 127  # the remote shell's "command not found"

BOOTSTRAP = f"""\
import hashlib, os, shutil, sys, tempfile
if sys.version_info < {MIN_PYTHON!r}:
    sys.stderr.write("failover-harness: the probe worker needs python >= {'.'.join(map(str, MIN_PYTHON))}"
                     ", this host has %s\\n" % sys.version.split()[0])
    sys.exit({EXIT_OLD_PYTHON})
size, digest = int(sys.argv[1]), sys.argv[2]
data = sys.stdin.buffer.read(size)
if hashlib.sha256(data).hexdigest() != digest:
    sys.stderr.write("failover-harness: worker zipapp digest mismatch\\n")
    sys.exit({EXIT_BAD_DIGEST})
home = tempfile.mkdtemp(prefix="failover-harness-")
try:
    path = os.path.join(home, "worker.pyz")
    with open(path, "wb") as f:
        f.write(data)
    sys.path.insert(0, path)
    from failover_harness.probes import remote_worker
    code = remote_worker.main()
finally:
    shutil.rmtree(home, ignore_errors=True)
sys.exit(code)
"""


@dataclass(frozen=True)
class WorkerBundle:
    data: bytes
    digest: str  # SHA-256 hex of data

    def remote_command(self, python: str = "python3", sudo: bool = False) -> str:
        """The shell command the SSH server runs (the zipapp follows on stdin)."""
        argv = (["sudo", "-n"] if sudo else []) + [python, "-c", BOOTSTRAP,
                                                    str(len(self.data)), self.digest]
        return " ".join(shlex.quote(a) for a in argv)


@cache
def worker_bundle() -> WorkerBundle:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        entries = [("failover_harness/__init__.py", (PACKAGE / "__init__.py").read_bytes()),
                   ("failover_harness/probes/__init__.py", STUB_INIT.encode())]
        entries += [(f"failover_harness/{m}", (PACKAGE / m).read_bytes()) for m in MODULES]
        for name, content in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, content)
    data = buf.getvalue()
    return WorkerBundle(data, hashlib.sha256(data).hexdigest())
