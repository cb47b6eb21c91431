"""A reflector (failover_harness/probes/reflector.py) run as the file alone in an isolated
interpreter, as on a VM; optionally as the unprivileged user `nobody`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import failover_harness.probes.reflector as reflector_module

REFLECTOR_FILE = Path(reflector_module.__file__)


@contextmanager
def running_reflector(*, argv_prefix: tuple[str, ...] = (), python: str = sys.executable,
                      file: Path = REFLECTOR_FILE) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Yields the process and the UDP port it listens on (127.0.0.1)."""
    proc = subprocess.Popen([*argv_prefix, python, "-I", "-S", str(file), "--port", "0",
                             "--bind", "127.0.0.1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("reflector listening on 127.0.0.1:"), (
            line, proc.stderr.read() if proc.stderr else "")
        yield proc, int(line.rsplit(":", 1)[1])
    finally:
        proc.terminate()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
