"""RemoteProbeProcess: the probe worker on a remote vantage host, over the OpenSSH client.

One `ssh` process per vantage host carries everything: the zipapp and the job (stdin), the
worker's summarised events and clock answers (stdout), clock pings and `stop` (stdin). The
worker exits when its stdin closes, so a dead orchestrator (its `ssh` child loses its stdin
pipe; a killed `ssh` closes the channel) leaves nothing running on the vantage host.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from failover_harness.clocksync import ClockEstimate, ClockSample, estimate
from failover_harness.errors import InfrastructureError
from failover_harness.probes.flows import FlowSpec, ProbeJob
from failover_harness.probes.process import process_cpu_seconds
from failover_harness.probes.zipapp import (
    EXIT_BAD_DIGEST,
    EXIT_NO_PYTHON,
    EXIT_OLD_PYTHON,
    worker_bundle,
)

EventCallback = Callable[[dict[str, Any]], None]
EXIT_START_ERROR = 2  # worker.EXIT_START_ERROR (not imported: worker is the far side's)
EXIT_SSH = 255  # the ssh client's own failure (connection, authentication, host key)
CLOCK_BURST = 16  # pings right after start, CLOCK_BURST_GAP_S apart
CLOCK_BURST_GAP_S = 0.02
CLOCK_INTERVAL_S = 0.1  # then one ping every this long (the filter keeps 1 of each second)


@dataclass(frozen=True)
class SshTarget:
    """How to reach a vantage host. `known_hosts` is checked strictly (never added to);
    `key_file`: the private key (None: the ssh agent or ~/.ssh defaults); `sudo`: run the
    worker with `sudo -n` (else the login must have root or CAP_NET_RAW on `python`)."""

    host: str
    user: str
    port: int = 22
    key_file: Path | None = None
    known_hosts: Path | None = None
    sudo: bool = False
    python: str = "python3"
    options: tuple[str, ...] = field(default_factory=tuple)  # more `-o` options

    def argv(self, remote_command: str) -> list[str]:
        argv = ["ssh", "-T", "-p", str(self.port), "-l", self.user,
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=2",
                "-o", "ServerAliveCountMax=3", "-o", "LogLevel=ERROR"]
        if self.known_hosts is not None:
            argv += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        if self.key_file is not None:
            argv += ["-o", "IdentitiesOnly=yes", "-i", str(self.key_file)]
        for option in self.options:
            argv += ["-o", option]
        return [*argv, self.host, "--", remote_command]

    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


class RemoteProbeProcess:
    """start() returns once the remote worker probes; stop() ends it and waits for its last
    events; kill() drops the connection. Clock pings run from start to stop."""

    def __init__(self, flows: Sequence[FlowSpec], on_event: EventCallback, target: SshTarget,
                 *, start_delay_s: float = 0.2, stats_period_s: float = 1.0,
                 clock_interval_s: float = CLOCK_INTERVAL_S) -> None:
        self.job = ProbeJob(flows=list(flows), start_delay_s=start_delay_s, realtime=True)
        self.stats_period_s = stats_period_s
        self.on_event = on_event
        self.target = target
        self.clock_interval_s = clock_interval_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._pinger: threading.Thread | None = None
        self._hello = threading.Event()
        self._done = threading.Event()
        self._stop_pings = threading.Event()
        self._write_lock = threading.Lock()
        self._pings: dict[int, float] = {}
        self._samples: list[ClockSample] = []
        self._samples_lock = threading.Lock()
        self.grid_origin_remote: float | None = None
        self.remote_python: str | None = None
        self.callback_error: BaseException | None = None
        self.stream_error: str | None = None
        self.events_received = 0
        self.bytes_received = 0
        # (local time read, remote time written) of each event: the ingest latency
        self.ingest: list[tuple[float, float]] = []

    # -- clock ------------------------------------------------------------------------------
    def clock(self) -> ClockEstimate | None:
        with self._samples_lock:
            return estimate(self._samples)

    def clock_samples(self) -> list[ClockSample]:
        with self._samples_lock:
            return list(self._samples)

    def _ping(self, n: int) -> bool:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return False
        with self._write_lock:
            try:
                self._pings[n] = time.monotonic()
                proc.stdin.write(b"c %d\n" % n)
                proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                return False
        return True

    def _ping_loop(self) -> None:
        n = 0
        while not self._stop_pings.is_set():
            if not self._ping(n):
                return
            gap = CLOCK_BURST_GAP_S if n < CLOCK_BURST else self.clock_interval_s
            n += 1
            self._stop_pings.wait(gap)

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, ready_timeout_s: float = 30.0) -> None:
        if self._proc is not None:
            raise RuntimeError("remote probe process already started")
        bundle = worker_bundle()
        command = bundle.remote_command(self.target.python, self.target.sudo)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self._proc = subprocess.Popen(self.target.argv(command), stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._stderr,
                                      start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True,
                                        name=f"remote-probe-{self.target.host}")
        self._reader.start()
        job = json.loads(self.job.model_dump_json())
        job["stats_period_s"] = self.stats_period_s
        assert self._proc.stdin is not None
        try:
            with self._write_lock:
                self._proc.stdin.write(bundle.data + json.dumps(job).encode() + b"\n")
                self._proc.stdin.flush()
        except BrokenPipeError:
            pass
        deadline = time.monotonic() + ready_timeout_s
        while not self._hello.wait(0.05):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                break
        if not self._hello.is_set():
            self.kill()
            raise InfrastructureError(self.start_error())
        self._pinger = threading.Thread(target=self._ping_loop, daemon=True,
                                        name=f"clock-{self.target.host}")
        self._pinger.start()

    def start_error(self) -> str:
        """What went wrong at start, in the user's terms."""
        where = f"vantage host {self.target.where()}"
        code = self._proc.returncode if self._proc is not None else None
        text = self.stderr_text() or "no message"
        if code == EXIT_NO_PYTHON:
            return (f"{where}: no {self.target.python} there ({text}); the probe worker needs "
                    "python3 >= 3.10 and nothing else")
        if code == EXIT_OLD_PYTHON:
            return f"{where}: {text}"
        if code == EXIT_BAD_DIGEST:
            return f"{where}: the worker zipapp arrived damaged ({text})"
        if code == EXIT_START_ERROR:
            return (f"{where}: the probe worker cannot probe there: {text} (give its login "
                    "root, or CAP_NET_RAW on its python3, or set `sudo: true`)")
        if code == EXIT_SSH:
            return f"{where}: ssh failed: {text}"
        if code is None:
            return f"{where}: the probe worker did not answer in time ({text})"
        return f"{where}: the probe worker exited with status {code}: {text}"

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            received = time.monotonic()
            self.bytes_received += len(raw)
            try:
                msg = json.loads(raw)
                kind = msg["k"]
            except (ValueError, KeyError, TypeError):
                self.stream_error = self.stream_error or raw[:200].decode(errors="replace")
                continue
            if kind == "clock":
                sent = self._pings.pop(int(msg["n"]), None)
                if sent is not None:
                    with self._samples_lock:
                        self._samples.append(ClockSample(sent, float(msg["t"]), received))
                continue
            if kind == "hello":
                self.grid_origin_remote = float(msg["origin"])
                self.remote_python = str(msg.get("python"))
                self._hello.set()
                continue
            if kind == "done":
                self._done.set()
            elif "at" in msg:
                self.ingest.append((received, float(msg["at"])))
            self.events_received += 1
            try:
                self.on_event(msg)
            except BaseException as exc:  # keep draining: a stalled channel stalls probes
                if self.callback_error is None:
                    self.callback_error = exc

    def stop(self, timeout_s: float | None = None) -> int:
        """Ask the worker to finish (outstanding probes judged, last events sent), then close."""
        proc = self._proc
        if proc is None:
            return 0
        if timeout_s is None:
            timeout_s = max(f.timeout_s for f in self.job.flows) + 10.0
        self._stop_pings.set()
        if proc.poll() is None and proc.stdin is not None:
            with self._write_lock:
                try:
                    proc.stdin.write(b"stop\n")
                    proc.stdin.flush()
                except (BrokenPipeError, ValueError, OSError):
                    pass
            self._done.wait(timeout_s)
        self._close_stdin()
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._join()
        return proc.returncode

    def kill(self) -> None:
        """Drop the connection: the worker sees its stdin close and exits."""
        proc = self._proc
        if proc is None:
            return
        self._stop_pings.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._close_stdin()
        self._join()

    def _close_stdin(self) -> None:
        assert self._proc is not None
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            with self._write_lock:
                try:
                    self._proc.stdin.close()
                except (BrokenPipeError, OSError):
                    pass

    def _join(self) -> None:
        if self._reader is not None:
            self._reader.join(10.0)
        if self._pinger is not None:
            self._pinger.join(5.0)
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()

    def stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()[-2000:]

    def cpu_seconds(self) -> float:
        """CPU time of the local `ssh` client (the orchestrator side of this vantage point)."""
        return 0.0 if self._proc is None else process_cpu_seconds(self._proc.pid)

    def close(self) -> None:
        if self.running:
            self.stop()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> RemoteProbeProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
